// Package manifest reads Kubernetes YAML manifests the way kubectl and
// kustomize see them: every .yaml and .yml file under a folder (recursively,
// kustomization files aside), each file split into its documents, each
// document known by its apiVersion and kind. The Broker under `ferry dev`
// and `ferry validate` both read config/ through it.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Document is one YAML document of a manifest file.
type Document struct {
	// File is the path of the file it came from; Index counts documents
	// within the file from 1.
	File  string
	Index int
	// APIVersion and Kind say what it is; Name is metadata.name.
	APIVersion string
	Kind       string
	Name       string
	// Raw is the document's YAML.
	Raw []byte
}

// Object names the document for a message: "Kind/name in file".
func (d Document) Object() string {
	name := d.Name
	if name == "" {
		name = fmt.Sprintf("(document %d)", d.Index)
	}
	return d.Kind + "/" + name
}

// Walk calls fn for every document under dir, in file-name order. A
// missing dir has no documents. Empty documents are skipped; a document
// that is not YAML stops the walk with an error naming the file.
func Walk(dir string, fn func(Document) error) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.IsDir() || !IsManifest(d.Name()) {
			return nil
		}
		return walkFile(path, fn)
	})
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	return nil
}

// IsManifest reports whether a file name is a manifest's: .yaml or .yml,
// and not a kustomization file.
func IsManifest(name string) bool {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	return (ext == ".yaml" || ext == ".yml") && base != "kustomization"
}

func walkFile(path string, fn func(Document) error) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r := yamlutil.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		d := Document{File: path, Index: i, APIVersion: head.APIVersion,
			Kind: head.Kind, Name: head.Metadata.Name, Raw: doc}
		if err := fn(d); err != nil {
			return err
		}
	}
}

// isComment reports whether a document holds only comments.
func isComment(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}
