package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/httpapi"
	"wiresk/internal/testkit/oauthtest"
)

// browser is a user's browser: a cookie jar shared by every request.
type browser struct {
	jar    *cookiejar.Jar
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{jar: jar, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// get sends GET u with the browser's cookies, without following a
// redirect.
func (b *browser) get(t *testing.T, u string) (response, http.Header) {
	t.Helper()
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: data}, resp.Header
}

// start opens a start link and returns where it redirects (302) and the
// binding cookie it set.
func (b *browser) start(t *testing.T, link string) (string, *http.Cookie) {
	t.Helper()
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET the start link: status %d, want 302: %s", resp.StatusCode, body)
	}
	var bind *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, connect.BindingCookiePrefix) {
			bind = ck
		}
	}
	if bind == nil {
		t.Fatalf("the start link set no %s* cookie: %v", connect.BindingCookiePrefix, resp.Header.Values("Set-Cookie"))
	}
	return resp.Header.Get("Location"), bind
}

// consent follows a provider's authorization URL like the browser: the
// provider's login and consent, and the redirect to the callback, whose
// answer it returns (no redirect is followed from there).
func (b *browser) consent(t *testing.T, providerURL, callbackURL string) (response, http.Header) {
	t.Helper()
	c := *b.client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if strings.HasPrefix(via[len(via)-1].URL.String(), callbackURL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := c.Get(providerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Request.URL.String(), callbackURL) {
		t.Fatalf("the authorization ended at %s (%d), not at the callback: %s", resp.Request.URL, resp.StatusCode, data)
	}
	return response{Status: resp.StatusCode, Body: data}, resp.Header
}

// bindingCookies returns the binding cookies the browser would send to the
// callback.
func (b *browser) bindingCookies(t *testing.T, s *connSystem) []*http.Cookie {
	t.Helper()
	u, _ := url.Parse(s.server.URL + httpapi.OAuthCallbackPath)
	var out []*http.Cookie
	for _, c := range b.jar.Cookies(u) {
		if strings.HasPrefix(c.Name, connect.BindingCookiePrefix) {
			out = append(out, c)
		}
	}
	return out
}

// createHubSpot creates an oauth2_advanced HubSpot Connection (pointed at
// the system's OAuth server) in groupID as the holder of tok.
func createHubSpot(t *testing.T, s *connSystem, tok, groupID string) connView {
	t.Helper()
	v := s.newConn(t, tok, groupID, map[string]any{"name": "HubSpot", "app": "hubspot", "authType": "oauth2_advanced",
		"clientId": oauthtest.ClientID, "clientSecret": oauthtest.ClientSecret})
	if !strings.HasPrefix(v.AuthorizeURL, s.server.URL+httpapi.OAuthStartPath+"?") {
		t.Fatalf("authorizeUrl = %q, want the start link %s%s?...", v.AuthorizeURL, s.server.URL, httpapi.OAuthStartPath)
	}
	return v
}

// status returns the status of a Connection as the holder of tok sees it.
func (s *connSystem) status(t *testing.T, tok, groupID, id string) string {
	t.Helper()
	r := s.api(t, tok, "GET", "/v1/groups/"+groupID+"/connections/"+id, nil)
	var v connView
	r.decode(t, &v)
	return v.Status
}

// TestOAuthStartFlow: the authorizeUrl goes through GET /v1/oauth/start,
// which binds the browser with a cookie and redirects to the provider; the
// same browser comes back to the callback, the Connection is connected, and
// the cookie is cleared.
func TestOAuthStartFlow(t *testing.T) {
	s := MustConnSystem(t, connOptions{idpApp: "hubspot"})
	f := MustConnFixture(t, s)
	v := createHubSpot(t, s, f.alice, "grp_a")
	callbackURL := s.server.URL + httpapi.OAuthCallbackPath

	b := newBrowser(t)
	providerURL, _ := b.start(t, v.AuthorizeURL)
	if !strings.HasPrefix(providerURL, s.idp.URL+"/authorize?") {
		t.Fatalf("the start link redirects to %q, want the provider's authorization endpoint", providerURL)
	}
	if got := len(b.bindingCookies(t, s)); got != 1 {
		t.Fatalf("the browser holds %d binding cookies for the callback, want 1", got)
	}
	r, h := b.consent(t, providerURL, callbackURL)
	if got, want := r.Status, http.StatusOK; got != want {
		t.Fatalf("callback: status %d, want %d: %s", got, want, r.Body)
	}
	checkCallbackPage(t, r, h)
	if !strings.Contains(string(r.Body), "Connected") {
		t.Errorf("the page does not say Connected:\n%s", r.Body)
	}
	if got, want := s.status(t, f.alice, "grp_a", v.ID), "active"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if got := b.bindingCookies(t, s); len(got) != 0 {
		t.Errorf("after the callback the browser still holds %v, want the binding cookie cleared", got)
	}
	if got, want := s.idp.Verified.Load(), int64(1); got != want {
		t.Errorf("code exchanges with a PKCE verifier = %d, want %d", got, want)
	}
}

// TestOAuthCallbackRefusesAnotherBrowser: Bob starts an authorization for
// his Group and sends the provider's URL (or the whole callback) to Alice.
// Alice consents in her browser, which did not open Bob's start link: the
// callback refuses it with 403 browser_mismatch, before any token exchange,
// so Alice's tokens are stored nowhere and Bob's Connection stays pending.
// A browser with a cookie of that name but another value, or with the
// binding of another authorization, is refused the same way.
func TestOAuthCallbackRefusesAnotherBrowser(t *testing.T) {
	s := MustConnSystem(t, connOptions{idpApp: "hubspot"})
	f := MustConnFixture(t, s)
	attackerConn := createHubSpot(t, s, f.bob, "grp_b")
	callbackURL := s.server.URL + httpapi.OAuthCallbackPath

	attacker := newBrowser(t)
	providerURL, bound := attacker.start(t, attackerConn.AuthorizeURL)

	// Alice's browser has a binding of its own, for her own authorization.
	victim := newBrowser(t)
	victim.start(t, createHubSpot(t, s, f.alice, "grp_a").AuthorizeURL)

	before := s.snapshot(t)
	r, h := victim.consent(t, providerURL, callbackURL)
	if got, want := r.Status, http.StatusForbidden; got != want {
		t.Fatalf("callback in the victim's browser: status %d, want %d: %s", got, want, r.Body)
	}
	checkCallbackPage(t, r, h)
	if want := "Error code: browser_mismatch"; !strings.Contains(string(r.Body), want) {
		t.Errorf("the page does not say %q:\n%s", want, r.Body)
	}
	if got := s.idp.Exchanges.Load(); got != 0 {
		t.Errorf("token exchanges = %d, want 0", got)
	}
	if s.snapshot(t) != before {
		t.Errorf("a refused callback wrote to the store or the vault")
	}
	if got, want := s.status(t, f.bob, "grp_b", attackerConn.ID), "pending"; got != want {
		t.Errorf("the attacker's connection is %q, want %q", got, want)
	}

	// The victim's callback URL replayed with a forged cookie of the
	// binding's name: refused too.
	redirect := s.idp.Authorize(t, providerURL) // the provider's redirect query, as the victim got it
	forged := newBrowser(t)
	u, _ := url.Parse(callbackURL)
	forged.jar.SetCookies(u, []*http.Cookie{{Name: bound.Name, Value: "not-the-binding", Path: "/v1/oauth"}})
	r, _ = forged.get(t, callbackURL+"?"+redirect.Encode())
	if got, want := r.Status, http.StatusForbidden; got != want {
		t.Errorf("callback with a mismatched cookie: status %d, want %d: %s", got, want, r.Body)
	}
	if got := s.idp.Exchanges.Load(); got != 0 {
		t.Errorf("token exchanges = %d, want 0", got)
	}
	if s.snapshot(t) != before {
		t.Errorf("a refused callback wrote to the store or the vault")
	}

	// The state was not spent: the browser that started it completes it.
	r, _ = attacker.get(t, callbackURL+"?"+redirect.Encode())
	if got, want := r.Status, http.StatusOK; got != want {
		t.Errorf("callback in the browser that started it: status %d, want %d: %s", got, want, r.Body)
	}
}

// TestOAuthStartCookie: the binding cookie is HttpOnly, SameSite=Lax, for
// /v1/oauth only, lives as long as the state, and is Secure when the
// public URL is https.
func TestOAuthStartCookie(t *testing.T) {
	s := MustConnSystem(t, connOptions{idpApp: "hubspot"})
	f := MustConnFixture(t, s)
	v := createHubSpot(t, s, f.alice, "grp_a")
	_, c := newBrowser(t).start(t, v.AuthorizeURL)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/v1/oauth" || c.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Lax, /v1/oauth, not Secure over http",
			c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
	if got, want := c.MaxAge, int(connection.StateTTL/time.Second); got != want {
		t.Errorf("Max-Age = %d, want %d (the state's lifetime)", got, want)
	}
	if c.Value == "" || strings.Contains(v.AuthorizeURL, c.Value) {
		t.Errorf("cookie value %q is empty or in the start link", c.Value)
	}

	// Behind an https public URL the cookie is Secure; later, it lives
	// only as long as the state has left.
	httpsCfg := s.cfg
	httpsCfg.StartURL = "https://wiresk.example/v1/oauth/start"
	https := connect.New(httpsCfg).Authorizations
	s.clock.Advance(4 * time.Minute)
	w := httptest.NewRecorder()
	link, _ := url.Parse(v.AuthorizeURL)
	httpapi.NewOAuthStart(https, nil).ServeHTTP(w, httptest.NewRequest("GET", "https://wiresk.example"+link.RequestURI(), nil))
	if got, want := w.Code, http.StatusFound; got != want {
		t.Fatalf("status %d, want %d: %s", got, want, w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || !cs[0].Secure || cs[0].MaxAge != int((connection.StateTTL-4*time.Minute)/time.Second) {
		t.Errorf("cookies %v, want one Secure cookie with Max-Age %d", cs, int((connection.StateTTL-4*time.Minute)/time.Second))
	}
}

// TestOAuthStartRefusals: a start link Wiresk did not sign (tampered, or
// pointed elsewhere) or past its expiry is refused with a page and its
// code, sets no cookie and sends the browser nowhere; only GET is served.
func TestOAuthStartRefusals(t *testing.T) {
	s := MustConnSystem(t, connOptions{idpApp: "hubspot"})
	f := MustConnFixture(t, s)
	v := createHubSpot(t, s, f.alice, "grp_a")
	link, _ := url.Parse(v.AuthorizeURL)
	elsewhere := link.Query()
	elsewhere.Set("to", "https://evil.example/authorize?state=x")
	later := link.Query()
	later.Set("exp", "99999999999")
	cases := []struct {
		name, query, code string
	}{
		{"no query", "", "invalid_link"},
		{"pointed elsewhere", elsewhere.Encode(), "invalid_link"},
		{"expiry pushed back", later.Encode(), "invalid_link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, h := newBrowser(t).get(t, s.server.URL+httpapi.OAuthStartPath+"?"+tc.query)
			if got, want := r.Status, http.StatusBadRequest; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if h.Get("Location") != "" || len(h.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused start redirects to %q and sets %v", h.Get("Location"), h.Values("Set-Cookie"))
			}
			checkCallbackPage(t, r, h)
			if want := "Error code: " + tc.code; !strings.Contains(string(r.Body), want) {
				t.Errorf("the page does not say %q:\n%s", want, r.Body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		s.clock.Advance(connection.StateTTL)
		r, h := newBrowser(t).get(t, v.AuthorizeURL)
		if got, want := r.Status, http.StatusBadRequest; got != want {
			t.Errorf("status %d, want %d", got, want)
		}
		if !strings.Contains(string(r.Body), "Error code: expired_state") || len(h.Values("Set-Cookie")) != 0 {
			t.Errorf("an expired start link: cookies %v, page:\n%s", h.Values("Set-Cookie"), r.Body)
		}
	})
	t.Run("POST", func(t *testing.T) {
		r, h := s.send(t, "", "POST", httpapi.OAuthStartPath+"?"+link.RawQuery, nil)
		if got, want := r.Status, http.StatusMethodNotAllowed; got != want || h.Get("Allow") != "GET" {
			t.Errorf("status %d Allow %q, want %d GET", got, h.Get("Allow"), want)
		}
	})
}
