// Package step provides the kinds of Flow steps: what a step with a given
// app and method checks in its input and does when it runs. The first kind
// is the generic HTTP request (app "http", method "request").
package step

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"wiresk/internal/wiresk"
)

// Kind validates and executes one kind of step.
type Kind interface {
	// ValidateInput checks the unrendered input of a step when its Flow is
	// saved: required fields are present and of the right type, and fields
	// given as literals rather than templates have acceptable values.
	// Errors are *wiresk.Error from wiresk.FieldError with the path of the
	// field, like "input.url".
	ValidateInput(input map[string]any) error
	// Execute runs the step with its rendered input. The Result is filled
	// even when an error is returned.
	Execute(ctx context.Context, input map[string]any) (Result, error)
}

// Result is the outcome of an executed step.
type Result struct {
	// Output is what later steps see as steps.<id>.output.
	Output any
	// Attempts counts the tries, retries included.
	Attempts int
}

// Registry maps app and method to a Kind: the step kinds this build knows
// (not to be confused with the app catalog, package catalog).
type Registry map[string]map[string]Kind

// NewRegistry returns the Registry of the built-in kinds, with h as the
// generic HTTP request. Its loop checks its inner step against the
// Registry itself, kinds added later included.
func NewRegistry(h *HTTP) Registry {
	r := Registry{"http": {"request": h}, "data": {"set": Set{}, "filter": Filter{}}}
	r[LoopApp][LoopMethod] = Loop{Kinds: r}
	return r
}

// Lookup returns the Kind of app and method.
func (c Registry) Lookup(app, method string) (Kind, bool) {
	k, ok := c[app][method]
	return k, ok && k != nil
}

// ValidateStep checks that app and method name a known Kind and that input
// suits it, and that no template of input reads item or index, but those
// of a loop's inner step. Errors are *wiresk.Error with code
// wiresk.EValidation and a Field relative to the step: "app", "method" or
// "input...". It lets a Registry serve as the flow package's Kinds.
func (c Registry) ValidateStep(app, method string, input map[string]any) error {
	return c.validateStep(app, method, input, false)
}

// validateStep is ValidateStep; inLoop allows item and index in input,
// for the inner step of a loop.
func (c Registry) validateStep(app, method string, input map[string]any, inLoop bool) error {
	methods, ok := c[app]
	if !ok {
		return wiresk.FieldError("app", "unknown app %q (known: %s)", app, strings.Join(sortedKeys(c), ", "))
	}
	k, ok := c.Lookup(app, method)
	if !ok {
		return wiresk.FieldError("method", "unknown method %q of app %q (known: %s)", method, app, strings.Join(sortedKeys(methods), ", "))
	}
	if err := k.ValidateInput(input); err != nil {
		return err
	}
	if inLoop {
		return nil
	}
	for _, key := range sortedKeys(input) {
		if isLoopKind(k) && key == "step" {
			continue // the inner step's input may read item; its other fields are not templates
		}
		if err := checkItemScope(input[key], "input."+key); err != nil {
			return err
		}
	}
	return nil
}

// NeedsConnection reports whether a step of app and method must name a
// Connection: its Kind has a method NeedsConnection() bool that says so.
func (c Registry) NeedsConnection(app, method string) bool {
	k, _ := c.Lookup(app, method)
	n, ok := k.(interface{ NeedsConnection() bool })
	return ok && n.NeedsConnection()
}

// URLInputs returns the input fields of steps of app and method that are
// URLs, for a Kind that has a method URLInputs() []string. It lets the flow
// package compile those fields as URL templates.
func (c Registry) URLInputs(app, method string) []string {
	k, _ := c.Lookup(app, method)
	if u, ok := k.(interface{ URLInputs() []string }); ok {
		return u.URLInputs()
	}
	return nil
}

// Execute runs the Kind of app and method with the rendered input and
// returns its output and the tries it made. An unknown kind is a permanent
// *Error. It lets a Registry serve as the worker's Steps.
func (c Registry) Execute(ctx context.Context, app, method string, input map[string]any) (output any, attempts int, err error) {
	k, ok := c.Lookup(app, method)
	if !ok {
		return nil, 0, &Error{Permanent: true, Message: fmt.Sprintf("unknown step kind: app %q, method %q", app, method)}
	}
	res, err := k.Execute(ctx, input)
	return res.Output, res.Attempts, err
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Error is the error of a failed step.
type Error struct {
	// Permanent is true when retrying the step as it is cannot help: a 4xx
	// response other than 408 and 429, a refused destination, invalid input.
	Permanent bool
	// Status is the HTTP status of the last response, 0 when none came.
	Status int
	// Unauthorized is true when the app refused the credential (a 401,
	// or an expired token it reports inside a 200 answer): the worker then
	// re-tests the step's Connection.
	Unauthorized bool
	// Message describes the failure. It never holds request headers or the
	// query string of the URL, which may carry credentials.
	Message string

	err error // the cause, for errors.Is and errors.As
}

// NewError returns an *Error wrapping cause (which may be nil).
func NewError(permanent bool, status int, message string, cause error) *Error {
	return &Error{Permanent: permanent, Status: status, Message: message, err: cause}
}

// Error returns the Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause of the error, if any: context.Canceled when the
// step was cancelled, for instance.
func (e *Error) Unwrap() error { return e.err }

// IsPermanent reports whether err is, or wraps, an *Error marked Permanent.
// Other errors are not permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
