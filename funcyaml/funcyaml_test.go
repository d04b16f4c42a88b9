package funcyaml

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// full is a func.yaml of specVersion 0.36.0 with every field kn func
// writes.
const full = `specVersion: 0.36.0
name: thumbnail
runtime: go
registry: quay.io/alice
image: quay.io/alice/thumbnail:latest
imageDigest: sha256:0123
domain: example.com
namespace: apps
created: 2026-12-04T00:00:00Z
invoke: cloudevent
build:
  git:
    url: https://example.com/repo.git
    revision: main
    contextDir: functions/thumbnail
  builderImages:
    pack: example.com/builder
  buildpacks:
  - paketo-buildpacks/go-dist
  builder: host
  buildEnvs:
  - name: GOFLAGS
    value: -tags=netgo
  pvcSize: 256Mi
  remoteStorageClass: fast
run:
  volumes:
  - secret: certs
    path: /etc/certs
  - configMap: settings
    path: /etc/settings
  - persistentVolumeClaim:
      claimName: data
      readOnly: true
    path: /data
  - emptyDir:
      medium: Memory
      sizeLimit: 64Mi
    path: /scratch
  envs:
  - name: API_KEY
    value: '{{ secret:keys:api }}'
  - name: HOME_URL
    value: https://{{ env:HOSTNAME }}/x
  - value: '{{ configMap:settings }}'
  startTimeout: 90s
deploy:
  namespace: apps
  image: quay.io/alice/thumbnail@sha256:0123
  remote: true
  annotations:
    team: media
  labels:
  - key: app.kubernetes.io/part-of
    value: ferry
  options:
    scale:
      min: 1
      max: 4
      metric: rps
      target: 50
      utilization: 80
    resources:
      requests:
        cpu: 100m
        memory: 64Mi
      limits:
        cpu: "1"
        memory: 256Mi
        concurrency: 10
  healthEndpoints:
    liveness: /alive
    readiness: /ready
  serviceAccountName: thumbnailer
  subscriptions:
  - source: default
    filters:
      type: dev.ferry.thumbnail
`

func TestParseReadsEveryFieldOfTheSpec(t *testing.T) {
	f, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 0 || f.MigratedFrom != "" {
		t.Errorf("warnings %q, migrated from %q; want none for a "+
			"complete 0.36.0 file", f.Warnings, f.MigratedFrom)
	}
	s := f.Deploy.Options.Scale
	l := f.Deploy.Options.Resources.Limits
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", f.Name, "thumbnail"},
		{"invoke", f.Invoke, InvokeCloudEvent},
		{"build.git.contextDir", f.Build.Git.ContextDir,
			"functions/thumbnail"},
		{"build.buildEnvs[0].name", *f.Build.BuildEnvs[0].Name, "GOFLAGS"},
		{"run.volumes", len(f.Run.Volumes), 4},
		{"run.volumes[2].claimName",
			*f.Run.Volumes[2].PersistentVolumeClaim.ClaimName, "data"},
		{"run.volumes[3].emptyDir.medium", f.Run.Volumes[3].EmptyDir.Medium,
			"Memory"},
		{"run.envs[2].name", f.Run.Envs[2].Name, (*string)(nil)},
		{"run.startTimeout", f.Run.StartTimeout.Duration(),
			90 * time.Second},
		{"scale.min", *s.Min, int64(1)},
		{"scale.max", *s.Max, int64(4)},
		{"scale.metric", s.Metric, "rps"},
		{"scale.target", *s.Target, 50.0},
		{"scale.utilization", *s.Utilization, 80.0},
		{"limits.cpu", l.CPU, "1"},
		{"limits.concurrency", *l.Concurrency, int64(10)},
		{"healthEndpoints.readiness", f.Deploy.HealthEndpoints.Readiness,
			"/ready"},
		{"serviceAccountName", f.Deploy.ServiceAccountName, "thumbnailer"},
		{"subscriptions[0].filters", f.Deploy.Subscriptions[0].Filters,
			map[string]string{"type": "dev.ferry.thumbnail"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestUnknownFieldsGiveOneWarningNamingEach(t *testing.T) {
	f, err := Parse([]byte(`specVersion: 0.36.0
name: echo
runtime: go
colour: blue
run:
  envs:
  - name: A
    value: b
    secret: true
deploy:
  options:
    scale:
      min: 1
      window: 60s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"unknown fields ignored: colour, " +
		"deploy.options.scale.window, run.envs[0].secret"}
	if !reflect.DeepEqual(f.Warnings, want) {
		t.Errorf("warnings %q, want %q", f.Warnings, want)
	}
	if *f.Deploy.Options.Scale.Min != 1 || *f.Run.Envs[0].Value != "b" {
		t.Errorf("known fields beside unknown ones not read: %+v", f)
	}
}

func TestOlderSpecsAreMigratedAsKnFuncDoes(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		from  string
		check func(t *testing.T, f *Function)
	}{
		{
			name: "before versions (0.19.0)",
			yaml: `name: testfunc
namespace: ""
runtime: go
builder: gcr.io/paketo-buildpacks/builder:base
builders:
  base: gcr.io/paketo-buildpacks/builder:base
buildpacks:
- paketo-buildpacks/go-dist
healthEndpoints:
  liveness: /health/liveness
  readiness: /health/readiness
volumes: []
envs:
- name: A
  value: b
annotations: {}
options:
  scale:
    max: 3
labels: []
`,
			from: "none",
			check: func(t *testing.T, f *Function) {
				if f.Created == "" {
					t.Error("no created stamp given")
				}
				if f.Build.Builder != "" || len(f.Build.BuilderImages) != 0 {
					t.Errorf("default builder image kept: %+v", f.Build)
				}
				if len(f.Build.Buildpacks) != 1 ||
					f.Deploy.HealthEndpoints.Liveness != "/health/liveness" ||
					*f.Run.Envs[0].Name != "A" ||
					*f.Deploy.Options.Scale.Max != 3 {
					t.Errorf("top-level fields not moved: %+v", f)
				}
			},
		},
		{
			name: "custom builder image (0.23.0)",
			yaml: `version: 0.0.0
name: testfunc
runtime: go
build: local
git: {}
builder: example.com/user/custom-builder
builders: {}
created: 2022-05-25T22:44:47.36886+09:00
invocation:
  format: http
`,
			from: "none",
			check: func(t *testing.T, f *Function) {
				want := map[string]string{
					"pack": "example.com/user/custom-builder"}
				if !reflect.DeepEqual(f.Build.BuilderImages, want) ||
					f.Build.Builder != "" || f.Invoke != "" {
					t.Errorf("build %+v invoke %q, want the image as "+
						"builderImages.pack, no builder, invoke http", f.Build,
						f.Invoke)
				}
			},
		},
		{
			name: "version and duplicate keys (0.25.0)",
			yaml: `version: 0.23.0
name: testfunc
runtime: go
envs: []
envs: []
created: 2022-06-28T18:33:40.585047-04:00
invocation:
  format: cloudevent
`,
			from: "none",
			check: func(t *testing.T, f *Function) {
				if f.Invoke != InvokeCloudEvent {
					t.Errorf("invoke %q, want invocation.format's cloudevent",
						f.Invoke)
				}
			},
		},
		{
			name: "top-level git and namespace (0.34.0)",
			yaml: `specVersion: 0.25.0
name: testfunc
namespace: test-namespace
runtime: go
builder: s2i
git:
  url: http://test-url
  revision: test revision
  contextDir: /test/context/dir
created: 2022-09-19T09:56:17.933191+01:00
`,
			from: "0.25.0",
			check: func(t *testing.T, f *Function) {
				g := f.Build.Git
				if g.URL != "http://test-url" || g.Revision != "test revision" ||
					g.ContextDir != "/test/context/dir" ||
					f.Deploy.Namespace != "test-namespace" ||
					f.Build.Builder != "s2i" {
					t.Errorf("build %+v deploy.namespace %q", f.Build,
						f.Deploy.Namespace)
				}
			},
		},
		{
			name: "volume typo (0.36.0)",
			yaml: `specVersion: 0.35.0
name: testfunc
runtime: go
run:
  volumes:
  - presistentVolumeClaim:
      claimName: data
    path: /data
`,
			from: "0.35.0",
			check: func(t *testing.T, f *Function) {
				v := f.Run.Volumes[0].PersistentVolumeClaim
				if v == nil || *v.ClaimName != "data" {
					t.Errorf("volume %+v, want the claim under its right name",
						f.Run.Volumes[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if f.MigratedFrom != tt.from || f.SpecVersion != SpecVersion {
				t.Errorf("migrated from %q to %q, want from %q to %s",
					f.MigratedFrom, f.SpecVersion, tt.from, SpecVersion)
			}
			if len(f.Warnings) != 0 {
				t.Errorf("warnings %q, want none: the migrations consume "+
					"the old fields", f.Warnings)
			}
			tt.check(t, f)
		})
	}
}

func TestNewerSpecIsReadWithAWarningAndItsScale(t *testing.T) {
	f, err := Parse([]byte(`specVersion: 0.38.0
name: echo
runtime: go
scale:
  min: 1
  max: 5
  kpa:
    metric: rps
    target: 20
build:
  source:
    url: https://example.com/r.git
    dir: fn
`))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Deploy.Options.Scale
	if s == nil || *s.Min != 1 || *s.Max != 5 || s.Metric != "rps" ||
		*s.Target != 20 {
		t.Errorf("scale %+v, want the top-level scale's", s)
	}
	if f.Build.Git.URL != "https://example.com/r.git" ||
		f.Build.Git.ContextDir != "fn" {
		t.Errorf("git %+v, want build.source's", f.Build.Git)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0],
		"0.38.0 is newer") {
		t.Errorf("warnings %q, want one about the newer specVersion",
			f.Warnings)
	}
}

func TestValidationNamesEachFieldAndReason(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // field: reason prefixes
	}{
		{"name pattern", "name: Echo_1\nruntime: go\n",
			[]string{`name: "Echo_1": must be a DNS-1035 label`}},
		{"name too long", "name: " + strings.Repeat("a", 64) +
			"\nruntime: go\n", []string{"name: "}},
		{"no runtime", "name: echo\n", []string{"runtime: required"}},
		{"invoke", "name: echo\nruntime: go\ninvoke: grpc\n",
			[]string{`invoke: "grpc": must be`}},
		{"scale ranges", `name: echo
runtime: go
deploy:
  options:
    scale:
      min: -1
      max: -2
      metric: cpu
      target: 0.001
      utilization: 101
`, []string{
			"deploy.options.scale.min: -1: must be >= 0",
			"deploy.options.scale.max: -2: must be >= 0",
			"deploy.options.scale.max: -2: must be >= min (-1)",
			`deploy.options.scale.metric: "cpu": must be concurrency or rps`,
			"deploy.options.scale.target: 0.001: must be >= 0.01",
			"deploy.options.scale.utilization: 101: must be within 1-100",
		}},
		{"max below min", `name: echo
runtime: go
deploy:
  options:
    scale: {min: 3, max: 2}
`, []string{"deploy.options.scale.max: 2: must be >= min (3)"}},
		{"quantities", `name: echo
runtime: go
deploy:
  options:
    resources:
      requests: {cpu: lots, memory: 64Mi}
      limits: {memory: 1Gx, concurrency: -1}
`, []string{
			`deploy.options.resources.requests.cpu: "lots" is not a quantity`,
			`deploy.options.resources.limits.memory: "1Gx" is not a quantity`,
			"deploy.options.resources.limits.concurrency: -1: must be >= 0",
		}},
		{"envs", `name: echo
runtime: go
run:
  envs:
  - name: A
    value: x
  - name: A
    value: yy
  - name: 1B
    value: z
  - name: C
  - value: '{{ env:HOME }}'
  - name: D
    value: '{{ vault:x }}'
  - name: E
    value: '{{ secret:s }}'
  - {}
`, []string{
			"run.envs[1].name: A is also run.envs[0]",
			`run.envs[2].name: "1B": must be letters`,
			"run.envs[3].value: required for C",
			"run.envs[4].value: ",
			"run.envs[5].value: {{ vault:x }}: want",
			"run.envs[6].value: {{ secret:s }}: a whole secret",
			"run.envs[7]: neither name nor value",
		}},
		{"volumes", `name: echo
runtime: go
run:
  volumes:
  - path: /a
  - secret: s
    configMap: c
    path: /b
  - secret: s
    path: relative
  - configMap: c
    path: /b/
  - persistentVolumeClaim: {}
    path: /p
  - emptyDir: {medium: Disk, sizeLimit: big}
    path: /e
`, []string{
			"run.volumes[0]: needs one of",
			"run.volumes[1]: may have only one",
			`run.volumes[2].path: "relative": must be absolute`,
			"run.volumes[3].path: /b/ is also run.volumes[1]'s",
			"run.volumes[4].persistentVolumeClaim.claimName: required",
			`run.volumes[5].emptyDir.medium: "Disk"`,
			`run.volumes[5].emptyDir.sizeLimit: "big" is not a quantity`,
		}},
		{"start timeout in seconds by mistake",
			"name: echo\nruntime: go\nrun:\n  startTimeout: 60\n",
			[]string{"run.startTimeout: 60ns is too short"}},
		{"start timeout not a duration",
			"name: echo\nruntime: go\nrun:\n  startTimeout: soon\n",
			[]string{`run.startTimeout: "soon" is not a duration`}},
		{"wrong type", "name: echo\nruntime: go\ndeploy:\n  options:\n" +
			"    scale:\n      min: one\n",
			[]string{"deploy.options.scale.min: want an integer, got string"}},
		{"labels and health", `name: echo
runtime: go
deploy:
  labels:
  - key: -bad
  - value: x
  healthEndpoints: {liveness: alive}
  subscriptions:
  - filters: {type: x}
`, []string{
			`deploy.labels[0].key: "-bad" is not a label key`,
			"deploy.labels[1].key: required",
			`deploy.healthEndpoints.liveness: "alive": must start with /`,
			"deploy.subscriptions[0].source: the Broker's name is required",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse: %v, want a *ValidationError", err)
			}
			if len(ve.Fields) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%v", len(ve.Fields),
					len(tt.want), err)
			}
			for i, w := range tt.want {
				if i < len(ve.Fields) &&
					!strings.HasPrefix(ve.Fields[i].Error(), w) {
					t.Errorf("error %d = %q, want it to start with %q", i,
						ve.Fields[i].Error(), w)
				}
			}
		})
	}
}

func TestStartTimeoutTakesDurationsAndNanoseconds(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"1m30s", 90 * time.Second},
		{"'2m'", 2 * time.Minute},
		{"30000000000", 30 * time.Second},
	} {
		f, err := Parse([]byte("name: echo\nruntime: go\nrun:\n" +
			"  startTimeout: " + tt.yaml + "\n"))
		if err != nil {
			t.Errorf("startTimeout %s: %v", tt.yaml, err)
			continue
		}
		if got := f.Run.StartTimeout.Duration(); got != tt.want {
			t.Errorf("startTimeout %s = %s, want %s", tt.yaml, got, tt.want)
		}
	}
}

func TestParseTemplatesFindsEachReference(t *testing.T) {
	ts, err := ParseTemplates("a{{ env:HOME }}b{{secret:db:pass}}" +
		"{{ configMap : app.cfg : log-level }}")
	if err != nil {
		t.Fatal(err)
	}
	want := []Template{
		{Kind: "env", Name: "HOME", Start: 1, End: 15},
		{Kind: "secret", Name: "db", Key: "pass", Start: 16, End: 34},
		{Kind: "configMap", Name: "app.cfg", Key: "log-level", Start: 34,
			End: 71},
	}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("templates %+v,\nwant %+v", ts, want)
	}

	for _, bad := range []string{"{{ env:A-B }}", "{{ secret:../x:k }}",
		"{{ secret:s:.. }}", "{{ env:HOME }", "x }} y", "{{ file:/etc }}"} {
		if _, err := ParseTemplates(bad); err == nil {
			t.Errorf("ParseTemplates(%q): no error", bad)
		}
	}
	if _, err := WholeObject("{{ secret:db }}"); err != nil {
		t.Errorf("WholeObject of a whole secret: %v", err)
	}
	for _, bad := range []string{"{{ secret:db:k }}", "x{{ secret:db }}",
		"{{ env:HOME }}"} {
		if _, err := WholeObject(bad); err == nil {
			t.Errorf("WholeObject(%q): no error", bad)
		}
	}
}

func TestProjectFuncYAMLsLoadWithoutWarnings(t *testing.T) {
	dirs := []string{".."}
	fns, err := filepath.Glob(filepath.Join("..", "functions", "*",
		FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range fns {
		dirs = append(dirs, filepath.Dir(path))
	}
	for _, dir := range dirs {
		f, err := Load(dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if len(f.Warnings) != 0 || f.MigratedFrom != "" {
			t.Errorf("%s: warnings %q, migrated from %q", dir, f.Warnings,
				f.MigratedFrom)
		}
	}
}

func TestDiscoverSkipsFoldersWithoutFuncYAMLAndRefusesTwins(t *testing.T) {
	root := t.TempDir()
	write := func(dir, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		err := os.WriteFile(filepath.Join(root, dir, FileName),
			[]byte(content), 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
	write("b", "specVersion: 0.36.0\nname: beta\nruntime: go\n")
	write("a", "specVersion: 0.36.0\nname: alpha\nruntime: go\n")
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}

	fns, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 || fns[0].Name != "alpha" || fns[1].Name != "beta" ||
		fns[0].Dir != filepath.Join(root, "a") {
		t.Errorf("discovered %+v, want alpha then beta", fns)
	}

	write("c", "specVersion: 0.36.0\nname: alpha\nruntime: go\n")
	if _, err := Discover(root); err == nil ||
		!strings.Contains(err.Error(), "declared twice") {
		t.Errorf("Discover with two alphas: %v, want an error", err)
	}
	if _, err := Load(filepath.Join(root, "docs")); !errors.Is(err,
		ErrNoFunction) {
		t.Errorf("Load of a folder without func.yaml: %v, want "+
			"ErrNoFunction", err)
	}
}
