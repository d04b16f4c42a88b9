package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Files of a build folder, <BuildDir>/<name>/<hash>/.
const (
	// binaryName is the built function.
	binaryName = "function"
	// completeMarker is written last, just before the folder gets its final
	// name: a folder without it is not a build.
	completeMarker = ".complete"
	// tempPrefix starts the name of a build folder still being written.
	tempPrefix = ".tmp-"
	// hashLen is how many hex digits of the content hash name the folder.
	hashLen = 16
)

// buildResult is the last build outcome of a function.
type buildResult struct {
	state  BuildState
	hash   string
	binary string // the executable, when state is BuildReady
	err    error  // when state is BuildFailed
}

// buildFunction makes sure f has an up-to-date build and returns it.
// Builds run one at a time across the runner (they are CPU bound).
//
// explicit is true for Runner.Build: it logs cache hits at info and
// retries a failed build. On demand (a cold start), a cache hit is logged
// at debug and a build that failed for the same sources fails again at
// once, without compiling, so that redelivered events do not each pay for a
// compile that is known to fail.
func (r *Runner) buildFunction(ctx context.Context, f *function,
	explicit bool) (buildResult, error) {
	r.buildMu.Lock()
	defer r.buildMu.Unlock()

	begin := time.Now()
	src, err := readSource(f.dir, f.spec.Invoke)
	var hash string
	if err == nil {
		hash, err = r.sourceHash(src)
	}
	if err != nil {
		err = fmt.Errorf("build %s: %w", f.spec.Name, err)
		f.log.Error("build failed", "err", err)
		b := buildResult{state: BuildFailed, err: err}
		return b, f.buildDone(b)
	}

	return r.buildSource(ctx, f, src, hash, begin, explicit)
}

// buildSource builds src, whose content hash is hash, unless the build
// folder for hash is complete. begin is when the check began, for the log;
// see buildFunction for explicit.
func (r *Runner) buildSource(ctx context.Context, f *function, src source,
	hash string, begin time.Time, explicit bool) (buildResult, error) {
	if prev := f.lastBuild(); !explicit && prev.state == BuildFailed &&
		prev.hash == hash {
		return prev, prev.err
	}

	dir := filepath.Join(r.buildDir, f.spec.Name, hash)
	done := buildResult{state: BuildReady, hash: hash,
		binary: filepath.Join(dir, binaryName)}
	if complete(dir) {
		level := slog.LevelDebug
		if explicit {
			level = slog.LevelInfo
		}
		f.log.Log(ctx, level, "build up to date", "cached", true,
			"hash", hash, "duration", time.Since(begin))
		return done, f.buildDone(done)
	}

	f.setBuildState(BuildRunning)
	err := r.compile(ctx, f.spec.Name, src, hash, dir)
	took := time.Since(begin)
	if err != nil {
		f.log.Error("build failed", "duration", took, "err", err)
		b := buildResult{state: BuildFailed, hash: hash, err: err}
		return b, f.buildDone(b)
	}
	f.log.Info("built", "cached", false, "hash", hash, "duration", took)
	return done, f.buildDone(done)
}

// complete reports whether dir is a finished build folder.
func complete(dir string) bool {
	bin, err := os.Stat(filepath.Join(dir, binaryName))
	if err != nil || !bin.Mode().IsRegular() {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, completeMarker))
	return err == nil
}

// builtBefore returns the newest complete build of the function name that
// an earlier run left in the build folder (a successful build removes the
// older ones, a failed one keeps them), so that a function whose sources
// fail to build at start still starts from the last build that compiled.
func (r *Runner) builtBefore(name string) buildResult {
	var (
		best  buildResult
		newer time.Time
	)
	entries, _ := os.ReadDir(filepath.Join(r.buildDir, name))
	for _, e := range entries {
		dir := filepath.Join(r.buildDir, name, e.Name())
		info, err := os.Stat(filepath.Join(dir, completeMarker))
		if err != nil || !complete(dir) || !info.ModTime().After(newer) {
			continue
		}
		newer = info.ModTime()
		best = buildResult{state: BuildReady, hash: e.Name(),
			binary: filepath.Join(dir, binaryName)}
	}
	return best
}

// compile generates the build module for src in a temporary folder beside
// dir, runs `go mod tidy` and `go build` in it, and renames it to dir once
// the binary and the completion marker are written. Older builds of the
// function are removed afterwards.
func (r *Runner) compile(ctx context.Context, name string, src source,
	hash, dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix+hash+"-")
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed

	if err := writeScaffold(tmp, name, src); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	if err := goCommand(ctx, tmp, "mod", "tidy"); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	err = goCommand(ctx, tmp, "build", "-o", binaryName, ".")
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}

	marker := fmt.Sprintf("hash %s\nbuilt %s\n", hash,
		time.Now().UTC().Format(time.RFC3339))
	err = os.WriteFile(filepath.Join(tmp, completeMarker), []byte(marker),
		0o644)
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}

	pruneBuilds(parent, filepath.Base(dir))
	return nil
}

// writeScaffold writes the generated go.mod and main.go into dir.
func writeScaffold(dir, name string, src source) error {
	main, err := buildMain(name, src)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"go.mod":  buildGoMod(name, src),
		"main.go": main,
	}
	for file, data := range files {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pruneBuilds removes every entry of parent but keep: older builds of the
// function and temporary folders left by an interrupted build. Failures
// are ignored; the next build tries again.
func pruneBuilds(parent, keep string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != keep {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// goCommand runs `go args...` in dir and returns an error holding its
// trimmed output when it fails, its file positions made to outlive the
// build folder (see sourcePaths). GOFLAGS=-mod=mod lets go.mod and go.sum
// be updated as needed; -buildvcs=false because the build folder is not the
// function's repository (stamping it would describe the wrong one, or fail
// where git is missing); GOWORK=off keeps a go.work around the folders out.
func goCommand(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "GOWORK"),
		"GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}

	what := "go " + strings.Join(args, " ")
	msg := sourcePaths(strings.TrimSpace(string(out)), dir)
	if msg == "" {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w:\n%s", what, err, msg)
}

// sourcePaths rewrites the file positions the go command printed relative
// to the build folder dir (../../../echo/handle.go:14:2: ...), which means
// nothing once that folder is gone: they become relative to Ferry's working
// folder when they lie inside it (functions/echo/handle.go:14:2: ...), as an
// editor opens them, and absolute otherwise. Other lines are kept.
func sourcePaths(out, dir string) string {
	wd, _ := os.Getwd()
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		file, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(file, ".go") ||
			strings.ContainsAny(file, " \t") {
			continue
		}
		abs := file
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(dir, file)
		}
		if wd != "" && inside(abs, wd) {
			abs, _ = filepath.Rel(wd, abs)
		}
		lines[i] = abs + ":" + rest
	}
	return strings.Join(lines, "\n")
}

// inside reports whether path lies in the folder dir.
func inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." &&
		!strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// withoutEnv returns env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// sourceHash is the content hash of a build: sha256 over the generator
// version, the func-go version, the Go version Ferry runs with, the
// invoke, shape and Handle's arity, and the relative path and content of
// every file under the function's folder. It skips .git and .func folders
// and the runner's own build and log folders when they lie inside. The
// hash is hashLen hex digits.
func (r *Runner) sourceHash(src source) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "ferry-runner\x00%s\x00%s\x00%s\x00%s\x00%s\x00%d"+
		"\x00", generatorVersion, funcGoVersion, runtime.Version(),
		src.Invoke, src.Shape, src.HandleArgs)
	if err := r.hashTree(h, src.Dir); err != nil {
		return "", fmt.Errorf("hash sources: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLen], nil
}

// hashTree writes the relative path and content of every file under dir
// to h, skipping the folders skipDir names.
func (r *Runner) hashTree(h io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry,
		err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && r.skipDir(path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return hashFile(h, path, filepath.ToSlash(rel), d)
	})
}

// skipDir reports whether the folder at path is left out of a function's
// content hash.
func (r *Runner) skipDir(path, name string) bool {
	return name == ".git" || name == ".func" ||
		path == r.buildDir || path == r.logDir
}

// hashFile adds one file to h: its relative path, then its content (a
// symbolic link adds its target; other special files add nothing).
func hashFile(h io.Writer, path, rel string, d fs.DirEntry) error {
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "link\x00%s\x00%s\x00", rel, target)
		return nil
	case !d.Type().IsRegular():
		return nil
	}

	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file\x00%s\x00%d\x00", rel, info.Size())
	if _, err := io.Copy(h, file); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}
