package deploy

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/awslabs/goformation/v7/schema"
)

// SchemaError is one way a document breaks a JSON schema.
type SchemaError struct {
	// Path locates the offending value: keys joined by dots, list indexes
	// in brackets, e.g. Resources.Table.Properties.KeySchema[0].
	Path string
	// Message says what is wrong.
	Message string
}

// String implements fmt.Stringer.
func (e SchemaError) String() string { return e.Path + ": " + e.Message }

// ValidateSAM checks doc, a template as plain JSON values (Template.Raw),
// against the AWS SAM JSON schema bundled with goformation
// (schema.SamSchema). It returns what breaks the schema; an error means the
// schema uses a keyword this validator does not implement.
//
// The validator implements the subset of JSON Schema draft-04 that the
// bundled schema uses: $ref (to #/definitions), type, enum, properties,
// patternProperties, additionalProperties, required, items, anyOf, pattern,
// minLength, maxLength, minProperties and maxProperties. When no branch of an
// anyOf matches, the errors of the branch that came closest are returned: the
// one whose errors lie deepest, then the one with the fewest.
func ValidateSAM(doc any) ([]SchemaError, error) {
	root, err := samSchema()
	if err != nil {
		return nil, err
	}
	v := &validator{root: root, patterns: map[string]*regexp.Regexp{}}
	errs := v.validate(root, doc, "")
	if v.err != nil {
		return nil, v.err
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].String() < errs[j].String() })
	return errs, nil
}

var samSchema = sync.OnceValues(func() (map[string]any, error) {
	var s map[string]any
	if err := json.Unmarshal([]byte(schema.SamSchema), &s); err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	if err := checkKeywords(s, "#"); err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	return s, nil
})

// checkKeywords makes sure that the schema s uses only keywords validate
// implements, so that none is skipped silently.
func checkKeywords(s map[string]any, path string) error {
	for k, v := range s {
		if !known[k] {
			return fmt.Errorf("keyword %q at %s is one this validator does not check: teach schema.go to check it rather than skip it", k, path)
		}
		switch k {
		case "properties", "patternProperties", "definitions":
			m, _ := v.(map[string]any)
			for name, sub := range m {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("%s/%s/%s is not a schema", path, k, name)
				}
				if err := checkKeywords(sm, path+"/"+k+"/"+name); err != nil {
					return err
				}
			}
		case "additionalProperties", "items":
			if sm, ok := v.(map[string]any); ok {
				if err := checkKeywords(sm, path+"/"+k); err != nil {
					return err
				}
			} else if _, ok := v.(bool); !ok || k == "items" {
				return fmt.Errorf("%s/%s: only a schema (or a boolean additionalProperties) is implemented", path, k)
			}
		case "anyOf":
			l, _ := v.([]any)
			for i, sub := range l {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("%s/anyOf/%d is not a schema", path, i)
				}
				if err := checkKeywords(sm, fmt.Sprintf("%s/anyOf/%d", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type validator struct {
	root     map[string]any
	patterns map[string]*regexp.Regexp
	// err is the first unsupported construct met.
	err error
}

func (v *validator) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf(format, args...)
	}
}

// known lists the keywords validate implements or may ignore.
var known = map[string]bool{
	"$ref": true, "type": true, "enum": true, "properties": true, "patternProperties": true,
	"additionalProperties": true, "required": true, "items": true, "anyOf": true, "pattern": true,
	"minLength": true, "maxLength": true, "minProperties": true, "maxProperties": true,
	"description": true, "$id": true, "definitions": true, "$schema": true, "title": true,
}

func (v *validator) validate(s map[string]any, x any, path string) []SchemaError {
	if ref, ok := s["$ref"].(string); ok {
		target, err := v.resolve(ref)
		if err != nil {
			v.fail("%v", err)
			return nil
		}
		return v.validate(target, x, path) // draft-04: siblings of $ref are ignored
	}
	var errs []SchemaError
	add := func(p, format string, args ...any) {
		errs = append(errs, SchemaError{Path: p, Message: fmt.Sprintf(format, args...)})
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok {
					types = append(types, s)
				}
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(x, t) }) {
			add(path, "is %s, want %s", typeOf(x), strings.Join(types, " or "))
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, x) }) {
			add(path, "is %s, want one of %s", show(x), show(enum))
		}
	}
	if branches, ok := s["anyOf"].([]any); ok {
		errs = append(errs, v.anyOf(branches, x, path)...)
	}
	switch x := x.(type) {
	case map[string]any:
		errs = append(errs, v.object(s, x, path)...)
	case []any:
		if items, ok := s["items"]; ok {
			is, ok := items.(map[string]any)
			if !ok {
				v.fail("items that is not a schema (at %s) is beyond this validator: teach schema.go to check it", path)
				break
			}
			for i, e := range x {
				errs = append(errs, v.validate(is, e, path+"["+strconv.Itoa(i)+"]")...)
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if m, ok := s["minLength"].(float64); ok && float64(n) < m {
			add(path, "is %d characters long, want at least %v", n, m)
		}
		if m, ok := s["maxLength"].(float64); ok && float64(n) > m {
			add(path, "is %d characters long, want at most %v", n, m)
		}
		if p, ok := s["pattern"].(string); ok {
			if re := v.pattern(p); re != nil && !re.MatchString(x) {
				add(path, "%s does not match %s", show(x), p)
			}
		}
	}
	return errs
}

func (v *validator) object(s map[string]any, x map[string]any, path string) []SchemaError {
	var errs []SchemaError
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				if _, ok := x[name]; !ok {
					errs = append(errs, SchemaError{Path: path, Message: fmt.Sprintf("%s is required", name)})
				}
			}
		}
	}
	if m, ok := s["minProperties"].(float64); ok && float64(len(x)) < m {
		errs = append(errs, SchemaError{Path: path, Message: fmt.Sprintf("has %d properties, want at least %v", len(x), m)})
	}
	if m, ok := s["maxProperties"].(float64); ok && float64(len(x)) > m {
		errs = append(errs, SchemaError{Path: path, Message: fmt.Sprintf("has %d properties, want at most %v", len(x), m)})
	}
	props, _ := s["properties"].(map[string]any)
	patterns, _ := s["patternProperties"].(map[string]any)
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := join(path, k)
		matched := false
		if ps, ok := props[k].(map[string]any); ok {
			matched = true
			errs = append(errs, v.validate(ps, x[k], p)...)
		}
		for pat, ps := range patterns {
			re := v.pattern(pat)
			if re == nil || !re.MatchString(k) {
				continue
			}
			matched = true
			if ps, ok := ps.(map[string]any); ok {
				errs = append(errs, v.validate(ps, x[k], p)...)
			}
		}
		if matched {
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				errs = append(errs, SchemaError{Path: p, Message: "is not a property the schema allows here"})
			}
		case map[string]any:
			errs = append(errs, v.validate(ap, x[k], p)...)
		}
	}
	return errs
}

// anyOf returns nothing if x matches a branch, else the errors of the branch
// that came closest.
func (v *validator) anyOf(branches []any, x any, path string) []SchemaError {
	var best []SchemaError
	bestDepth := -1
	for _, b := range branches {
		bs, ok := b.(map[string]any)
		if !ok {
			continue
		}
		errs := v.validate(bs, x, path)
		if len(errs) == 0 {
			return nil
		}
		d := math.MaxInt
		for _, e := range errs {
			d = min(d, depth(e.Path))
		}
		if d > bestDepth || d == bestDepth && len(errs) < len(best) {
			best, bestDepth = errs, d
		}
	}
	return best
}

func (v *validator) resolve(ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is beyond this validator, which resolves only #/definitions/ references", ref)
	}
	defs, _ := v.root["definitions"].(map[string]any)
	s, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return s, nil
}

func (v *validator) pattern(p string) *regexp.Regexp {
	if re, ok := v.patterns[p]; ok {
		return re
	}
	re, err := regexp.Compile(p)
	if err != nil {
		v.fail("pattern %q: %v", p, err)
	}
	v.patterns[p] = re
	return re
}

func hasType(x any, t string) bool {
	switch t {
	case "object":
		_, ok := x.(map[string]any)
		return ok
	case "array":
		_, ok := x.([]any)
		return ok
	case "string":
		_, ok := x.(string)
		return ok
	case "number":
		_, ok := x.(float64)
		return ok
	case "integer":
		f, ok := x.(float64)
		return ok && f == math.Trunc(f)
	case "boolean":
		_, ok := x.(bool)
		return ok
	case "null":
		return x == nil
	}
	return false
}

func typeOf(x any) string {
	switch x.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", x)
}

func show(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// depth counts the steps of a path.
func depth(path string) int {
	if path == "" {
		return 0
	}
	return strings.Count(path, ".") + strings.Count(path, "[") + 1
}
