package template_test

import (
	"strings"
	"testing"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

func urlEnv() map[string]any {
	return map[string]any{
		"trigger": map[string]any{
			"query": map[string]any{"src": "a&admin=1", "up": "../admin", "ab": "a/b", "dots": "..", "dot": ".", "sp": "a b+c", "hash": "x#y?z", "pct": "100%", "at": "@evil.example", "sub": "eu", "port": 8443},
			"body": map[string]any{
				"url":   "https://api.example.com/v1/items?x=1&y=2",
				"base":  "https://api.example.com/v1",
				"host":  "api.example.com",
				"path":  "files/a b/c",
				"qs":    "a=1&b=2",
				"id":    42,
				"items": []any{"a", "b"},
			},
		},
	}
}

func TestRenderURL(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"query value stays one value", "https://e.com/in?from={{ trigger.query.src }}", "https://e.com/in?from=a%26admin%3D1"},
		{"query value after another", "https://e.com/in?x=1&from={{ trigger.query.src }}&y=2", "https://e.com/in?x=1&from=a%26admin%3D1&y=2"},
		{"query name", "https://e.com/in?{{ trigger.query.src }}=1", "https://e.com/in?a%26admin%3D1=1"},
		{"query space and plus", "https://e.com/?q={{ trigger.query.sp }}", "https://e.com/?q=a+b%2Bc"},
		{"path dot-dot stays one segment", "https://e.com/files/{{ trigger.query.up }}", "https://e.com/files/..%2Fadmin"},
		{"path slash stays one segment", "https://e.com/files/{{ trigger.query.ab }}/meta", "https://e.com/files/a%2Fb/meta"},
		{"path space", "https://e.com/{{ trigger.query.sp }}", "https://e.com/a%20b+c"},
		{"path question mark and hash", "https://e.com/{{ trigger.query.hash }}?a=1", "https://e.com/x%23y%3Fz?a=1"},
		{"path percent", "https://e.com/{{ trigger.query.pct }}", "https://e.com/100%25"},
		{"path number", "https://e.com/items/{{ trigger.body.id }}", "https://e.com/items/42"},
		{"path array as JSON", "https://e.com/{{ trigger.body.items }}", "https://e.com/%5B%22a%22%2C%22b%22%5D"},
		{"fragment", "https://e.com/p#{{ trigger.query.hash }}", "https://e.com/p#x%23y?z"},
		{"whole URL from one expression", "{{ trigger.body.url }}", "https://api.example.com/v1/items?x=1&y=2"},
		{"base URL then path", "{{ trigger.body.base }}/items/{{ trigger.query.ab }}", "https://api.example.com/v1/items/a%2Fb"},
		{"base URL with query then value", "{{ trigger.body.url }}&from={{ trigger.query.src }}", "https://api.example.com/v1/items?x=1&y=2&from=a%26admin%3D1"},
		{"host as it is", "https://{{ trigger.body.host }}/x/{{ trigger.query.ab }}", "https://api.example.com/x/a%2Fb"},
		{"subdomain and port as they are", "https://{{ trigger.query.sub }}.e.com:{{ trigger.query.port }}/x", "https://eu.e.com:8443/x"},
		{"raw host", "https://e.com{{ raw(trigger.query.ab) }}?q={{ trigger.query.src }}", "https://e.coma/b?q=a%26admin%3D1"},
		{"scheme split from its slashes", "https:/{{ \"/\" }}e.com/{{ trigger.query.ab }}", "https://e.com/a%2Fb"},
		{"raw path", "https://e.com/{{ raw(trigger.body.path) }}", "https://e.com/files/a b/c"},
		{"raw query", "https://e.com/in?{{ raw(trigger.body.qs) }}&from={{ trigger.query.src }}", "https://e.com/in?a=1&b=2&from=a%26admin%3D1"},
		{"raw query moves on to the fragment", "https://e.com/in?{{ raw(\"a=1#f\") }}{{ trigger.query.hash }}", "https://e.com/in?a=1#fx%23y?z"},
		{"raw dot-dot", "https://e.com/a/{{ raw(trigger.query.dots) }}", "https://e.com/a/.."},
		{"nil is empty", "https://e.com/{{ trigger.body.none }}?q={{ trigger.body.none }}", "https://e.com/?q="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := template.ParseURL(tt.src)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.src, err)
			}
			got, err := tpl.Render(urlEnv())
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

// A template that is not a URL template, and raw outside URLs, change
// nothing.
func TestRenderNotURL(t *testing.T) {
	for src, want := range map[string]string{
		"from={{ trigger.query.src }}":      "from=a&admin=1",
		"from={{ raw(trigger.query.src) }}": "from=a&admin=1",
		"{{ raw(trigger.query.src) }}":      "a&admin=1",
	} {
		got, err := mustParse(t, src).Render(urlEnv())
		if err != nil || got != want {
			t.Errorf("Render(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
}

func TestRenderURLErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"https://e.com/a/{{ trigger.query.dots }}/b", `".." cannot be written into a URL path`},
		{"https://e.com/a/{{ trigger.query.dot }}", `"." cannot be written into a URL path`},
		{"https://e.com{{ trigger.query.at }}", `the host of a URL cannot hold '@'`},
		{"https://e.com{{ trigger.query.ab }}", `the host of a URL cannot hold '/'`},
		{"https://{{ trigger.query.hash }}/x", `the host of a URL cannot hold '#'`},
		{"https://{{ trigger.query.sp }}/x", `the host of a URL cannot hold ' '`},
	}
	for _, tt := range tests {
		tpl, err := template.ParseURL(tt.src)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", tt.src, err)
		}
		_, err = tpl.Render(urlEnv())
		if err == nil || !strings.Contains(err.Error(), tt.want) || wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("Render(%q) error = %v, want validation_failed %q", tt.src, err, tt.want)
		}
	}
}

func TestParseRawErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"https://e.com/{{ raw(trigger.body.a) + 'x' }}", "raw(...) must be the whole expression"},
		{"https://e.com/{{ upper(raw(trigger.body.a)) }}", "raw(...) must be the whole expression"},
		{"https://e.com/{{ raw() }}", "not enough arguments"},
		{"https://e.com/{{ raw(1, 2) }}", "too many arguments"},
	}
	for _, tt := range tests {
		_, err := template.ParseURL(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestCompileURLField(t *testing.T) {
	in := map[string]any{
		"url":  "https://e.com/{{ trigger.query.ab }}?from={{ trigger.query.src }}",
		"body": "from={{ trigger.query.src }}",
	}
	v, err := template.Compile(in, template.URLField("url"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Render(urlEnv())
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if want := "https://e.com/a%2Fb?from=a%26admin%3D1"; m["url"] != want {
		t.Errorf("url = %q, want %q", m["url"], want)
	}
	if want := "from=a&admin=1"; m["body"] != want {
		t.Errorf("body = %q, want %q (only URL fields are escaped)", m["body"], want)
	}
}
