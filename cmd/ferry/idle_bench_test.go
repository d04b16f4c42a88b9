package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleMemory measures the resident memory of `ferry dev` running
// the example functions with every function at zero: the process is
// started on a fresh data directory, its functions built, and its RSS read
// from /proc after it has been ready and idle for 2 s. Run it with `go test
// -run '^$' -bench IdleMemory -benchtime 1x ./cmd/ferry` (make bench does).
func BenchmarkIdleMemory(b *testing.B) {
	bin := buildFerry(b)
	for range b.N {
		dataDir, addr := b.TempDir(), freeAddr(b)
		cmd := startCmd(b, bin, dataDir+"/dev.log", "dev", "--addr", addr,
			"--data-dir", dataDir, "--functions", "../../functions",
			"--config", "../../config")
		if !waitReady(addr, cmd, 2*time.Minute) {
			out, _ := os.ReadFile(dataDir + "/dev.log")
			b.Fatalf("ferry dev did not become ready:\n%s", out)
		}
		time.Sleep(2 * time.Second)
		rss, err := residentKB(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/1024, "idle-rss-MB")
		_ = cmd.Process.Kill()
	}
}

// residentKB reads VmRSS of a process from /proc, in KiB.
func residentKB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
