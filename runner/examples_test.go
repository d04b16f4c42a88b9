package runner

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// TestExampleFunctionsAnswerTheirEvents builds and runs Ferry's example
// functions (../functions) and sends each a sample from the shared data folder
// (../../shared/data).
// The examples are their own projects, maintained beside this package, so
// the test runs only when FERRY_TEST_EXAMPLES=1.
func TestExampleFunctionsAnswerTheirEvents(t *testing.T) {
	if os.Getenv("FERRY_TEST_EXAMPLES") != "1" {
		t.Skip("set FERRY_TEST_EXAMPLES=1 to build and run ../functions")
	}
	fns, err := funcyaml.Discover(filepath.Join("..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newRunner(t, Params{BuildDir: t.TempDir()}, fns...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := r.Build(ctx); err != nil {
		t.Fatal(err)
	}

	samples := map[string]struct{ file, contentType, wantType string }{
		"thumbnail": {"video-001.jpeg", "image/jpeg",
			"dev.ferry.thumbnail.done"},
		"csvstats": {"stocks.csv", "text/csv", "dev.ferry.csvstats.done"},
	}
	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			sample, ok := samples[f.Name]
			if !ok {
				t.Skipf("no sample event for %s", f.Name)
			}
			data, err := os.ReadFile(filepath.Join("..", "..", "shared",
				"data", sample.file))
			if err != nil {
				t.Skip(err)
			}
			rt, _ := r.RoundTripper(f.Name)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
				"http://"+f.Name+"/", bytes.NewReader(data))
			req.Header.Set("Content-Type", sample.contentType)
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Id", "example-1")
			req.Header.Set("Ce-Source", "test/runner")
			req.Header.Set("Ce-Type", "dev.ferry."+f.Name)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Ce-Type"); resp.StatusCode != 200 ||
				got != sample.wantType {
				t.Errorf("reply %d type %q, want 200 %q", resp.StatusCode,
					got, sample.wantType)
			}
		})
	}
}
