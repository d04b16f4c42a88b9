package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// readinessPathDefault is func-go's readiness endpoint, probed unless
	// func.yaml's deploy.healthEndpoints.readiness names another.
	readinessPathDefault = "/health/readiness"
	// livenessPathDefault is func-go's liveness endpoint, probed unless
	// deploy.healthEndpoints.liveness names another.
	livenessPathDefault = "/health/liveness"
	// readinessInterval is how often a starting instance is probed.
	readinessInterval = 5 * time.Millisecond
	// readinessProbeTimeout bounds one probe, so that an instance that
	// accepts connections and never answers is probed again.
	readinessProbeTimeout = time.Second
	// logTailLines is how many lines of its log a failed start reports.
	logTailLines = 20
	// logTailBytes bounds how much of the log a failed start reads.
	logTailBytes = 16 << 10
)

// instanceState is where an instance is in its life.
type instanceState int

const (
	// stateStarting: the process runs and is probed for readiness.
	stateStarting instanceState = iota
	// stateReady: it takes requests.
	stateReady
	// stateDraining: it takes no new requests and is stopped once those
	// in flight end (scaled down, or replaced by a new build).
	stateDraining
	// stateStopping: it was sent SIGTERM, or is about to be.
	stateStopping
)

func (s instanceState) String() string {
	switch s {
	case stateStarting:
		return "starting"
	case stateReady:
		return "ready"
	case stateDraining:
		return "draining"
	}
	return "stopping"
}

// instance is one process of a function: func-go's service listening on a
// loopback port.
type instance struct {
	pid       int
	addr      string // host:port on 127.0.0.1
	logPath   string
	logFrom   int64  // size of the log when the process started
	revision  string // content hash of the build it runs
	startedAt time.Time

	done    chan struct{} // closed once the process has exited and been reaped
	exitErr error         // the process's exit status; set before done closes

	// Guarded by the owning function's mu.
	state    instanceState
	inflight int
	readyAt  time.Time
}

// spawn starts binary, the build of function name, in dir with env,
// listening on a free loopback port, its stdout and stderr appended to
// logPath. It does not wait for readiness.
//
// The process gets its own process group (so that signals go to it and its
// children, and a terminal's Ctrl-C reaches only Ferry) and is killed by
// the kernel if Ferry dies, so that `kill -9` of ferry dev leaves no
// function running. (The kernel ties that to the OS thread that forked;
// the Go runtime ends a thread only when a goroutine exits while locked to
// it, which the runner never does.)
func spawn(name, binary, dir string, env []string,
	logPath string) (*instance, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath,
		os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	info, err := logFile.Stat()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "--- ferry: starting %s on %s at %s\n",
		name, addr, time.Now().Format(time.RFC3339))

	cmd := exec.Command(binary)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "LISTEN_ADDRESS="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}

	inst := &instance{
		pid:       cmd.Process.Pid,
		addr:      addr,
		logPath:   logPath,
		logFrom:   info.Size(),
		startedAt: time.Now(),
		done:      make(chan struct{}),
	}
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.done)
	}()
	return inst, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago. Another process may take it before the function listens; the
// start then fails with the function's "address already in use".
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// exited reports whether the process has exited.
func (i *instance) exited() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// waitReady probes GET path (the readiness endpoint) every
// readinessInterval until it answers 200 OK. It fails, with the last lines
// of the instance's log, when the process exits first or timeout passes;
// it fails with ctx's error when ctx ends first.
func (i *instance) waitReady(ctx context.Context, path string,
	timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(readinessInterval)
	defer tick.Stop()
	probe := &http.Client{
		Timeout:   readinessProbeTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	url := "http://" + i.addr + path

	for {
		if i.probe(ctx, probe, url) {
			return nil
		}
		select {
		case <-i.done:
			return fmt.Errorf("process exited before it was ready (%v)%s",
				i.exitErr, i.logTail())
		case <-deadline.C:
			return fmt.Errorf("not ready after %s%s", timeout, i.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// probe makes one readiness request and reports whether it answered 200.
func (i *instance) probe(ctx context.Context, c *http.Client,
	url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop asks the process to stop with SIGTERM, sends SIGKILL if it is still
// running after grace, and returns once it has exited. Both signals go to
// the process group, so the function's own children stop too.
func (i *instance) stop(grace time.Duration) {
	if i.exited() {
		return
	}
	syscall.Kill(-i.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-i.done:
	case <-t.C:
		i.kill()
		<-i.done
	}
}

// kill sends SIGKILL to the process group unless the process has exited.
func (i *instance) kill() {
	if !i.exited() {
		syscall.Kill(-i.pid, syscall.SIGKILL)
	}
}

// logTail returns the last logTailLines lines this instance wrote to its
// log, as a block to append to an error, or "" when there are none.
func (i *instance) logTail() string {
	f, err := os.Open(i.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	from := max(i.logFrom, info.Size()-logTailBytes)
	buf := make([]byte, info.Size()-from)
	n, err := f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}

	lines := strings.Split(string(bytes.TrimSpace(buf[:n])), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "--- ferry: starting") {
		lines = lines[1:]
	}
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("; last lines of %s:\n%s", i.logPath,
		strings.Join(lines, "\n"))
}
