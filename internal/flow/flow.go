// Package flow provides Flows: a trigger followed by ordered steps whose
// inputs are templates over the trigger request and earlier steps' outputs.
package flow

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// MaxSteps caps the steps of one Flow.
const MaxSteps = 50

// Flow is a Group's automation.
type Flow struct {
	ID          string    `json:"id"`
	GroupID     string    `json:"groupId"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Enabled     bool      `json:"enabled"`
	Steps       []Step    `json:"steps"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	CreatedBy   string    `json:"createdBy,omitempty"`
}

// Step is one call in a Flow. App and Method name the step kind (the generic
// HTTP request is app "http", method "request").
type Step struct {
	ID           string         `json:"id"`
	App          string         `json:"app"`
	Method       string         `json:"method"`
	ConnectionID string         `json:"connectionId,omitempty"`
	If           string         `json:"if,omitempty"`
	Input        map[string]any `json:"input"`
}

// Kinds tells which step kinds exist and checks a step's unrendered input.
type Kinds interface {
	// ValidateStep returns nil for a known kind whose input is acceptable,
	// and a *wiresk.Error (validation_failed, Field relative to the step,
	// e.g. "input.url" or "app") otherwise.
	ValidateStep(app, method string, input map[string]any) error
}

// URLInputs is implemented by Kinds whose steps have input fields that are
// URLs, like the "url" of an http request: those fields are compiled as URL
// templates, whose values are escaped where they land in the URL (see
// template.ParseURL).
type URLInputs interface {
	// URLInputs returns the paths of the URL fields of the input of a step
	// of app and method, like "url".
	URLInputs(app, method string) []string
}

// Compiled is a validated Flow with its templates parsed, ready to run.
type Compiled struct {
	Flow  Flow
	Steps []CompiledStep
}

// CompiledStep is one step with its input and condition parsed.
type CompiledStep struct {
	Step  Step
	Input *template.Value
	If    *template.Condition // nil when the step always runs
}

var stepID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks f: name, step ids unique and usable in expressions, known
// step kinds, templates that parse and that refer only to earlier steps.
// Errors are *wiresk.Error naming the offending field, e.g. "steps[1].input.url".
func Validate(f Flow, kinds Kinds) error {
	_, err := Compile(f, kinds)
	return err
}

// Compile validates f and parses its templates.
func Compile(f Flow, kinds Kinds) (*Compiled, error) {
	if f.Name == "" {
		return nil, wiresk.FieldError("name", "is required")
	}
	if len(f.Name) > 200 {
		return nil, wiresk.FieldError("name", "is longer than 200 characters")
	}
	if len(f.Description) > 2000 {
		return nil, wiresk.FieldError("description", "is longer than 2000 characters")
	}
	if len(f.Steps) == 0 {
		return nil, wiresk.FieldError("steps", "needs at least one step")
	}
	if len(f.Steps) > MaxSteps {
		return nil, wiresk.FieldError("steps", "has %d steps; the limit is %d", len(f.Steps), MaxSteps)
	}
	index := make(map[string]int, len(f.Steps))
	for i, s := range f.Steps {
		if !stepID.MatchString(s.ID) {
			return nil, wiresk.FieldError(fmt.Sprintf("steps[%d].id", i), "must be 1 to 64 letters, digits or underscores, not starting with a digit (got %q)", s.ID)
		}
		if j, dup := index[s.ID]; dup {
			return nil, wiresk.FieldError(fmt.Sprintf("steps[%d].id", i), "%q is already the id of steps[%d]", s.ID, j)
		}
		index[s.ID] = i
	}
	c := &Compiled{Flow: f, Steps: make([]CompiledStep, len(f.Steps))}
	for i, s := range f.Steps {
		at := fmt.Sprintf("steps[%d]", i)
		if err := kinds.ValidateStep(s.App, s.Method, s.Input); err != nil {
			return nil, prefixField(at, err)
		}
		var opts []template.CompileOption
		if u, ok := kinds.(URLInputs); ok {
			for _, path := range u.URLInputs(s.App, s.Method) {
				opts = append(opts, template.URLField(path))
			}
		}
		in, err := template.Compile(map[string]any(s.Input), opts...)
		if err != nil {
			return nil, prefixField(at+".input", err)
		}
		err = eachString(s.Input, at+".input", func(field, str string) error {
			t, err := template.Parse(str)
			if err != nil {
				return prefixField(field, err)
			}
			return checkRefs(field, t.StepRefs(), index, i)
		})
		if err != nil {
			return nil, err
		}
		cs := CompiledStep{Step: s, Input: in}
		if s.If != "" {
			cond, err := template.ParseCondition(s.If)
			if err != nil {
				return nil, prefixField(at+".if", err)
			}
			if err := checkRefs(at+".if", cond.StepRefs(), index, i); err != nil {
				return nil, err
			}
			cs.If = cond
		}
		c.Steps[i] = cs
	}
	return c, nil
}

// eachString calls fn with the field path of every string in v.
func eachString(v any, path string, fn func(field, s string) error) error {
	switch v := v.(type) {
	case string:
		return fn(path, v)
	case map[string]any:
		// Sorted, so that the first bad field reported is always the same.
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := eachString(v[k], path+"."+k, fn); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := eachString(e, fmt.Sprintf("%s[%d]", path, i), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRefs refuses references to steps that do not exist or do not run
// before step i.
func checkRefs(field string, refs []string, index map[string]int, i int) error {
	for _, r := range refs {
		j, ok := index[r]
		switch {
		case !ok:
			return wiresk.FieldError(field, "refers to step %q, which this Flow does not have", r)
		case j >= i:
			return wiresk.FieldError(field, "refers to step %q, which does not run before this step", r)
		}
	}
	return nil
}

// prefixField puts prefix in front of a validation error's field.
func prefixField(prefix string, err error) error {
	e, ok := err.(*wiresk.Error)
	if !ok {
		return err
	}
	out := *e
	out.Code = wiresk.EValidation
	switch {
	case out.Field == "":
		out.Field = prefix
	case out.Field[0] == '[':
		out.Field = prefix + out.Field
	default:
		out.Field = prefix + "." + out.Field
	}
	return &out
}
