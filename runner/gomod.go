package runner

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// goMod is what the runner needs from a function's go.mod: its module path,
// its go directive and its replace directives. It is read by a small parser
// of its own, because golang.org/x/mod is not a dependency of Ferry.
type goMod struct {
	Module   string
	Go       string
	Replaces []replace
}

// replace is one replace directive: Old (at OldVersion, or every version
// when empty) is replaced by New, a module path at NewVersion or a local
// folder (NewVersion empty).
type replace struct {
	Old, OldVersion string
	New, NewVersion string
}

// parseGoMod reads the module, go and replace directives of a go.mod file,
// in their single-line and block forms, with quoted or bare tokens and
// comments. Other directives are skipped. name is used in errors only.
func parseGoMod(name string, data []byte) (goMod, error) {
	var m goMod
	block := "" // verb of the block being read, "" outside a block
	for i, line := range strings.Split(string(data), "\n") {
		toks, err := modTokens(line)
		if err != nil {
			return goMod{}, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		if len(toks) == 0 {
			continue
		}

		verb, args := toks[0], toks[1:]
		switch {
		case block != "" && len(toks) == 1 && toks[0] == ")":
			block = ""
			continue
		case block != "":
			verb, args = block, toks
		case len(args) == 1 && args[0] == "(":
			block = verb
			continue
		}

		if err := m.directive(verb, args); err != nil {
			return goMod{}, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
	}
	if m.Module == "" {
		return goMod{}, fmt.Errorf("%s: no module directive", name)
	}
	return m, nil
}

// directive applies one directive to m.
func (m *goMod) directive(verb string, args []string) error {
	switch verb {
	case "module":
		if len(args) != 1 {
			return fmt.Errorf("module: want one module path, got %q", args)
		}
		m.Module = args[0]
	case "go":
		if len(args) != 1 {
			return fmt.Errorf("go: want one version, got %q", args)
		}
		m.Go = args[0]
	case "replace":
		r, err := parseReplace(args)
		if err != nil {
			return err
		}
		m.Replaces = append(m.Replaces, r)
	}
	return nil
}

// parseReplace reads `old [version] => new [version]`.
func parseReplace(args []string) (replace, error) {
	arrow := -1
	for i, a := range args {
		if a == "=>" {
			arrow = i
			break
		}
	}
	left, right := args, []string(nil)
	if arrow >= 0 {
		left, right = args[:arrow], args[arrow+1:]
	}
	if arrow < 0 || len(left) < 1 || len(left) > 2 ||
		len(right) < 1 || len(right) > 2 {
		return replace{}, fmt.Errorf(
			"replace: want `old [version] => new [version]`, got %q", args)
	}

	r := replace{Old: left[0], New: right[0]}
	if len(left) == 2 {
		r.OldVersion = left[1]
	}
	if len(right) == 2 {
		if isLocalPath(r.New) {
			return replace{}, fmt.Errorf(
				"replace: a local path (%s) takes no version", r.New)
		}
		r.NewVersion = right[1]
	}
	return r, nil
}

// modTokens splits one go.mod line into tokens: bare words, quoted strings
// ("..." or `...`, returned unquoted), "(", ")" and "=>". A `//` outside a
// quoted string starts a comment that runs to the end of the line.
func modTokens(line string) ([]string, error) {
	var toks []string
	s := strings.TrimRight(line, "\r")
	for {
		s = strings.TrimLeft(s, " \t")
		switch {
		case s == "" || strings.HasPrefix(s, "//"):
			return toks, nil
		case s[0] == '(' || s[0] == ')':
			toks = append(toks, s[:1])
			s = s[1:]
		case strings.HasPrefix(s, "=>"):
			toks = append(toks, "=>")
			s = s[2:]
		case s[0] == '"' || s[0] == '`':
			end := quotedEnd(s)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string %s", s)
			}
			tok, err := strconv.Unquote(s[:end])
			if err != nil {
				return nil, fmt.Errorf("bad string %s: %w", s[:end], err)
			}
			toks = append(toks, tok)
			s = s[end:]
		default:
			end := strings.IndexAny(s, " \t()\"`")
			if arrow := strings.Index(s, "=>"); arrow >= 0 &&
				(end < 0 || arrow < end) {
				end = arrow
			}
			if c := strings.Index(s, "//"); c >= 0 && (end < 0 || c < end) {
				end = c
			}
			if end < 0 {
				end = len(s)
			}
			toks = append(toks, s[:end])
			s = s[end:]
		}
	}
}

// quotedEnd returns the index just past the quoted string s starts with, or
// -1 when it is not terminated on this line.
func quotedEnd(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q:
			return i + 1
		}
	}
	return -1
}

// isLocalPath reports whether the right side of a replace directive is a
// folder rather than a module path, by the go command's rule: it is
// absolute or starts with ./ or ../ (or is . or ..).
func isLocalPath(p string) bool {
	return p == "." || p == ".." ||
		strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") ||
		strings.HasPrefix(p, `.\`) || strings.HasPrefix(p, `..\`) ||
		filepath.IsAbs(p)
}

// modToken formats s for a go.mod file, quoting it when it holds
// characters a bare token cannot (a space in a temp folder's path, say).
func modToken(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'`()[]{},;\\") ||
		strings.Contains(s, "//") || strings.Contains(s, "=>") {
		return strconv.Quote(s)
	}
	return s
}
