package runner

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseGoModReadsModuleGoAndReplaces(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want goMod
	}{
		{
			name: "kn func template",
			in:   testGoMod,
			want: goMod{Module: "function", Go: "1.26"},
		},
		{
			name: "single-line replaces",
			in: `// a comment
module example.com/fn // trailing comment

go 1.25.0

require example.com/lib v1.2.3
replace example.com/lib => ../lib
replace example.com/old v1.0.0 => example.com/new v1.1.0
`,
			want: goMod{Module: "example.com/fn", Go: "1.25.0",
				Replaces: []replace{
					{Old: "example.com/lib", New: "../lib"},
					{Old: "example.com/old", OldVersion: "v1.0.0",
						New: "example.com/new", NewVersion: "v1.1.0"},
				}},
		},
		{
			name: "blocks, quotes and comments",
			in: "module \"example.com/fn\"\n" +
				"require (\n\texample.com/a v1.0.0\n)\n" +
				"replace (\n" +
				"\t// shared code of the monorepo\n" +
				"\texample.com/a => ./third_party/a // vendored\n" +
				"\t\"example.com/b\" v0.1.0 => `/abs/dir with space`\n" +
				"\texample.com/c=>example.com/d v2.0.0\n" +
				")\n",
			want: goMod{Module: "example.com/fn", Replaces: []replace{
				{Old: "example.com/a", New: "./third_party/a"},
				{Old: "example.com/b", OldVersion: "v0.1.0",
					New: "/abs/dir with space"},
				{Old: "example.com/c", New: "example.com/d",
					NewVersion: "v2.0.0"},
			}},
		},
		{
			name: "CRLF line ends",
			in:   "module example.com/fn\r\ngo 1.26\r\n",
			want: goMod{Module: "example.com/fn", Go: "1.26"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGoMod("go.mod", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseGoMod:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseGoModRejectsWhatGoRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no module", "go 1.26\n", "no module directive"},
		{"replace without arrow", "module m\nreplace a b\n", "go.mod:2"},
		{"local path with version", "module m\nreplace a => ../a v1.0.0\n",
			"takes no version"},
		{"unterminated string", "module \"m\n", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGoMod("go.mod", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseGoMod(%q) = %v, want an error with %q",
					tt.in, err, tt.want)
			}
		})
	}
}

func TestBuildGoModMakesReplacesAbsolute(t *testing.T) {
	src := source{Dir: "/work/fns/echo", Mod: goMod{
		Module: "function",
		Go:     "1.26",
		Replaces: []replace{
			{Old: "example.com/lib", New: "../lib"},
			{Old: "example.com/x", OldVersion: "v1.0.0",
				New: "example.com/y", NewVersion: "v1.2.0"},
			{Old: "example.com/abs", New: "/opt/dir with space"},
			{Old: "function", New: "./elsewhere"}, // the module itself
		},
	}}
	got := string(buildGoMod("echo", src))

	for _, want := range []string{
		"module ferry.local/build/echo\n",
		"go 1.26\n",
		"require function v0.0.0\n",
		"require knative.dev/func-go v0.22.0\n",
		"replace function => /work/fns/echo\n",
		"replace example.com/lib => /work/fns/lib\n",
		"replace example.com/x v1.0.0 => example.com/y v1.2.0\n",
		`replace example.com/abs => "/opt/dir with space"` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("generated go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "elsewhere") {
		t.Errorf("generated go.mod copies a replace of the function's own "+
			"module:\n%s", got)
	}

	// What it writes, it reads back.
	back, err := parseGoMod("go.mod", []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if back.Module != "ferry.local/build/echo" || len(back.Replaces) != 4 {
		t.Errorf("generated go.mod reads back as %+v", back)
	}
}
