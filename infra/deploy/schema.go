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

// samSchemaGz is SAM's own schema of its resources (AWS::Serverless::*)
// and Globals, schema_source/sam.schema.json of aws/serverless-application-model;
// cfnSchemaGz is the schema of CloudFormation's resources and template
// syntax that GoFormation bundled. samschema/README.md says where each comes
// from; unify makes one schema of the two.
//
//go:embed samschema/sam.schema.json.gz
var samSchemaGz []byte

//go:embed samschema/goformation.schema.json.gz
var cfnSchemaGz []byte

// samSchemaURL names the schema inside the compiler; nothing is fetched.
const samSchemaURL = "urn:wiresk:sam.schema.json"

// ValidateSAM checks doc, a template as plain JSON values (Template.Raw),
// against the AWS SAM JSON schema (samschema/): SAM's schema of its
// resources, with CloudFormation's resources beside them. It returns what
// breaks the schema; an error means the schema could not be loaded.
//
// The validation is the jsonschema library's (draft-04); ValidateSAM only
// words its errors, and forgives those at an intrinsic function (a Ref,
// GetAtt or Sub placeholder, or a one-key Ref or Fn:: map) or inside one:
// CloudFormation resolves it at deploy time, where the schema wants its
// result (RetentionInDays: !Ref LogRetentionDays is a number then). When no
// branch of an anyOf matches (a resource matches none of the resource
// types), the errors of the branch that came closest are returned: the one
// whose errors lie deepest, then the one with the fewest; a branch whose
// only errors are forgiven matches.
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
	for _, f := range (flattener{doc}).flatten(verr) {
		errs = append(errs, SchemaError{Path: pathString(doc, f.loc), Message: f.message})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].String() < errs[j].String() })
	return errs, nil
}

var samSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	sam, err := gunzipJSON(samSchemaGz)
	if err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	cfn, err := gunzipJSON(cfnSchemaGz)
	if err != nil {
		return nil, fmt.Errorf("the bundled CloudFormation schema: %w", err)
	}
	doc, err := unify(sam, cfn)
	if err != nil {
		return nil, fmt.Errorf("the bundled schemas: %w", err)
	}
	sch, err := compileSAM(doc)
	if err != nil {
		return nil, fmt.Errorf("the bundled SAM schema: %w", err)
	}
	return sch, nil
})

// gunzipJSON decodes a gzip-compressed JSON object.
func gunzipJSON(gz []byte) (map[string]any, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(zr)
	if err != nil {
		return nil, err
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// resourceName is CloudFormation's rule for logical resource ids, as
// GoFormation's schema words it.
const resourceName = "^[a-zA-Z0-9]+$"

// anyCfnResource is the definition by which sam.schema.json lets any
// resource that is not SAM's through; unify puts CloudFormation's
// resources in its place.
const anyCfnResource = "#/definitions/samtranslator__internal__schema_source__any_cfn_resource__Resource"

// unify makes one schema of sam (SAM's sam.schema.json) and cfn
// (GoFormation's schema), as SAM makes its unified schema
// (samtranslator/schema/schema.json, extend_with_cfn_schema in
// samtranslator/internal/schema_source/schema.py) from sam.schema.json and
// its own CloudFormation schema, which has GoFormation's shape:
//
//   - a resource is one of SAM's or one of cfn's (those not
//     AWS::Serverless::*: GoFormation's SAM definitions are older than
//     SAM's), instead of sam.schema.json's any resource;
//   - the top-level properties and the definitions of cfn that sam lacks
//     are added (a definition of both is an error);
//   - each property SAM passes through to CloudFormation (a
//     "__samPassThrough" object, its "schemaPath" a path in cfn) gets cfn's
//     schema of it; one cfn does not have (newer than GoFormation) stays
//     free, as sam.schema.json has it;
//   - no top-level property other than those is allowed.
//
// Two differences with SAM's: resource names must be CloudFormation's
// logical ids (resourceName), as in GoFormation's schema, where SAM's allow
// any; and the embedded Connectors attribute SAM adds to some
// CloudFormation resources is not added (the template uses none).
func unify(sam, cfn map[string]any) (map[string]any, error) {
	samDefs, _ := sam["definitions"].(map[string]any)
	cfnDefs, _ := cfn["definitions"].(map[string]any)
	samProps, _ := sam["properties"].(map[string]any)
	cfnProps, _ := cfn["properties"].(map[string]any)
	if samDefs == nil || cfnDefs == nil || samProps == nil || cfnProps == nil {
		return nil, errors.New("a schema has no definitions or no properties")
	}
	samAny, ok := lookupSchema(samProps, "Resources", "additionalProperties", "anyOf").([]any)
	if !ok {
		return nil, errors.New("sam.schema.json: no Resources.additionalProperties.anyOf")
	}
	cfnAny, ok := lookupSchema(cfnProps, "Resources", "patternProperties", resourceName, "anyOf").([]any)
	if !ok {
		return nil, errors.New("the CloudFormation schema: no Resources.patternProperties.anyOf")
	}
	var resources []any
	found := false
	for _, r := range samAny {
		if ref, _ := lookupSchema(r, "$ref").(string); ref == anyCfnResource {
			found = true
			continue
		}
		resources = append(resources, r)
	}
	if !found {
		return nil, errors.New("sam.schema.json: its Resources do not name its any-resource definition")
	}
	// Unused now; its pattern, ^(?!AWS::Serverless::).+$, is also one Go's
	// regular expressions cannot read.
	delete(samDefs, strings.TrimPrefix(anyCfnResource, "#/definitions/"))
	const serverless = "AWS::Serverless::"
	for _, r := range cfnAny {
		ref, _ := lookupSchema(r, "$ref").(string)
		if !strings.HasPrefix(ref, "#/definitions/"+serverless) {
			resources = append(resources, r)
		}
	}
	var passThrough func(v any) any
	passThrough = func(v any) any {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		if pt, ok := m["__samPassThrough"].(map[string]any); ok {
			path, _ := pt["schemaPath"].([]any)
			if target, ok := lookupSchema(cfn, path...).(map[string]any); ok && len(path) > 0 {
				s := deepCopy(target).(map[string]any)
				if title, ok := m["title"]; ok {
					s["title"] = title
				}
				m = s
			}
		}
		// As SAM's _replace_in_dict: through objects, not lists.
		for k, e := range m {
			m[k] = passThrough(e)
		}
		return m
	}
	passThrough(sam)
	for name, def := range cfnDefs {
		if strings.HasPrefix(name, serverless) {
			continue
		}
		if _, dup := samDefs[name]; dup {
			return nil, fmt.Errorf("definition %s is in both schemas", name)
		}
		samDefs[name] = def
	}
	for name, p := range cfnProps {
		if _, ok := samProps[name]; !ok {
			samProps[name] = p
		}
	}
	samProps["Resources"] = map[string]any{
		"type":                 "object",
		"patternProperties":    map[string]any{resourceName: map[string]any{"anyOf": resources}},
		"additionalProperties": false,
	}
	sam["additionalProperties"] = false
	return sam, nil
}

// lookupSchema returns the value at a path of object keys in v, or nil.
func lookupSchema(v any, path ...any) any {
	for _, p := range path {
		k, ok := p.(string)
		m, isMap := v.(map[string]any)
		if !ok || !isMap {
			return nil
		}
		v = m[k]
	}
	return v
}

// deepCopy copies a JSON value, so that the compiler's rewriting of one
// copy's references leaves the others alone.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

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

// flattener flattens the errors of the validation of doc.
type flattener struct{ doc any }

// flatten turns the library's tree of errors into leaf failures, keeping
// of each failed anyOf only the branch that came closest, and none at or
// inside an intrinsic function.
func (fl flattener) flatten(e *jsonschema.ValidationError) []failure {
	if fl.atIntrinsic(e.InstanceLocation) {
		return nil
	}
	leaf := func(format string, args ...any) []failure {
		return []failure{{loc: e.InstanceLocation, message: fmt.Sprintf(format, args...)}}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		return fl.closest(e.Causes)
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
		out = append(out, fl.flatten(c)...)
	}
	return out
}

// atIntrinsic reports whether the instance at loc, or one holding it, is
// an intrinsic function.
func (fl flattener) atIntrinsic(loc []string) bool {
	v := fl.doc
	for i := 0; ; i++ {
		if isIntrinsic(v) {
			return true
		}
		if i == len(loc) {
			return false
		}
		switch x := v.(type) {
		case map[string]any:
			v = x[loc[i]]
		case []any:
			n, err := strconv.Atoi(loc[i])
			if err != nil || n < 0 || n >= len(x) {
				return false
			}
			v = x[n]
		default:
			return false
		}
	}
}

// isIntrinsic reports whether v is an intrinsic function: a placeholder
// (Ref, GetAtt, Sub) or a one-key map of Ref or an Fn:: function.
func isIntrinsic(v any) bool {
	switch v := v.(type) {
	case string:
		for _, fn := range []string{"Ref(", "GetAtt(", "Sub("} {
			if strings.HasPrefix(v, fn) && strings.HasSuffix(v, ")") {
				return true
			}
		}
	case map[string]any:
		if len(v) == 1 {
			for k := range v {
				return k == "Ref" || strings.HasPrefix(k, "Fn::")
			}
		}
	}
	return false
}

var printer = message.NewPrinter(language.English)

// closest returns the failures of the anyOf branch that came closest: the
// one whose shallowest failure lies deepest, then the one with the fewest.
func (fl flattener) closest(branches []*jsonschema.ValidationError) []failure {
	var best []failure
	bestDepth := -1
	for _, b := range branches {
		fs := fl.flatten(b)
		if len(fs) == 0 {
			return nil // the branch matches, but for intrinsic functions
		}
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
