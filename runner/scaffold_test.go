package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/funcyaml"
)

func TestDetectShape(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr string
	}{
		{
			name:  "instanced",
			files: map[string]string{"handle.go": echoHandle},
			want:  shapeInstanced,
		},
		{
			name:  "static",
			files: map[string]string{"handle.go": staticHandle},
			want:  shapeStatic,
		},
		{
			name: "New in a test file does not count",
			files: map[string]string{
				"handle.go":      staticHandle,
				"handle_test.go": "package function\nfunc New() {}\n",
			},
			want: shapeStatic,
		},
		{
			name: "file excluded by a build constraint does not count",
			files: map[string]string{
				"handle.go": staticHandle,
				"new.go": "//go:build ignore\n\npackage function\n" +
					"func New() {}\n",
			},
			want: shapeStatic,
		},
		{
			name: "a method named New is not func New",
			files: map[string]string{"handle.go": "package function\n" +
				"type T struct{}\nfunc (T) New() {}\nfunc Handle() {}\n"},
			want: shapeStatic,
		},
		{
			name:    "neither",
			files:   map[string]string{"x.go": "package function\n"},
			wantErr: "neither func New",
		},
		{
			name:    "package main",
			files:   map[string]string{"main.go": "package main\nfunc New() {}\n"},
			wantErr: "package main",
		},
		{
			name:    "syntax error",
			files:   map[string]string{"handle.go": "package function\nfunc {"},
			wantErr: "handle.go:2",
		},
		{
			name:    "no Go files",
			files:   map[string]string{"README.md": "# echo\n"},
			wantErr: "no Go source files",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := detectShape(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("detectShape = %q, %v; want an error with %q",
						got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("detectShape = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBuildMainStartsTheShapeWithTheInvokesRuntime(t *testing.T) {
	tests := []struct {
		invoke, shape string
		args          int
		want          []string
	}{
		{funcyaml.InvokeCloudEvent, shapeInstanced, 0, []string{
			`ce "knative.dev/func-go/cloudevents"`, "ce.Start(f.New())"}},
		{funcyaml.InvokeCloudEvent, shapeStatic, 2, []string{
			`ce "knative.dev/func-go/cloudevents"`,
			"ce.Start(ce.DefaultHandler{Handler: f.Handle})"}},
		{funcyaml.InvokeHTTP, shapeInstanced, 0, []string{
			`fn "knative.dev/func-go/http"`, "fn.Start(f.New())"}},
		{funcyaml.InvokeHTTP, shapeStatic, 3, []string{
			`fn "knative.dev/func-go/http"`,
			"fn.Start(fn.DefaultHandler{Handler: f.Handle})"}},
		// kn func's static-http template: Handle(w, r).
		{funcyaml.InvokeHTTP, shapeStatic, 2, []string{
			`fn "knative.dev/func-go/http"`, `"net/http"`,
			"type handler func(http.ResponseWriter, *http.Request)",
			"fn.Start(handler(f.Handle))"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.invoke, tt.shape, tt.args), func(
			t *testing.T) {
			src := source{Invoke: tt.invoke, Shape: tt.shape,
				HandleArgs: tt.args, Mod: goMod{Module: "example.com/fn"}}
			out, err := buildMain("echo", src)
			if err != nil {
				t.Fatal(err)
			}
			got := string(out)
			want := append(tt.want, `f "example.com/fn"`, "os.Exit(1)",
				"fmt.Fprintln(os.Stderr, err)")
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("main.go lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
