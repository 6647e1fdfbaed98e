package catalog_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
)

// keyApp is a valid API-key app file.
const keyApp = `name: Example
auth: [api_key]
credential:
  type: bearer
base_url: https://api.example.com
test:
  method: GET
  path: /me
  identity: ["{{ response.email }}"]
methods:
  - name: create_thing
    label: Create thing
    inputs:
      - {name: id, type: string, required: true}
      - {name: note, type: string}
    request:
      method: POST
      path: /things/{{ input.id }}
      body: {note: "{{ input.note }}"}
`

// oauthApp is a valid OAuth app file with an enumerated config field.
const oauthApp = `name: Example
auth: [oauth2, oauth2_advanced]
config:
  - name: region
    label: Region
    default: us
    values:
      - {value: us, vars: {host: auth.example.com}}
      - {value: eu, vars: {host: auth.example.eu}}
oauth:
  authorize_url: https://{{ config.host }}/authorize
  token_url: https://{{ config.host }}/token
  scopes: {default: [read]}
  token_auth: body
  refresh_tokens: reusable
credential: {type: bearer}
base_url: https://api.example.{{ config.region }}
test:
  method: GET
  path: /me
  identity: ["{{ response.email }}"]
`

func TestParseValid(t *testing.T) {
	for name, doc := range map[string]string{"key_app.yaml": keyApp, "oauth_app.yaml": oauthApp} {
		a, err := appfile.Parse(name, []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.ID != strings.TrimSuffix(name, ".yaml") {
			t.Errorf("%s: id %q", name, a.ID)
		}
	}
	a, err := appfile.Parse("x.yaml", []byte(oauthApp))
	if err != nil {
		t.Fatal(err)
	}
	if u, err := a.TokenURL(map[string]string{"region": "eu"}); err != nil || u != "https://auth.example.eu/token" {
		t.Errorf("TokenURL = %q, %v", u, err)
	}
	if a.OAuth.ScopeSeparator != " " || a.OAuth.ScopeParam != "scope" || a.OAuth.TokenBody != "form" {
		t.Errorf("defaults not applied: %+v", a.OAuth)
	}
	if a.Errors.RetryAfterHeader != "Retry-After" || a.Errors.AuthStatuses[0] != 401 || a.Errors.RateLimitStatuses[0] != 429 {
		t.Errorf("error defaults not applied: %+v", a.Errors)
	}
}

func TestParseRateLimitWaitAndArrayAnswers(t *testing.T) {
	doc := strings.Replace(keyApp, "      body: {note: \"{{ input.note }}\"}", `      body: {note: "{{ input.note }}"}
    outputs:
      - {name: results, type: array, value: "{{ response }}"}
      - {name: status, type: string, value: "{{ response[0].status }}"}`, 1) +
		"errors:\n  rate_limit_wait: 30s\n  rules: [{status: [200], path: '[0].status', in: [rejected], kind: permanent}]\n"
	a, err := appfile.Parse("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Errors.RateLimitWait, 30*time.Second; got != want {
		t.Errorf("RateLimitWait = %v, want %v", got, want)
	}
	answer := []any{map[string]any{"status": "rejected"}}
	out := a.Outputs("create_thing", answer)
	if out["status"] != "rejected" || len(out["results"].([]any)) != 1 {
		t.Errorf("outputs = %v, want the whole answer and its first status", out)
	}
	if got, want := a.Classify(200, []byte(`[{"status":"rejected"}]`)), catalog.KindPermanent; got != want {
		t.Errorf("Classify = %q, want %q", got, want)
	}
	if got, want := a.Classify(200, []byte(`[{"status":"sent"}]`)), catalog.KindNone; got != want {
		t.Errorf("Classify of a sent answer = %q, want %q", got, want)
	}
	if a, _ := appfile.Parse("x.yaml", []byte(keyApp)); a.Errors.RateLimitWait != 0 {
		t.Errorf("RateLimitWait by default = %v, want 0", a.Errors.RateLimitWait)
	}
}

func TestParseRejects(t *testing.T) {
	// edit returns base with old replaced by new, failing if old is absent.
	edit := func(base, old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test setup: %q not in the base document", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	for _, tc := range []struct {
		name string
		file string // default x.yaml
		doc  string
		want string // substring of the error, after "<file>: "
	}{
		{name: "empty file", doc: "", want: "the file is empty"},
		{name: "output named body", doc: edit(keyApp, "      body: {note: \"{{ input.note }}\"}", "      body: {note: \"{{ input.note }}\"}\n    outputs:\n      - {name: body, type: any, value: \"{{ response }}\"}"), want: "methods.create_thing.outputs[0].name"},
		{name: "output of unknown type", doc: edit(keyApp, "      body: {note: \"{{ input.note }}\"}", "      body: {note: \"{{ input.note }}\"}\n    outputs:\n      - {name: id, type: uuid, value: \"{{ response.id }}\"}"), want: `outputs[0].type: unknown type "uuid"`},
		{name: "output not one placeholder", doc: edit(keyApp, "      body: {note: \"{{ input.note }}\"}", "      body: {note: \"{{ input.note }}\"}\n    outputs:\n      - {name: id, type: string, value: \"id {{ response.id }}\"}"), want: "outputs[0].value: must be one placeholder"},
		{name: "output over input", doc: edit(keyApp, "      body: {note: \"{{ input.note }}\"}", "      body: {note: \"{{ input.note }}\"}\n    outputs:\n      - {name: id, type: string, value: \"{{ input.id }}\"}"), want: "outputs[0].value"},
		{name: "output twice", doc: edit(keyApp, "      body: {note: \"{{ input.note }}\"}", "      body: {note: \"{{ input.note }}\"}\n    outputs:\n      - {name: id, type: string, value: \"{{ response.id }}\"}\n      - {name: id, type: string, value: \"{{ response.x }}\"}"), want: "outputs[1].name"},
		{name: "two documents", doc: keyApp + "---\nname: Other\n", want: "exactly one YAML document"},
		{name: "not YAML", doc: "name: [unclosed", want: "yaml:"},
		{name: "bad file name", file: "Gmail.yaml", doc: keyApp, want: "app id"},
		{name: "not a yaml file", file: "gmail.yml", doc: keyApp, want: "<id>.yaml"},
		{name: "unknown top-level key", doc: keyApp + "colour: blue\n", want: "field colour not found"},
		{name: "unknown nested key", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  token_style: header"), want: "field token_style not found"},
		{name: "missing name", doc: edit(keyApp, "name: Example\n", ""), want: "name: is required"},
		{name: "no auth", doc: edit(keyApp, "auth: [api_key]\n", ""), want: "auth: is required"},
		{name: "unknown auth type", doc: edit(keyApp, "auth: [api_key]", "auth: [api_key, magic]"), want: `auth[1]: unknown auth type "magic"`},
		{name: "duplicate auth type", doc: edit(keyApp, "auth: [api_key]", "auth: [api_key, api_key]"), want: "auth[1]"},
		{name: "oauth without oauth auth", doc: keyApp + "oauth: {authorize_url: https://a.example.com/a, token_url: https://a.example.com/t, token_auth: body, refresh_tokens: none}\n", want: "oauth: is only allowed"},
		{name: "oauth auth without oauth", doc: edit(keyApp, "auth: [api_key]", "auth: [oauth2]"), want: "oauth: is required"},
		{name: "no token url", doc: edit(oauthApp, "  token_url: https://{{ config.host }}/token\n", ""), want: "oauth.token_url: is required"},
		{name: "http token url", doc: edit(oauthApp, "token_url: https://{{ config.host }}/token", "token_url: http://{{ config.host }}/token"), want: "oauth.token_url: renders"},
		{name: "relative authorize url", doc: edit(oauthApp, "authorize_url: https://{{ config.host }}/authorize", "authorize_url: /authorize"), want: "oauth.authorize_url: renders"},
		{name: "unknown config in url", doc: edit(oauthApp, "{{ config.host }}/token", "{{ config.tenant }}/token"), want: `oauth.token_url: {{ config.tenant }}: the app declares no config field or var "tenant"`},
		{name: "input in url", doc: edit(oauthApp, "{{ config.host }}/token", "{{ input.host }}/token"), want: "oauth.token_url: placeholder {{ input.host }}: only config.* may be used here"},
		{name: "expression in template", doc: edit(oauthApp, "{{ config.host }}/token", "{{ config.host + 1 }}/token"), want: "oauth.token_url: placeholder"},
		{name: "unclosed placeholder", doc: edit(oauthApp, "{{ config.host }}/token", "{{ config.host /token"), want: `oauth.token_url: "{{" without a matching "}}"`},
		{name: "stray braces", doc: edit(oauthApp, "{{ config.host }}/token", "}}/token"), want: `oauth.token_url: "}}" without`},
		{name: "free text config in url", doc: edit(oauthApp, "config:\n", "config:\n  - {name: tenant, label: Tenant}\n") + "", want: ""},
		{name: "free text config in host", doc: edit(edit(oauthApp, "config:\n", "config:\n  - {name: tenant, label: Tenant}\n"), "https://{{ config.host }}/token", "https://{{ config.tenant }}.example.com/token"), want: "oauth.token_url: {{ config.tenant }}: only config fields with allowed values"},
		{name: "default not allowed", doc: edit(oauthApp, "default: us", "default: ap"), want: `config.region.default: "ap" is not one of the allowed values`},
		{name: "duplicate value", doc: edit(oauthApp, "{value: eu,", "{value: us,"), want: `config.region.values[1].value: "us" is listed twice`},
		{name: "inconsistent vars", doc: edit(oauthApp, "{value: eu, vars: {host: auth.example.eu}}", "{value: eu, vars: {hostname: auth.example.eu}}"), want: "config.region.values[1].vars"},
		{name: "config without label", doc: edit(oauthApp, "    label: Region\n", ""), want: "config.region.label: is required"},
		{name: "bad config name", doc: edit(oauthApp, "name: region", "name: Region"), want: "config[0].name"},
		{name: "unknown config type", doc: edit(oauthApp, "    label: Region\n", "    label: Region\n    type: colour\n"), want: `config.region.type: unknown type "colour"`},
		{name: "no token auth", doc: edit(oauthApp, "  token_auth: body\n", ""), want: "oauth.token_auth: is required"},
		{name: "bad token auth", doc: edit(oauthApp, "token_auth: body", "token_auth: header"), want: "oauth.token_auth: must be"},
		{name: "no refresh behaviour", doc: edit(oauthApp, "  refresh_tokens: reusable\n", ""), want: "oauth.refresh_tokens: is required"},
		{name: "plain pkce", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  pkce: plain"), want: "oauth.pkce"},
		{name: "reserved authorize param", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  authorize_params: {client_id: abc}"), want: "oauth.authorize_params.client_id: is set by the OAuth flow"},
		{name: "scope with blank", doc: edit(oauthApp, "default: [read]", "default: [read write]"), want: "oauth.scopes.default[0]"},
		{name: "duplicate scope", doc: edit(oauthApp, "scopes: {default: [read]}", "scopes: {default: [read], optional: [read]}"), want: `oauth.scopes.optional[0]: "read" is listed twice`},
		{name: "bad scope separator", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  scope_separator: ';'"), want: "oauth.scope_separator"},
		{name: "revoke without token", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  revoke: {url: https://auth.example.com/revoke, in: form}"), want: "oauth.revoke.token"},
		{name: "revoke bearer with param", doc: edit(oauthApp, "token_auth: body", "token_auth: body\n  revoke: {url: https://auth.example.com/revoke, token: access_token, in: bearer, param: t}"), want: "oauth.revoke.param"},
		{name: "no credential", doc: edit(keyApp, "credential:\n  type: bearer\n", ""), want: "credential: is required"},
		{name: "credential for none", doc: edit(keyApp, "auth: [api_key]", "auth: [none]"), want: "credential: has no use"},
		{name: "unknown credential type", doc: edit(keyApp, "type: bearer", "type: cookie"), want: `credential.type: unknown type "cookie"`},
		{name: "header credential without name", doc: edit(keyApp, "type: bearer", "type: header"), want: "credential.name: is required"},
		{name: "bearer with prefix", doc: edit(keyApp, "type: bearer", "type: bearer\n  prefix: 'Token '"), want: "credential: a bearer credential takes no name or prefix"},
		{name: "body field with GET test", doc: edit(keyApp, "type: bearer", "type: body_field\n  name: key"), want: "credential.type: a body_field credential cannot authenticate GET requests"},
		{name: "base url with slash", doc: edit(keyApp, "base_url: https://api.example.com", "base_url: https://api.example.com/"), want: "base_url: renders"},
		{name: "base url http", doc: edit(keyApp, "base_url: https://api.example.com", "base_url: http://api.example.com"), want: "base_url: renders"},
		{name: "bad header name", doc: keyApp + "headers: {'Bad Header': x}\n", want: "headers.Bad Header: is not a valid header name"},
		{name: "no test", doc: edit(keyApp, "test:\n  method: GET\n  path: /me\n  identity: [\"{{ response.email }}\"]\n", ""), want: "test: is required"},
		{name: "test without identity", doc: edit(keyApp, "  identity: [\"{{ response.email }}\"]\n", ""), want: "test.identity: is required"},
		{name: "identity over config", doc: edit(keyApp, "{{ response.email }}", "{{ config.email }}"), want: "test.identity[0]: placeholder {{ config.email }}: only response.* may be used here"},
		{name: "test path not absolute", doc: edit(keyApp, "path: /me", "path: me"), want: "test.path: must start with /"},
		{name: "test method", doc: edit(keyApp, "method: GET\n  path: /me", "method: FETCH\n  path: /me"), want: "test.method"},
		{name: "test GET with body", doc: edit(keyApp, "path: /me", "path: /me\n  body: {a: 1}"), want: "test.body: a GET request has no body"},
		{name: "optional test with path", doc: edit(keyApp, "path: /me", "path: /me\n  optional: true"), want: "test.optional"},
		{name: "bad expect path", doc: edit(keyApp, "path: /me", "path: /me\n  expect: [{path: 'a..b', equals: x}]"), want: "test.expect[0].path"},
		{name: "unknown error kind", doc: keyApp + "errors: {rules: [{path: error, in: [x], kind: fatal}]}\n", want: `errors.rules[0].kind: must be "auth", "rate_limit", "permanent" or "transient", not "fatal"`},
		{name: "error rule without values", doc: keyApp + "errors: {rules: [{path: error, kind: auth}]}\n", want: "errors.rules[0].in: is required"},
		{name: "bad auth status", doc: keyApp + "errors: {auth_statuses: [200]}\n", want: "errors.auth_statuses[0]"},
		{name: "negative rate limit wait", doc: keyApp + "errors: {rate_limit_wait: -30s}\n", want: "errors.rate_limit_wait: -30s must be whole seconds"},
		{name: "rate limit wait over the cap", doc: keyApp + "errors: {rate_limit_wait: 1h}\n", want: "errors.rate_limit_wait: 1h0m0s must be whole seconds, from 1s to 15m0s"},
		{name: "rate limit wait in fractions", doc: keyApp + "errors: {rate_limit_wait: 1500ms}\n", want: "errors.rate_limit_wait: 1.5s"},
		{name: "rate limit wait without unit", doc: keyApp + "errors: {rate_limit_wait: 30}\n", want: "cannot unmarshal !!int `30` into time.Duration"},
		{name: "rule on an index after a name only", doc: keyApp + "errors: {rules: [{path: '[x].status', in: [a], kind: permanent}]}\n", want: "errors.rules[0].path"},
		{name: "duplicate method", doc: keyApp + "  - name: create_thing\n    label: Again\n    builder: gmail_raw\n", want: "methods.create_thing: is declared twice"},
		{name: "method without label", doc: edit(keyApp, "    label: Create thing\n", ""), want: "methods.create_thing.label: is required"},
		{name: "method without request", doc: edit(keyApp, "    request:\n      method: POST\n      path: /things/{{ input.id }}\n      body: {note: \"{{ input.note }}\"}\n", ""), want: "methods.create_thing.request: is required unless a builder"},
		{name: "unknown builder", doc: edit(keyApp, "    label: Create thing\n", "    label: Create thing\n    builder: magic\n"), want: `methods.create_thing.builder: unknown builder "magic"`},
		{name: "unknown input type", doc: edit(keyApp, "{name: note, type: string}", "{name: note, type: text}"), want: `methods.create_thing.inputs.note.type: unknown type "text"`},
		{name: "duplicate input", doc: edit(keyApp, "{name: note, type: string}", "{name: id, type: string}"), want: "methods.create_thing.inputs.id: is declared twice"},
		{name: "bad default type", doc: edit(keyApp, "{name: note, type: string}", "{name: note, type: string, default: 3}"), want: "methods.create_thing.inputs.note.default: must be a string, not a number"},
		{name: "undeclared input", doc: edit(keyApp, "{{ input.note }}", "{{ input.memo }}"), want: `methods.create_thing.request.body: {{ input.memo }}: the method declares no input "memo"`},
		{name: "config in method body", doc: edit(keyApp, "{{ input.note }}", "{{ config.note }}"), want: "methods.create_thing.request.body.note: placeholder {{ config.note }}: only input.* may be used here"},
		{name: "optional input in path", doc: edit(keyApp, "/things/{{ input.id }}", "/things/{{ input.note }}"), want: "an input in the path must be required"},
		{name: "input in path query", doc: edit(keyApp, "/things/{{ input.id }}", "/things/{{ input.id }}?note={{ input.note }}"), want: "put input values in query"},
		{name: "GET with body", doc: edit(keyApp, "method: POST", "method: GET"), want: "methods.create_thing.request.body: a GET request has no body"},
		{name: "relative method path", doc: edit(keyApp, "path: /things/", "path: things/"), want: "methods.create_thing.request.path: is required and must start with /"},
		{name: "bad method name", doc: edit(keyApp, "name: create_thing", "name: Create-Thing"), want: "methods[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				// A free-text config field may exist while not in a URL.
				if _, err := appfile.Parse("x.yaml", []byte(tc.doc)); err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			file := tc.file
			if file == "" {
				file = "x.yaml"
			}
			a, err := appfile.Parse(file, []byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v); want an error with %q", a, tc.want)
			}
			if !strings.HasPrefix(err.Error(), file+": ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadFSReportsEveryBrokenFile(t *testing.T) {
	fsys := fstest.MapFS{
		"good.yaml":  {Data: []byte(keyApp)},
		"bad.yaml":   {Data: []byte("name: Bad\n")},
		"worse.yaml": {Data: []byte("nonsense: true\n")},
		"README.md":  {Data: []byte("not an app")},
	}
	_, err := appfile.LoadFS(fsys)
	if err == nil {
		t.Fatal("LoadFS succeeded")
	}
	for _, want := range []string{"bad.yaml: auth: is required", "worse.yaml: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c, err := appfile.LoadFS(fstest.MapFS{"good.yaml": {Data: []byte(keyApp)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.App("good"); !ok {
		t.Error("app good missing")
	}
	if _, err := appfile.LoadFS(fstest.MapFS{}); err == nil {
		t.Error("LoadFS of no files succeeded")
	}
}
