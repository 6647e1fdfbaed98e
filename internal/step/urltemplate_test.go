package step_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"wiresk/internal/flow"
	"wiresk/internal/step"
)

// TestURLTemplateEscaping saves a Flow whose http step builds its url from
// the trigger, renders it as the worker does, and checks what the target
// receives: a value stays one query value or one path segment.
func TestURLTemplateEscaping(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		query     map[string]any // the trigger's query
		wantPath  string         // as sent, escaped
		wantQuery url.Values
	}{
		{"query value with & and =", "{{srv}}/in?from={{ trigger.query.src }}", map[string]any{"src": "a&admin=1"},
			"/in", url.Values{"from": {"a&admin=1"}}},
		{"query value with #", "{{srv}}/in?from={{ trigger.query.src }}&x=1", map[string]any{"src": "a#b"},
			"/in", url.Values{"from": {"a#b"}, "x": {"1"}}},
		{"path segment with ../", "{{srv}}/files/{{ trigger.query.name }}", map[string]any{"name": "../admin"},
			"/files/..%2Fadmin", url.Values{}},
		{"path segment with /", "{{srv}}/files/{{ trigger.query.name }}/meta", map[string]any{"name": "a/b"},
			"/files/a%2Fb/meta", url.Values{}},
		{"path segment with ?", "{{srv}}/files/{{ trigger.query.name }}", map[string]any{"name": "a?admin=1"},
			"/files/a%3Fadmin=1", url.Values{}},
		{"raw path", "{{srv}}/files/{{ raw(trigger.query.name) }}", map[string]any{"name": "a/b"},
			"/files/a/b", url.Values{}},
		{"raw query", "{{srv}}/in?{{ raw(trigger.query.qs) }}", map[string]any{"qs": "a=1&b=2"},
			"/in", url.Values{"a": {"1"}, "b": {"2"}}},
		{"whole URL from one expression", "{{ trigger.query.url }}", map[string]any{"url": "{{srv}}/in?a=1&b=2"},
			"/in", url.Values{"a": {"1"}, "b": {"2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
			// The server's address is a literal part of the template (or
			// of the trigger), not a value to escape.
			for k, v := range tt.query {
				tt.query[k] = strings.ReplaceAll(v.(string), "{{srv}}", srv.URL)
			}
			kind := newKind(t)
			c, err := flow.Compile(flow.Flow{Name: "f", Steps: []flow.Step{{ID: "call", App: "http", Method: "request",
				Input: map[string]any{"url": strings.ReplaceAll(tt.url, "{{srv}}", srv.URL)}}}}, step.NewRegistry(kind))
			if err != nil {
				t.Fatal(err)
			}
			rendered, err := c.Steps[0].Input.Render(map[string]any{"trigger": map[string]any{"query": tt.query}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kind.Execute(context.Background(), rendered.(map[string]any)); err != nil {
				t.Fatal(err)
			}
			if rec.count() != 1 {
				t.Fatalf("requests = %d, want 1", rec.count())
			}
			got := rec.reqs[0].URL
			if got.EscapedPath() != tt.wantPath {
				t.Errorf("path = %q, want %q", got.EscapedPath(), tt.wantPath)
			}
			if q := got.Query(); !reflect.DeepEqual(q, tt.wantQuery) {
				t.Errorf("query = %v, want %v", q, tt.wantQuery)
			}
		})
	}
}
