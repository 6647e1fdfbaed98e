package httpapi_test

import (
	"net/http"
	"testing"
)

func TestPatchTriggerChangesAcceptedKeysAndKeepsTheRoutingKey(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	trg, rk := newTrigger(t, s, f.alice, "grp_a", f.flowID, f.keyID)
	path := "/v1/groups/grp_a/flows/" + f.flowID + "/http-triggers/" + trg
	hook := func(key string) int {
		return s.do(t, "POST", "/v1/hooks/"+rk, `{"email":"ada@example.com"}`, "X-API-Key", key, "Content-Type", "application/json").Status
	}
	if got := hook(f.notAccepted); got != http.StatusForbidden {
		t.Fatalf("webhook with a key the trigger does not accept = %d, want 403", got)
	}

	// A member adds the key, as the 403's message tells users to.
	r := s.api(t, f.mia, "PATCH", path, map[string]any{"description": "CRM and billing", "apiKeyIds": []string{f.keyID, f.notAcceptedID}})
	if r.Status != http.StatusOK {
		t.Fatalf("PATCH trigger: %d %s", r.Status, r.Body)
	}
	var got struct {
		RoutingKey  string   `json:"routingKey"`
		Description string   `json:"description"`
		APIKeyIDs   []string `json:"apiKeyIds"`
	}
	r.decode(t, &got)
	if got.RoutingKey != rk || got.Description != "CRM and billing" || len(got.APIKeyIDs) != 2 {
		t.Fatalf("patched trigger = %+v, want the same routing key, the new description and two keys", got)
	}
	if got := hook(f.notAccepted); got != http.StatusAccepted {
		t.Errorf("webhook with the added key = %d, want 202", got)
	}

	// Only the description: the keys stay.
	if r := s.api(t, f.alice, "PATCH", path, map[string]any{"description": "just CRM"}); r.Status != http.StatusOK {
		t.Fatalf("PATCH description: %d %s", r.Status, r.Body)
	}
	if got := hook(f.notAccepted); got != http.StatusAccepted {
		t.Errorf("after a description-only PATCH the added key = %d, want 202 still", got)
	}

	// Removing a key refuses it at once.
	if r := s.api(t, f.alice, "PATCH", path, map[string]any{"apiKeyIds": []string{f.keyID}}); r.Status != http.StatusOK {
		t.Fatalf("PATCH keys: %d %s", r.Status, r.Body)
	}
	if got := hook(f.notAccepted); got != http.StatusForbidden {
		t.Errorf("webhook with the removed key = %d, want 403", got)
	}
	if got := hook(f.key); got != http.StatusAccepted {
		t.Errorf("webhook with the kept key = %d, want 202", got)
	}

	before := s.snapshot(t)
	for _, tc := range []struct {
		name, tok, path string
		body            any
		status          int
		code, field     string
	}{
		{"no keys", f.alice, path, map[string]any{"apiKeyIds": []string{}}, 400, "validation_failed", "apiKeyIds"},
		{"unknown key", f.alice, path, map[string]any{"apiKeyIds": []string{"key_nope"}}, 400, "validation_failed", "apiKeyIds[0]"},
		{"another group's user", f.bob, path, map[string]any{"description": "x"}, 404, "not_found", ""},
		{"unknown trigger", f.alice, "/v1/groups/grp_a/flows/" + f.flowID + "/http-triggers/trg_nope", map[string]any{"description": "x"}, 404, "not_found", ""},
		{"routing key is not writable", f.alice, path, map[string]any{"routingKey": "mine"}, 400, "invalid_json", ""},
	} {
		r := s.api(t, tc.tok, "PATCH", tc.path, tc.body)
		if r.Status != tc.status || r.errorCode() != tc.code || r.errorField() != tc.field {
			t.Errorf("%s: %d %s/%s, want %d %s/%s (%s)", tc.name, r.Status, r.errorCode(), r.errorField(), tc.status, tc.code, tc.field, r.Body)
		}
	}
	if s.snapshot(t) != before {
		t.Error("a refused PATCH changed the store")
	}
}
