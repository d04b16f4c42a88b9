package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/funcyaml"
)

// objects writes Secrets and ConfigMaps as the runner reads them:
// <dir>/secrets/<name>/<key> and <dir>/configmaps/<name>/<key>.
func objects(t *testing.T, files map[string]string) (secrets, cms string) {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "secrets"), filepath.Join(dir, "configmaps")
}

// withEnvs returns a copy of f with run.envs; a "" name is an entry
// without one.
func withEnvs(f *funcyaml.Function, pairs ...string) *funcyaml.Function {
	c := *f
	c.Run.Envs = nil
	for i := 0; i+1 < len(pairs); i += 2 {
		e := funcyaml.Env{Value: &pairs[i+1]}
		if pairs[i] != "" {
			e.Name = &pairs[i]
		}
		c.Run.Envs = append(c.Run.Envs, e)
	}
	return &c
}

func TestEnvTemplatesResolveFromSecretsConfigMapsAndEnvironment(t *testing.T) {
	t.Setenv("FERRY_TEST_DB_HOST", "db.local")
	secrets, cms := objects(t, map[string]string{
		"secrets/db/password":         "s3cret\n",
		"secrets/db/user":             "app",
		"configmaps/settings/T_MODE":  "fast",
		"configmaps/settings/T_LEVEL": "3",
		"configmaps/settings/bad key": "skipped: not a variable name",
		"configmaps/settings/.hidden": "skipped: a dot file",
	})
	fn := withEnvs(httpProject(t, "envdump", envHandle),
		"T_PASSWORD", "{{ secret:db:password }}",
		"T_URL", "postgres://{{secret:db:user}}@{{ env:FERRY_TEST_DB_HOST }}/x",
		"", "{{ configMap:settings }}",
		"T_MODE", "override",
		"T_PLAIN", "plain")
	r, logs := newRunner(t, Params{SecretsDir: secrets,
		ConfigMapsDir: cms}, fn)

	var got map[string]string
	if err := get(r, "envdump", "/", &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"T_PASSWORD": "s3cret\n",
		"T_URL":      "postgres://app@db.local/x",
		"T_LEVEL":    "3",
		"T_MODE":     "override",
		"T_PLAIN":    "plain",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q in the function, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the function sees %v, want exactly %v", got, want)
	}
	if recs := logs.records("key skipped: not a variable name"); len(
		recs) != 2 || recs[0]["key"] != "bad key" {
		t.Errorf("skipped key records %v, want 'bad key' (once at New, "+
			"once at start)", recs)
	}
}

func TestUnresolvableEnvNamesFunctionVariableAndFile(t *testing.T) {
	secrets, cms := objects(t, map[string]string{
		"secrets/db/user": "app",
	})
	fn := httpProject(t, "envdump", envHandle)
	tests := []struct {
		name  string
		pairs []string
		want  []string
	}{
		{"unset variable",
			[]string{"T_HOST", "{{ env:T_SURELY_UNSET_VARIABLE }}"},
			[]string{"envdump", "T_HOST", "T_SURELY_UNSET_VARIABLE",
				"not set"}},
		{"missing key file",
			[]string{"T_PASSWORD", "{{ secret:db:password }}"},
			[]string{"envdump", "T_PASSWORD",
				filepath.Join(secrets, "db", "password"), "no such file"}},
		{"missing config map",
			[]string{"", "{{ configMap:nope }}"},
			[]string{"envdump", "run.envs[0]", filepath.Join(cms, "nope"),
				"no such file"}},
		{"malformed template",
			[]string{"T_X", "{{ vault:db:password }}"},
			[]string{"envdump", "T_X", "vault"}},
		{"whole secret under a name",
			[]string{"T_X", "{{ secret:db }}"},
			[]string{"envdump", "T_X", "entry without a name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Params{
				Functions:     []*funcyaml.Function{withEnvs(fn, tt.pairs...)},
				BuildDir:      t.TempDir(),
				LogDir:        t.TempDir(),
				SecretsDir:    secrets,
				ConfigMapsDir: cms,
			})
			if !errors.Is(err, ErrEnvironment) {
				t.Fatalf("New: %v, want ErrEnvironment", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v; want it to say %q", err, w)
				}
			}
		})
	}
}

func TestSecretRemovedAfterNewFailsTheStart(t *testing.T) {
	secrets, _ := objects(t, map[string]string{
		"secrets/db/password": "s3cret",
	})
	fn := withEnvs(httpProject(t, "envdump", envHandle),
		"T_PASSWORD", "{{ secret:db:password }}")
	r, _ := newRunner(t, Params{SecretsDir: secrets}, fn)

	if err := os.Remove(filepath.Join(secrets, "db", "password")); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	err := get(r, "envdump", "/", &got)
	if !errors.Is(err, ErrStartFailed) || !errors.Is(err, ErrEnvironment) ||
		!strings.Contains(err.Error(), "T_PASSWORD") {
		t.Errorf("request: %v, want ErrStartFailed and ErrEnvironment "+
			"naming T_PASSWORD", err)
	}
	if s := statusOf(t, r, "envdump"); !strings.Contains(s.LastError,
		"password") {
		t.Errorf("last error %q, want the missing file", s.LastError)
	}
}
