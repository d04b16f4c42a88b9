package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTaskViewSettled(t *testing.T) {
	for _, tc := range []struct {
		json string
		want bool
	}{
		{`{"state":"succeeded","deliveries":[{}]}`, true},
		{`{"state":"failed","deliveries":[{}]}`, true},
		{`{"state":"accepted","deliveries":null,"reason":"no Trigger matched the event"}`, true},
		{`{"state":"accepted","deliveries":[{"state":"pending"}]}`, false},
		{`{"state":"running","deliveries":[{"state":"running"}]}`, false},
		{`{"state":"retrying","deliveries":[{"state":"retrying"}]}`, false},
	} {
		var v taskView
		if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
			t.Fatal(err)
		}
		if got := v.settled(); got != tc.want {
			t.Errorf("%s: settled = %v, want %v", tc.json, got, tc.want)
		}
	}
}

func TestResultOfATaskWithoutReplySaysSo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
	defer srv.Close()

	var out strings.Builder
	if err := printResult(context.Background(), srv.URL, "t1", &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != noResultLine {
		t.Errorf("printed %q, want %q", got, noResultLine)
	}

	out.Reset()
	path := filepath.Join(t.TempDir(), "r.bin")
	if err := saveResult(context.Background(), srv.URL, "t1", path, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s written for a task without a result (%v)", path, err)
	}
	if !strings.Contains(out.String(), "not written") {
		t.Errorf("printed %q, want it to say the file is not written", out.String())
	}
}
