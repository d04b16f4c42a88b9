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
		b.ReportMetric(float64(rss["VmRSS"])/1024, "idle-rss-MB")
		// VmRSS is RssAnon (heap, stacks, runtime data) plus RssFile
		// (pages of the ferry binary mapped in). RssFile varies from run
		// to run with how the page cache holds the binary just linked (a
		// large folio is mapped whole at its first touch), so the two are
		// reported apart.
		b.ReportMetric(float64(rss["RssAnon"])/1024, "anon-MB")
		b.ReportMetric(float64(rss["RssFile"])/1024, "file-MB")
		_ = cmd.Process.Kill()
	}
}

// residentKB reads VmRSS, RssAnon and RssFile of a process from
// /proc/<pid>/status, in KiB.
func residentKB(pid int) (map[string]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kb := map[string]int{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || (key != "VmRSS" && key != "RssAnon" && key != "RssFile") {
			continue
		}
		value := strings.TrimSuffix(strings.TrimSpace(rest), " kB")
		n, err := strconv.Atoi(value)
		if err != nil {
			return nil, fmt.Errorf("pid %d: %s: %w", pid, key, err)
		}
		kb[key] = n
	}
	if _, ok := kb["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	return kb, s.Err()
}
