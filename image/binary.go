package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferryfn/ferry/funcyaml"
)

// compile builds f's static binary for platform into build/<name>, in the
// build module scaffold wrote there.
func compile(ctx context.Context, f *funcyaml.Function, platform v1.Platform,
	build string) (string, error) {
	if err := scaffold(ctx, f, build); err != nil {
		return "", err
	}
	env := append(withoutEnv(os.Environ(), "GOFLAGS", "GOWORK", "CGO_ENABLED",
		"GOOS", "GOARCH"),
		"GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0",
		"GOOS="+platform.OS, "GOARCH="+platform.Architecture)
	if err := goCommand(ctx, build, env, "mod", "tidy"); err != nil {
		return "", err
	}
	bin := filepath.Join(build, f.Name)
	err := goCommand(ctx, build, env, "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", bin, ".")
	if err != nil {
		return "", err
	}
	return bin, nil
}

// goCommand runs `go args...` in dir with env; its output is in the error.
func goCommand(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err,
			strings.TrimSpace(string(out)))
	}
	return nil
}

// withoutEnv is env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
