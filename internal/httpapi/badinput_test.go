package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/run"
)

// fixture is a Group "grp_a" (owner alice, member mia) with keys in every
// state, an enabled Flow with a trigger, a disabled Flow with a trigger, a
// trigger whose routing key was rotated, and a Group "grp_b" (owner bob)
// with its own key and trigger.
type fixture struct {
	alice, mia, bob, expiredJWT, foreignJWT string

	key, revoked, expired, rotatedOld, notAccepted, keyB string
	keyID, notAcceptedID                                 string
	hook, disabledHook, oldHook, hookB                   string
	flowID                                               string
}

func newKey(t *testing.T, s *system, tok, groupID string, body map[string]any) (plain, id string) {
	t.Helper()
	r := s.api(t, tok, "POST", "/v1/groups/"+groupID+"/api-keys", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create key: %d %s", r.Status, r.Body)
	}
	var k struct{ ID, Key string }
	r.decode(t, &k)
	return k.Key, k.ID
}

func httpFlow(name, url string) map[string]any {
	return map[string]any{"name": name, "steps": []any{map[string]any{"id": "call", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": url, "body": map[string]any{"email": "{{ trigger.body.email }}"}}}}}
}

func newFlow(t *testing.T, s *system, tok, groupID string, body map[string]any) string {
	t.Helper()
	r := s.api(t, tok, "POST", "/v1/groups/"+groupID+"/flows", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create flow: %d %s", r.Status, r.Body)
	}
	var f struct{ ID string }
	r.decode(t, &f)
	return f.ID
}

func newTrigger(t *testing.T, s *system, tok, groupID, flowID string, keyIDs ...string) (id, routingKey string) {
	t.Helper()
	r := s.api(t, tok, "POST", "/v1/groups/"+groupID+"/flows/"+flowID+"/http-triggers", map[string]any{"apiKeyIds": keyIDs})
	if r.Status != http.StatusCreated {
		t.Fatalf("create trigger: %d %s", r.Status, r.Body)
	}
	var tr struct{ ID, RoutingKey, URL string }
	r.decode(t, &tr)
	if tr.URL != "http://hooks.example/v1/hooks/"+tr.RoutingKey {
		t.Fatalf("trigger url = %q", tr.URL)
	}
	return tr.ID, tr.RoutingKey
}

func MustFixture(t *testing.T, s *system) fixture {
	t.Helper()
	var f fixture
	s.seedGroup(t, "grp_a", "alice")
	s.seedGroup(t, "grp_b", "bob")
	f.alice, f.bob = s.token(t, "alice"), s.token(t, "bob")
	if r := s.api(t, f.alice, "POST", "/v1/groups/grp_a/members", map[string]any{"userId": "mia", "role": "member"}); r.Status != http.StatusCreated {
		t.Fatalf("add member: %d %s", r.Status, r.Body)
	}
	f.mia = s.token(t, "mia")
	exp, err := s.jwt.Mint("alice", nil, -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.expiredJWT = exp
	other := *s.jwt
	other.Key = []byte("another-key-another-key-another!")
	if f.foreignJWT, err = other.Mint("alice", []string{"grp_a"}, time.Hour); err != nil {
		t.Fatal(err)
	}

	var revokedID, expiredID, rotatedID string
	f.key, f.keyID = newKey(t, s, f.alice, "grp_a", map[string]any{"name": "main"})
	f.revoked, revokedID = newKey(t, s, f.alice, "grp_a", map[string]any{"name": "revoked"})
	f.expired, expiredID = newKey(t, s, f.alice, "grp_a", map[string]any{"name": "expiring", "expiresAt": s.clock.Now().Add(time.Minute)})
	f.rotatedOld, rotatedID = newKey(t, s, f.alice, "grp_a", map[string]any{"name": "rotating"})
	f.notAccepted, f.notAcceptedID = newKey(t, s, f.alice, "grp_a", map[string]any{"name": "other"})
	var keyBID string
	f.keyB, keyBID = newKey(t, s, f.bob, "grp_b", map[string]any{"name": "b"})

	f.flowID = newFlow(t, s, f.alice, "grp_a", httpFlow("enabled", "http://127.0.0.1:1/x"))
	_, f.hook = newTrigger(t, s, f.alice, "grp_a", f.flowID, f.keyID, revokedID, expiredID, rotatedID)
	rotTrigger, rk := newTrigger(t, s, f.alice, "grp_a", f.flowID, f.keyID)
	f.oldHook = rk
	if r := s.api(t, f.alice, "POST", "/v1/groups/grp_a/flows/"+f.flowID+"/http-triggers/"+rotTrigger+"/rotate-routing-key", nil); r.Status != http.StatusOK {
		t.Fatalf("rotate routing key: %d %s", r.Status, r.Body)
	}
	disabled := httpFlow("disabled", "http://127.0.0.1:1/x")
	disabled["enabled"] = false
	_, f.disabledHook = newTrigger(t, s, f.alice, "grp_a", newFlow(t, s, f.alice, "grp_a", disabled), f.keyID)
	flowB := newFlow(t, s, f.bob, "grp_b", httpFlow("b", "http://127.0.0.1:1/x"))
	_, f.hookB = newTrigger(t, s, f.bob, "grp_b", flowB, keyBID)

	if r := s.api(t, f.alice, "DELETE", "/v1/groups/grp_a/api-keys/"+revokedID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := s.api(t, f.alice, "POST", "/v1/groups/grp_a/api-keys/"+rotatedID+"/rotate", map[string]any{"gracePeriodSeconds": 30}); r.Status != http.StatusCreated {
		t.Fatalf("rotate key: %d %s", r.Status, r.Body)
	}
	// A Run whose request body was too large to record whole.
	if _, err := s.store.CreateRun(context.Background(), run.Run{ID: "run_truncated", GroupID: "grp_a", FlowID: f.flowID, Mode: run.ModeWebhook,
		Status: run.Succeeded, CreatedAt: s.clock.Now(), Request: run.Request{BodyText: "partial", BodyTruncated: true}}); err != nil {
		t.Fatal(err)
	}
	// Past the expiry of the expiring key and the grace of the rotated one.
	s.clock.Advance(2 * time.Minute)
	return f
}

func TestBadInputsAreRefusedAndLeaveNoTrace(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	typo := []byte(f.key)
	typo[10] ^= 1 // still base62, checksum now wrong
	unknown, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	hookPath := "/v1/hooks/" + f.hook
	json := `{"email":"ada@example.com"}`
	g := "/v1/groups/grp_a"

	type tc struct {
		name       string
		method     string
		path       string
		body       any
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string
	}
	hook := func(name, key, path string, status int, code string) tc {
		h := []string{"Content-Type", "application/json"}
		if key != "" {
			h = append(h, "X-API-Key", key)
		}
		return tc{name: name, method: "POST", path: path, body: json, headers: h, wantStatus: status, wantCode: code}
	}
	mgmt := func(name, tok, method, path string, body any, status int, code, field string) tc {
		return tc{name: name, method: method, path: path, body: body, headers: []string{"Authorization", "Bearer " + tok}, wantStatus: status, wantCode: code, wantField: field}
	}
	badStep := func(mut func(step map[string]any)) map[string]any {
		fl := httpFlow("bad", "https://example.com")
		mut(fl["steps"].([]any)[0].(map[string]any))
		return fl
	}
	cases := []tc{
		hook("no api key", "", hookPath, 401, "missing_api_key"),
		hook("malformed key", "not-a-key", hookPath, 401, "invalid_api_key"),
		hook("mistyped checksum", string(typo), hookPath, 401, "invalid_api_key"),
		hook("unknown key", unknown, hookPath, 401, "invalid_api_key"),
		hook("revoked key", f.revoked, hookPath, 401, "api_key_revoked"),
		hook("expired key", f.expired, hookPath, 401, "api_key_expired"),
		hook("rotated key past grace", f.rotatedOld, hookPath, 401, "api_key_expired"),
		hook("key of another group", f.keyB, hookPath, 404, "route_not_found"),
		hook("key not accepted by trigger", f.notAccepted, hookPath, 403, "api_key_not_accepted"),
		hook("unknown routing key", f.key, "/v1/hooks/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404, "route_not_found"),
		hook("malformed routing key", f.key, "/v1/hooks/short", 404, "route_not_found"),
		hook("rotated routing key", f.key, "/v1/hooks/"+f.oldHook, 404, "route_not_found"),
		hook("disabled flow", f.key, "/v1/hooks/"+f.disabledHook, 404, "route_not_found"),
		hook("other group's route with own key", f.key, "/v1/hooks/"+f.hookB, 404, "route_not_found"),
		{name: "bearer with bad key", method: "POST", path: hookPath, body: json, headers: []string{"Authorization", "Bearer wsk_nope"}, wantStatus: 401, wantCode: "invalid_api_key"},
		{name: "body over limit", method: "POST", path: hookPath, body: strings.Repeat("x", testMaxBody+1), headers: []string{"X-API-Key", f.key}, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "body nested too deep", method: "POST", path: hookPath, body: strings.Repeat("[", 65) + strings.Repeat("]", 65), headers: []string{"X-API-Key", f.key, "Content-Type", "application/json"}, wantStatus: 400, wantCode: "body_too_deep"},
		{name: "objects nested too deep", method: "POST", path: hookPath, body: strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), headers: []string{"X-API-Key", f.key}, wantStatus: 400, wantCode: "body_too_deep"},
		{name: "deep text body", method: "POST", path: hookPath, body: "x=" + strings.Repeat("[", 500), headers: []string{"X-API-Key", f.key, "Content-Type", "text/plain"}, wantStatus: 400, wantCode: "body_too_deep"},
		mgmt("flow input nested too deep", f.alice, "POST", g+"/flows", `{"name":"deep","steps":[{"id":"a","app":"http","method":"request","input":{"url":"https://e.com","body":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)+`}}]}`, 400, "body_too_deep", ""),
		mgmt("run once sample nested too deep", f.alice, "POST", g+"/run-once", `{"routingKey":"`+f.hook+`","request":{"body":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}}`, 400, "body_too_deep", ""),
		{name: "webhook past the hop limit", method: "POST", path: hookPath, body: json, headers: []string{"X-API-Key", f.key, "Wiresk-Hop", "11"}, wantStatus: 508, wantCode: "loop_detected"},
		{name: "hop count not a number", method: "POST", path: hookPath, body: json, headers: []string{"X-API-Key", f.key, "Wiresk-Hop", "1; drop"}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "negative hop count", method: "POST", path: hookPath, body: json, headers: []string{"X-API-Key", f.key, "Wiresk-Hop", "-3"}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "chunked body over limit", method: "POST", path: hookPath, body: strings.NewReader(strings.Repeat("x", testMaxBody+1)), headers: []string{"X-API-Key", f.key}, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "GET on a hook", method: "GET", path: hookPath, headers: []string{"X-API-Key", f.key}, wantStatus: 405, wantCode: "method_not_allowed"},

		{name: "no JWT", method: "GET", path: g + "/flows", wantStatus: 401, wantCode: "unauthenticated"},
		mgmt("expired JWT", f.expiredJWT, "GET", g+"/flows", nil, 401, "token_expired", ""),
		mgmt("foreign JWT", f.foreignJWT, "GET", g+"/flows", nil, 401, "unauthenticated", ""),
		mgmt("garbage JWT", "abc.def.ghi", "GET", g+"/flows", nil, 401, "unauthenticated", ""),
		mgmt("unknown group", f.alice, "GET", "/v1/groups/grp_nope/flows", nil, 404, "not_found", ""),
		mgmt("another user's group", f.bob, "GET", g+"/flows", nil, 404, "not_found", ""),
		mgmt("write into another user's group", f.bob, "POST", g+"/flows", httpFlow("x", "https://example.com"), 404, "not_found", ""),
		mgmt("malformed JSON", f.alice, "POST", g+"/flows", `{"name":`, 400, "invalid_json", ""),
		mgmt("unknown field", f.alice, "POST", g+"/flows", `{"name":"x","stepz":[]}`, 400, "invalid_json", ""),
		mgmt("wrong JSON type", f.alice, "POST", g+"/flows", `{"name":7}`, 400, "invalid_json", "name"),
		mgmt("flow without name", f.alice, "POST", g+"/flows", map[string]any{"steps": httpFlow("x", "https://e.com")["steps"]}, 400, "validation_failed", "name"),
		mgmt("flow without steps", f.alice, "POST", g+"/flows", map[string]any{"name": "x", "steps": []any{}}, 400, "validation_failed", "steps"),
		mgmt("duplicate step ids", f.alice, "POST", g+"/flows", map[string]any{"name": "x", "steps": []any{httpFlow("", "https://e.com")["steps"].([]any)[0], httpFlow("", "https://e.com")["steps"].([]any)[0]}}, 400, "validation_failed", "steps[1].id"),
		mgmt("unknown step kind", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) { st["app"] = "fax" }), 400, "validation_failed", "steps[0].app"),
		mgmt("template does not parse", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) { st["input"].(map[string]any)["url"] = "https://e.com/{{ trigger.body. }}" }), 400, "validation_failed", "steps[0].input.url"),
		mgmt("reference to a later step", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) {
			st["input"].(map[string]any)["url"] = "https://e.com/{{ steps.later.output.id }}"
		}), 400, "validation_failed", "steps[0].input.url"),
		mgmt("bad if expression", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) { st["if"] = "trigger.body.x ==" }), 400, "validation_failed", "steps[0].if"),
		mgmt("missing url", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) { delete(st["input"].(map[string]any), "url") }), 400, "validation_failed", "steps[0].input.url"),
		mgmt("step with unknown connection", f.alice, "POST", g+"/flows", badStep(func(st map[string]any) { st["connectionId"] = "con_nope" }), 400, "validation_failed", "steps[0].connectionId"),
		mgmt("replace flow invalid", f.alice, "PUT", g+"/flows/"+f.flowID, badStep(func(st map[string]any) { st["id"] = "1bad" }), 400, "validation_failed", "steps[0].id"),
		mgmt("trigger with unknown key id", f.alice, "POST", g+"/flows/"+f.flowID+"/http-triggers", map[string]any{"apiKeyIds": []string{"key_nope"}}, 400, "validation_failed", "apiKeyIds[0]"),
		mgmt("trigger with no key", f.alice, "POST", g+"/flows/"+f.flowID+"/http-triggers", map[string]any{"apiKeyIds": []string{}}, 400, "validation_failed", "apiKeyIds"),
		mgmt("trigger on unknown flow", f.alice, "POST", g+"/flows/flw_nope/http-triggers", map[string]any{"apiKeyIds": []string{f.keyID}}, 404, "not_found", ""),
		mgmt("member creates api key", f.mia, "POST", g+"/api-keys", map[string]any{"name": "x"}, 403, "forbidden", ""),
		mgmt("api key with a negative cap", f.alice, "POST", g+"/api-keys", map[string]any{"name": "x", "runsPerMinute": -1}, 400, "validation_failed", "runsPerMinute"),
		mgmt("api key cap too high", f.alice, "PATCH", g+"/api-keys/"+f.keyID, map[string]any{"runsPerMinute": 1_000_001}, 400, "validation_failed", "runsPerMinute"),
		mgmt("member changes an api key's cap", f.mia, "PATCH", g+"/api-keys/"+f.keyID, map[string]any{"runsPerMinute": 1}, 403, "forbidden", ""),
		mgmt("another Group's api key cap", f.bob, "PATCH", g+"/api-keys/"+f.keyID, map[string]any{"runsPerMinute": 1}, 404, "not_found", ""),
		mgmt("unknown api key cap", f.alice, "PATCH", g+"/api-keys/key_nope", map[string]any{"runsPerMinute": 1}, 404, "not_found", ""),
		mgmt("api key without name", f.alice, "POST", g+"/api-keys", map[string]any{}, 400, "validation_failed", "name"),
		mgmt("api key expiring in the past", f.alice, "POST", g+"/api-keys", map[string]any{"name": "x", "expiresAt": time.Now().Add(-time.Hour)}, 400, "validation_failed", "expiresAt"),
		mgmt("run once unknown routing key", f.alice, "POST", g+"/run-once", map[string]any{"routingKey": "nope"}, 404, "route_not_found", ""),
		mgmt("run once other group's routing key", f.alice, "POST", g+"/run-once", map[string]any{"routingKey": f.hookB}, 404, "route_not_found", ""),
		mgmt("run once a disabled flow", f.alice, "POST", g+"/run-once", map[string]any{"routingKey": f.disabledHook}, 409, "conflict", ""),
		mgmt("replay unknown run", f.alice, "POST", g+"/runs/run_nope/replay", nil, 404, "not_found", ""),
		mgmt("replay a run with a truncated body", f.alice, "POST", g+"/runs/run_truncated/replay", nil, 409, "conflict", ""),
		mgmt("runs with bad status", f.alice, "GET", g+"/runs?status=done", nil, 400, "validation_failed", "status"),
		mgmt("runs with bad cursor", f.alice, "GET", g+"/runs?cursor=%25%25", nil, 400, "invalid_request", ""),
		mgmt("unknown route", f.alice, "GET", "/v1/nothing", nil, 404, "not_found", ""),
		mgmt("remove last owner", f.alice, "DELETE", g+"/members/alice", nil, 409, "conflict", ""),
	}
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.snapshot(t)
			r := s.do(t, c.method, c.path, c.body, c.headers...)
			if r.Status != c.wantStatus || r.errorCode() != c.wantCode {
				t.Fatalf("%s %s: got %d %s, want %d %s", c.method, c.path, r.Status, r.Body, c.wantStatus, c.wantCode)
			}
			if c.wantField != "" && r.errorField() != c.wantField {
				t.Fatalf("error field = %q, want %q (%s)", r.errorField(), c.wantField, r.Body)
			}
			for _, secret := range []string{f.key, f.revoked, f.expired, f.rotatedOld, f.keyB} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatalf("response echoes an API key: %s", r.Body)
				}
			}
			if after := s.snapshot(t); after != before {
				t.Fatalf("the refused request changed the store or the queue")
			}
		})
	}
	// The same webhook with the valid key is accepted: the refusals above
	// were about what each case changed, not a broken fixture.
	r := s.do(t, "POST", hookPath, json, "X-API-Key", f.key)
	if r.Status != http.StatusAccepted {
		t.Fatalf("valid webhook: %d %s", r.Status, r.Body)
	}
	st, err := s.queue.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Visible != 1 {
		t.Fatalf("queue after one accepted webhook: %+v, want 1 visible", st)
	}
}
