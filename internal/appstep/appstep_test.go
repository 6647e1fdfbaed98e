package appstep_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/egress"
	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

// acmeApp is a small app file: one method with a path input, a body and
// declared outputs, so the kind's own behaviour is tested apart from any
// real app's.
const acmeApp = `
name: Acme
auth: [api_key]
credential:
  type: bearer
base_url: https://api.acme.example
test:
  method: GET
  path: /me
  identity:
    - "{{ response.name }}"
methods:
  - name: create_item
    label: Create item
    inputs:
      - name: list_id
        label: List
        type: string
        required: true
      - name: title
        label: Title
        type: string
        required: true
      - name: count
        label: Count
        type: integer
    request:
      method: POST
      path: /lists/{{ input.list_id }}/items
      body:
        title: "{{ input.title }}"
        count: "{{ input.count }}"
    outputs:
      - name: item_id
        type: string
        value: "{{ response.item.id }}"
      - name: tags
        type: array
        value: "{{ response.item.tags }}"
`

const acmeToken = "acme-secret-token-0123456789"

// mustAcme returns a registry with the Acme app's methods, sending to an
// httptest server that answers with handler.
func mustAcme(t *testing.T, handler http.HandlerFunc) step.Registry {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	cat, err := appfile.LoadFS(fstest.MapFS{"acme.yaml": {Data: []byte(acmeApp)}}, catalog.WithBaseURLs(map[string]string{"acme": srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	reg := step.Registry{}
	if err := appstep.Register(reg, cat, &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}); err != nil {
		t.Fatal(err)
	}
	return reg
}

func acmeConnection(app string) step.Connection {
	return step.Connection{ID: "con_1", App: app, Config: map[string]string{}, Credential: appcall.Credential{Kind: appcall.CredentialAPIKey, Token: acmeToken}}
}

func TestEveryCatalogMethodIsAStepKind(t *testing.T) {
	cat := catalog.MustLoad()
	reg := step.Registry{}
	if err := appstep.Register(reg, cat, &appcall.Client{}); err != nil {
		t.Fatal(err)
	}
	for _, app := range cat.Apps() {
		for _, m := range app.Methods {
			if app.ID == "http" {
				continue // the generic HTTP step, step.HTTP
			}
			if _, ok := reg.Lookup(app.ID, m.Name); !ok {
				t.Errorf("%s.%s is not a step kind", app.ID, m.Name)
			}
			if !reg.NeedsConnection(app.ID, m.Name) {
				t.Errorf("%s.%s runs without a Connection; every app method sends a credential", app.ID, m.Name)
			}
		}
	}
}

func TestAMethodSendsItsRequestWithTheCredentialAndOutputsTheAnswer(t *testing.T) {
	var got *http.Request
	var body map[string]any
	reg := mustAcme(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"item": {"id": "itm_9", "tags": ["a", "b"], "n": 3}}`)
	})
	ctx := step.WithConnection(t.Context(), acmeConnection("acme"))
	out, attempts, err := reg.Execute(ctx, "acme", "create_item", map[string]any{"list_id": "groceries & more", "title": "Milk", "count": 2})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
	if got.Method != http.MethodPost || got.URL.EscapedPath() != "/lists/groceries%20&%20more/items" {
		t.Errorf("request %s %s, want POST /lists/groceries%%20&%%20more/items", got.Method, got.URL.EscapedPath())
	}
	if got, want := got.Header.Get("Authorization"), "Bearer "+acmeToken; got != want {
		t.Errorf("Authorization = %q, want the Connection's key as a bearer token", got)
	}
	if body["title"] != "Milk" || body["count"] != float64(2) {
		t.Errorf("body = %v, want title Milk and count 2", body)
	}
	m, _ := out.(map[string]any)
	if m["item_id"] != "itm_9" {
		t.Errorf("output item_id = %v, want itm_9 (output %v)", m["item_id"], out)
	}
	if tags, _ := m["tags"].([]any); len(tags) != 2 {
		t.Errorf("output tags = %v, want [a b]", m["tags"])
	}
	b, _ := m["body"].(map[string]any)
	if item, _ := b["item"].(map[string]any); item["n"] != 3 {
		t.Errorf("output body = %v, want the whole answer with integers as int", m["body"])
	}
}

func TestAMethodRefusesWhatItCannotSend(t *testing.T) {
	calls := 0
	reg := mustAcme(t, func(w http.ResponseWriter, _ *http.Request) { calls++ })
	good := map[string]any{"list_id": "l1", "title": "Milk"}
	for _, tc := range []struct {
		name  string
		conn  *step.Connection
		input map[string]any
		want  string
	}{
		{"no Connection", nil, good, "needs a Acme Connection"},
		{"another app's Connection", ptr(acmeConnection("hubspot")), good, "is for hubspot, not acme"},
		{"rendered input of the wrong type", ptr(acmeConnection("acme")), map[string]any{"list_id": "l1", "title": "Milk", "count": "two"}, "input.count: must be an integer"},
		{"unknown input", ptr(acmeConnection("acme")), map[string]any{"list_id": "l1", "title": "Milk", "colour": "red"}, "input.colour"},
		{"path input . ", ptr(acmeConnection("acme")), map[string]any{"list_id": "..", "title": "Milk"}, "input.list_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.conn != nil {
				ctx = step.WithConnection(ctx, *tc.conn)
			}
			_, _, err := reg.Execute(ctx, "acme", "create_item", tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !step.IsPermanent(err) {
				t.Errorf("error = %v (permanent %v), want a permanent one containing %q", err, step.IsPermanent(err), tc.want)
			}
		})
	}
	if calls != 0 {
		t.Errorf("the app got %d requests, want none", calls)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppAnswersMapToStepFailures(t *testing.T) {
	for _, tc := range []struct {
		status                  int
		body                    string
		permanent, unauthorized bool
		want                    string
	}{
		{401, `{"error": "invalid_token"}`, false, true, "401"},
		{403, `{"error": "missing_scope", "needed": "items:write"}`, true, false, "needs scope items:write: the Connection lacks a permission"},
		{403, `{"message": "This app hasn't been granted all required scopes to make this call."}`, true, false, "granted all required scopes"},
		{404, `{"error": "list_not_found", "message": "No such list"}`, true, false, "list_not_found"},
		{422, `{"error": "invalid", "message": "title is too long"}`, true, false, "title is too long"},
		{503, `{"error": "down"}`, false, false, "503"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			reg := mustAcme(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			ctx := step.WithConnection(t.Context(), acmeConnection("acme"))
			_, _, err := reg.Execute(ctx, "acme", "create_item", map[string]any{"list_id": "l1", "title": "Milk"})
			var se *step.Error
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want a *step.Error", err)
			}
			if se.Permanent != tc.permanent || se.Unauthorized != tc.unauthorized || se.Status != tc.status || !strings.Contains(se.Message, tc.want) {
				t.Errorf("error %q: permanent %v, unauthorized %v, status %d; want %v, %v, %d, containing %q",
					se.Message, se.Permanent, se.Unauthorized, se.Status, tc.permanent, tc.unauthorized, tc.status, tc.want)
			}
			if strings.Contains(se.Message, acmeToken) {
				t.Errorf("the error shows the credential: %s", se.Message)
			}
		})
	}
}

func TestInputsAreCheckedWhenTheFlowIsSaved(t *testing.T) {
	reg := mustAcme(t, func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		name  string
		input map[string]any
		field string // "" for valid
	}{
		{"valid literals", map[string]any{"list_id": "l1", "title": "Milk", "count": 2}, ""},
		{"templates pass", map[string]any{"list_id": "{{ trigger.body.list }}", "title": "{{ trigger.body.title }}", "count": "{{ trigger.body.n }}"}, ""},
		{"missing required", map[string]any{"list_id": "l1"}, "input.title"},
		{"unknown field", map[string]any{"list_id": "l1", "title": "x", "colour": "red"}, "input.colour"},
		{"literal of the wrong type", map[string]any{"list_id": "l1", "title": "x", "count": "two"}, "input.count"},
		{"broken template", map[string]any{"list_id": "l1", "title": "{{ trigger.body.", "count": 1}, "input.title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reg.ValidateStep("acme", "create_item", tc.input)
			if got := wiresk.ErrorField(err); got != tc.field || (tc.field == "" && err != nil) {
				t.Errorf("ValidateStep = %v (field %q), want field %q", err, got, tc.field)
			}
		})
	}
}
