package step

import (
	"context"
	"errors"
	"strconv"

	"wiresk/internal/wiresk"
)

// The data steps need no app and no Connection: they shape what later
// steps see, or stop the Run, as n8n's Set and Filter nodes and Zapier's
// Filter do.

// Set is the step data/set: its output is its rendered input "fields", an
// object of names to values (templates over the trigger and earlier steps),
// so that later steps read steps.<id>.output.<name>.
type Set struct{}

// ValidateInput implements Kind: "fields" must be an object.
func (Set) ValidateInput(input map[string]any) error {
	if _, ok := input["fields"].(map[string]any); !ok {
		return wiresk.FieldError("input.fields", "is required: an object of names to values, like {\"email\": \"{{ trigger.body.email }}\"}")
	}
	return nil
}

// Execute implements Kind.
func (Set) Execute(_ context.Context, input map[string]any) (Result, error) {
	fields, ok := input["fields"].(map[string]any)
	if !ok {
		return Result{Attempts: 1}, &Error{Permanent: true, Message: "input.fields: must render to an object"}
	}
	return Result{Output: fields, Attempts: 1}, nil
}

// Filter is the step data/filter: its input "pass" is a condition (usually
// one template such as "{{ trigger.body.amount > 100 }}", which renders to
// a boolean). When it is false the Run stops there with status filtered;
// the steps after it do not run. Its output is {"passed": bool}.
type Filter struct{}

// ErrFiltered is returned (wrapped) by a filter step whose condition is
// false: the Run ends as filtered, not failed.
var ErrFiltered = errors.New("the filter's condition is false: the Run stops here")

// ValidateInput implements Kind: "pass" is required, a boolean or a
// template.
func (Filter) ValidateInput(input map[string]any) error {
	switch input["pass"].(type) {
	case bool, string:
		return nil
	}
	return wiresk.FieldError("input.pass", "is required: a condition such as \"{{ trigger.body.amount > 100 }}\", or true or false")
}

// Execute implements Kind.
func (Filter) Execute(_ context.Context, input map[string]any) (Result, error) {
	var pass bool
	switch v := input["pass"].(type) {
	case bool:
		pass = v
	case string:
		// A template with text around its expression renders to text.
		switch v {
		case "true":
			pass = true
		case "false", "":
		default:
			return Result{Attempts: 1}, &Error{Permanent: true, Message: "input.pass: rendered to " + quote(v) + ", want true or false"}
		}
	default:
		return Result{Attempts: 1}, &Error{Permanent: true, Message: "input.pass: must render to true or false"}
	}
	res := Result{Output: map[string]any{"passed": pass}, Attempts: 1}
	if !pass {
		return res, ErrFiltered
	}
	return res, nil
}

// quote quotes a rendered value for a message, cut to 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}
