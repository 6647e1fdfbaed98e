package deploy

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
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

// samSchemaGz is the AWS SAM JSON schema (draft-04) that GoFormation
// bundled; samschema/README.md says where it comes from.
//
//go:embed samschema/sam.schema.json.gz
var samSchemaGz []byte

// samSchemaURL names the schema inside the compiler; nothing is fetched.
const samSchemaURL = "urn:wiresk:sam.schema.json"

// ValidateSAM checks doc, a template as plain JSON values (Template.Raw),
// against the AWS SAM JSON schema (samschema/). It returns what breaks the
// schema; an error means the schema could not be loaded.
//
// The validation is the jsonschema library's (draft-04); ValidateSAM only
// words its errors. When no branch of an anyOf matches (a resource matches
// none of the resource types), the errors of the branch that came closest
// are returned: the one whose errors lie deepest, then the one with the
// fewest.
func ValidateSAM(doc any) ([]SchemaError, error) {
	sch, err := samSchema()
	if err != nil {
		return nil, err
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil, nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, err
	}
	var errs []SchemaError
	for _, f := range flatten(verr) {
		errs = append(errs, SchemaError{Path: pathString(doc, f.loc), Message: f.message})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].String() < errs[j].String() })
	return errs, nil
}

var samSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	zr, err := gzip.NewReader(bytes.NewReader(samSchemaGz))
	if err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(zr)
	if err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	sch, err := compileSAM(doc)
	if err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	return sch, nil
})

// compileSAM compiles the SAM schema document with each of its definitions
// as a schema of its own.
//
// Compiled as one document it takes the library 20 s: the library looks
// each schema up in a list of the ones queued by the same Compile call,
// which is quadratic in the document's 100,000 subschemas. As separate
// schemas, compiled referenced ones first, each Compile call queues only
// its own definition; the references point at schemas already compiled.
func compileSAM(doc any) (*jsonschema.Schema, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	defs, _ := root["definitions"].(map[string]any)
	names := slices.Sorted(maps.Keys(defs))
	urls := make(map[string]string, len(names))
	for i, name := range names {
		urls[name] = samSchemaURL + ":definition:" + strconv.Itoa(i)
	}
	// refs rewrites the references of s to the definitions' own URLs, and
	// returns the definitions it references.
	var refs func(s any, out map[string]bool) error
	refs = func(s any, out map[string]bool) error {
		switch s := s.(type) {
		case map[string]any:
			for k, v := range s {
				if ref, ok := v.(string); ok && k == "$ref" {
					name, ok := strings.CutPrefix(ref, "#/definitions/")
					if !ok || urls[name] == "" {
						return fmt.Errorf("$ref %q: not a definition of the document", ref)
					}
					s[k] = urls[name]
					out[name] = true
					continue
				}
				if err := refs(v, out); err != nil {
					return err
				}
			}
		case []any:
			for _, v := range s {
				if err := refs(v, out); err != nil {
					return err
				}
			}
		}
		return nil
	}
	c := jsonschema.NewCompiler()
	// The schema says it is draft-04 only through "$id", which draft-04
	// ignores (its keyword is "id").
	c.DefaultDraft(jsonschema.Draft4)
	deps := make(map[string]map[string]bool, len(names))
	for _, name := range names {
		deps[name] = map[string]bool{}
		if err := refs(defs[name], deps[name]); err != nil {
			return nil, fmt.Errorf("definition %s: %w", name, err)
		}
		if err := c.AddResource(urls[name], defs[name]); err != nil {
			return nil, err
		}
	}
	delete(root, "definitions")
	rootDeps := map[string]bool{}
	if err := refs(root, rootDeps); err != nil {
		return nil, err
	}
	if err := c.AddResource(samSchemaURL, root); err != nil {
		return nil, err
	}
	// Compile depth first, a definition after those it references (a
	// cycle is compiled in one call).
	done := make(map[string]bool, len(names))
	var compile func(name string) error
	compile = func(name string) error {
		if done[name] {
			return nil
		}
		done[name] = true
		for _, dep := range slices.Sorted(maps.Keys(deps[name])) {
			if err := compile(dep); err != nil {
				return err
			}
		}
		_, err := c.Compile(urls[name])
		return err
	}
	for _, name := range names {
		if err := compile(name); err != nil {
			return nil, err
		}
	}
	return c.Compile(samSchemaURL)
}

// failure is one leaf error of a validation, located by instance path.
type failure struct {
	loc     []string
	message string
}

// flatten turns the library's tree of errors into leaf failures, keeping
// of each failed anyOf only the branch that came closest.
func flatten(e *jsonschema.ValidationError) []failure {
	leaf := func(format string, args ...any) []failure {
		return []failure{{loc: e.InstanceLocation, message: fmt.Sprintf(format, args...)}}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		return closest(e.Causes)
	case *kind.Type:
		return leaf("is %s, want %s", article(k.Got), strings.Join(k.Want, " or "))
	case *kind.Enum:
		return leaf("is %s, want one of %s", show(k.Got), show(k.Want))
	case *kind.Required:
		var out []failure
		for _, name := range k.Missing {
			out = append(out, failure{loc: e.InstanceLocation, message: name + " is required"})
		}
		return out
	case *kind.AdditionalProperties:
		var out []failure
		for _, name := range k.Properties {
			loc := append(append([]string(nil), e.InstanceLocation...), name)
			out = append(out, failure{loc: loc, message: "is not a property the schema allows here"})
		}
		return out
	case *kind.Pattern:
		return leaf("%s does not match %s", show(k.Got), k.Want)
	case *kind.MinLength:
		return leaf("is %d characters long, want at least %d", k.Got, k.Want)
	case *kind.MaxLength:
		return leaf("is %d characters long, want at most %d", k.Got, k.Want)
	case *kind.MinProperties:
		return leaf("has %d properties, want at least %d", k.Got, k.Want)
	case *kind.MaxProperties:
		return leaf("has %d properties, want at most %d", k.Got, k.Want)
	}
	if len(e.Causes) == 0 {
		return leaf("%s", e.ErrorKind.LocalizedString(printer))
	}
	// A group of errors, a $ref, allOf: all of its causes hold.
	var out []failure
	for _, c := range e.Causes {
		out = append(out, flatten(c)...)
	}
	return out
}

var printer = message.NewPrinter(language.English)

// closest returns the failures of the anyOf branch that came closest: the
// one whose shallowest failure lies deepest, then the one with the fewest.
func closest(branches []*jsonschema.ValidationError) []failure {
	var best []failure
	bestDepth := -1
	for _, b := range branches {
		fs := flatten(b)
		d := math.MaxInt
		for _, f := range fs {
			d = min(d, len(f.loc))
		}
		if d > bestDepth || d == bestDepth && len(fs) < len(best) {
			best, bestDepth = fs, d
		}
	}
	return best
}

// pathString writes an instance location as keys joined by dots and list
// indexes in brackets, walking doc to tell the two apart.
func pathString(doc any, loc []string) string {
	var b strings.Builder
	v := doc
	for _, seg := range loc {
		switch x := v.(type) {
		case []any:
			b.WriteString("[" + seg + "]")
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(x) {
				v = x[i]
			} else {
				v = nil
			}
			continue
		case map[string]any:
			v = x[seg]
		default:
			v = nil
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// article names a JSON type as the errors say it: "a string", "an object".
func article(t string) string {
	switch t {
	case "null":
		return "null"
	case "integer":
		return "a number"
	case "object", "array":
		return "an " + t
	}
	return "a " + t
}

func show(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}
