package main

import (
	"encoding/json"
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
