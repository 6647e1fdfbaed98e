package httpapi_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
)

// Changing where a Connection's credential is sent needs an admin: a member
// who could re-point test_url or base_url would receive the secret by the
// re-test.
func TestOnlyAdminsChangeWhereACredentialGoes(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	fake := s.fakes["http"]
	config := maps.Clone(fake.Config)
	config["base_url"] = fake.Server.URL
	con := s.newConn(t, f.mia, "grp_a", map[string]any{"name": "Internal API", "app": "http", "authType": "api_key", "apiKey": fake.Token, "config": config})
	c := "/v1/groups/grp_a/connections/" + con.ID

	elsewhere := strings.Replace(fake.Server.URL, "127.0.0.1", "localhost", 1)
	for _, field := range []string{"test_url", "base_url"} {
		moved := maps.Clone(config)
		moved[field] = elsewhere + "/v1/me"
		if field == "base_url" {
			moved[field] = elsewhere
		}
		r, _ := s.send(t, f.mia, "PATCH", c, map[string]any{"config": moved})
		if r.Status != http.StatusForbidden || r.errorCode() != "forbidden" {
			t.Errorf("member PATCH of %s = %d %s, want 403 forbidden", field, r.Status, r.Body)
		}
	}
	// A member may still change what does not move the credential.
	if r, _ := s.send(t, f.mia, "PATCH", c, map[string]any{"name": "Internal API (prod)"}); r.Status != http.StatusOK {
		t.Errorf("member rename = %d %s, want 200", r.Status, r.Body)
	}

	moved := maps.Clone(config)
	moved["base_url"], moved["test_url"] = elsewhere, elsewhere+"/v1/me"
	if r, _ := s.send(t, f.ada, "PATCH", c, map[string]any{"config": moved}); r.Status != http.StatusOK {
		t.Fatalf("admin PATCH of base_url and test_url = %d %s, want 200", r.Status, r.Body)
	}
	r, _ := s.send(t, f.ada, "GET", c+"/audit", nil)
	oldHost, newHost := strings.TrimPrefix(fake.Server.URL, "http://"), strings.TrimPrefix(elsewhere, "http://")
	if !strings.Contains(string(r.Body), oldHost) || !strings.Contains(string(r.Body), newHost) {
		t.Errorf("audit = %s, want the old (%s) and new (%s) host", r.Body, oldHost, newHost)
	}
}
