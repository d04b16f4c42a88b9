package ingress_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ferryfn/ferry/ingress"
)

// A producer that does not speak CloudEvents posts a plain body to
// /v1/tasks/{type}; the Idempotency-Key makes its retry the same task.
func Example() {
	srv := ingress.New(ingress.Params{
		Publisher: newFakePublisher(),
		Tasks:     newFakeTasks(),
		Logger:    slog.New(slog.DiscardHandler),
	})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost,
			hs.URL+"/v1/tasks/com.example.image.resize",
			strings.NewReader(`{"url":"https://example.com/cat.png"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "cat-64px")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var a ingress.Acceptance
		_ = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, a.EventID, a.Type, a.State,
			"duplicate:", a.Duplicate,
			"location ok:", resp.Header.Get("Location") == a.Href)
	}
	// Output:
	// 202 cat-64px com.example.image.resize accepted duplicate: false location ok: true
	// 202 cat-64px com.example.image.resize accepted duplicate: true location ok: true
}
