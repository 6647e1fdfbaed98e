package step_test

import (
	"context"
	"errors"
	"testing"

	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

func TestHTTPValidateInput(t *testing.T) {
	tests := []struct {
		name      string
		input     map[string]any
		wantField string // "" for valid input
	}{
		{"minimal", map[string]any{"url": "https://api.example.com/x"}, ""},
		{"everything", map[string]any{
			"method":  "POST",
			"url":     "http://api.example.com:8080/x?y=1",
			"headers": map[string]any{"X-Token": "{{ trigger.headers.token }}", "Accept": "application/json"},
			"query":   map[string]any{"a": "b", "n": 3.0, "t": true, "list": []any{"x", 1.0}, "none": nil},
			"body":    map[string]any{"name": "{{ trigger.body.name }}", "n": []any{1.0, 2.0}},
		}, ""},
		{"lowercase method", map[string]any{"method": "patch", "url": "https://e.com"}, ""},
		{"templated method", map[string]any{"method": "{{ trigger.body.method }}", "url": "https://e.com"}, ""},
		{"templated url", map[string]any{"url": "{{ steps.a.output.body.next }}"}, ""},
		{"url with templated path", map[string]any{"url": "https://e.com/users/{{ trigger.body.id }}"}, ""},
		{"templated headers", map[string]any{"url": "https://e.com", "headers": "{{ trigger.body.headers }}"}, ""},
		{"templated query", map[string]any{"url": "https://e.com", "query": "{{ trigger.query }}"}, ""},
		{"string body", map[string]any{"url": "https://e.com", "body": "raw {{ trigger.body.x }}"}, ""},
		{"null headers", map[string]any{"url": "https://e.com", "headers": nil}, ""},

		{"nil input", nil, "input.url"},
		{"missing url", map[string]any{"method": "GET"}, "input.url"},
		{"null url", map[string]any{"url": nil}, "input.url"},
		{"url not a string", map[string]any{"url": 42.0}, "input.url"},
		{"empty url", map[string]any{"url": ""}, "input.url"},
		{"relative url", map[string]any{"url": "/api/x"}, "input.url"},
		{"ftp url", map[string]any{"url": "ftp://e.com/f"}, "input.url"},
		{"file url", map[string]any{"url": "file:///etc/passwd"}, "input.url"},
		{"url without host", map[string]any{"url": "http:///x"}, "input.url"},
		{"bad url template", map[string]any{"url": "https://e.com/{{ nope }}"}, "input.url"},
		{"bad method", map[string]any{"method": "TRACE", "url": "https://e.com"}, "input.method"},
		{"method not a string", map[string]any{"method": 1.0, "url": "https://e.com"}, "input.method"},
		{"unknown field", map[string]any{"url": "https://e.com", "header": map[string]any{}}, "input.header"},
		{"headers array", map[string]any{"url": "https://e.com", "headers": []any{"a"}}, "input.headers"},
		{"headers literal string", map[string]any{"url": "https://e.com", "headers": "X-A: b"}, "input.headers"},
		{"header number", map[string]any{"url": "https://e.com", "headers": map[string]any{"X-N": 1.0}}, "input.headers.X-N"},
		{"header bad name", map[string]any{"url": "https://e.com", "headers": map[string]any{"X N": "v"}}, "input.headers.X N"},
		{"header line break", map[string]any{"url": "https://e.com", "headers": map[string]any{"X-A": "v\r\nX-B: w"}}, "input.headers.X-A"},
		{"header bad template", map[string]any{"url": "https://e.com", "headers": map[string]any{"X-A": "{{"}}, "input.headers.X-A"},
		{"query array", map[string]any{"url": "https://e.com", "query": []any{}}, "input.query"},
		{"query object value", map[string]any{"url": "https://e.com", "query": map[string]any{"q": map[string]any{}}}, "input.query.q"},
		{"query nested array", map[string]any{"url": "https://e.com", "query": map[string]any{"q": []any{[]any{}}}}, "input.query.q[0]"},
		{"forward the trigger body", map[string]any{"url": "https://e.com", "forwardTriggerBody": true}, ""},
		{"forward not a boolean", map[string]any{"url": "https://e.com", "forwardTriggerBody": "yes"}, "input.forwardTriggerBody"},
		{"forward and a body", map[string]any{"url": "https://e.com", "forwardTriggerBody": true, "body": "x"}, "input.forwardTriggerBody"},
	}
	h := &step.HTTP{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.ValidateInput(tt.input)
			if tt.wantField == "" {
				if err != nil {
					t.Errorf("ValidateInput: %v, want no error", err)
				}
				return
			}
			var we *wiresk.Error
			if !errors.As(err, &we) {
				t.Fatalf("ValidateInput error = %v, want a *wiresk.Error", err)
			}
			if we.Code != wiresk.EValidation || we.Field != tt.wantField {
				t.Errorf("ValidateInput error = code %q field %q (%s), want %q field %q", we.Code, we.Field, we.Message, wiresk.EValidation, tt.wantField)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	h := &step.HTTP{}
	c := step.NewRegistry(h)
	if k, ok := c.Lookup("http", "request"); !ok || k != step.Kind(h) {
		t.Errorf("Lookup(http, request) = %v, %v, want the HTTP kind", k, ok)
	}
	for _, am := range [][2]string{{"http", "get"}, {"slack", "request"}, {"", ""}} {
		if _, ok := c.Lookup(am[0], am[1]); ok {
			t.Errorf("Lookup(%q, %q) found a kind, want none", am[0], am[1])
		}
	}
	tests := []struct {
		app, method string
		input       map[string]any
		wantField   string
	}{
		{"http", "request", map[string]any{"url": "https://e.com"}, ""},
		{"slack", "post", nil, "app"},
		{"http", "get", nil, "method"},
		{"http", "request", map[string]any{}, "input.url"},
	}
	for _, tt := range tests {
		err := c.ValidateStep(tt.app, tt.method, tt.input)
		if got := wiresk.ErrorField(err); got != tt.wantField || (tt.wantField != "" && wiresk.ErrorCode(err) != wiresk.EValidation) {
			t.Errorf("ValidateStep(%q, %q) = %v, want field %q", tt.app, tt.method, err, tt.wantField)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{context.Canceled, false},
		{&step.Error{Permanent: true}, true},
		{&step.Error{Permanent: false, Status: 503}, false},
		{errors.Join(errors.New("wrapped"), &step.Error{Permanent: true}), true},
	}
	for _, tt := range tests {
		if got := step.IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRegistryExecute(t *testing.T) {
	c := step.NewRegistry(&step.HTTP{})
	out, attempts, err := c.Execute(context.Background(), "nope", "request", nil)
	if out != nil || attempts != 0 || !step.IsPermanent(err) {
		t.Errorf("Execute(unknown kind) = %v, %d, %v, want nil, 0 and a permanent error", out, attempts, err)
	}
	_, attempts, err = c.Execute(context.Background(), "http", "request", map[string]any{"url": "http://10.0.0.1/"})
	if attempts != 1 || !step.IsPermanent(err) {
		t.Errorf("Execute(refused destination) = %d, %v, want 1 attempt and a permanent error", attempts, err)
	}
}
