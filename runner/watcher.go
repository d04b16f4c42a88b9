package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// sourceWatch is what the watcher knows of one function's folder.
type sourceWatch struct {
	// stamp is a hash of every file's path, size, mode and modification
	// time: cheap to take, so that unchanged folders are not read.
	stamp string
	// digest is the hash of every file's path and content that the
	// running build was made from (or that was last rolled out).
	digest string
	// pending is a new digest seen once; it is acted on when the next
	// check sees it again, so that a save in several writes is built
	// once.
	pending string
}

// startWatcher takes every function folder's state as it is and watches
// them from then on: each WatchInterval, a folder whose content changed
// (and stayed so for one more interval) is rebuilt and rolled out.
func (r *Runner) startWatcher() {
	for _, f := range r.order {
		f.watch.stamp, _ = r.stamp(f.dir)
		f.watch.digest, _ = r.digest(f.dir)
	}
	if r.ctx.Err() != nil {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.watchInterval)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			for _, f := range r.order {
				r.checkSources(f)
			}
		}
	}()
}

// checkSources rolls f out when its folder's content changed.
func (r *Runner) checkSources(f *function) {
	stamp, err := r.stamp(f.dir)
	if err != nil {
		f.log.Debug("watch: cannot read the function folder", "err", err)
		return
	}
	if stamp == f.watch.stamp && f.watch.pending == "" {
		return
	}
	f.watch.stamp = stamp
	digest, err := r.digest(f.dir)
	if err != nil {
		f.log.Debug("watch: cannot read the function folder", "err", err)
		return
	}
	switch digest {
	case f.watch.digest: // touched, not changed
		f.watch.pending = ""
		return
	case f.watch.pending:
	default:
		f.watch.pending = digest
		return
	}
	f.watch.pending = ""
	f.watch.digest = digest
	r.rollout(f)
}

// rollout builds f's current sources and, when instances run an older
// build, starts as many on the new one, waits for their readiness and
// then drains the old ones: they take no new request and stop once those
// in flight end, so no request is dropped. When the build fails, or no new
// instance gets ready, the old instances keep serving. A function at zero
// only gets its build, so that its next cold start does not wait for it.
// During a rollout the instances may number up to twice the max scale.
func (r *Runner) rollout(f *function) {
	f.log.Info("sources changed; rebuilding")
	b, err := r.buildFunction(r.ctx, f, true)
	if err != nil {
		f.log.Warn("rollout stopped: the new build failed; "+
			"running instances keep the old one", "err", err)
		return
	}

	f.mu.Lock()
	var old []*instance
	for _, inst := range f.ready {
		if inst.revision != b.hash {
			old = append(old, inst)
		}
	}
	if len(old) == 0 || f.closed {
		f.mu.Unlock()
		return
	}
	done := make(chan error, len(old))
	for range old {
		f.startLocked(done)
	}
	f.mu.Unlock()

	began, started := time.Now(), 0
	for range old {
		select {
		case err := <-done:
			if err == nil {
				started++
			}
		case <-r.ctx.Done():
			return
		}
	}
	if started == 0 {
		f.log.Error("rollout failed: no instance of the new build got "+
			"ready; the old build keeps serving", "revision", b.hash)
		return
	}

	f.mu.Lock()
	for _, inst := range old {
		if inst.state == stateReady {
			f.drainLocked(inst)
		}
	}
	f.mu.Unlock()
	f.log.Info("rolled out", "revision", b.hash, "instances", started,
		"replaced", len(old), "duration", time.Since(began))
}

// stamp hashes the path, size, mode and modification time of every file
// under dir (skipping what sourceHash skips).
func (r *Runner) stamp(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry,
		err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && r.skipDir(path, d.Name()) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00", path, info.Size(),
			info.Mode(), info.ModTime().UnixNano())
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// digest hashes the path and content of every file under dir (as
// sourceHash does, without the build's own inputs).
func (r *Runner) digest(dir string) (string, error) {
	h := sha256.New()
	err := r.hashTree(h, dir)
	return hex.EncodeToString(h.Sum(nil)), err
}
