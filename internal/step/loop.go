package step

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"wiresk/internal/flow"
	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// The loop step's app and method, and the bounds of its list.
const (
	LoopApp    = "data"
	LoopMethod = "loop"
	// DefaultLoopItems is a loop's maxItems when its input gives none.
	DefaultLoopItems = 100
	// MaxLoopItems is the largest maxItems a loop may set.
	MaxLoopItems = 1000
)

// IsLoop reports whether app and method name the loop step.
func IsLoop(app, method string) bool { return app == LoopApp && method == LoopMethod }

// Loop is the step data/loop, n8n's "Loop over items" and Zapier's
// "Looping by Zapier": it runs one inner step once for every element of a
// list, in order, and its output is {"items": [each run's output, in
// order], "count": n}.
//
//	{"id": "each", "app": "data", "method": "loop", "input": {
//	  "forEach": "{{ steps.list.output.body.records }}",
//	  "maxItems": 100,
//	  "step": {"app": "http", "method": "request", "connectionId": "con_...",
//	           "input": {"url": "https://api.example.com/contacts/{{ item.id }}",
//	                     "body": {"position": "{{ index }}"}}}}}
//
// forEach must render to a list (anything else fails the step for good,
// naming input.forEach); an empty list succeeds with {"items": [],
// "count": 0}. maxItems bounds the list: 100 unless set, at most 1000,
// given as a number (not a template) so that it is checked when the Flow
// is saved. A list longer than maxItems fails the step for good, saying
// how many items it has and the limit, before any item runs.
//
// step is checked when the Flow is saved like a step of its own (its app
// and method known, its input as its kind wants, its connectionId one of
// the Group's for that app), with errors named input.step.app,
// input.step.input.<field> and so on; it cannot be a loop itself, and it
// has no id nor if. Its input is not rendered with the loop's: the worker
// renders it once per element, with two more names beside trigger and
// steps: item (the element) and index (its 0-based position). No other
// template of a Flow may read item or index.
//
// The worker runs the items one after the other and records the loop's
// progress in the Run after each one, so a delivery that stops (a killed
// worker, a timeout) resumes at the first item that did not finish, and an
// item that succeeded is never sent again. Each item's request carries its
// own Idempotency-Key, IdempotencyKey(runID, stepID+"/"+index), the same on
// every attempt of that item. An item that fails fails the loop with
// "item <index>: <its error>", permanent or retried as the item's error
// is; a redelivery resumes at that item. The step's attempts add up the
// tries of all its items.
//
// An inner data/filter whose condition is false skips its item, whose
// output is null (so items[i] stays the output for forEach[i]); the loop
// and the Run go on.
//
// The output is recorded like any step's, truncated past the size cap; the
// count is always kept.
type Loop struct {
	// Kinds checks the inner step when the Flow is saved; NewRegistry sets
	// it to the Registry itself. Without it only the shape of the inner
	// step is checked.
	Kinds Registry
}

// LoopInput is the unrendered input of a loop step, as ParseLoop reads it.
type LoopInput struct {
	// ForEach is the forEach template (or a literal list).
	ForEach any
	// MaxItems is the bound of the list (DefaultLoopItems if not given).
	MaxItems int
	// Step is the inner step.
	Step flow.Step
}

// loopFields are the fields of a loop's input and of its inner step.
var (
	loopFields  = []string{"forEach", "maxItems", "step"}
	innerFields = []string{"app", "method", "connectionId", "input"}
)

// ParseLoop reads the unrendered input of a loop step, checking its shape
// (not the inner step's kind or input). Errors are *wiresk.Error from
// wiresk.FieldError, with fields like "input.maxItems".
func ParseLoop(input map[string]any) (LoopInput, error) {
	for _, k := range slices.Sorted(maps.Keys(input)) {
		if !slices.Contains(loopFields, k) {
			return LoopInput{}, wiresk.FieldError("input."+k, "is not an input of a loop (inputs: %s)", strings.Join(loopFields, ", "))
		}
	}
	var in LoopInput
	switch v := input["forEach"].(type) {
	case string, []any:
		in.ForEach = v
	default:
		return LoopInput{}, wiresk.FieldError("input.forEach", "is required: the list to loop over, like \"{{ steps.list.output.body.records }}\"")
	}
	in.MaxItems = DefaultLoopItems
	if v, ok := input["maxItems"]; ok && v != nil {
		n, ok := wholeNumber(v)
		if !ok || n < 1 || n > MaxLoopItems {
			return LoopInput{}, wiresk.FieldError("input.maxItems", "must be a whole number from 1 to %d (not a template: the bound is checked when the Flow is saved); got %s", MaxLoopItems, describeValue(v))
		}
		in.MaxItems = n
	}
	s, ok := input["step"].(map[string]any)
	if !ok {
		return LoopInput{}, wiresk.FieldError("input.step", "is required: the step to run for each item, like {\"app\": \"http\", \"method\": \"request\", \"input\": {\"url\": \"https://api.example.com/items/{{ item.id }}\"}}")
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !slices.Contains(innerFields, k) {
			return LoopInput{}, wiresk.FieldError("input.step."+k, "is not a field of a loop's step (fields: %s): the step has no id nor if of its own", strings.Join(innerFields, ", "))
		}
	}
	for _, k := range []string{"app", "method"} {
		if v, ok := s[k].(string); !ok || v == "" {
			return LoopInput{}, wiresk.FieldError("input.step."+k, "is required: the %s of the step to run for each item", k)
		}
	}
	in.Step.App, in.Step.Method = s["app"].(string), s["method"].(string)
	if v, ok := s["connectionId"]; ok && v != nil {
		c, ok := v.(string)
		if !ok {
			return LoopInput{}, wiresk.FieldError("input.step.connectionId", "must be the id of one of the Group's Connections")
		}
		in.Step.ConnectionID = c
	}
	switch v := s["input"].(type) {
	case nil:
		in.Step.Input = map[string]any{}
	case map[string]any:
		in.Step.Input = v
		if v == nil {
			in.Step.Input = map[string]any{}
		}
	default:
		return LoopInput{}, wiresk.FieldError("input.step.input", "must be an object: the input of the step to run for each item")
	}
	if IsLoop(in.Step.App, in.Step.Method) {
		return LoopInput{}, wiresk.FieldError("input.step", "is a loop: a loop cannot run inside a loop; loop over a flattened list instead")
	}
	return in, nil
}

// Items returns the rendered forEach as the list of items to run, or a
// permanent *Error naming input.forEach when it is not a list or has more
// than MaxItems items (then no item may run).
func (in LoopInput) Items(rendered any) ([]any, error) {
	items, ok := rendered.([]any)
	if !ok {
		what := describeValue(rendered)
		if _, text := rendered.(string); text {
			what += "; write forEach as one {{ }} and nothing around it, so that a list stays a list"
		}
		return nil, &Error{Permanent: true, Message: "input.forEach: rendered to " + what + ", want a list"}
	}
	if len(items) > in.MaxItems {
		return nil, &Error{Permanent: true, Message: fmt.Sprintf("input.forEach: the list has %d items, more than input.maxItems (%d): no item was run; narrow the list or raise maxItems (at most %d)", len(items), in.MaxItems, MaxLoopItems)}
	}
	return items, nil
}

// ValidateInput implements Kind: the shape of the input (ParseLoop), then
// the inner step as a step of its own, with errors named input.step....
func (l Loop) ValidateInput(input map[string]any) error {
	in, err := ParseLoop(input)
	if err != nil || l.Kinds == nil {
		return err
	}
	if err := l.Kinds.validateStep(in.Step.App, in.Step.Method, in.Step.Input, true); err != nil {
		return withinField("input.step", err)
	}
	return nil
}

// Execute implements Kind. A loop is not run by its Kind: the worker runs
// its inner step item by item, recording the Run after each (see Loop), so
// this only refuses to run it without that.
func (Loop) Execute(context.Context, map[string]any) (Result, error) {
	return Result{}, &Error{Permanent: true, Message: "a loop step runs only in the worker, item by item"}
}

// InnerStep returns the inner step of a loop step of app and method (its
// ID left empty), and false for any other step or an input ParseLoop
// refuses. It lets a Registry tell the Flow use cases which Connection a
// loop's step names.
func (c Registry) InnerStep(app, method string, input map[string]any) (flow.Step, bool) {
	if k, ok := c.Lookup(app, method); !ok || !isLoopKind(k) {
		return flow.Step{}, false
	}
	in, err := ParseLoop(input)
	return in.Step, err == nil
}

// isLoopKind reports whether k is the loop kind.
func isLoopKind(k Kind) bool {
	switch k.(type) {
	case Loop, *Loop:
		return true
	}
	return false
}

// checkItemScope refuses a template under path in v that reads item or
// index: only a loop's inner step has them. A string that does not parse
// is left to the Flow's own check, which names its error.
func checkItemScope(v any, path string) error {
	switch v := v.(type) {
	case string:
		if t, err := template.Parse(v); err == nil && t.ReadsItem() {
			return wiresk.FieldError(path, "reads item or index, which exist only in the input of a loop's step (app %q, method %q, input.step.input)", LoopApp, LoopMethod)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := checkItemScope(v[k], path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := checkItemScope(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// withinField puts prefix in front of a validation error's field.
func withinField(prefix string, err error) error {
	e, ok := err.(*wiresk.Error)
	if !ok {
		return err
	}
	out := *e
	if out.Field == "" {
		out.Field = prefix
	} else {
		out.Field = prefix + "." + out.Field
	}
	return &out
}

// wholeNumber returns v as an int when it is a whole JSON number.
func wholeNumber(v any) (int, bool) {
	var f float64
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		f = float64(n)
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, false
	}
	return int(f), true
}

// describeValue names the JSON type of v for a message, with a short
// quote of a string.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "text " + quote(v)
	case bool:
		return fmt.Sprintf("%v", v)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case int, int64, float64, json.Number:
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a %T", v)
}
