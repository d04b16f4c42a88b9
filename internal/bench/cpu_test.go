package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// utime and stime are the 14th and 15th fields, counted past a command
// name that holds spaces and a parenthesis.
func TestStatTimeReadsUserAndSystemTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 " +
		"250 75 0 0 20 0 12 0 1000 0 0\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	got, ok := statTime(path)
	if !ok || got != 325*clockTick {
		t.Fatalf("statTime = %v, %v; want %v", got, ok, 325*clockTick)
	}
	if _, ok := statTime(filepath.Join(t.TempDir(), "gone")); ok {
		t.Error("a missing stat file reads as measured")
	}
}

// Of two processes of the server's name, the one that started first is
// the server: a short-lived one (rabbitmqctl's own beam.smp) would vanish
// mid-run. This test process plays the server, a child started after it
// the short-lived one.
func TestStatsOfPicksTheOldestProcessOfTheName(t *testing.T) {
	self, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no /proc here")
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	got := statsOf(strings.TrimSpace(string(self)))
	want := fmt.Sprintf("/proc/%d/stat", os.Getpid())
	if got != want {
		t.Errorf("statsOf = %q, want %q", got, want)
	}
}

// The machine's busy time leaves out idle and iowait.
func TestMachineBusySumsTheBusyColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	text := "cpu  100 5 40 9000 70 3 2 1 0 0\ncpu0 50 2 20 4500 35 1 1 0 0 0\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, ok := machineBusy(path)
	if !ok || got != 151*clockTick {
		t.Fatalf("machineBusy = %v, %v; want %v", got, ok, 151*clockTick)
	}
}

// This process's own time grows as it works, and a server that was not
// found stays unknown.
func TestMeterReadsThisProcess(t *testing.T) {
	m := &cpuMeter{redis: "/proc/0/no-such-stat"}
	before := m.read()
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	used := m.read().Sub(before)
	if used.Self < clockTick {
		t.Errorf("50 ms of spinning read as %v", used.Self)
	}
	// Both count in ticks, sampled one after the other: allow two.
	if !used.HaveMachine || used.Machine+2*clockTick < used.Self {
		t.Errorf("the machine was busy %v, less than this process's %v",
			used.Machine, used.Self)
	}
	if used.HaveRabbitMQ || used.HaveRedis || used.Known() {
		t.Errorf("servers not found read as known: %+v", used)
	}
	var none *cpuMeter
	if c := none.read(); c != (CPU{}) {
		t.Errorf("nil meter read %+v", c)
	}
}

func TestLoopbackURLs(t *testing.T) {
	for url, want := range map[string]bool{
		"amqp://guest:guest@127.0.0.1:5672/": true,
		"redis://localhost:6379/0":           true,
		"amqp://[::1]:5672/":                 true,
		"amqp://rabbit.example:5672/":        false,
		"redis://10.0.0.7:6379/0":            false,
	} {
		if got := isLoopbackURL(url); got != want {
			t.Errorf("isLoopbackURL(%q) = %v", url, got)
		}
	}
}

// The floors give bounds under the table, and points with CPU time a row
// each in the CPU table, per event.
func TestMarkdownShowsBoundsAndCPU(t *testing.T) {
	r := sampleReport()
	r.Floor.Ingress[64] = Throughput{Count: 40000, Elapsed: time.Second,
		Latency: Latencies{time.Millisecond}}
	r.Floor.Dispatch[100] = Drain{Events: 201, Distinct: 201,
		Span: time.Second}
	in := r.Ingress[64]
	in.CPU = CPU{Self: 3200 * time.Millisecond, RabbitMQ: 640 *
		time.Millisecond, HaveRabbitMQ: true}
	r.Ingress[64] = in
	md := r.Markdown()
	for _, want := range []string{
		"takes in 0.62 of raw publish on this machine (the target asks " +
			"0.90 of Ferry); Ferry's ingress reaches 0.80 of that floor.",
		"goes at 0.50 of raw consume",
		"| f | Floor, no Ferry: HTTP → bare net/http handler → raw publish" +
			" + confirm → 202 | c=64 | 40,000 |",
		"| c=64 | 32,000 | 100 µs | 20 µs | – | 120 µs | 3.84 | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
