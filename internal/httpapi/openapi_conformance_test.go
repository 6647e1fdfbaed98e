package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"wiresk/internal/httpapi"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
)

// TestAnswersMatchTheOpenAPIDocument drives the management, Connections,
// OAuth and webhook handlers through the main record of each kind, and
// errors, and checks every answer against openapi.json (strict: no
// undeclared property).
func TestAnswersMatchTheOpenAPIDocument(t *testing.T) {
	s := MustSystem(t)
	cs := MustConnSystem(t, connOptions{})
	c := newConformance(t)

	// callOn sends a request to the server at base as tok (none when ""),
	// checks its answer's status and its conformance, and returns it.
	callOn := func(t *testing.T, base, tok, method, path string, body any, status int) response {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(mustJSON(t, body))
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, data)
		}
		c.check(t, method, path, resp.StatusCode, resp.Header, data)
		return response{Status: resp.StatusCode, Body: data}
	}
	call := func(t *testing.T, tok, method, path string, body any, status int) response {
		t.Helper()
		return callOn(t, s.server.URL, tok, method, path, body, status)
	}
	id := func(t *testing.T, r response) string {
		t.Helper()
		var v struct{ ID string }
		r.decode(t, &v)
		return v.ID
	}
	owner := s.token(t, "olive")

	var grp struct{ ID string }
	call(t, owner, "POST", "/v1/groups", map[string]any{"name": "Acme"}, http.StatusCreated).decode(t, &grp)
	g := "/v1/groups/" + grp.ID
	call(t, owner, "GET", "/v1/groups", nil, http.StatusOK)
	call(t, owner, "POST", g+"/members", map[string]any{"userId": "mia", "role": "member"}, http.StatusCreated)
	call(t, owner, "GET", g+"/members", nil, http.StatusOK)

	var key struct{ ID, Key string }
	call(t, owner, "POST", g+"/api-keys", map[string]any{"name": "CRM", "expiresAt": time.Now().Add(time.Hour)}, http.StatusCreated).decode(t, &key)
	call(t, owner, "GET", g+"/api-keys", nil, http.StatusOK)

	flowBody := map[string]any{"name": "New lead", "description": "Posts leads", "steps": []any{
		map[string]any{"id": "post", "app": "http", "method": "request", "if": "true", "input": map[string]any{"method": "POST", "url": "https://crm.example/leads", "body": map[string]any{"email": "{{ trigger.body.email }}"}}},
	}}
	f := g + "/flows/" + id(t, call(t, owner, "POST", g+"/flows", flowBody, http.StatusCreated))
	call(t, owner, "GET", g+"/flows", nil, http.StatusOK)
	call(t, owner, "PUT", f, flowBody, http.StatusOK)
	call(t, owner, "GET", f, nil, http.StatusOK)

	var ht struct{ ID, RoutingKey string }
	call(t, owner, "POST", f+"/http-triggers", map[string]any{"description": "Form", "apiKeyIds": []string{key.ID}}, http.StatusCreated).decode(t, &ht)
	call(t, owner, "GET", f+"/http-triggers", nil, http.StatusOK)
	call(t, owner, "PATCH", f+"/http-triggers/"+ht.ID, map[string]any{"description": "Web form"}, http.StatusOK)
	call(t, owner, "POST", f+"/http-triggers/"+ht.ID+"/rotate-routing-key", nil, http.StatusOK).decode(t, &ht)
	call(t, owner, "GET", g+"/api-keys/"+key.ID, nil, http.StatusOK)

	// The webhook, with the key, then without one and on an unknown route.
	hook := func(t *testing.T, rk string, status int, headers ...string) {
		t.Helper()
		req, err := http.NewRequest("POST", s.server.URL+httpapi.HooksPrefix+rk, strings.NewReader(`{"email":"a@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Fatalf("webhook: status %d, want %d: %s", resp.StatusCode, status, body)
		}
		c.check(t, "POST", httpapi.HooksPrefix+rk, resp.StatusCode, resp.Header, body)
	}
	hook(t, ht.RoutingKey, http.StatusAccepted, "X-API-Key", key.Key)
	hook(t, ht.RoutingKey, http.StatusUnauthorized)
	hook(t, strings.Repeat("A", trigger.RoutingKeyLen), http.StatusNotFound, "Authorization", "Bearer "+key.Key)

	var rotated struct{ ID string }
	call(t, owner, "POST", g+"/api-keys/"+key.ID+"/rotate", map[string]any{"gracePeriodSeconds": 60}, http.StatusCreated).decode(t, &rotated)

	// Schedule triggers, and an instant app trigger as the store holds it
	// after its first poll.
	st := f + "/schedule-triggers/" + id(t, call(t, owner, "POST", f+"/schedule-triggers",
		map[string]any{"expression": "cron(0 9 ? * MON-FRI *)", "timezone": "Europe/Paris", "description": "Weekdays"}, http.StatusCreated))
	call(t, owner, "GET", f+"/schedule-triggers", nil, http.StatusOK)
	call(t, owner, "PATCH", st, map[string]any{"enabled": false}, http.StatusOK)
	call(t, owner, "GET", st, nil, http.StatusOK)
	call(t, owner, "POST", st+"/fire", nil, http.StatusConflict)
	call(t, owner, "PATCH", st, map[string]any{"enabled": true}, http.StatusOK)
	call(t, owner, "POST", st+"/fire", nil, http.StatusAccepted)
	flowID := strings.TrimPrefix(f, g+"/flows/")
	last := time.Now().Add(-time.Minute).UTC()
	expires := time.Now().Add(24 * time.Hour).UTC()
	if err := s.store.CreateSchedule(context.Background(), trigger.Schedule{ID: "trg_app", GroupID: grp.ID, FlowID: flowID, Description: "New records",
		Expression: "rate(60 minutes)", Timezone: "UTC", Enabled: true, CreatedAt: last, EnabledAt: last, LastFireAt: &last, LastError: "skipped 1 item",
		Poll: &trigger.Poll{App: "airtable", Event: "new_record", ConnectionID: "con_x", Params: map[string]string{"base": "app1", "table": "tbl1"},
			Cursor: "c1", LastStarted: 2, Instant: true, Hook: &trigger.Hook{Token: strings.Repeat("t", trigger.RoutingKeyLen), SubscriptionID: "ach1", ExpiresAt: &expires}}}); err != nil {
		t.Fatal(err)
	}
	call(t, owner, "GET", f+"/app-triggers/trg_app", nil, http.StatusOK)
	call(t, owner, "GET", f+"/app-triggers", nil, http.StatusOK)
	call(t, owner, "GET", "/v1/app-events", nil, http.StatusOK)
	call(t, owner, "GET", f+"/triggers", nil, http.StatusOK)

	// Runs: Run Once (no worker here: still running), and a Run with a
	// step, as the worker records it.
	call(t, owner, "POST", g+"/run-once", map[string]any{"routingKey": ht.RoutingKey, "request": map[string]any{"headers": map[string]string{"X-Source": "test"}, "body": map[string]any{"email": "a@example.com"}}}, http.StatusAccepted)
	started, finished := time.Now().Add(-time.Second).UTC(), time.Now().UTC()
	if _, err := s.store.CreateRun(context.Background(), run.Run{ID: "run_done", GroupID: grp.ID, FlowID: flowID, FlowVersion: 2, TriggerID: ht.ID, APIKeyID: key.ID,
		Mode: run.ModeWebhook, Status: run.Failed, Error: "step post: 500", Deliveries: 5, CreatedAt: started, StartedAt: &started, FinishedAt: &finished, DurationMs: 1000,
		Request: run.Request{Method: "POST", Headers: map[string]string{"Content-Type": "application/json"}, Query: map[string]string{}, Body: json.RawMessage(`{"email":"a@example.com"}`)},
		Steps: []run.StepResult{{ID: "post", App: "http", Method: "request", Status: run.StepFailed, Input: map[string]any{"url": "https://crm.example/leads"},
			Output: map[string]any{"status": 500, "headers": map[string]any{}, "body": "down"}, Error: "500", Attempts: 5, Interrupted: 1, DurationMs: 800, StartedAt: started}}}); err != nil {
		t.Fatal(err)
	}
	call(t, owner, "GET", g+"/runs/run_done", nil, http.StatusOK)
	call(t, owner, "GET", g+"/runs?limit=1&status=failed", nil, http.StatusOK)
	call(t, owner, "POST", g+"/runs/run_done/replay", nil, http.StatusAccepted)
	call(t, owner, "GET", f+"/stats?days=7", nil, http.StatusOK)

	// Connections: an API key one (tested), an OAuth one (pending), on
	// the system that serves them.
	cs.seedGroup(t, "grp_c", "olive")
	cg, ctok := "/v1/groups/grp_c", cs.token(t, "olive")
	ccall := func(t *testing.T, method, path string, body any, status int) response {
		t.Helper()
		return callOn(t, cs.server.URL, ctok, method, path, body, status)
	}
	ai := cs.fakes["openai"]
	conn := cg + "/connections/" + id(t, ccall(t, "POST", cg+"/connections", openAIKey("OpenAI", ai.Token), http.StatusCreated))
	ccall(t, "POST", cg+"/connections", map[string]any{"name": "HubSpot", "app": "hubspot", "authType": "oauth2_advanced", "clientId": "cid", "clientSecret": "csecret"}, http.StatusCreated)
	ccall(t, "GET", cg+"/connections", nil, http.StatusOK)
	ccall(t, "GET", conn, nil, http.StatusOK)
	ccall(t, "PATCH", conn, map[string]any{"name": "OpenAI prod"}, http.StatusOK)
	ccall(t, "POST", conn+"/test", nil, http.StatusOK)
	ccall(t, "POST", conn+"/reconnect", nil, http.StatusBadRequest)
	ccall(t, "POST", conn+"/disconnect", nil, http.StatusOK)
	ccall(t, "GET", conn+"/audit?limit=10", nil, http.StatusOK)
	ccall(t, "GET", "/v1/apps", nil, http.StatusOK)
	ccall(t, "DELETE", conn, nil, http.StatusNoContent)
	callOn(t, cs.server.URL, "", "GET", "/v1/oauth/callback?state=nope", nil, http.StatusForbidden)
	callOn(t, cs.server.URL, "", "GET", "/v1/oauth/start?to=x&exp=1&sig=y", nil, http.StatusBadRequest)

	// Errors: a validation error with its field, a Group of someone
	// else's, no token, a role too low.
	call(t, owner, "POST", g+"/flows", map[string]any{"name": "", "steps": []any{}}, http.StatusBadRequest)
	call(t, owner, "GET", "/v1/groups/grp_other/flows", nil, http.StatusNotFound)
	call(t, "", "GET", g+"/flows", nil, http.StatusUnauthorized)
	call(t, s.token(t, "mia"), "POST", g+"/api-keys", map[string]any{"name": "x"}, http.StatusForbidden)

	// Deletions answer 204 without a body.
	call(t, owner, "DELETE", st, nil, http.StatusNoContent)
	call(t, owner, "DELETE", f+"/app-triggers/trg_app", nil, http.StatusNoContent)
	call(t, owner, "DELETE", f+"/http-triggers/"+ht.ID, nil, http.StatusNoContent)
	call(t, owner, "DELETE", g+"/api-keys/"+rotated.ID, nil, http.StatusNoContent)
	call(t, owner, "DELETE", g+"/members/mia", nil, http.StatusNoContent)
	call(t, owner, "DELETE", f, nil, http.StatusNoContent)
}

// noRedirect is a client that does not follow redirects.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestConformanceCatchesAnUndocumentedField checks that the conformance
// check fails an answer with a property its schema does not declare, and
// one whose value has the wrong type.
func TestConformanceCatchesAnUndocumentedField(t *testing.T) {
	c := newConformance(t)
	if ps := c.problems("POST", "/v1/groups", http.StatusCreated, nil, []byte(`{"id":"grp_1","name":"Acme","createdAt":"2026-01-01T00:00:00Z","role":"owner"}`)); len(ps) > 0 {
		t.Fatalf("a Group as documented: %q, want no problem", ps)
	}
	if ps := c.problems("POST", "/v1/groups", http.StatusTeapot, nil, []byte(`{}`)); len(ps) == 0 {
		t.Errorf("an undocumented status passed the conformance check")
	}
	for name, body := range map[string]string{
		"undeclared property": `{"id":"grp_1","name":"Acme","createdAt":"2026-01-01T00:00:00Z","role":"owner","colour":"red"}`,
		"wrong type":          `{"id":"grp_1","name":7,"createdAt":"2026-01-01T00:00:00Z","role":"owner"}`,
		"unknown role":        `{"id":"grp_1","name":"Acme","createdAt":"2026-01-01T00:00:00Z","role":"boss"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if ps := c.problems("POST", "/v1/groups", http.StatusCreated, nil, []byte(body)); len(ps) == 0 {
				t.Errorf("an answer with a %s passed the conformance check", name)
			}
		})
	}
}
