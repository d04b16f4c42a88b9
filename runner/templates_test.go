package runner

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/funcyaml"
)

// The four Go templates of `kn func create`, in the shape and behaviour
// each one has when created: written for this test, not copied.
const (
	// cloudevents, instanced: New, and a Handle(e) that answers a new
	// event (id "response-<id>", source "function", type
	// "function.response") with {"message": "OK"}.
	templateCloudEventsInstanced = `package function

import "github.com/cloudevents/sdk-go/v2/event"

type MyFunction struct{}

func New() *MyFunction { return &MyFunction{} }

func (f *MyFunction) Handle(e event.Event) (*event.Event, error) {
	out := event.New()
	out.SetID("response-" + e.ID())
	out.SetSource("function")
	out.SetType("function.response")
	if err := out.SetData(event.ApplicationJSON,
		map[string]string{"message": "OK"}); err != nil {
		return nil, err
	}
	return &out, nil
}
`
	// cloudevents, static: a package-level Handle(ctx, e) that prints the
	// event and answers it unchanged (an echo).
	templateCloudEventsStatic = `package function

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

func Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	fmt.Println("got", e.ID())
	return &e, nil
}
`
	// http, instanced: New, and a Handle(w, r) that writes "OK".
	templateHTTPInstanced = `package function

import (
	"fmt"
	"net/http"
)

type MyFunction struct{}

func New() *MyFunction { return &MyFunction{} }

func (f *MyFunction) Handle(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "OK")
}
`
	// http, static: a package-level Handle(w, r) that writes "OK".
	templateHTTPStatic = `package function

import (
	"fmt"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "OK")
}
`
)

func TestKnFuncTemplatesRunUnmodified(t *testing.T) {
	ceInstanced := projectOf(t, "tpl-ce-instanced", funcyaml.InvokeCloudEvent,
		map[string]string{"go.mod": testGoMod,
			"function.go": templateCloudEventsInstanced})
	ceStatic := projectOf(t, "tpl-ce-static", funcyaml.InvokeCloudEvent,
		map[string]string{"go.mod": testGoMod,
			"handle.go": templateCloudEventsStatic})
	httpInstanced := httpProject(t, "tpl-http-instanced", templateHTTPInstanced)
	httpStatic := httpProject(t, "tpl-http-static", templateHTTPStatic)
	r, _ := newRunner(t, Params{}, ceInstanced, ceStatic, httpInstanced,
		httpStatic)

	t.Run("cloudevents instanced", func(t *testing.T) {
		rep := mustSend(t, r, "tpl-ce-instanced", "test.ping", "t1")
		if rep.ceType != "function.response" || rep.ceID != "response-t1" {
			t.Errorf("reply %+v, want function.response response-t1", rep)
		}
	})
	t.Run("cloudevents static", func(t *testing.T) {
		rep := mustSend(t, r, "tpl-ce-static", "test.ping", "t2")
		if rep.ceType != "test.ping" || rep.ceID != "t2" {
			t.Errorf("reply %+v, want the event echoed", rep)
		}
	})
	for _, name := range []string{"tpl-http-instanced", "tpl-http-static"} {
		t.Run(name, func(t *testing.T) {
			rt, err := r.RoundTripper(name)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: rt}).Get(
				"http://" + name + ".ferry.local/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK ||
				strings.TrimSpace(string(body)) != "OK" {
				t.Errorf("answer %d %q, want 200 OK", resp.StatusCode, body)
			}
		})
	}
}
