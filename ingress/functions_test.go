package ingress_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ferryfn/ferry/ingress"
)

func TestFunctionsRouteAnswersTheStatusSource(t *testing.T) {
	calls := 0
	h := newHarness(t, func(p *ingress.Params) {
		p.Functions = func() any {
			calls++
			return []map[string]any{{"name": "echo", "instances": calls}}
		}
	})

	for want := 1; want <= 2; want++ {
		resp, body := h.get(t, ingress.FunctionsPath)
		if resp.StatusCode != http.StatusOK ||
			resp.Header.Get("Content-Type") !=
				"application/json; charset=utf-8" {
			t.Fatalf("GET %s: %d %q %s", ingress.FunctionsPath,
				resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var got struct {
			Functions []struct {
				Name      string `json:"name"`
				Instances int    `json:"instances"`
			} `json:"functions"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if len(got.Functions) != 1 || got.Functions[0].Name != "echo" ||
			got.Functions[0].Instances != want {
			t.Errorf("request %d: %s, want echo with the source's "+
				"current value %d", want, body, want)
		}
	}
}

func TestFunctionsRouteAnswers404WithoutASource(t *testing.T) {
	h := newHarness(t)
	resp, body := h.get(t, ingress.FunctionsPath)
	wantProblem(t, resp, body, http.StatusNotFound, ingress.ProblemNotFound,
		"runs no functions")
}
