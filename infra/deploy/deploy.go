// Package deploy checks the AWS SAM template (template.yaml) without an AWS
// account: Parse reads it as plain JSON values (Raw), keeping intrinsic
// functions as readable placeholders, and decodes the resources the checks
// need into typed structs (types.go); ValidateSAM checks it against the SAM
// JSON schema (SAM's schema of its resources and GoFormation's of
// CloudFormation's, in samschema/).
package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed template.
type Template struct {
	// AWSTemplateFormatVersion is the template's format version.
	AWSTemplateFormatVersion string
	// Transform names the macros CloudFormation applies (SAM's).
	Transform *Transform
	// Description is the template's description.
	Description string
	// Parameters are the template's parameters by name.
	Parameters map[string]Parameter
	// Outputs are the template's outputs by name.
	Outputs map[string]Output
	// Raw is the whole document as plain JSON values (maps, slices,
	// strings, float64, bools), for what the typed structs do not hold.
	Raw map[string]any

	// resources holds the typed resources by name: *Function, *HttpApi,
	// *Queue, *Table or *Alarm.
	resources map[string]any
}

// Ref returns the placeholder that stands for {"Ref": name}.
func Ref(name string) string { return "Ref(" + name + ")" }

// GetAtt returns the placeholder that stands for
// {"Fn::GetAtt": [resource, attribute]}.
func GetAtt(resource, attribute string) string { return "GetAtt(" + resource + "." + attribute + ")" }

// Sub returns the placeholder that stands for {"Fn::Sub": text}.
func Sub(text string) string { return "Sub(" + text + ")" }

// Parse parses a SAM template in YAML (or JSON, which is YAML too).
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	v, err := plain(&doc)
	if err != nil {
		return nil, err
	}
	raw, ok := placeholders(v).(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a YAML mapping")
	}
	t := &Template{Raw: raw, resources: map[string]any{}}
	var top struct {
		AWSTemplateFormatVersion string
		Transform                *Transform
		Description              string
		Parameters               map[string]Parameter
		Outputs                  map[string]Output
	}
	if err := remarshal(raw, &top); err != nil {
		return nil, err
	}
	t.AWSTemplateFormatVersion, t.Transform, t.Description = top.AWSTemplateFormatVersion, top.Transform, top.Description
	t.Parameters, t.Outputs = top.Parameters, top.Outputs
	resources, _ := raw["Resources"].(map[string]any)
	for name, r := range resources {
		res, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s is not a mapping", name)
		}
		typed, err := decodeResource(res)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", name, err)
		}
		if typed != nil {
			t.resources[name] = typed
		}
	}
	return t, nil
}

// Open parses the SAM template in the file at path.
func Open(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Lookup returns the Raw value at a path of map keys and list indexes (int),
// and whether it exists.
func (t *Template) Lookup(path ...any) (any, bool) {
	var v any = t.Raw
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			v = l[k]
		default:
			return nil, false
		}
	}
	return v, true
}

// shortForms maps the tags of CloudFormation's short-form intrinsic
// functions (!Ref, !GetAtt, !Sub, !If, ...) to the keys of their long form.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!If": "Fn::If", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!Equals": "Fn::Equals", "!And": "Fn::And",
	"!Or": "Fn::Or", "!Not": "Fn::Not", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!Cidr": "Fn::Cidr", "!ImportValue": "Fn::ImportValue", "!GetAZs": "Fn::GetAZs",
	"!Transform": "Fn::Transform", "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
}

// plain converts a YAML node to plain JSON values; a short-form intrinsic
// function becomes its long form, a one-key map like {"Ref": "Table"}.
func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, errors.New("the template is empty")
		}
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	if fn, ok := shortForms[n.Tag]; ok {
		var v any = n.Value
		if n.Kind != yaml.ScalarNode {
			untagged := *n
			untagged.Tag = ""
			var err error
			if v, err = plain(&untagged); err != nil {
				return nil, err
			}
		}
		return map[string]any{fn: v}, nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: tag %s is not one CloudFormation knows", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q is there twice", k.Line, k.Value)
			}
			v, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := plain(c)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			// Numbers are float64, as encoding/json decodes them.
			var f float64
			err := n.Decode(&f)
			return f, err
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, nil
		}
		return nil, fmt.Errorf("line %d: tag %s is not one CloudFormation knows", n.Line, n.Tag)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// placeholders replaces Ref, Fn::GetAtt and Fn::Sub with strings (Ref,
// GetAtt, Sub), so that references stay visible and comparable as plain
// strings. Other intrinsic functions, and these in a shape other than the
// ones placeholders name (Fn::Sub with a variable map), stay as one-key
// maps, as written.
func placeholders(v any) any {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			v[i] = placeholders(e)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = placeholders(e)
		}
		if len(v) != 1 {
			return v
		}
		for fn, arg := range v {
			if s, ok := intrinsic(fn, arg); ok {
				return s
			}
		}
	}
	return v
}

// intrinsic returns the placeholder of the intrinsic function fn applied to
// arg, if it has one.
func intrinsic(fn string, arg any) (string, bool) {
	switch fn {
	case "Ref":
		if s, ok := arg.(string); ok {
			return Ref(s), true
		}
	case "Fn::GetAtt":
		switch a := arg.(type) {
		case string:
			if res, attr, ok := strings.Cut(a, "."); ok {
				return GetAtt(res, attr), true
			}
		case []any:
			if len(a) == 2 {
				res, ok1 := a[0].(string)
				attr, ok2 := a[1].(string)
				if ok1 && ok2 {
					return GetAtt(res, attr), true
				}
			}
		}
	case "Fn::Sub":
		if s, ok := arg.(string); ok {
			return Sub(s), true
		}
	}
	return "", false
}

// remarshal decodes the plain value v into out through its JSON.
func remarshal(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
