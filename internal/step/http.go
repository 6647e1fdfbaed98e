package step

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"wiresk/internal/egress"
	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// userAgent is sent unless the step sets its own User-Agent.
const userAgent = "Wiresk"

// snippetBytes caps the part of a response body quoted in an error.
const snippetBytes = 200

// methods are the HTTP methods a step may use.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// inputFields are the fields of the input of an HTTP step.
var inputFields = []string{"method", "url", "headers", "query", "body", "forwardTriggerBody"}

// HTTP is the generic HTTP request step (app "http", method "request"). Its
// input fields are:
//
//	method   GET (the default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS
//	url      the absolute http or https URL (required); a URL template
//	         whose values are escaped where they land in the path, query
//	         or fragment (raw(x) inserts x as it is; see package template)
//	headers  an object of header names to strings
//	query    an object of names to strings, numbers or booleans (or arrays
//	         of them), added to the query of the URL
//	body     a string, sent as it is; or any other JSON value, sent as JSON
//	         with Content-Type application/json unless a Content-Type
//	         header is given
//	forwardTriggerBody
//	         true: the body is the Run's trigger request body, byte for
//	         byte (binary included), with its Content-Type unless a
//	         Content-Type header is given; not with body
//
// Its output is {"status": int, "headers": {lowercased name: first value},
// "body": the parsed JSON when the response is JSON (integers as int, other
// numbers as float64), its text otherwise}.
//
// Network errors, timeouts, 408, 429 and 5xx responses (but 508, a Wiresk
// webhook refusing a loop) are retried by the egress Engine, up to
// MaxAttempts tries in all, after an exponential backoff with jitter, or
// after the delay a 429 or 503 response asks for in Retry-After (capped at
// MaxDelay). Other 4xx responses, 508, refused destinations and redirects
// and invalid input fail at once with a permanent *Error.
//
// The zero value of the Engine selects its defaults. An HTTP must not be
// copied or changed once in use.
type HTTP struct {
	// Engine sends the requests through the guarded client and retries
	// them.
	egress.Engine
}

// ValidateInput checks the unrendered input of an HTTP step. Each field may
// be a template; a field given as a literal must have an acceptable value.
func (h *HTTP) ValidateInput(input map[string]any) error {
	for _, k := range sortedKeys(input) {
		if !slices.Contains(inputFields, k) {
			return wiresk.FieldError("input."+k, "is not a field of an http request (fields: %s)", strings.Join(inputFields, ", "))
		}
	}
	if v, ok := input["method"]; ok {
		s, ok := v.(string)
		if !ok {
			return wiresk.FieldError("input.method", "must be a string, one of %s", strings.Join(methods, ", "))
		}
		if lit, ok, err := literal("input.method", s); err != nil {
			return err
		} else if ok {
			if _, err := checkMethod(lit); err != nil {
				return err
			}
		}
	}
	v, ok := input["url"]
	if !ok || v == nil {
		return wiresk.FieldError("input.url", "is required")
	}
	s, ok := v.(string)
	if !ok {
		return wiresk.FieldError("input.url", "must be a string")
	}
	if lit, ok, err := literal("input.url", s); err != nil {
		return err
	} else if ok {
		if _, err := checkURL(lit); err != nil {
			return err
		}
	}
	if v, ok := input["headers"]; ok && v != nil {
		if err := validateHeaders(v); err != nil {
			return err
		}
	}
	if v, ok := input["query"]; ok && v != nil {
		if err := validateQuery(v); err != nil {
			return err
		}
	}
	if v, ok := input["forwardTriggerBody"]; ok {
		if _, isBool := v.(bool); !isBool {
			return wiresk.FieldError("input.forwardTriggerBody", "must be true or false")
		}
		if b, has := input["body"]; v == true && has && b != nil {
			return wiresk.FieldError("input.forwardTriggerBody", "cannot be used with input.body: the trigger's body is the body")
		}
	}
	return nil
}

// URLInputs names the url input: a template there is a URL template, whose
// values are escaped as path segments, query values or fragment where they
// land (write raw(x) to insert x as it is).
func (h *HTTP) URLInputs() []string { return []string{"url"} }

// literal parses s as a template and returns its text when it has no
// expression.
func literal(field, s string) (string, bool, error) {
	t, err := template.Parse(s)
	if err != nil {
		return "", false, wiresk.FieldError(field, "%s", wiresk.ErrorMessage(err))
	}
	lit, ok := t.Literal()
	return lit, ok, nil
}

func validateHeaders(v any) error {
	if s, ok := v.(string); ok {
		if _, isLit, err := literal("input.headers", s); err != nil {
			return err
		} else if isLit {
			return wiresk.FieldError("input.headers", "must be an object of header names to strings, or a template that gives one")
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return wiresk.FieldError("input.headers", "must be an object of header names to strings")
	}
	for _, name := range sortedKeys(m) {
		field := "input.headers." + name
		if !validHeaderName(name) {
			return wiresk.FieldError(field, "is not a valid header name")
		}
		s, ok := m[name].(string)
		if !ok {
			return wiresk.FieldError(field, "must be a string")
		}
		if lit, isLit, err := literal(field, s); err != nil {
			return err
		} else if isLit && !validHeaderValue(lit) {
			return wiresk.FieldError(field, "must not hold control characters such as line breaks")
		}
	}
	return nil
}

func validateQuery(v any) error {
	if s, ok := v.(string); ok {
		if _, isLit, err := literal("input.query", s); err != nil {
			return err
		} else if isLit {
			return wiresk.FieldError("input.query", "must be an object of names to values, or a template that gives one")
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return wiresk.FieldError("input.query", "must be an object of names to strings or numbers")
	}
	for _, name := range sortedKeys(m) {
		if _, err := queryValues("input.query."+name, m[name]); err != nil {
			return err
		}
	}
	return nil
}

// Execute sends the request described by the rendered input, retrying as
// the HTTP documentation says.
func (h *HTTP) Execute(ctx context.Context, input map[string]any) (Result, error) {
	req, err := buildRequest(input)
	if err != nil {
		return Result{}, &Error{Permanent: true, Message: err.Error(), err: err}
	}
	if input["forwardTriggerBody"] == true {
		tb, _ := triggerBodyFrom(ctx)
		req.Body = tb.body
		if req.Header.Get("Content-Type") == "" && tb.contentType != "" {
			req.Header.Set("Content-Type", tb.contentType)
		}
	}
	if k := idempotencyKeyFrom(ctx); k != "" && req.Header.Get(IdempotencyHeader) == "" {
		req.Header.Set(IdempotencyHeader, k)
	}
	if hop := hopFrom(ctx); hop > 0 {
		// Set, not added: a step cannot reset the count with its own header.
		req.Header.Set(HopHeader, strconv.Itoa(hop))
	}
	if auth := authenticatorFrom(ctx); auth != nil {
		if err := auth(req.Header, req.URL); err != nil {
			return Result{Attempts: 1}, &Error{Permanent: true, Message: "connection: " + err.Error(), err: err}
		}
		req.Pinned = true
	}
	resp, attempts, err := h.Do(ctx, req, judge(req))
	res := Result{Attempts: attempts}
	if err != nil {
		return res, stepError(err)
	}
	headers := make(map[string]any, len(resp.Header))
	for k, v := range resp.Header {
		if len(v) > 0 {
			headers[strings.ToLower(k)] = v[0]
		}
	}
	res.Output = map[string]any{
		"status":  resp.Status,
		"headers": headers,
		"body":    parseBody(resp.Header.Get("Content-Type"), resp.Body),
	}
	return res, nil
}

// judge classifies the answers to r: 4xx other than 408 and 429, and 508,
// fail at once; 408, 429 and 5xx are retried, after the delay a 429 or 503
// asks for in Retry-After; a body that cannot be read is retried; one
// larger than the cap fails at once.
func judge(r *egress.Request) egress.Judge {
	return func(resp *egress.Response) egress.Verdict {
		status := resp.Status
		switch {
		case status >= 400:
			retry := egress.Retryable(status)
			return egress.Verdict{
				Err:              &Error{Permanent: !retry, Status: status, Message: fmt.Sprintf("HTTP %d from %s: %s", status, r.Where(), snippet(resp.Body))},
				Retry:            retry,
				HonourRetryAfter: status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable,
			}
		case resp.ReadErr != nil:
			return egress.Verdict{Err: &Error{Status: status, Message: fmt.Sprintf("%s: reading the response: %v", r.Where(), resp.ReadErr), err: resp.ReadErr}, Retry: true}
		case resp.TooLarge:
			return egress.Verdict{Err: &Error{Permanent: true, Status: status, Message: fmt.Sprintf("%s: the response body is larger than %d bytes", r.Where(), resp.Limit)}}
		}
		return egress.Verdict{}
	}
}

// stepError converts an error of egress.Engine.Do to an *Error.
func stepError(err error) *Error {
	var in *egress.Interrupted
	if errors.As(err, &in) {
		last := stepError(in.Last)
		return &Error{Status: last.Status, Message: in.Describe(last.Message), err: err}
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var ee *egress.Error
	if errors.As(err, &ee) {
		return &Error{Permanent: ee.Permanent, Message: ee.Message, err: err}
	}
	return &Error{Message: err.Error(), err: err}
}

// snippet returns the start of a response body for an error message.
func snippet(data []byte) string {
	if len(data) > snippetBytes {
		data = data[:snippetBytes]
	}
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty body)"
	}
	return s
}

// ParseBody returns the JSON value of a JSON response (integers that fit
// as int, other numbers as float64), its text otherwise: what a step
// outputs as an answer's body.
func ParseBody(contentType string, data []byte) any { return parseBody(contentType, data) }

// parseBody returns the JSON value of a JSON response, its text otherwise.
func parseBody(contentType string, data []byte) any {
	if len(data) == 0 {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		if v, err := decodeJSON(data); err == nil {
			return v
		}
	}
	return string(data)
}

// decodeJSON decodes one JSON value; integers that fit become int, other
// numbers float64.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 0); err == nil {
			return int(i)
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
	}
	return v
}

// buildRequest checks the rendered input and builds the request.
func buildRequest(input map[string]any) (*egress.Request, error) {
	for _, k := range sortedKeys(input) {
		if !slices.Contains(inputFields, k) {
			return nil, fmt.Errorf("input.%s is not a field of an http request (fields: %s)", k, strings.Join(inputFields, ", "))
		}
	}
	r := &egress.Request{Method: http.MethodGet, Header: http.Header{}}
	if v, ok := input["method"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("input.method: got %s, want a string", typeName(v))
		}
		m, err := checkMethod(s)
		if err != nil {
			return nil, errors.New(wiresk.ErrorField(err) + ": " + wiresk.ErrorMessage(err))
		}
		r.Method = m
	}
	s, ok := input["url"].(string)
	if !ok {
		return nil, fmt.Errorf("input.url: got %s, want a URL string", typeName(input["url"]))
	}
	u, err := checkURL(s)
	if err != nil {
		return nil, errors.New(wiresk.ErrorField(err) + ": " + wiresk.ErrorMessage(err))
	}
	r.URL = u

	if v, ok := input["headers"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("input.headers: got %s, want an object", typeName(v))
		}
		for _, name := range sortedKeys(m) {
			val, err := scalarString(m[name])
			switch {
			case err != nil:
				return nil, fmt.Errorf("input.headers.%s: %v", name, err)
			case m[name] == nil:
				continue
			case !validHeaderName(name):
				return nil, fmt.Errorf("input.headers.%s: not a valid header name", name)
			case !validHeaderValue(val):
				return nil, fmt.Errorf("input.headers.%s: the value holds control characters such as line breaks", name)
			}
			r.Header.Set(name, val)
		}
	}
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", userAgent)
	}

	if v, ok := input["query"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("input.query: got %s, want an object", typeName(v))
		}
		q := u.Query()
		for _, name := range sortedKeys(m) {
			vals, err := queryValues("input.query."+name, m[name])
			if err != nil {
				return nil, errors.New(wiresk.ErrorField(err) + ": " + wiresk.ErrorMessage(err))
			}
			if vals == nil {
				continue
			}
			q[name] = vals
		}
		u.RawQuery = q.Encode()
	}

	switch b := input["body"].(type) {
	case nil:
	case string:
		r.Body = []byte(b)
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(b); err != nil {
			return nil, fmt.Errorf("input.body: cannot be sent as JSON: %v", err)
		}
		r.Body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json")
		}
	}
	return r, nil
}

// checkMethod returns the upper-cased method, or a field error.
func checkMethod(s string) (string, error) {
	m := strings.ToUpper(strings.TrimSpace(s))
	if !slices.Contains(methods, m) {
		return "", wiresk.FieldError("input.method", "%q is not one of %s", s, strings.Join(methods, ", "))
	}
	return m, nil
}

// checkURL parses an absolute http or https URL, or returns a field error.
func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return nil, wiresk.FieldError("input.url", "is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, wiresk.FieldError("input.url", "must be an absolute http or https URL, like https://api.example.com/path")
	case u.Host == "" || u.Hostname() == "":
		return nil, wiresk.FieldError("input.url", "has no host")
	}
	return u, nil
}

// queryValues returns the values of a query parameter: a string, number or
// boolean, or an array of them; nil for nil.
func queryValues(field string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for i, e := range list {
			s, err := scalarString(e)
			if err != nil || e == nil {
				return nil, wiresk.FieldError(fmt.Sprintf("%s[%d]", field, i), "must be a string, number or boolean")
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalarString(v)
	if err != nil {
		return nil, wiresk.FieldError(field, "must be a string, number or boolean, or an array of them")
	}
	return []string{s}, nil
}

// scalarString formats a string, number or boolean; nil gives "".
func scalarString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		}
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("got %s, want a string, number or boolean", typeName(v))
}

// typeName names the JSON type of v for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHeaderValue reports whether s holds no control characters other
// than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
