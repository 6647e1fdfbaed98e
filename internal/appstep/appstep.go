// Package appstep provides the step kinds of the app catalog's methods: a
// step {"app": "hubspot", "method": "find_contact", "connectionId": ...}
// renders the method's request from its input and the Connection's config
// (package catalog), lets a Go builder complete it where a template cannot
// (Gmail's RFC 2822 message, Drive's multipart upload), and sends it with
// the Connection's credential through appcall, which retries rate limits
// and transient failures on the egress engine and classifies the answer
// with the app's rules.
//
// A step's output is {"body": the app's answer (its JSON, or its text)}
// plus the method's declared outputs picked from it, like "contact_id".
//
// Failures map as users expect: a refused credential (401, or an expired
// token inside a 200 answer such as Slack's) is Unauthorized, so that the
// worker re-tests the Connection and marks it broken (or, when the
// Connection passes, retries the Run with the refreshed token); a 403 is a
// permanent permission failure quoting what the app says is missing; other
// 4xx are permanent with the app's message; 429, 5xx and network errors
// were already retried with backoff honouring Retry-After and stay
// transient, so the queue redelivers the Run later.
package appstep

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/step"
	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// Builder completes the rendered request of a method whose catalog entry
// names it, from the step's checked input (defaults applied). Its errors
// are about the input (a *wiresk.Error naming the field, preferably) and
// fail the step for good.
type Builder func(req *catalog.Request, input map[string]any) error

// builders are the Go request builders the catalog's methods may name.
// "http_request" is the generic HTTP step itself (step.HTTP).
var builders = map[string]Builder{
	"gmail_raw":       gmailRaw,
	"drive_multipart": driveMultipart,
	"drive_query":     driveQuery,
}

// Register adds a Kind for every method of every catalog app to r, but the
// generic HTTP app's (already step.HTTP). It fails when a method names a
// builder this package does not provide.
func Register(r step.Registry, cat *catalog.Catalog, client *appcall.Client) error {
	for _, app := range cat.Apps() {
		for i := range app.Methods {
			m := &app.Methods[i]
			if m.Builder == "http_request" {
				continue
			}
			k := &Kind{app: app, method: m, client: client}
			if m.Builder != "" {
				b, ok := builders[m.Builder]
				if !ok {
					return fmt.Errorf("appstep: %s.%s: no builder %q", app.ID, m.Name, m.Builder)
				}
				k.build = b
			}
			if r[app.ID] == nil {
				r[app.ID] = map[string]step.Kind{}
			}
			r[app.ID][m.Name] = k
		}
	}
	return nil
}

// Kind is the step kind of one app method.
type Kind struct {
	app    *catalog.App
	method *catalog.Method
	client *appcall.Client
	build  Builder
}

var _ step.Kind = (*Kind)(nil)

// NeedsConnection reports whether a step of this kind must name a
// Connection: every app method does but those of an app that takes no
// credential.
func (k *Kind) NeedsConnection() bool { return !k.app.Offers(catalog.AuthNone) }

// ValidateInput checks a step's unrendered input when its Flow is saved:
// every field is an input of the method, every required input is given,
// and a value given as a literal (not a template) has the input's type.
// Errors name the field: "input.email".
func (k *Kind) ValidateInput(input map[string]any) error {
	names := make([]string, len(k.method.Inputs))
	for i, in := range k.method.Inputs {
		names[i] = in.Name
	}
	keys := make([]string, 0, len(input))
	for key := range input {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if !slices.Contains(names, key) {
			return wiresk.FieldError("input."+key, "is not an input of %s %s (inputs: %s)", k.app.Name, k.method.Label, strings.Join(names, ", "))
		}
	}
	for i := range k.method.Inputs {
		in := &k.method.Inputs[i]
		v, ok := input[in.Name]
		if !ok || v == nil {
			if in.Required {
				return wiresk.FieldError("input."+in.Name, "is required (%s)", in.Label)
			}
			continue
		}
		if s, isString := v.(string); isString {
			t, err := template.Parse(s)
			if err != nil {
				return wiresk.FieldError("input."+in.Name, "%s", wiresk.ErrorMessage(err))
			}
			if _, literal := t.Literal(); !literal {
				continue // its type is known once rendered
			}
		}
		if err := in.CheckType(v); err != nil {
			return wiresk.FieldError("input."+in.Name, "%v", err)
		}
	}
	return nil
}

// Execute sends the method's request with the Connection the context
// carries (step.WithConnection) and returns the app's answer.
func (k *Kind) Execute(ctx context.Context, input map[string]any) (step.Result, error) {
	conn, bound := step.ConnectionFrom(ctx)
	cred := appcall.Credential{Kind: appcall.CredentialNone}
	switch {
	case bound && conn.App != k.app.ID:
		return step.Result{}, step.NewError(true, 0, fmt.Sprintf("connection %s is for %s, not %s: choose a %s Connection", conn.ID, conn.App, k.app.ID, k.app.Name), nil)
	case bound:
		cred = conn.Credential
	case k.NeedsConnection():
		return step.Result{}, step.NewError(true, 0, fmt.Sprintf("%s %s needs a %s Connection: set the step's connectionId", k.app.Name, k.method.Label, k.app.Name), nil)
	}
	checked, err := k.method.CheckInput(input)
	if err != nil {
		return step.Result{}, inputError(err)
	}
	req, err := k.app.BuildRequest(k.method.Name, conn.Config, checked)
	if err != nil {
		return step.Result{}, inputError(err)
	}
	if k.build != nil {
		if err := k.build(req, checked); err != nil {
			return step.Result{}, inputError(err)
		}
	}
	resp, err := k.client.Do(ctx, k.app, conn.Config, cred, req)
	res := step.Result{Attempts: resp.Attempts}
	if err != nil {
		return res, k.stepError(err)
	}
	body := step.ParseBody(resp.Header.Get("Content-Type"), resp.Body)
	out := k.app.Outputs(k.method.Name, body)
	out["body"] = body
	res.Output = out
	return res, nil
}

// inputError is the permanent failure of a step whose rendered input the
// method refuses; the message names the field.
func inputError(err error) error {
	msg := wiresk.ErrorMessage(err)
	if f := wiresk.ErrorField(err); f != "" {
		msg = f + ": " + msg
	}
	return step.NewError(true, 0, msg, err)
}

// stepError maps an appcall failure to the step's.
func (k *Kind) stepError(err error) error {
	var e *appcall.Error
	if !errors.As(err, &e) {
		return step.NewError(false, 0, err.Error(), err)
	}
	switch e.Kind {
	case appcall.KindUnauthorized:
		if e.Status == http.StatusForbidden {
			// A 403 is most often a missing scope or permission: the
			// credential is good, so the Connection stays active.
			return step.NewError(true, e.Status, e.Message+": the Connection lacks a permission (scope) this method needs; reconnect it granting the scope, or ask the account's admin", err)
		}
		// Not permanent by itself: the worker re-tests the Connection
		// (refreshing an OAuth token) and fails the Run for good only
		// when it is broken; otherwise a redelivery sends the request
		// again with the fresh token.
		se := step.NewError(false, e.Status, e.Message, err)
		se.Unauthorized = true
		return se
	case appcall.KindPermanent:
		return step.NewError(true, e.Status, e.Message, err)
	}
	return step.NewError(false, e.Status, e.Message, err)
}
