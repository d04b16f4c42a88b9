package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleMemory measures the resident memory of `ferry dev` running
// the example functions with every function at zero, twice: after start-up
// (the process started on a fresh data directory, its functions built,
// ready and idle for 2 s), and after traffic (one event to each example
// function, answered, then 25 s without a request: the functions' 2 s
// idle timeout and ferry dev's return to rest, 10 to 20 s after the last
// work; see devstack/rest.go).
// Run it with `go test -run '^$' -bench IdleMemory -benchtime 1x
// ./cmd/ferry` (make bench does).
func BenchmarkIdleMemory(b *testing.B) {
	bin := buildFerry(b)
	for range b.N {
		dataDir, addr := b.TempDir(), freeAddr(b)
		cmd := startCmd(b, bin, dataDir+"/dev.log", "dev", "--addr", addr,
			"--data-dir", dataDir, "--functions", "../../functions",
			"--config", "../../config", "--idle-timeout", "2s")
		if !waitReady(addr, cmd, 2*time.Minute) {
			out, _ := os.ReadFile(dataDir + "/dev.log")
			b.Fatalf("ferry dev did not become ready:\n%s", out)
		}
		time.Sleep(2 * time.Second)
		reportResident(b, cmd.Process.Pid, "")

		for typ, file := range map[string]string{
			"dev.ferry.csvstats":  "stocks.csv",
			"dev.ferry.thumbnail": "video-001.jpeg",
		} {
			runTask(b, addr, typ, "../../../shared/data/"+file)
		}
		time.Sleep(25 * time.Second)
		reportResident(b, cmd.Process.Pid, "after-traffic-")
		assertAllAtZero(b, addr)
		_ = cmd.Process.Kill()
	}
}

// reportResident reports the process's VmRSS as <prefix>idle-rss-MB, and
// apart from it its two parts: RssAnon (heap, stacks, runtime data) and
// RssFile (pages of the ferry binary mapped in).
func reportResident(b *testing.B, pid int, prefix string) {
	b.Helper()
	rss, err := residentKB(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rss["VmRSS"])/1024, prefix+"idle-rss-MB")
	b.ReportMetric(float64(rss["RssAnon"])/1024, prefix+"anon-MB")
	b.ReportMetric(float64(rss["RssFile"])/1024, prefix+"file-MB")
}

// runTask posts the file as an event of type typ and waits until its task
// has succeeded.
func runTask(b *testing.B, addr, typ, file string) {
	b.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/v1/tasks/"+typ,
		"application/octet-stream", bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	var accepted struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("post %s: %d", typ, resp.StatusCode)
	}
	resp, err = http.Get("http://" + addr + "/v1/tasks/" + accepted.ID +
		"?wait=60s")
	if err != nil {
		b.Fatal(err)
	}
	var task struct{ State string }
	_ = json.NewDecoder(resp.Body).Decode(&task)
	resp.Body.Close()
	if task.State != "succeeded" {
		b.Fatalf("task %s of %s is %q, want succeeded", accepted.ID, typ,
			task.State)
	}
}

// assertAllAtZero fails the benchmark unless GET /v1/functions shows no
// function with an instance, running or starting.
func assertAllAtZero(b *testing.B, addr string) {
	b.Helper()
	var status struct {
		Functions []struct {
			Name                string
			Instances, Starting int
		}
	}
	resp, err := http.Get("http://" + addr + "/v1/functions")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		b.Fatal(err)
	}
	if len(status.Functions) == 0 {
		b.Fatal("ferry dev runs no functions")
	}
	for _, f := range status.Functions {
		if f.Instances+f.Starting > 0 {
			b.Fatalf("function %s is not at zero: %+v", f.Name, f)
		}
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
