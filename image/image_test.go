package image_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/image"
)

// buildCSVStats builds the csvstats example's image into a new folder and
// returns the folder and the result.
func buildCSVStats(t *testing.T) (string, image.Result) {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles a function (about 30 s cold)")
	}
	f, err := funcyaml.Load("../functions/csvstats")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "csvstats")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := image.Build(ctx, image.Params{Function: f, OutDir: out,
		Ref: "dev.local/ferry/csvstats:test"})
	if err != nil {
		t.Fatal(err)
	}
	return out, r
}

// readImage reads the one image of the OCI layout at dir and checks that
// the index names it by ref.
func readImage(t *testing.T, dir, ref string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read layout: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(m.Manifests))
	}
	d := m.Manifests[0]
	if got := d.Annotations["org.opencontainers.image.ref.name"]; got != ref {
		t.Errorf("ref.name = %q, want %q", got, ref)
	}
	if d.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s, want OCI", d.MediaType)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImageIsValidOCIAndRunsAsNonRoot(t *testing.T) {
	dir, r := buildCSVStats(t)
	img := readImage(t, dir, "dev.local/ferry/csvstats:test")

	// Digests, sizes and the config all check out.
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if d, _ := img.Digest(); d != r.Digest {
		t.Errorf("digest = %s, Build said %s", d, r.Digest)
	}
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mf.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %s, want OCI", mf.Config.MediaType)
	}
	for _, l := range mf.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type = %s, want OCI", l.MediaType)
		}
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform = %s/%s, want linux/<arch>", cfg.OS, cfg.Architecture)
	}
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/csvstats" {
		t.Errorf("entrypoint = %q", c.Entrypoint)
	}
	if !contains(c.Env, "LISTEN_ADDRESS=[::]:8080") {
		t.Errorf("env = %q, want LISTEN_ADDRESS=[::]:8080", c.Env)
	}

	files := extract(t, img)
	if !strings.Contains(string(files["etc/passwd"]),
		"nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q, want the nonroot user", files["etc/passwd"])
	}
	bin := files["usr/local/bin/csvstats"]
	if len(bin) == 0 {
		t.Fatal("no binary at /usr/local/bin/csvstats")
	}
	if string(bin[:4]) != "\x7fELF" {
		t.Errorf("the binary is no ELF file")
	}
	runEntrypoint(t, bin)
}

func TestImageBuildIsReproducible(t *testing.T) {
	_, a := buildCSVStats(t)
	_, b := buildCSVStats(t)
	if a.Digest != b.Digest {
		t.Errorf("two builds of the same sources: %s and %s", a.Digest, b.Digest)
	}
}

// extract reads every regular file of img's layers.
func extract(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			if h.ModTime.Unix() != 0 {
				t.Errorf("%s has mtime %v, want the epoch", h.Name, h.ModTime)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
		rc.Close()
	}
	return files
}

// runEntrypoint runs the image's binary as a process on a free loopback
// port and waits for func-go's /health/readiness to answer 200.
func runEntrypoint(t *testing.T, bin []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entrypoint")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(path)
	cmd.Dir = t.TempDir() // func-go reads ./cfg if there is one
	cmd.Env = []string{"LISTEN_ADDRESS=" + addr}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the entrypoint: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	url := "http://" + addr + "/health/readiness"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 10 s (last: %v); output:\n%s", url,
				err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
