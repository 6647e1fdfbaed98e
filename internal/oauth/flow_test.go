package oauth_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// pkceAlphabet is RFC 7636's code verifier: 43 to 128 unreserved characters.
var pkceAlphabet = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func TestNewStateIsRandomAndURLSafe(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := oauth.NewState()
		if got, want := len(s), 43; got != want {
			t.Fatalf("len(NewState()) = %d, want %d (256 bits)", got, want)
		}
		if got := url.QueryEscape(s); got != s {
			t.Fatalf("NewState() = %q needs escaping in a URL (%q)", s, got)
		}
		if seen[s] {
			t.Fatalf("NewState() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestVerifierIsDerivedFromStateAndKey(t *testing.T) {
	state := oauth.NewState()
	v := oauth.Verifier(stateKey, state)
	if !pkceAlphabet.MatchString(v) {
		t.Errorf("Verifier = %q, want 43-128 RFC 7636 characters", v)
	}
	if got, want := oauth.Verifier(stateKey, state), v; got != want {
		t.Errorf("Verifier is not deterministic: %q, then %q", want, got)
	}
	if got := oauth.Verifier(stateKey, state+"x"); got == v {
		t.Errorf("Verifier of another state = %q, the same as %q", got, v)
	}
	otherKey := append([]byte(nil), stateKey...)
	otherKey[0] ^= 1
	if got := oauth.Verifier(otherKey, state); got == v {
		t.Errorf("Verifier under another key = %q, the same as %q", got, v)
	}
	if strings.Contains(v, state) {
		t.Errorf("Verifier %q contains the state %q", v, state)
	}
}

func TestNewFlowRefusesShortStateKey(t *testing.T) {
	_, err := oauth.NewFlow(oauth.FlowConfig{StateKey: make([]byte, 31)})
	if err == nil {
		t.Errorf("NewFlow with a 31-byte key: got no error, want one")
	}
}

// TestAuthorizeURLFromTheCatalog builds authorization URLs of real catalog
// apps: Google's extra parameters and PKCE, Zoho's data-centre host and
// comma-separated scopes, Notion's absent scopes.
func TestAuthorizeURLFromTheCatalog(t *testing.T) {
	cat := catalog.MustLoad()
	f := newFlow(t, &testClock{})
	redirect := "https://api.wiresk.example/v1/oauth/callback"

	t.Run("gmail", func(t *testing.T) {
		gmail := app(t, cat, "gmail")
		auth, err := f.Authorize(oauth.Request{App: gmail, Client: oauth.Client{ID: "cid.apps.googleusercontent.com", Secret: "gsecret"}, RedirectURI: redirect})
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		u, err := url.Parse(auth.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Scheme+"://"+u.Host+u.Path, "https://accounts.google.com/o/oauth2/v2/auth"; got != want {
			t.Errorf("endpoint = %s, want %s", got, want)
		}
		q := u.Query()
		for k, want := range map[string]string{
			"response_type":          "code",
			"client_id":              "cid.apps.googleusercontent.com",
			"redirect_uri":           redirect,
			"scope":                  strings.Join(gmail.OAuth.Scopes.Default, " "),
			"state":                  auth.State,
			"access_type":            "offline",
			"prompt":                 "consent",
			"include_granted_scopes": "true",
			"code_challenge_method":  "S256",
			"code_challenge":         oauth2.S256ChallengeFromVerifier(oauth.Verifier(stateKey, auth.State)),
		} {
			if got := q.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if strings.Contains(auth.URL, "gsecret") || strings.Contains(auth.URL, oauth.Verifier(stateKey, auth.State)) {
			t.Errorf("authorization URL %s carries the client secret or the verifier", auth.URL)
		}
	})

	t.Run("zoho_eu_and_user_scopes", func(t *testing.T) {
		zoho := app(t, cat, "zoho_crm")
		auth, err := f.Authorize(oauth.Request{App: zoho, Config: map[string]string{"domain": "eu"},
			Client: oauth.Client{ID: "1000.ABC"}, RedirectURI: redirect,
			Scopes: []string{"ZohoCRM.modules.ALL", "ZohoCRM.users.READ", "ZohoCRM.org.READ"}})
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		u, _ := url.Parse(auth.URL)
		if got, want := u.Host, "accounts.zoho.eu"; got != want {
			t.Errorf("host = %s, want %s", got, want)
		}
		q := u.Query()
		if got, want := q.Get("scope"), "ZohoCRM.modules.ALL,ZohoCRM.users.READ,ZohoCRM.org.READ"; got != want {
			t.Errorf("scope = %q, want %q", got, want)
		}
		if got := q.Get("code_challenge"); got != "" {
			t.Errorf("code_challenge = %q, want none: Zoho is not declared with PKCE", got)
		}
	})

	t.Run("notion_without_scopes", func(t *testing.T) {
		auth, err := f.Authorize(oauth.Request{App: app(t, cat, "notion"), Client: oauth.Client{ID: "n"}, RedirectURI: redirect})
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		q, _ := url.ParseQuery(auth.URL[strings.Index(auth.URL, "?")+1:])
		if q.Has("scope") {
			t.Errorf("scope = %q, want no scope parameter", q.Get("scope"))
		}
		if got, want := q.Get("owner"), "user"; got != want {
			t.Errorf("owner = %q, want %q", got, want)
		}
	})

	t.Run("bad_requests", func(t *testing.T) {
		gmail := app(t, cat, "gmail")
		for name, req := range map[string]oauth.Request{
			"scope with a comma":    {App: gmail, Client: oauth.Client{ID: "c"}, RedirectURI: redirect, Scopes: []string{"a,b"}},
			"scope with a blank":    {App: gmail, Client: oauth.Client{ID: "c"}, RedirectURI: redirect, Scopes: []string{"a b"}},
			"no redirect URI":       {App: gmail, Client: oauth.Client{ID: "c"}},
			"relative redirect":     {App: gmail, Client: oauth.Client{ID: "c"}, RedirectURI: "/v1/oauth/callback"},
			"no client id":          {App: gmail, RedirectURI: redirect},
			"app without OAuth":     {App: app(t, cat, "openai"), Client: oauth.Client{ID: "c"}, RedirectURI: redirect},
			"unknown zoho domain":   {App: app(t, cat, "zoho_crm"), Config: map[string]string{"domain": "evil.example"}, Client: oauth.Client{ID: "c"}, RedirectURI: redirect},
			"no app in the request": {Client: oauth.Client{ID: "c"}, RedirectURI: redirect},
		} {
			_, err := f.Authorize(req)
			var we *wiresk.Error
			if !errors.As(err, &we) || we.Code != wiresk.EValidation {
				t.Errorf("%s: Authorize error = %v, want a %s *wiresk.Error", name, err, wiresk.EValidation)
			}
		}
	})
}

// TestAuthorizationCodeFlowEndToEnd drives the real go-oauth2 server: the
// browser logs in and is redirected to the callback with a code and the
// state, Exchange trades it with the derived verifier, and the token works
// at the provider's API.
func TestAuthorizationCodeFlowEndToEnd(t *testing.T) {
	for _, tc := range []struct{ app, tokenAuth string }{{"idp", "basic"}, {"idp_body", "body"}} {
		t.Run(tc.tokenAuth, func(t *testing.T) {
			srv := newAuthServer(t, serverOptions{tokenAuth: tc.tokenAuth})
			clock := &testClock{}
			f := newFlow(t, clock)
			req := srv.request(app(t, srv.testApps(t), tc.app))

			tok, _ := srv.connect(t, f, req)
			if got, want := srv.logins.Load(), int64(1); got != want {
				t.Errorf("logins = %d, want %d", got, want)
			}
			if got, want := srv.exchanges.Load(), int64(1); got != want {
				t.Errorf("code exchanges = %d, want %d", got, want)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" {
				t.Fatalf("Exchange = %v, want an access and a refresh token", tok)
			}
			if got, want := tok.TokenType, "Bearer"; got != want {
				t.Errorf("TokenType = %q, want %q", got, want)
			}
			if got, want := tok.Scope, "read write"; got != want {
				t.Errorf("Scope = %q, want %q", got, want)
			}
			if d := tok.Expiry.Sub(clock.Now()); d < 9*60e9 || d > 10*60e9 {
				t.Errorf("Expiry is %s from now, want about 10 minutes", d)
			}
			if got, want := srv.me(t, tok.AccessToken), http.StatusOK; got != want {
				t.Errorf("GET /me with the new token: status %d, want %d", got, want)
			}
		})
	}
}

func TestExchangeWithWrongVerifierIsRefused(t *testing.T) {
	srv := newAuthServer(t, serverOptions{tokenAuth: "basic"})
	f := newFlow(t, &testClock{})
	req := srv.request(app(t, srv.testApps(t), "idp"))

	auth, err := f.Authorize(req)
	if err != nil {
		t.Fatal(err)
	}
	code, state, err := oauth.ParseCallback(srv.authorize(t, auth.URL))
	if err != nil {
		t.Fatal(err)
	}
	// The verifier derives from the state: another state is another
	// verifier, which does not match the challenge the server holds.
	otherState := oauth.NewState()
	tok, err := f.Exchange(t.Context(), req, code, otherState)
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("Exchange with a wrong verifier = %v, %v; want an *oauth.Error", tok, err)
	}
	if got, want := oe.Kind, oauth.KindInvalidGrant; got != want {
		t.Errorf("Kind = %q, want %q", got, want)
	}
	if got, want := oe.Code, "invalid_grant"; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := oe.Op, "exchange"; got != want {
		t.Errorf("Op = %q, want %q", got, want)
	}
	if oe.Temporary() {
		t.Errorf("Temporary() = true, want false")
	}
	assertNoSecrets(t, err, testClientSecret, code, oauth.Verifier(stateKey, otherState), oauth.Verifier(stateKey, state))

	// A Flow under another state key derives another verifier too.
	auth, _ = f.Authorize(req)
	code, state, _ = oauth.ParseCallback(srv.authorize(t, auth.URL))
	other, err := oauth.NewFlow(oauth.FlowConfig{StateKey: []byte("another-state-key-of-thirty-two-bytes!")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Exchange(t.Context(), req, code, state)
	if !errors.As(err, &oe) || oe.Kind != oauth.KindInvalidGrant {
		t.Errorf("Exchange under another state key = %v, want an invalid_grant *oauth.Error", err)
	}
}

func TestReplayedCodeIsRefused(t *testing.T) {
	srv := newAuthServer(t, serverOptions{tokenAuth: "basic"})
	f := newFlow(t, &testClock{})
	req := srv.request(app(t, srv.testApps(t), "idp"))
	auth, _ := f.Authorize(req)
	code, state, err := oauth.ParseCallback(srv.authorize(t, auth.URL))
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.Exchange(t.Context(), req, code, state)
	if err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	second, err := f.Exchange(t.Context(), req, code, state)
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Kind != oauth.KindInvalidGrant {
		t.Fatalf("replayed Exchange = %v, %v; want an invalid_grant *oauth.Error", second, err)
	}
	assertNoSecrets(t, err, testClientSecret, code, oauth.Verifier(stateKey, state), first.AccessToken, first.RefreshToken)
}

func TestExchangeWithWrongClientSecret(t *testing.T) {
	srv := newAuthServer(t, serverOptions{tokenAuth: "body"})
	f := newFlow(t, &testClock{})
	req := srv.request(app(t, srv.testApps(t), "idp_body"))
	auth, _ := f.Authorize(req)
	code, state, err := oauth.ParseCallback(srv.authorize(t, auth.URL))
	if err != nil {
		t.Fatal(err)
	}
	req.Client.Secret = "wrong-secret-value-123"
	_, err = f.Exchange(t.Context(), req, code, state)
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("Exchange = %v, want an *oauth.Error", err)
	}
	if got, want := oe.Kind, oauth.KindInvalidClient; got != want {
		t.Errorf("Kind = %q, want %q (%v)", got, want, err)
	}
	assertNoSecrets(t, err, "wrong-secret-value-123", testClientSecret, code, oauth.Verifier(stateKey, state))
}

func TestUserDeclinesAtConsent(t *testing.T) {
	srv := newAuthServer(t, serverOptions{tokenAuth: "basic", deny: true})
	f := newFlow(t, &testClock{})
	auth, err := f.Authorize(srv.request(app(t, srv.testApps(t), "idp")))
	if err != nil {
		t.Fatal(err)
	}
	code, state, err := oauth.ParseCallback(srv.authorize(t, auth.URL))
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("ParseCallback = %q, %q, %v; want an *oauth.Error", code, state, err)
	}
	if got, want := oe.Kind, oauth.KindAccessDenied; got != want {
		t.Errorf("Kind = %q, want %q", got, want)
	}
	if got, want := state, auth.State; got != want {
		t.Errorf("state = %q, want %q (the caller consumes it even on error)", got, want)
	}
	if got, want := srv.exchanges.Load(), int64(0); got != want {
		t.Errorf("exchanges = %d, want %d", got, want)
	}
}

// TestServerRefusesAuthorizationWithoutPKCE: the server forces PKCE, so an
// app declared without it never gets a code.
func TestServerRefusesAuthorizationWithoutPKCE(t *testing.T) {
	srv := newAuthServer(t, serverOptions{tokenAuth: "basic"})
	f := newFlow(t, &testClock{})
	auth, err := f.Authorize(srv.request(app(t, srv.testApps(t), "idp_nopkce")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(auth.URL, "code_challenge") {
		t.Fatalf("URL %s has a PKCE challenge; the app declares none", auth.URL)
	}
	resp, err := http.Get(auth.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// go-oauth2 answers request-validation errors itself instead of
	// redirecting them to the client.
	if got, want := resp.StatusCode, http.StatusBadRequest; got != want {
		t.Errorf("status = %d, want %d (%s)", got, want, body)
	}
	if resp.Request.URL.Query().Has("code") {
		t.Errorf("got a code at %s, want none", resp.Request.URL)
	}
}

func TestParseCallback(t *testing.T) {
	code, state, err := oauth.ParseCallback(url.Values{"code": {"c0de"}, "state": {"st"}})
	if err != nil || code != "c0de" || state != "st" {
		t.Errorf("ParseCallback(code, state) = %q, %q, %v; want c0de, st, nil", code, state, err)
	}
	for name, q := range map[string]url.Values{
		"no state": {"code": {"c0de"}},
		"no code":  {"state": {"st"}},
	} {
		_, _, err := oauth.ParseCallback(q)
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Kind != oauth.KindInvalidResponse {
			t.Errorf("%s: ParseCallback error = %v, want a %s *oauth.Error", name, err, oauth.KindInvalidResponse)
		}
	}
	_, state, err = oauth.ParseCallback(url.Values{"state": {"st"}, "error": {"invalid_scope"},
		"error_description": {"bad\nscope\x00 requested"}})
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_scope" || oe.Kind != oauth.KindProvider || state != "st" {
		t.Fatalf("ParseCallback(error) = %q, %v; want st and a provider *oauth.Error", state, err)
	}
	if strings.ContainsAny(oe.Description, "\n\x00") {
		t.Errorf("Description = %q keeps control characters", oe.Description)
	}
}
