package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"wiresk/internal/wiresk"
)

// Request is a rendered HTTP request of a method or of an app's test,
// without the credential: the caller adds it as the app's Credential says
// and sends Body as JSON.
type Request struct {
	// Method is the HTTP method; "" when a builder makes the whole request.
	Method string
	// URL is the absolute URL; "" when a builder makes the whole request.
	URL string
	// Header holds the app's fixed headers and the rendered ones.
	Header http.Header
	// Body is the JSON body (maps, slices and scalars), nil when none.
	Body any
	// Builder names the Go code that completes the request, if any.
	Builder string
}

// ErrNoTest is returned by BuildTest for an optional test whose URL is not
// configured: there is nothing to test.
var ErrNoTest = errors.New("catalog: no test request is configured")

// CheckInput checks the rendered input of a step of method m and returns
// it with defaults applied. Unknown inputs, missing required inputs and
// values of the wrong type are refused with a *wiresk.Error whose Field is
// "input.<name>". A null value counts as not given.
func (m *Method) CheckInput(input map[string]any) (map[string]any, error) {
	for _, k := range sortedKeys(input) {
		if !slices.ContainsFunc(m.Inputs, func(in Input) bool { return in.Name == k }) {
			return nil, wiresk.FieldError("input."+k, "is not an input of %s", m.Name)
		}
	}
	out := make(map[string]any, len(m.Inputs))
	for i := range m.Inputs {
		in := &m.Inputs[i]
		v, ok := input[in.Name]
		if !ok || v == nil {
			switch {
			case in.Required:
				return nil, wiresk.FieldError("input."+in.Name, "is required")
			case in.Default != nil:
				out[in.Name] = in.Default
			}
			continue
		}
		if s, ok := numberText(in, v); ok {
			v = s
		}
		if err := checkInputType(in, v); err != nil {
			return nil, wiresk.FieldError("input."+in.Name, "%v", err)
		}
		out[in.Name] = v
	}
	return out, nil
}

// numberText returns the decimal text of v when in is a string input and
// v a number: ids often arrive as JSON numbers (HubSpot's webhook objectId)
// where a method takes them as text, and users expect them to pass, as in
// Zapier. Integers are written without a fraction or exponent.
func numberText(in *Input, v any) (string, bool) {
	if in.Type != "string" || !isNumber(v) {
		return "", false
	}
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case json.Number:
		return x.String(), true
	}
	return fmt.Sprint(v), true
}

// BuildRequest renders the request of a step: method of the app, for a
// connection config, with the step's rendered input. The URL is the app's
// base URL (or its override) and the method's path; the header holds the
// app's fixed headers and the method's. Input errors are *wiresk.Error
// naming "input.<name>", config errors "config.<name>".
func (a *App) BuildRequest(method string, config map[string]string, input map[string]any) (*Request, error) {
	m, ok := a.Method(method)
	if !ok {
		return nil, wiresk.FieldError("method", "unknown method %q of app %q", method, a.ID)
	}
	in, err := m.CheckInput(input)
	if err != nil {
		return nil, err
	}
	data, err := a.templateData(config)
	if err != nil {
		return nil, err
	}
	data[scopeInput] = in
	req := &Request{Builder: m.Builder, Header: http.Header{}}
	if err := renderHeaders(req.Header, a.c.headers, data); err != nil {
		return nil, err
	}
	cm := a.c.methods[m.Name]
	if m.Request == nil {
		return req, nil
	}
	base, err := a.BaseURL(config)
	if err != nil {
		return nil, err
	}
	if base == "" {
		return nil, fmt.Errorf("app %s has no base URL for this config", a.ID)
	}
	p, err := cm.path.render(data, pathSegment)
	if err != nil {
		return nil, inputError(err)
	}
	u, err := url.Parse(base + p)
	if err != nil {
		return nil, fmt.Errorf("method %s: bad URL: %w", m.Name, err)
	}
	if len(cm.query) > 0 {
		q := u.Query()
		for _, k := range sortedKeys(cm.query) {
			s, err := cm.query[k].render(data, nil)
			var miss *errMissing
			if errors.As(err, &miss) {
				continue
			}
			if err != nil {
				return nil, inputError(err)
			}
			q.Add(k, s)
		}
		u.RawQuery = q.Encode()
	}
	req.Method = m.Request.Method
	req.URL = u.String()
	if err := renderHeaders(req.Header, cm.headers, data); err != nil {
		return nil, inputError(err)
	}
	if cm.hasBody {
		body, ok, err := renderValue(cm.body, data)
		if err != nil {
			return nil, inputError(err)
		}
		if !ok {
			body = map[string]any{}
		}
		req.Body = body
	}
	return req, nil
}

// inputError turns a rendering error into a *wiresk.Error naming the input
// it is about.
func inputError(err error) error {
	var we *wiresk.Error
	if errors.As(err, &we) {
		return err
	}
	var miss *errMissing
	if errors.As(err, &miss) && miss.ref.scope == scopeInput {
		return wiresk.FieldError("input."+miss.ref.path[0].key, "is required")
	}
	var re *refError
	if errors.As(err, &re) && re.ref.scope == scopeInput {
		return wiresk.FieldError("input."+re.ref.path[0].key, "%s", re.msg)
	}
	return err
}

// refError is a rendering error about one reference.
type refError struct {
	ref *tref
	msg string
}

func (e *refError) Error() string { return fmt.Sprintf("{{ %s }}: %s", e.ref.src, e.msg) }

// pathSegment renders a value inside a URL path: text, path-escaped, and
// never empty, "." or "..", so that an input cannot walk the path.
func pathSegment(r *tref, v any) (string, error) {
	s, ok := scalarText(v)
	if !ok {
		return "", &refError{ref: r, msg: fmt.Sprintf("is %s; a URL path takes text or a number", kindOf(v))}
	}
	if s == "" || s == "." || s == ".." {
		return "", &refError{ref: r, msg: fmt.Sprintf("%q cannot be a URL path segment", s)}
	}
	return url.PathEscape(s), nil
}

// renderHeaders renders header templates into h, leaving out those that
// reference absent values and refusing values that could split a header.
func renderHeaders(h http.Header, ts map[string]*tmpl, data map[string]any) error {
	for _, k := range sortedKeys(ts) {
		s, err := ts[k].render(data, nil)
		var miss *errMissing
		if errors.As(err, &miss) {
			continue
		}
		if err != nil {
			return err
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			if r, ok := ts[k].single(); ok {
				return &refError{ref: r, msg: "a header value must not contain line breaks"}
			}
			return fmt.Errorf("header %s: the value must not contain line breaks", k)
		}
		h.Set(k, s)
	}
	return nil
}

// BuildTest renders the app's test request for a connection config. For an
// optional test whose URL is not configured it returns ErrNoTest. A
// TestURL override replaces the request's URL.
func (a *App) BuildTest(config map[string]string) (*Request, error) {
	t := a.Test
	data, err := a.templateData(config)
	if err != nil {
		return nil, err
	}
	req := &Request{Method: t.Method, Header: http.Header{}}
	if a.c.override.TestURL != "" {
		req.URL = a.c.override.TestURL
	} else if a.c.test.url != nil {
		s, err := a.renderConfigURL(a.c.test.url, data, "test", !t.Optional)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, ErrNoTest
		}
		req.URL = s
	} else {
		base, err := a.BaseURL(config)
		if err != nil {
			return nil, err
		}
		if base == "" {
			return nil, fmt.Errorf("app %s has no base URL for this config", a.ID)
		}
		p, err := a.c.test.path.render(data, pathSegment)
		if err != nil {
			return nil, err
		}
		req.URL = base + p
	}
	if _, err := url.Parse(req.URL); err != nil {
		return nil, fmt.Errorf("test: bad URL: %w", err)
	}
	if err := renderHeaders(req.Header, a.c.headers, data); err != nil {
		return nil, err
	}
	if err := renderHeaders(req.Header, a.c.test.headers, data); err != nil {
		return nil, err
	}
	if t.Body != nil {
		body, ok, err := renderValue(a.c.test.body, data)
		if err != nil {
			return nil, err
		}
		if !ok {
			body = map[string]any{}
		}
		req.Body = body
	}
	return req, nil
}

// decodeJSON decodes a response body, keeping numbers exact.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// at returns the value at r in a decoded response; nil r is the whole
// response.
func at(resp any, r *tref) (any, bool) {
	if r == nil {
		return resp, resp != nil
	}
	return lookup(map[string]any{scopeResponse: resp}, r)
}

// Identity checks the JSON answer of a successful test request against the
// test's expectations and returns the account identity it names, like
// "ada@example.com" or "ada @ Acme" (Slack).
func (a *App) Identity(body []byte) (string, error) {
	resp, err := decodeJSON(body)
	if err != nil {
		// An answer that is not JSON (204, empty, text) is fine when
		// nothing is expected of it and the identity reads none of it.
		if len(a.Test.Expect) == 0 {
			for _, t := range a.c.test.identity {
				if s, err := t.render(map[string]any{}, func(r *tref, _ any) (string, error) {
					return "", &refError{ref: r, msg: "needs a JSON answer"}
				}); err == nil && strings.TrimSpace(s) != "" {
					return strings.TrimSpace(s), nil
				}
			}
		}
		return "", fmt.Errorf("the test answer is not JSON: %w", err)
	}
	for i, e := range a.Test.Expect {
		v, ok := at(resp, a.c.test.expect[i])
		s, isText := scalarText(v)
		if !ok || !isText || s != e.Equals {
			where := "the answer"
			if e.Path != "" {
				where = e.Path
			}
			return "", fmt.Errorf("unexpected test answer: %s is not %q", where, e.Equals)
		}
	}
	data := map[string]any{scopeResponse: resp}
	nonEmpty := func(r *tref, v any) (string, error) {
		s, ok := scalarText(v)
		if !ok || strings.TrimSpace(s) == "" {
			return "", &refError{ref: r, msg: "is empty"}
		}
		return s, nil
	}
	for _, t := range a.c.test.identity {
		if s, err := t.render(data, nonEmpty); err == nil {
			return strings.TrimSpace(s), nil
		}
	}
	return "", fmt.Errorf("the test answer names no account (looked for %s)", strings.Join(a.Test.Identity, ", "))
}

// Classify recognises, from the status and JSON body of an answer, an
// expired or invalid credential (KindAuth), rate limiting (KindRateLimit)
// or a permanent failure the app signals in its body. Body rules are
// checked first, in order, so a 200 answer can be a failure (Slack's
// {"ok": false, "error": "token_expired"}); then the statuses. KindNone
// means nothing was recognised: judge by the status.
func (a *App) Classify(status int, body []byte) ErrorKind {
	if len(a.Errors.Rules) > 0 {
		var resp any
		decoded := false
		for i, r := range a.Errors.Rules {
			if len(r.Status) > 0 && !slices.Contains(r.Status, status) {
				continue
			}
			if !decoded {
				decoded = true
				resp, _ = decodeJSON(body)
			}
			v, ok := at(resp, a.c.rules[i])
			if !ok {
				continue
			}
			if s, isText := scalarText(v); isText && slices.Contains(r.In, s) {
				return r.Kind
			}
		}
	}
	switch {
	case slices.Contains(a.Errors.AuthStatuses, status):
		return KindAuth
	case slices.Contains(a.Errors.RateLimitStatuses, status):
		return KindRateLimit
	}
	return KindNone
}

// isNumber reports whether v is a JSON number.
func isNumber(v any) bool {
	switch x := v.(type) {
	case float64:
		return !math.IsInf(x, 0) && !math.IsNaN(x)
	case float32, int, int64, int32, uint, uint64, json.Number:
		return true
	}
	return false
}

// isInteger reports whether v is a JSON number without a fraction.
func isInteger(v any) bool {
	switch x := v.(type) {
	case int, int64, int32, uint, uint64:
		return true
	case float64:
		return x == math.Trunc(x) && !math.IsInf(x, 0) && math.Abs(x) < 1<<53
	case json.Number:
		_, err := x.Int64()
		return err == nil
	}
	return false
}

// Outputs returns the declared outputs of a step of method, picked from
// resp, the app's decoded JSON answer; an output whose value is absent is
// left out. It returns nil for an unknown method.
func (a *App) Outputs(method string, resp any) map[string]any {
	cm, ok := a.c.methods[method]
	if !ok {
		return nil
	}
	out := make(map[string]any, len(cm.outputs))
	data := map[string]any{scopeResponse: resp}
	for name, t := range cm.outputs {
		if v, ok, err := renderValue(t, data); err == nil && ok {
			out[name] = v
		}
	}
	return out
}
