package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// The test functions are kn-func-shaped projects written to a folder shared
// by the whole package run, with one build cache, so that each is compiled
// once (builds take seconds on two cores).
var fixtures struct {
	root     string // holds the projects and builds/
	buildDir string
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(orphanEnv); dir != "" {
		os.Exit(orphanHelper(dir))
	}

	root, err := os.MkdirTemp("", "ferry-runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtures.root = root
	fixtures.buildDir = filepath.Join(root, "builds")

	code := m.Run()
	os.RemoveAll(root)
	os.Exit(code)
}

// echoHandle is an instanced cloudevent function. It replies to every event
// with a test.reply event that tells its pid, the GREETING variable and the
// data it got. An event of type test.crash makes it exit at once;
// ECHO_EXIT_AT_START makes it exit before it listens, printing the
// variable's value; ECHO_NEVER_READY keeps it from ever being ready.
const echoHandle = `package function

import (
	"context"
	"fmt"
	"os"

	"github.com/cloudevents/sdk-go/v2/event"
)

type Function struct{}

func New() *Function {
	if msg := os.Getenv("ECHO_EXIT_AT_START"); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(2)
	}
	return &Function{}
}

func (f *Function) Ready(ctx context.Context) (bool, error) {
	return os.Getenv("ECHO_NEVER_READY") == "", nil
}

func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if e.Type() == "test.crash" {
		os.Exit(3)
	}
	r := event.New()
	r.SetID(e.ID() + "-reply")
	r.SetSource("function/echo")
	r.SetType("test.reply")
	err := r.SetData("application/json", map[string]any{
		"pid":      os.Getpid(),
		"greeting": os.Getenv("GREETING"),
		"data":     string(e.Data()),
	})
	return &r, err
}
`

// staticHandle is a static cloudevent function: a package-level Handle.
const staticHandle = `package function

import (
	"context"
	"os"

	"github.com/cloudevents/sdk-go/v2/event"
)

func Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	r := event.New()
	r.SetID(e.ID() + "-reply")
	r.SetSource("function/static")
	r.SetType("test.static.reply")
	err := r.SetData("application/json", map[string]any{"pid": os.Getpid()})
	return &r, err
}
`

// brokenHandle does not compile.
const brokenHandle = `package function

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"
)

type Function struct{}

func New() *Function { return &Function{} }

func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	var n int = "not a number"
	_ = n
	return nil, nil
}
`

// testGoMod is the go.mod `kn func create -l go -t cloudevents` writes.
const testGoMod = `module function

go 1.26

require github.com/cloudevents/sdk-go/v2 v2.16.2
`

// monoHandle is an instanced http function that uses a package of its
// monorepo (example.com/lib, replaced by ../lib in its go.mod) and answers
// with the method and request URI it got, the library's greeting and its
// pid.
const monoHandle = `package function

import (
	"fmt"
	"net/http"
	"os"

	"example.com/lib"
)

type Function struct{}

func New() *Function { return &Function{} }

func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s %s %d", r.Method, r.URL.RequestURI(),
		lib.Greeting(), os.Getpid())
}
`

const monoGoMod = `module function

go 1.26

require example.com/lib v0.0.0

replace example.com/lib => ../lib
`

// busyHandle is an instanced http function that counts the requests it
// is serving at once. GET /?sleep=MS holds the request MS milliseconds and
// answers with the pid, the requests in progress when it arrived
// (concurrent, itself included), the most ever in progress (peak) and
// BUSY_VERSION. /?die=1 makes its Alive report false from then on;
// /?crash=1 exits the process after the sleep.
const busyHandle = `package function

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

type Function struct {
	mu        sync.Mutex
	now, peak int
	dead      bool
}

func New() *Function { return &Function{} }

func (f *Function) Alive(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.dead, nil
}

func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.now++
	f.peak = max(f.peak, f.now)
	now := f.now
	f.dead = f.dead || q.Get("die") != ""
	f.mu.Unlock()

	ms, _ := strconv.Atoi(q.Get("sleep"))
	time.Sleep(time.Duration(ms) * time.Millisecond)
	if q.Get("crash") != "" {
		os.Exit(3)
	}

	f.mu.Lock()
	peak := f.peak
	f.now--
	f.mu.Unlock()
	fmt.Fprintf(w, "{\"pid\":%d,\"concurrent\":%d,\"peak\":%d,"+
		"\"version\":%q}", os.Getpid(), now, peak, version)
}

var version = "v1"
`

// envHandle is a static http function (kn func's static-http shape) that
// answers with every variable of its environment whose name starts with
// T_, as a JSON object.
const envHandle = `package function

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "T_") {
			out[name] = value
		}
	}
	json.NewEncoder(w).Encode(out)
}
`

// httpGoMod is the go.mod of an http function that needs no module.
const httpGoMod = "module function\n\ngo 1.26\n"

// httpProject writes (once per package run) an http function project
// named name with handle.go holding handle.
func httpProject(t testing.TB, name, handle string) *funcyaml.Function {
	t.Helper()
	return projectOf(t, name, funcyaml.InvokeHTTP, map[string]string{
		"go.mod":    httpGoMod,
		"handle.go": handle,
	})
}

// withScale returns a copy of f with scale min and max (-1: unset) and
// container concurrency limit (0: none).
func withScale(f *funcyaml.Function, minScale, maxScale,
	limit int64) *funcyaml.Function {
	c := *f
	s := &funcyaml.Scale{}
	if minScale >= 0 {
		s.Min = &minScale
	}
	if maxScale >= 0 {
		s.Max = &maxScale
	}
	c.Deploy.Options.Scale = s
	if limit > 0 {
		c.Deploy.Options.Resources = &funcyaml.Resources{
			Limits: &funcyaml.ResourceLimits{Concurrency: &limit}}
	}
	return &c
}

// busyReply is what the busy function answers.
type busyReply struct {
	PID        int    `json:"pid"`
	Concurrent int    `json:"concurrent"`
	Peak       int    `json:"peak"`
	Version    string `json:"version"`
}

// get sends GET path through the runner to the function name and decodes
// its JSON answer into out; a non-200 answer is an error.
func get(r *Runner, name, path string, out any) error {
	rt, err := r.RoundTripper(name)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+name+path, nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

// busy sends GET path to the busy-shaped function name.
func busy(r *Runner, name, path string) (busyReply, error) {
	var rep busyReply
	err := get(r, name, path, &rep)
	return rep, err
}

var (
	projectsMu sync.Mutex
	projects   = map[string]string{} // name → folder
)

// project writes (once per package run) a cloudevent function project
// named name with handle.go holding handle, and returns it loaded from its
// func.yaml.
func project(t testing.TB, name, handle string) *funcyaml.Function {
	t.Helper()
	return projectOf(t, name, funcyaml.InvokeCloudEvent, map[string]string{
		"go.mod":    testGoMod,
		"handle.go": handle,
	})
}

// monoProject writes the mono function and the library beside it.
func monoProject(t testing.TB) *funcyaml.Function {
	t.Helper()
	projectsMu.Lock()
	lib := filepath.Join(fixtures.root, "lib")
	writeFiles(t, lib, map[string]string{
		"go.mod": "module example.com/lib\n\ngo 1.26\n",
		"lib.go": "package lib\n\n" +
			"func Greeting() string { return \"hello from lib\" }\n",
	})
	projectsMu.Unlock()
	return projectOf(t, "mono", funcyaml.InvokeHTTP, map[string]string{
		"go.mod":    monoGoMod,
		"handle.go": monoHandle,
	})
}

// projectOf writes (once per package run) a function project named name
// invoked by invoke, with files besides its func.yaml, runs `go mod tidy`
// in it to make its go.sum, and returns it loaded from its func.yaml.
func projectOf(t testing.TB, name, invoke string,
	files map[string]string) *funcyaml.Function {
	t.Helper()
	projectsMu.Lock()
	defer projectsMu.Unlock()

	dir, ok := projects[name]
	if !ok {
		dir = filepath.Join(fixtures.root, name)
		all := map[string]string{"func.yaml": fmt.Sprintf(
			"specVersion: 0.36.0\nname: %s\nruntime: go\n"+
				"invoke: %s\nbuild:\n  builder: host\n", name, invoke)}
		for file, content := range files {
			all[file] = content
		}
		writeFiles(t, dir, all)
		tidy(t, dir)
		projects[name] = dir
	}
	f, err := funcyaml.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeFiles writes files (name → content) into dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, content := range files {
		err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tidy runs `go mod tidy` in dir, as `kn func create` leaves a project.
func tidy(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "GOWORK"),
		"GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy in %s: %v\n%s", dir, err, out)
	}
}

// withEnv returns a copy of f whose run.envs are the pairs given.
func withEnv(f *funcyaml.Function, pairs ...string) *funcyaml.Function {
	c := *f
	c.Run.Envs = nil
	for i := 0; i+1 < len(pairs); i += 2 {
		name, value := pairs[i], pairs[i+1]
		c.Run.Envs = append(c.Run.Envs,
			funcyaml.Env{Name: &name, Value: &value})
	}
	return &c
}

// logBuffer collects a runner's JSON logs for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the log records whose msg is msg.
func (b *logBuffer) records(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// newRunner returns a runner over fns with the shared build cache (unless
// p sets BuildDir), a test log folder, and logs collected in the returned
// buffer. It is closed when the test ends.
func newRunner(t testing.TB, p Params,
	fns ...*funcyaml.Function) (*Runner, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	p.Functions = fns
	if p.BuildDir == "" {
		p.BuildDir = fixtures.buildDir
	}
	p.LogDir = t.TempDir()
	p.Logger = slog.New(slog.NewJSONHandler(logs,
		&slog.HandlerOptions{Level: slog.LevelDebug}))

	r, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(),
			10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("runner logs:\n%s", logs.buf.String())
		}
	})
	return r, logs
}

// reply is what the echo and static functions answer.
type reply struct {
	status int
	ceType string
	ceID   string
	PID    int    `json:"pid"`
	Hello  string `json:"greeting"`
	Data   string `json:"data"`
}

// send posts a binary-mode CloudEvent of type ceType through the runner to
// the function name and returns the reply.
func send(t testing.TB, r *Runner, name, ceType, id string) (reply, error) {
	t.Helper()
	rt, err := r.RoundTripper(name)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost,
		"http://"+name+".ferry.local/some/path?q=1",
		strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Ce-Source", "test/runner")
	req.Header.Set("Ce-Type", ceType)

	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}

	rep := reply{
		status: resp.StatusCode,
		ceType: resp.Header.Get("Ce-Type"),
		ceID:   resp.Header.Get("Ce-Id"),
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &rep); err != nil {
			return rep, fmt.Errorf("reply body %q: %v", body, err)
		}
	}
	return rep, nil
}

// mustSend is send that fails the test on error or a non-2xx status.
func mustSend(t testing.TB, r *Runner, name, ceType, id string) reply {
	t.Helper()
	rep, err := send(t, r, name, ceType, id)
	if err != nil {
		t.Fatalf("send %s to %s: %v", id, name, err)
	}
	if rep.status/100 != 2 {
		t.Fatalf("send %s to %s: status %d", id, name, rep.status)
	}
	return rep
}

// statusOf returns the runner's status of the function name.
func statusOf(t testing.TB, r *Runner, name string) FunctionStatus {
	t.Helper()
	for _, s := range r.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return FunctionStatus{}
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string,
	cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still not %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether no process with pid exists (it has exited
// and been reaped).
func processGone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// orphanEnv, set to a function's folder, makes the test binary run
// orphanHelper instead of the tests.
const orphanEnv = "FERRY_RUNNER_TEST_ORPHAN"

// orphanHelper plays a ferry dev that is about to be killed: it starts the
// function in dir (building into $FERRY_RUNNER_TEST_BUILDS), prints
// "pid <pid of the function>" and waits to be killed.
func orphanHelper(dir string) int {
	f, err := funcyaml.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := New(Params{
		Functions: []*funcyaml.Function{f},
		BuildDir:  os.Getenv("FERRY_RUNNER_TEST_BUILDS"),
		LogDir:    os.Getenv("FERRY_RUNNER_TEST_LOGS"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rt, _ := r.RoundTripper(f.Name)
	req, _ := http.NewRequest(http.MethodPost, "http://x/",
		strings.NewReader("{}"))
	for k, v := range map[string]string{"Ce-Specversion": "1.0",
		"Ce-Id": "o1", "Ce-Source": "test", "Ce-Type": "test.ping",
		"Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rep reply
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("pid %d\n", rep.PID)
	select {}
}

// processDead reports whether pid is gone or a zombie: a killed orphan is
// reaped by whatever PID 1 is, if it reaps at all.
func processDead(pid int) bool {
	if processGone(pid) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}
