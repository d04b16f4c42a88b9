package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferryfn/ferry/funcyaml"
)

// What every image holds and runs as.
const (
	// User is the image's user and group: nonroot, 65532:65532, the id
	// distroless images use.
	User = "65532:65532"
	// ListenAddress is the LISTEN_ADDRESS the image sets, func-go's
	// default.
	ListenAddress = "[::]:8080"
	// BinDir holds the binary: the entrypoint is BinDir/<name>.
	BinDir = "/usr/local/bin"
	// caBundle is where the CA certificates are read on the building
	// machine and written in the image.
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
	// refAnnotation names an image in an OCI layout's index.
	refAnnotation = "org.opencontainers.image.ref.name"
)

// Params configure Build.
type Params struct {
	// Function is the kn func project to build (its Dir, Name, Invoke).
	Function *funcyaml.Function
	// Ref is the image's reference, written into the layout's index (for
	// example dev.local/ferry/csvstats:latest).
	Ref string
	// OutDir receives the OCI layout; it is replaced as a whole.
	OutDir string
	// Platform is the binary's and image's; zero means linux and the
	// building machine's architecture.
	Platform v1.Platform
	// Logger gets one line per image; nil means slog.Default().
	Logger *slog.Logger
}

// Result describes a built image.
type Result struct {
	Ref    string
	Digest v1.Hash
	// Size is the size of the layers, compressed, in bytes.
	Size int64
}

// Build compiles p.Function, assembles its image and writes it as an OCI
// layout to p.OutDir.
func Build(ctx context.Context, p Params) (Result, error) {
	f := p.Function
	if p.Platform.OS == "" {
		p.Platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()

	build, err := os.MkdirTemp("", "ferry-image-"+f.Name+"-")
	if err != nil {
		return Result{}, fmt.Errorf("image %s: %w", f.Name, err)
	}
	defer os.RemoveAll(build)
	bin, err := compile(ctx, f, p.Platform, build)
	if err != nil {
		return Result{}, fmt.Errorf("image %s: %w", f.Name, err)
	}

	img, err := assemble(f.Name, bin, p.Platform)
	if err != nil {
		return Result{}, fmt.Errorf("image %s: %w", f.Name, err)
	}
	r, err := writeLayout(p.OutDir, p.Ref, img)
	if err != nil {
		return Result{}, fmt.Errorf("image %s: %w", f.Name, err)
	}
	log.Info("image built", "function", f.Name, "ref", r.Ref,
		"digest", r.Digest.String(), "bytes", r.Size, "out", p.OutDir,
		"duration", time.Since(start).Round(time.Millisecond))
	return r, nil
}

// assemble stacks the base layer and the binary's layer on nothing.
func assemble(name, bin string, platform v1.Platform) (v1.Image, error) {
	base, err := layer(baseFiles())
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	app, err := layer([]file{{path: BinDir + "/" + name, mode: 0o755, data: exe}})
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, app)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture,
		platform.Variant
	cfg.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinDir + "/" + name},
		Env: []string{
			"PATH=" + BinDir,
			"LISTEN_ADDRESS=" + ListenAddress,
			"SSL_CERT_FILE=" + caBundle,
		},
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       map[string]string{"org.opencontainers.image.title": name},
	}
	return mutate.ConfigFile(img, cfg)
}

// file is one entry of a layer: a regular file, or a directory when data
// is nil and mode has fs.ModeDir's permission bits only.
type file struct {
	path string
	mode int64
	data []byte
	dir  bool
}

// baseFiles are what every image needs beside its binary: the non-root
// user, CA certificates when the builder has them, and /tmp.
func baseFiles() []file {
	files := []file{
		{path: "/etc", mode: 0o755, dir: true},
		{path: "/etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, data: []byte(
			"root:x:0:\nnonroot:x:65532:\n")},
		{path: "/home", mode: 0o755, dir: true},
		{path: "/home/nonroot", mode: 0o700, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
		{path: "/usr", mode: 0o755, dir: true},
		{path: "/usr/local", mode: 0o755, dir: true},
		{path: BinDir, mode: 0o755, dir: true},
	}
	if certs, err := os.ReadFile(caBundle); err == nil {
		files = append(files,
			file{path: "/etc/ssl", mode: 0o755, dir: true},
			file{path: "/etc/ssl/certs", mode: 0o755, dir: true},
			file{path: caBundle, mode: 0o644, data: certs})
	}
	return files
}

// layer is files as a gzipped tar layer with zero timestamps; /home/nonroot
// belongs to 65532, everything else to root.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.path, "/"),
			Mode:    f.mode,
			ModTime: time.Unix(0, 0),
			Format:  tar.FormatPAX,
		}
		if f.path == "/home/nonroot" {
			h.Uid, h.Gid = 65532, 65532
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// writeLayout replaces dir with an OCI layout holding img as ref.
func writeLayout(dir, ref string, img v1.Image) (Result, error) {
	if err := os.RemoveAll(dir); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Result{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return Result{}, err
	}
	err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
		refAnnotation: ref,
	}))
	if err != nil {
		return Result{}, err
	}

	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return Result{}, err
	}
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return Result{}, err
		}
		size += n
	}
	return Result{Ref: ref, Digest: digest, Size: size}, nil
}
