package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuildTwiceUsesCache(t *testing.T) {
	buildDir := t.TempDir()
	r, logs := newRunner(t, Params{BuildDir: buildDir},
		project(t, "echo", echoHandle))
	ctx := context.Background()

	if err := r.Build(ctx); err != nil {
		t.Fatal(err)
	}
	bins, _ := filepath.Glob(filepath.Join(buildDir, "echo", "*", binaryName))
	if len(bins) != 1 {
		t.Fatalf("binaries after a build: %q, want one", bins)
	}
	before, err := os.Stat(bins[0])
	if err != nil {
		t.Fatal(err)
	}

	if err := r.Build(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(bins[0])
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("binary rewritten by the second Build: mtime %s, was %s",
			after.ModTime(), before.ModTime())
	}
	if n := len(logs.records("built")); n != 1 {
		t.Errorf("%d compiles for two Builds of unchanged sources, want 1", n)
	}
	cached := logs.records("build up to date")
	if len(cached) != 1 || cached[0]["cached"] != true ||
		cached[0]["level"] != "INFO" {
		t.Errorf("second Build logged %v, want one info record cached=true",
			cached)
	}
	if s := statusOf(t, r, "echo"); s.Build != BuildReady {
		t.Errorf("build state %q, want %q", s.Build, BuildReady)
	}
}

func TestCompileErrorCarriesCompilerOutput(t *testing.T) {
	r, logs := newRunner(t, Params{}, project(t, "broken", brokenHandle))

	err := r.Build(context.Background())
	if err == nil {
		t.Fatal("Build of a function that does not compile: no error")
	}
	for _, want := range []string{"broken", "handle.go", "cannot use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("build error %q does not say %q", err, want)
		}
	}
	s := statusOf(t, r, "broken")
	if s.Build != BuildFailed || !strings.Contains(s.BuildError, "cannot use") {
		t.Errorf("status after a failed build: %+v, want failed with the "+
			"compiler's message", s)
	}
	left, _ := filepath.Glob(filepath.Join(fixtures.buildDir, "broken", "*"))
	if len(left) != 0 {
		t.Errorf("failed build left %q behind", left)
	}

	// A request does not compile the same sources again: it fails at once
	// with the same error.
	_, err = send(t, r, "broken", "test.ping", "b1")
	if err == nil || !strings.Contains(err.Error(), "cannot use") {
		t.Errorf("request to a function that does not compile: %v, want "+
			"the compiler's message", err)
	}
	if n := len(logs.records("build failed")); n != 1 {
		t.Errorf("%d compiles of the same broken sources, want 1", n)
	}
}

func TestSourceHashFollowsContentNotNoise(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", testGoMod)
	write("handle.go", echoHandle)

	r := &Runner{buildDir: filepath.Join(dir, "builds"),
		logDir: filepath.Join(dir, "logs")}
	src := source{Dir: dir, Invoke: "cloudevent", Shape: shapeInstanced}
	hash := func() string {
		t.Helper()
		h, err := r.sourceHash(src)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash()
	if len(base) != hashLen {
		t.Fatalf("hash %q has %d digits, want %d", base, len(base), hashLen)
	}

	write(".git/HEAD", "ref: refs/heads/main")
	write(".func/built", "x")
	write("builds/echo/abc/function", "binary")
	write("logs/echo.log", "a log line")
	if h := hash(); h != base {
		t.Errorf("hash changed with .git, .func, build or log files: "+
			"%s, was %s", h, base)
	}

	write("data/sample.json", "{}")
	withData := hash()
	if withData == base {
		t.Error("hash unchanged by a new file")
	}
	write("data/sample.json", "[]")
	edited := hash()
	if edited == withData {
		t.Error("hash unchanged by an edited file")
	}
	src.Shape = shapeStatic
	if h := hash(); h == edited {
		t.Error("hash unchanged by the shape")
	}
}

func TestEditedFunctionIsRebuiltOnItsNextColdStart(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := project(t, "editable", staticHandle)
	writeFiles(t, f.Dir, map[string]string{"handle.go": staticHandle})
	r, logs := newRunner(t, Params{IdleTimeout: idle}, f)
	if rep := mustSend(t, r, "editable", "test.ping", "v1"); rep.ceType !=
		"test.static.reply" {
		t.Fatalf("first reply type %q", rep.ceType)
	}

	edited := strings.Replace(staticHandle, `"test.static.reply"`,
		`"test.static.reply.v2"`, 1)
	err := os.WriteFile(filepath.Join(f.Dir, "handle.go"), []byte(edited),
		0o644)
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustSend(t, r, "editable", "test.ping", "v2"); rep.ceType !=
		"test.static.reply" {
		t.Errorf("reply of the running instance after an edit: %q, want "+
			"the old code's until the next cold start", rep.ceType)
	}

	waitFor(t, 20*idle, "scaled to zero", func() bool {
		return statusOf(t, r, "editable").Instances == 0
	})
	if rep := mustSend(t, r, "editable", "test.ping", "v3"); rep.ceType !=
		"test.static.reply.v2" {
		t.Errorf("reply after the next cold start: %q, want the edited "+
			"code's test.static.reply.v2", rep.ceType)
	}
	if n := len(logs.records("built")); n != 2 {
		t.Errorf("%d builds, want 2 (first start, after the edit)", n)
	}
	builds, _ := filepath.Glob(filepath.Join(fixtures.buildDir, "editable",
		"*"))
	if len(builds) != 1 {
		t.Errorf("build folders %q, want only the newest", builds)
	}
}

func TestFailedBuildAtZeroStartsTheLastBuildThatCompiled(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := project(t, "breakable", staticHandle)
	writeFiles(t, f.Dir, map[string]string{"handle.go": staticHandle})
	r, logs := newRunner(t, Params{IdleTimeout: idle}, f)
	if rep := mustSend(t, r, "breakable", "test.ping", "v1"); rep.ceType !=
		"test.static.reply" {
		t.Fatalf("first reply type %q", rep.ceType)
	}
	waitFor(t, 20*idle, "scaled to zero", func() bool {
		return statusOf(t, r, "breakable").Instances == 0
	})

	broken := strings.Replace(staticHandle, "func ", "func (", 1)
	err := os.WriteFile(filepath.Join(f.Dir, "handle.go"), []byte(broken),
		0o644)
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustSend(t, r, "breakable", "test.ping", "v2"); rep.ceType !=
		"test.static.reply" {
		t.Errorf("reply from zero with sources that do not compile: %q, "+
			"want the last good build's test.static.reply", rep.ceType)
	}
	st := statusOf(t, r, "breakable")
	if st.Build != BuildFailed || st.BuildError == "" {
		t.Errorf("status build %q error %q, want the failed build shown",
			st.Build, st.BuildError)
	}
	warned := logs.records("starting the last build that compiled; " +
		"the current sources fail to build")
	if len(warned) == 0 {
		t.Error("no warning that the last good build was started")
	}
}

func TestBrokenSourcesAtStartRunTheBuildAnEarlierRunLeft(t *testing.T) {
	f := project(t, "restarted", staticHandle)
	writeFiles(t, f.Dir, map[string]string{"handle.go": staticHandle})
	buildDir := t.TempDir()
	first, _ := newRunner(t, Params{BuildDir: buildDir}, f)
	if err := first.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	broken := strings.Replace(staticHandle, "func ", "func (", 1)
	writeFiles(t, f.Dir, map[string]string{"handle.go": broken})
	r, _ := newRunner(t, Params{BuildDir: buildDir}, f)
	if err := r.Build(context.Background()); err == nil {
		t.Fatal("Build of sources that do not compile succeeded")
	}
	if rep := mustSend(t, r, "restarted", "test.ping", "r1"); rep.ceType !=
		"test.static.reply" {
		t.Errorf("reply %q, want the earlier run's build to answer",
			rep.ceType)
	}
}
