package httpapi_test

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"wiresk/internal/httpapi"
)

// forgedState is a state no authorization issued: 43 base64url characters,
// like a real one.
const forgedState = "Zm9yZ2VkLXN0YXRlLWZvcmdlZC1zdGF0ZS1mb3JnZWQ"

// forgedCode is the code sent with it.
const forgedCode = "4/0AbCdEf-forged-authorization-code"

// checkCallbackPage checks the security headers and the content of a
// callback page: HTML, not cached, not referred, nothing loaded, and none
// of hidden in it.
func checkCallbackPage(t *testing.T, r response, h http.Header, hidden ...string) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy = %q, want it to have %q", csp, want)
		}
	}
	page := string(r.Body)
	for _, want := range []string{"<!doctype html>", `<html lang="en">`, "<title>", "<h1>", "<main>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page has no %q:\n%s", want, page)
		}
	}
	for _, bad := range append([]string{"<script", "src=", "href=", "http://", "https://", "@import", "url("}, hidden...) {
		if bad != "" && strings.Contains(page, bad) {
			t.Errorf("the page holds %q:\n%s", bad, page)
		}
	}
}

func TestOAuthCallbackPage(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	// A state, forged or not, from a browser without its binding cookie
	// is refused with 403 browser_mismatch; no state is a 400.
	cases := []struct {
		name   string
		query  url.Values
		status int
		code   string
	}{
		{"forged state", url.Values{"state": {forgedState}, "code": {forgedCode}}, http.StatusForbidden, "browser_mismatch"},
		{"no state", url.Values{"code": {forgedCode}}, http.StatusBadRequest, "missing_state"},
		{"no code", url.Values{"state": {forgedState}}, http.StatusForbidden, "browser_mismatch"},
		{"provider error with forged state", url.Values{"state": {forgedState}, "error": {"access_denied"}, "error_description": {"The user denied access"}}, http.StatusForbidden, "browser_mismatch"},
		{"markup in the description", url.Values{"state": {forgedState}, "error": {"server_error"}, "error_description": {`<script>alert(1)</script><img src=x onerror=alert(2)>`}}, http.StatusForbidden, "browser_mismatch"},
		{"nothing", url.Values{}, http.StatusBadRequest, "missing_state"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.snapshot(t)
			res := s.svc.Callback(context.Background(), tc.query, nil) // a forged state changes nothing
			r, h := s.send(t, "", "GET", "/v1/oauth/callback?"+tc.query.Encode(), nil)
			if got, want := r.Status, tc.status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if want := "Error code: " + tc.code; !strings.Contains(string(r.Body), want) {
				t.Errorf("the page does not say %q:\n%s", want, r.Body)
			}
			if got, want := r.Status, httpapi.StatusOf(res.Code); got != want {
				t.Errorf("status = %d, want the service's %d", got, want)
			}
			checkCallbackPage(t, r, h, forgedState, forgedCode)
			page := string(r.Body)
			for _, text := range []string{res.Title, res.Message} {
				if text == "" {
					t.Errorf("the service answered an empty title or message: %+v", res)
				}
				if esc := template.HTMLEscapeString(text); !strings.Contains(page, esc) {
					t.Errorf("the page does not say %q:\n%s", esc, page)
				}
			}
			if got, want := s.snapshot(t), before; got != want {
				t.Errorf("a forged callback wrote to the store")
			}
		})
	}
}

func TestOAuthCallbackConsumesTheState(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	const clientSecret = "slack-client-secret-0123456789abcdef"
	r, h := s.send(t, f.alice, "POST", "/v1/groups/grp_a/connections", map[string]any{
		"name": "Slack", "app": "slack", "authType": "oauth2_advanced", "clientId": "1234.5678", "clientSecret": clientSecret,
	})
	if got, want := r.Status, http.StatusCreated; got != want {
		t.Fatalf("create: status = %d, want %d: %s", got, want, r.Body)
	}
	if got, want := h.Get("Cache-Control"), "no-store"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	noSecret(t, "create", r.Body, clientSecret)
	var con connView
	r.decode(t, &con)
	if got, want := con.Status, "pending"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if !strings.HasPrefix(con.AuthorizeURL, s.server.URL+"/v1/oauth/start?") {
		t.Fatalf("authorizeUrl = %q, want the start link", con.AuthorizeURL)
	}
	b := newBrowser(t)
	providerURL, _ := b.start(t, con.AuthorizeURL)
	au, err := url.Parse(providerURL)
	if err != nil || !strings.HasPrefix(providerURL, "https://slack.com/oauth/v2/authorize?") {
		t.Fatalf("the start link redirects to %q (%v), want Slack's authorize URL", providerURL, err)
	}
	state := au.Query().Get("state")
	if state == "" {
		t.Fatalf("the authorize URL %q has no state", providerURL)
	}
	if got, want := au.Query().Get("redirect_uri"), s.server.URL+"/v1/oauth/callback"; got != want {
		t.Errorf("redirect_uri = %q, want %q", got, want)
	}

	// The user declines: the page says so, and the state is spent.
	q := url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {`<script>alert(1)</script> denied`}}
	r, h = b.get(t, s.server.URL+"/v1/oauth/callback?"+q.Encode())
	if r.Status < 400 || r.Status > 499 {
		t.Errorf("declined: status = %d, want a 4xx", r.Status)
	}
	checkCallbackPage(t, r, h, state, clientSecret)

	// The callback cleared the binding cookie: the replay is refused for
	// the browser; with the cookie again, for the spent state.
	q = url.Values{"state": {state}, "code": {forgedCode}}
	r, h = b.get(t, s.server.URL+"/v1/oauth/callback?"+q.Encode())
	if got, want := r.Status, http.StatusForbidden; got != want {
		t.Errorf("replayed state, cookie cleared: status = %d, want %d", got, want)
	}
	checkCallbackPage(t, r, h, state, forgedCode, clientSecret)
	b.start(t, con.AuthorizeURL)
	r, h = b.get(t, s.server.URL+"/v1/oauth/callback?"+q.Encode())
	if got, want := r.Status, http.StatusBadRequest; got != want {
		t.Errorf("replayed state: status = %d, want %d", got, want)
	}
	checkCallbackPage(t, r, h, state, forgedCode, clientSecret)

	// Reconnect starts a new authorization with a new state.
	r, _ = s.send(t, f.alice, "POST", "/v1/groups/grp_a/connections/"+con.ID+"/reconnect", nil)
	if got, want := r.Status, http.StatusOK; got != want {
		t.Fatalf("reconnect: status = %d, want %d: %s", got, want, r.Body)
	}
	noSecret(t, "reconnect", r.Body, clientSecret)
	var again connView
	r.decode(t, &again)
	next, _ := b.start(t, again.AuthorizeURL)
	au2, err := url.Parse(next)
	if err != nil || au2.Query().Get("state") == "" || au2.Query().Get("state") == state {
		t.Errorf("reconnect authorizeUrl leads to %q, want one with a new state", next)
	}
}

func TestOAuthCallbackRedirectsToTheReturnURL(t *testing.T) {
	const returnURL = "https://app.example/connections"
	s := MustConnSystem(t, connOptions{returnURL: returnURL})
	q := url.Values{"state": {forgedState}, "code": {forgedCode}}
	r, h := s.send(t, "", "GET", "/v1/oauth/callback?"+q.Encode(), nil)
	if got, want := r.Status, http.StatusSeeOther; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
	}
	loc := h.Get("Location")
	if !strings.HasPrefix(loc, returnURL) {
		t.Errorf("Location = %q, want it under %q", loc, returnURL)
	}
	for _, hidden := range []string{forgedState, forgedCode} {
		if strings.Contains(loc, hidden) || strings.Contains(string(r.Body), hidden) {
			t.Errorf("the redirect carries %q: %s %s", hidden, loc, r.Body)
		}
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestOAuthCallbackIsGETOnly(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	q := "?" + url.Values{"state": {forgedState}, "code": {forgedCode}}.Encode()
	for _, method := range []string{"HEAD", "POST", "PUT", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			before := s.snapshot(t)
			r, h := s.send(t, "", method, "/v1/oauth/callback"+q, nil)
			if got, want := r.Status, http.StatusMethodNotAllowed; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := h.Get("Allow"), "GET"; got != want {
				t.Errorf("Allow = %q, want %q", got, want)
			}
			if method != "HEAD" {
				if got, want := r.errorCode(), "method_not_allowed"; got != want {
					t.Errorf("code = %q, want %q", got, want)
				}
			}
			if got, want := s.snapshot(t), before; got != want {
				t.Errorf("a %s callback wrote to the store", method)
			}
		})
	}
}
