// Package image builds the OCI images of Ferry's functions and of its
// ingress without a Docker daemon or any registry, for `make images`.
//
// A function's folder (func.yaml, go.mod and a library package, a kn func
// project; the repository's root is one too, the ingress) is wrapped as kn
// func's host builder wraps it: a generated module requires the function's
// module (replaced by its folder) and knative.dev/func-go v0.22.0, and a
// generated main.go passes New() (or a DefaultHandler around Handle) to
// func-go's http or cloudevents Start, as func.yaml's invoke says. `go mod
// tidy` and `go build -trimpath` run there with CGO_ENABLED=0, so the
// binary is static, for the Platform asked (linux/<host arch> by default).
//
// The image is written with go-containerregistry onto nothing (no base
// image to pull): one layer with /etc/passwd and /etc/group naming the
// non-root user nonroot (65532:65532), /etc/ssl/certs/ca-certificates.crt
// when the building machine has it (for TLS to Redis or a Broker over
// https), and an empty /tmp; a second layer with the binary at
// /usr/local/bin/<name>. The config runs it as 65532:65532 with
// Env LISTEN_ADDRESS=[::]:8080 (func-go's default) and exposes 8080/tcp.
// Files, the config and the layers carry no timestamps, so the same
// sources, Go version and certificates give the same digest.
//
// The result is an OCI image layout in <OutDir>: index.json names the
// image by its reference (the org.opencontainers.image.ref.name
// annotation), blobs/sha256 holds it. Push it with any OCI tool, for
// example `skopeo copy oci:bin/images/csvstats docker://registry/csvstats`
// or `crane push bin/images/csvstats registry/csvstats`.
package image
