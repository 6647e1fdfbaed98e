// Package deploy checks the AWS SAM template (template.yaml) without an AWS
// account: Parse reads it with goformation, both typed and as plain JSON,
// keeping intrinsic functions as readable placeholders, and ValidateSAM
// checks it against the SAM JSON schema that goformation bundled (a copy is
// in samschema/).
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Template is a parsed template.
type Template struct {
	// Template is goformation's typed model of the template.
	*cloudformation.Template
	// Raw is the same document as plain JSON values (maps, slices,
	// strings, float64, bools), for what the typed model cannot hold:
	// goformation's SAM types predate some properties (an SQS event's
	// FunctionResponseTypes and ScalingConfig) and cannot hold a policy list
	// that mixes SAM policy templates and IAM statements.
	Raw map[string]any
}

// Ref returns the placeholder that stands for {"Ref": name}.
func Ref(name string) string { return "Ref(" + name + ")" }

// GetAtt returns the placeholder that stands for
// {"Fn::GetAtt": [resource, attribute]}.
func GetAtt(resource, attribute string) string { return "GetAtt(" + resource + "." + attribute + ")" }

// Sub returns the placeholder that stands for {"Fn::Sub": text}.
func Sub(text string) string { return "Sub(" + text + ")" }

// placeholders replaces Ref, Fn::GetAtt and Fn::Sub with strings (Ref,
// GetAtt, Sub), so that references stay visible and checkable. goformation's
// own handlers resolve a Ref only to a parameter's default and a GetAtt to
// nothing at all. Other intrinsic functions are left to goformation.
var placeholders = &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
	"Ref": func(_ string, input, _ any) any {
		if s, ok := input.(string); ok {
			return Ref(s)
		}
		return nil
	},
	"Fn::GetAtt": func(_ string, input, _ any) any {
		switch v := input.(type) {
		case string:
			if res, attr, ok := strings.Cut(v, "."); ok {
				return GetAtt(res, attr)
			}
		case []any:
			if len(v) == 2 {
				res, ok1 := v[0].(string)
				attr, ok2 := v[1].(string)
				if ok1 && ok2 {
					return GetAtt(res, attr)
				}
			}
		}
		return nil
	},
	"Fn::Sub": func(_ string, input, _ any) any {
		if s, ok := input.(string); ok {
			return Sub(s)
		}
		return nil
	},
}}

// Parse parses a SAM template in YAML (or JSON).
func Parse(data []byte) (*Template, error) {
	typed, err := goformation.ParseYAMLWithOptions(data, placeholders)
	if err != nil {
		return nil, fmt.Errorf("typed parse: %w", err)
	}
	processed, err := intrinsics.ProcessYAML(data, placeholders)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(processed, &raw); err != nil {
		return nil, err
	}
	return &Template{Template: typed, Raw: raw}, nil
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
