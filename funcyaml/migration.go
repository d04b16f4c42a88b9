package funcyaml

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// doc is a func.yaml file as decoded YAML: maps, lists and scalars.
type doc = map[string]any

// migration brings a document below version up to it.
type migration struct {
	version string
	apply   func(d doc)
}

// migrations are kn func's, in order; each applies to files whose
// specVersion is below its version (to every file without one).
var migrations = []migration{
	{"0.19.0", migrateCreationStamp},
	{"0.23.0", migrateBuilderImages},
	{"0.25.0", migrateSpecVersion},
	{"0.34.0", migrateSpecsStructure},
	{"0.35.0", migrateInvokeStructure},
	{"0.36.0", migrateVolumeTypo},
}

// defaultPackBuilder is the builder image every pack build used before
// 0.23.0; a file that names it asked for nothing special.
const defaultPackBuilder = "gcr.io/paketo-buildpacks/builder:base"

// migrate brings d up to SpecVersion in place. It returns the version the
// file had when a migration was applied ("none" for no specVersion) and
// the warnings for a version newer than SpecVersion.
func migrate(d doc) (from string, warnings []string, err error) {
	v, _ := d["specVersion"].(string)
	if _, ok := d["specVersion"]; ok && v == "" {
		return "", nil, fieldErrors(FieldError{"specVersion",
			fmt.Sprintf("%v is not a version (want %s)", d["specVersion"],
				SpecVersion)})
	}
	if v != "" {
		cmp, err := compareVersions(v, SpecVersion)
		if err != nil {
			return "", nil, fieldErrors(FieldError{"specVersion",
				err.Error()})
		}
		if cmp == 0 {
			return "", nil, nil
		}
		if cmp > 0 {
			readNewer(d)
			return "", []string{fmt.Sprintf("specVersion %s is newer than "+
				"%s, which Ferry reads; it is read as %s", v, SpecVersion,
				SpecVersion)}, nil
		}
	}

	from = v
	if from == "" {
		from = "none"
	}
	for _, m := range migrations {
		if v != "" {
			if c, _ := compareVersions(v, m.version); c >= 0 {
				continue
			}
		}
		m.apply(d)
	}
	d["specVersion"] = SpecVersion
	return from, nil, nil
}

// migrateCreationStamp (0.19.0): a function made before versioning has a
// name and a runtime but no created stamp; it gets one.
func migrateCreationStamp(d doc) {
	if _, ok := d["created"]; ok {
		return
	}
	if str(d, "name") != "" && str(d, "runtime") != "" {
		d["created"] = time.Now().UTC().Format(time.RFC3339)
	}
}

// migrateBuilderImages (0.23.0): builder named a pack builder image, and
// builders a set of them; a custom image becomes builderImages.pack.
func migrateBuilderImages(d doc) {
	if img := str(d, "builder"); img != "" && img != defaultPackBuilder {
		images, _ := d["builderImages"].(doc)
		if images == nil {
			images = doc{}
		}
		images["pack"] = img
		d["builderImages"] = images
	}
	delete(d, "builder")
	delete(d, "builders")
}

// migrateSpecVersion (0.25.0): version gives way to specVersion.
func migrateSpecVersion(d doc) {
	delete(d, "version")
}

// specsMoves are the top-level fields that 0.34.0 moved, and where to.
var specsMoves = []struct{ from, section, to string }{
	{"git", "build", "git"},
	{"builderImages", "build", "builderImages"},
	{"buildpacks", "build", "buildpacks"},
	{"builder", "build", "builder"},
	{"buildEnvs", "build", "buildEnvs"},
	{"volumes", "run", "volumes"},
	{"envs", "run", "envs"},
	{"annotations", "deploy", "annotations"},
	{"options", "deploy", "options"},
	{"labels", "deploy", "labels"},
	{"healthEndpoints", "deploy", "healthEndpoints"},
}

// migrateSpecsStructure (0.34.0): the top-level fields move into build,
// run and deploy sections; build, which was the build type (local, git),
// becomes the section; the namespace is also deploy.namespace.
func migrateSpecsStructure(d doc) {
	if _, ok := d["build"].(string); ok {
		delete(d, "build")
	}
	for _, m := range specsMoves {
		v, ok := d[m.from]
		if !ok {
			continue
		}
		delete(d, m.from)
		if isEmpty(v) {
			continue
		}
		section, _ := d[m.section].(doc)
		if section == nil {
			section = doc{}
			d[m.section] = section
		}
		if _, taken := section[m.to]; !taken {
			section[m.to] = v
		}
	}
	if ns := str(d, "namespace"); ns != "" {
		deploy, _ := d["deploy"].(doc)
		if deploy == nil {
			deploy = doc{}
			d["deploy"] = deploy
		}
		if _, ok := deploy["namespace"]; !ok {
			deploy["namespace"] = ns
		}
	}
}

// migrateInvokeStructure (0.35.0): invocation.format becomes invoke, which
// is left out when it is the default, http.
func migrateInvokeStructure(d doc) {
	inv, _ := d["invocation"].(doc)
	delete(d, "invocation")
	format, _ := inv["format"].(string)
	if _, set := d["invoke"]; !set && format != "" && format != InvokeHTTP {
		d["invoke"] = format
	}
}

// migrateVolumeTypo (0.36.0): run.volumes[].presistentVolumeClaim, as
// older kn func wrote it, is persistentVolumeClaim.
func migrateVolumeTypo(d doc) {
	run, _ := d["run"].(doc)
	vols, _ := run["volumes"].([]any)
	for _, v := range vols {
		vol, ok := v.(doc)
		if !ok {
			continue
		}
		if pvc, ok := vol["presistentVolumeClaim"]; ok {
			if _, set := vol["persistentVolumeClaim"]; !set {
				vol["persistentVolumeClaim"] = pvc
			}
			delete(vol, "presistentVolumeClaim")
		}
	}
}

// readNewer reads what later specs moved back where 0.36.0 has it: the
// top-level scale of 0.38.0 (with metric, target and utilization under
// kpa) into deploy.options.scale, and build.source of 0.37.0 into
// build.git.
func readNewer(d doc) {
	if scale, ok := d["scale"].(doc); ok {
		delete(d, "scale")
		old := doc{}
		for _, k := range []string{"min", "max"} {
			if v, ok := scale[k]; ok {
				old[k] = v
			}
		}
		if kpa, ok := scale["kpa"].(doc); ok {
			for _, k := range []string{"metric", "target", "utilization"} {
				if v, ok := kpa[k]; ok {
					old[k] = v
				}
			}
		}
		options := section(section(d, "deploy"), "options")
		if _, set := options["scale"]; !set {
			options["scale"] = old
		}
	}

	build, _ := d["build"].(doc)
	if src, ok := build["source"].(doc); ok {
		delete(build, "source")
		git := doc{}
		for from, to := range map[string]string{"url": "url",
			"revision": "revision", "dir": "contextDir"} {
			if v, ok := src[from]; ok {
				git[to] = v
			}
		}
		if _, set := build["git"]; !set {
			build["git"] = git
		}
	}
}

// section returns d[key] as a document, making it when missing.
func section(d doc, key string) doc {
	s, _ := d[key].(doc)
	if s == nil {
		s = doc{}
		d[key] = s
	}
	return s
}

// str returns d[key] when it is a string.
func str(d doc, key string) string {
	s, _ := d[key].(string)
	return s
}

// isEmpty reports whether v is nothing worth moving: null, "", [] or {}.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case doc:
		return len(v) == 0
	}
	return false
}

// compareVersions compares two specVersions, X.Y.Z with an optional
// leading v: -1, 0 or 1.
func compareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1, nil
		case pa[i] > pb[i]:
			return 1, nil
		}
	}
	return 0, nil
}

// parseVersion reads X.Y.Z (a missing minor or patch is 0).
func parseVersion(s string) ([3]int, error) {
	var v [3]int
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) > 3 {
		return v, fmt.Errorf("%q is not a version (want X.Y.Z)", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q is not a version (want X.Y.Z)", s)
		}
		v[i] = n
	}
	return v, nil
}
