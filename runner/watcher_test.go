package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSourceChangeIsRolledOutWithoutLosingARequest(t *testing.T) {
	fn := httpProject(t, "rollable", busyHandle)
	writeFiles(t, fn.Dir, map[string]string{"handle.go": busyHandle})
	r, logs := newRunner(t, Params{Watch: true,
		WatchInterval: 50 * time.Millisecond}, fn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Build(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := busy(r, "rollable", "/")
	if err != nil {
		t.Fatal(err)
	}

	// Two clients send requests of 20 ms back to back, through the
	// rebuild and the swap.
	var (
		mu       sync.Mutex
		failures []error
		versions = map[string]int{}
		pids     = map[int]string{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rep, err := busy(r, "rollable", "/?sleep=20")
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					versions[rep.Version]++
					pids[rep.PID] = rep.Version
				}
				mu.Unlock()
			}
		}()
	}
	seen := func(version string) bool {
		mu.Lock()
		defer mu.Unlock()
		return versions[version] > 0
	}

	edited := strings.Replace(busyHandle, `version = "v1"`,
		`version = "v2"`, 1)
	writeFiles(t, fn.Dir, map[string]string{"handle.go": edited})
	waitFor(t, 90*time.Second, "replies from the new build", func() bool {
		return seen("v2")
	})
	waitFor(t, 10*time.Second, "the old instance gone", func() bool {
		return processGone(first.PID)
	})
	time.Sleep(100 * time.Millisecond) // more requests on the new one
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d requests failed during the rollout; first: %v",
			len(failures), failures[0])
	}
	if versions["v1"] == 0 {
		t.Errorf("no request answered by the old build during the " +
			"rebuild, want the old instance to serve until the swap")
	}
	for pid, v := range pids {
		if v == "v2" && pid == first.PID {
			t.Errorf("pid %d answered with both builds", pid)
		}
	}
	s := statusOf(t, r, "rollable")
	if s.Instances != 1 || len(s.Processes) != 1 ||
		s.Processes[0].Revision != s.Revision {
		t.Errorf("after the rollout: %+v, want one instance of the new "+
			"revision", s)
	}
	if n := len(logs.records("rolled out")); n != 1 {
		t.Errorf("%d 'rolled out' records, want 1", n)
	}

	// A change that does not compile leaves the new build serving.
	broken := strings.Replace(edited, `version = "v2"`, `version = 3 +`, 1)
	writeFiles(t, fn.Dir, map[string]string{"handle.go": broken})
	waitFor(t, 60*time.Second, "the broken build reported", func() bool {
		return statusOf(t, r, "rollable").Build == BuildFailed
	})
	rep, err := busy(r, "rollable", "/")
	if err != nil || rep.Version != "v2" ||
		rep.PID != s.Processes[0].PID {
		t.Errorf("request after a failed rebuild: %+v, %v; want v2 from "+
			"pid %d", rep, err, s.Processes[0].PID)
	}
	if !strings.Contains(statusOf(t, r, "rollable").BuildError,
		"handle.go") {
		t.Errorf("build error does not name handle.go")
	}
}

func TestWatcherIgnoresTouchedButUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"go.mod": httpGoMod,
		"handle.go": envHandle})
	r := &Runner{buildDir: filepath.Join(dir, "builds"),
		logDir: filepath.Join(dir, "logs")}

	stamp, _ := r.stamp(dir)
	digest, _ := r.digest(dir)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "handle.go"), later,
		later); err != nil {
		t.Fatal(err)
	}
	stamp2, _ := r.stamp(dir)
	digest2, _ := r.digest(dir)
	if stamp2 == stamp {
		t.Error("stamp unchanged by a new modification time")
	}
	if digest2 != digest {
		t.Error("digest changed by a touch alone")
	}

	writeFiles(t, filepath.Join(dir, "builds", "x"),
		map[string]string{"function": "bin"})
	writeFiles(t, filepath.Join(dir, "logs"), map[string]string{"x.log": "log"})
	if d, _ := r.digest(dir); d != digest {
		t.Error("digest changed by the runner's own build and log folders")
	}
}
