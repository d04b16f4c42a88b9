package funcyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// decode turns the content of a func.yaml into a Function: YAML to a
// document, kn func's migrations, then a strict decode that, failing on
// unknown fields only, becomes a lenient one with a warning naming them.
func decode(raw []byte) (*Function, error) {
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	d := doc{}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil && !bytes.Equal(
		bytes.TrimSpace(j), []byte("null")) {
		return nil, fmt.Errorf("not a YAML mapping: %w", err)
	}

	f := &Function{}
	from, warnings, err := migrate(d)
	if err != nil {
		return nil, err
	}
	f.MigratedFrom, f.Warnings = from, warnings

	j, err = json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	strict := json.NewDecoder(bytes.NewReader(j))
	strict.DisallowUnknownFields()
	if err := strict.Decode(f); err == nil {
		return f, nil
	}

	*f = Function{MigratedFrom: from, Warnings: warnings}
	if err := json.Unmarshal(j, f); err != nil {
		return nil, decodeError(err)
	}
	if unknown := unknownFields(d, reflect.TypeFor[Function](), ""); len(
		unknown) > 0 {
		f.Warnings = append(f.Warnings, "unknown fields ignored: "+
			strings.Join(unknown, ", "))
	}
	return f, nil
}

// decodeError turns a decoding error into a ValidationError naming the
// field when it can.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErrors(FieldError{te.Field, fmt.Sprintf(
			"want %s, got %s", kindName(te.Type), te.Value)})
	}
	var de *durationError
	if errors.As(err, &de) {
		return fieldErrors(FieldError{"run.startTimeout", de.Error()})
	}
	return err
}

// kindName says what a Go type is in YAML's words.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// unknownFields lists, by path, the keys of v that type t has no field
// for, sorted.
func unknownFields(v any, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(doc)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				out = append(out, join(path, k))
				continue
			}
			out = append(out, unknownFields(m[k], ft, join(path, k))...)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range list {
			out = append(out, unknownFields(e, t.Elem(),
				fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// jsonFields maps the JSON names of t's fields, those of embedded structs
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case name == "-" || !sf.IsExported():
		case sf.Anonymous && name == "":
			for k, v := range jsonFields(sf.Type) {
				out[k] = v
			}
		case name == "":
			out[sf.Name] = sf.Type
		default:
			out[name] = sf.Type
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
