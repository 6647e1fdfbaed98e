package main_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOAuthStartIsServed: the runner answers an OAuth Connection with a
// start link on its own URL; GET there sets the HttpOnly, SameSite=Lax
// binding cookie for /v1/oauth and redirects to the provider, and a link
// it did not sign is refused with a page naming the error code.
func TestOAuthStartIsServed(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	var c struct{ AuthorizeURL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/connections", map[string]any{"name": "HubSpot", "app": "hubspot",
		"authType": "oauth2_advanced", "clientId": "client-id", "clientSecret": "client-secret-0123456789"}, &c)
	if !strings.HasPrefix(c.AuthorizeURL, r.URL+"/v1/oauth/start?") {
		t.Fatalf("authorizeUrl = %q, want the start link on %s", c.AuthorizeURL, r.URL)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(c.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Host != "app.hubspot.com" {
		t.Fatalf("GET the start link = %d to %q, want 302 to HubSpot", resp.StatusCode, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/v1/oauth" || cs[0].Secure {
		t.Errorf("cookies %q, want one HttpOnly, SameSite=Lax cookie for /v1/oauth (not Secure over http)", resp.Header.Values("Set-Cookie"))
	}

	resp, err = noRedirect.Get(r.URL + "/v1/oauth/start?to=https%3A%2F%2Fevil.example%2F&exp=1&sig=x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Error code: invalid_link") {
		t.Errorf("GET a forged start link = %d:\n%s\nwant 400 with invalid_link", resp.StatusCode, body)
	}
}
