package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The catalog's templates are plain strings with {{ scope.path }}
// placeholders and nothing else: no expressions, no functions, no
// conditionals. A path is a dotted list of keys with optional [n] indexes,
// like {{ config.domain }}, {{ input.properties }} or
// {{ response.users[0].email }}. Which scopes a template may use depends on
// where it appears (config in URLs, input in method requests, response in
// identity templates), and is checked when the catalog is loaded.
//
// Why not the Flow template language (package template) in a restricted
// environment: the catalog's safety rests on knowing, when it is loaded,
// exactly which value each placeholder reads and where it lands — that
// only enumerated config values reach a URL's host, that a path input is
// one escaped segment, which inputs a request references (so a missing one
// leaves its entry out). A placeholder is a bare path, so all of that is
// checked statically; an expression (function calls, operators,
// conditionals) could not be, and would need render budgets where none are
// needed now. The step inputs that feed these placeholders are rendered
// with the Flow template language before they get here.

// Template scopes.
const (
	scopeConfig   = "config"
	scopeInput    = "input"
	scopeResponse = "response"
)

// Limits of templates.
const (
	maxTemplateBytes = 4096
	maxPathSegments  = 16
	maxIndex         = 9999
)

// tmpl is a parsed template.
type tmpl struct {
	src   string
	parts []tpart
}

// tpart is literal text or one placeholder.
type tpart struct {
	text string
	ref  *tref
}

// tref is the reference inside a placeholder.
type tref struct {
	src   string // as written, trimmed: "config.domain"
	scope string
	path  []tseg // at least one
}

// tseg is one step of a reference path: a key, or an index when index >= 0.
type tseg struct {
	key   string
	index int
}

// parseTemplate parses s, allowing only the given scopes.
func parseTemplate(s string, scopes ...string) (*tmpl, error) {
	if len(s) > maxTemplateBytes {
		return nil, fmt.Errorf("template is %d bytes long; the limit is %d", len(s), maxTemplateBytes)
	}
	t := &tmpl{src: s}
	rest := s
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return nil, errors.New(`"}}" without a matching "{{"`)
			}
			t.parts = append(t.parts, tpart{text: rest})
			break
		}
		if strings.Contains(rest[:open], "}}") {
			return nil, errors.New(`"}}" without a matching "{{"`)
		}
		if open > 0 {
			t.parts = append(t.parts, tpart{text: rest[:open]})
		}
		rest = rest[open+2:]
		end := strings.Index(rest, "}}")
		if end < 0 {
			return nil, errors.New(`"{{" without a matching "}}"`)
		}
		inner := strings.TrimSpace(rest[:end])
		if strings.Contains(inner, "{{") {
			return nil, errors.New(`nested "{{"`)
		}
		r, err := parseRef(inner, scopes)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, tpart{ref: r})
		rest = rest[end+2:]
	}
	return t, nil
}

// parseRef parses the inside of a placeholder.
func parseRef(s string, scopes []string) (*tref, error) {
	if s == "" {
		return nil, errors.New("empty placeholder {{ }}")
	}
	r := &tref{src: s}
	i := 0
	ident := func() (string, error) {
		j := i
		for j < len(s) && isIdentByte(s[j]) {
			j++
		}
		if j == i {
			return "", fmt.Errorf("placeholder {{ %s }}: expected a name at offset %d", s, i)
		}
		id := s[i:j]
		i = j
		return id, nil
	}
	scope, err := ident()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(scopes, scope) {
		if len(scopes) == 0 {
			return nil, fmt.Errorf("placeholder {{ %s }}: no placeholders are allowed here", s)
		}
		return nil, fmt.Errorf("placeholder {{ %s }}: only %s.* may be used here", s, strings.Join(scopes, ".*, "))
	}
	r.scope = scope
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			key, err := ident()
			if err != nil {
				return nil, err
			}
			r.path = append(r.path, tseg{key: key, index: -1})
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("placeholder {{ %s }}: unclosed [", s)
			}
			digits := s[i+1 : i+j]
			n, err := strconv.Atoi(digits)
			if err != nil || n < 0 || n > maxIndex || digits != strconv.Itoa(n) {
				return nil, fmt.Errorf("placeholder {{ %s }}: index [%s] must be a number from 0 to %d", s, digits, maxIndex)
			}
			if len(r.path) == 0 && scope != scopeResponse {
				// Only an answer may be a JSON array (Mailchimp
				// Transactional's messages/send): response[0].status.
				return nil, fmt.Errorf("placeholder {{ %s }}: an index must follow a name", s)
			}
			r.path = append(r.path, tseg{index: n})
			i += j + 1
		default:
			return nil, fmt.Errorf("placeholder {{ %s }}: unexpected %q (placeholders hold a name like %s.field, not an expression)", s, s[i], scope)
		}
		if len(r.path) > maxPathSegments {
			return nil, fmt.Errorf("placeholder {{ %s }}: more than %d path segments", s, maxPathSegments)
		}
	}
	if len(r.path) == 0 && scope != scopeResponse {
		// {{ response }} is the whole answer, for an output.
		return nil, fmt.Errorf("placeholder {{ %s }}: name a field, like %s.name", s, scope)
	}
	return r, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// refs returns the references of t.
func (t *tmpl) refs() []*tref {
	var out []*tref
	for _, p := range t.parts {
		if p.ref != nil {
			out = append(out, p.ref)
		}
	}
	return out
}

// single returns the reference of a template made of exactly one
// placeholder and nothing else.
func (t *tmpl) single() (*tref, bool) {
	if len(t.parts) == 1 && t.parts[0].ref != nil {
		return t.parts[0].ref, true
	}
	return nil, false
}

// literal reports whether t has no placeholders.
func (t *tmpl) literal() bool { return len(t.refs()) == 0 }

// errMissing reports a reference to a value that is absent (or null).
type errMissing struct{ ref *tref }

func (e *errMissing) Error() string { return fmt.Sprintf("{{ %s }} has no value", e.ref.src) }

// render renders t over data, turning each referenced value into text with
// conv (scalarText when nil). A reference to an absent value gives an
// *errMissing.
func (t *tmpl) render(data map[string]any, conv func(r *tref, v any) (string, error)) (string, error) {
	if conv == nil {
		conv = textOf
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == nil {
			b.WriteString(p.text)
			continue
		}
		v, ok := lookup(data, p.ref)
		if !ok {
			return "", &errMissing{ref: p.ref}
		}
		s, err := conv(p.ref, v)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// textOf is the default conversion of a referenced value: scalars only.
func textOf(r *tref, v any) (string, error) {
	s, ok := scalarText(v)
	if !ok {
		return "", &refError{ref: r, msg: fmt.Sprintf("is %s, not text, a number or a boolean", kindOf(v))}
	}
	return s, nil
}

// lookup follows r through data; absent and null values are missing.
func lookup(data map[string]any, r *tref) (any, bool) {
	cur, ok := data[r.scope]
	if !ok {
		return nil, false
	}
	for _, sg := range r.path {
		if sg.index >= 0 {
			arr, ok := cur.([]any)
			if !ok || sg.index >= len(arr) {
				return nil, false
			}
			cur = arr[sg.index]
			continue
		}
		switch m := cur.(type) {
		case map[string]any:
			cur, ok = m[sg.key]
		case map[string]string:
			cur, ok = m[sg.key]
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// scalarText returns the text of a string, number or boolean.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	}
	return "", false
}

// kindOf names the JSON kind of v for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, ok := scalarText(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}

// renderValue renders a body template tree: strings are templates, maps and
// arrays are walked. A string made of one placeholder becomes the referenced
// value itself, of any JSON type; other strings are rendered as text. A
// value referencing something absent is left out of its object or array;
// an object or array that was not empty in the template and loses all its
// entries this way is left out too. The second result is false when the
// whole value is left out.
func renderValue(v any, data map[string]any) (any, bool, error) {
	switch x := v.(type) {
	case *tmpl:
		if r, ok := x.single(); ok {
			val, ok := lookup(data, r)
			return val, ok, nil
		}
		s, err := x.render(data, nil)
		var miss *errMissing
		if errors.As(err, &miss) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return s, true, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			val, ok, err := renderValue(e, data)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out[k] = val
			}
		}
		if len(out) == 0 && len(x) > 0 {
			return nil, false, nil
		}
		return out, true, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			val, ok, err := renderValue(e, data)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, val)
			}
		}
		if len(out) == 0 && len(x) > 0 {
			return nil, false, nil
		}
		return out, true, nil
	default:
		return x, true, nil
	}
}

// compileValue turns a YAML value into a body template tree, parsing every
// string as a template over scopes. where names the value in errors.
func compileValue(v any, where string, scopes ...string) (any, error) {
	switch x := v.(type) {
	case string:
		t, err := parseTemplate(x, scopes...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return t, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			c, err := compileValue(x[k], where+"."+k, scopes...)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := compileValue(e, fmt.Sprintf("%s[%d]", where, i), scopes...)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case nil, bool, int, int64, uint64, float64:
		return x, nil
	default:
		return nil, fmt.Errorf("%s: unsupported value of type %T (use JSON-like values; object keys must be strings)", where, v)
	}
}

// valueRefs returns the references of a compiled value tree.
func valueRefs(v any) []*tref {
	switch x := v.(type) {
	case *tmpl:
		return x.refs()
	case map[string]any:
		var out []*tref
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, valueRefs(x[k])...)
		}
		return out
	case []any:
		var out []*tref
		for _, e := range x {
			out = append(out, valueRefs(e)...)
		}
		return out
	}
	return nil
}
