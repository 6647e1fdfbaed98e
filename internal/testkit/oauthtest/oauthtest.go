// Package oauthtest runs a real OAuth 2.0 authorization server inside a
// test: github.com/go-oauth2/oauth2/v4 (its manage and server packages, a
// memory token store and one confidential client) behind an httptest
// server, with PKCE S256 forced, rotating refresh tokens, an RFC 7009
// revocation endpoint, a login page that opens a session cookie for a test
// user who then consents at once, and a resource endpoint (/me) that checks
// the bearer token and names the user. It is what the OAuth client
// (internal/oauth) and the Connections use cases (internal/connect) are
// tested against, instead of a hand-written stub.
//
// The server is a test double: its client secret and users are constants
// of this package, and nothing here is fit for production.
package oauthtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	oauth2lib "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
)

// Test identities. The client secret has characters that RFC 6749 §2.3.1
// form-encodes in HTTP Basic, to prove that the encoding round-trips.
const (
	// ClientID is the id of the server's only client.
	ClientID = "wiresk-test-client"
	// ClientSecret is its secret.
	ClientSecret = "s3cr3t+/=~Client!Secret-9f8e7d"
	// User is the user who logs in and consents; /me names it.
	User = "user-42"
	// SessionCookie is the name of the login session cookie.
	SessionCookie = "idp_session"
)

// Options configures New.
type Options struct {
	// TokenAuth is how the client must authenticate at the token and
	// revocation endpoints: "basic" (HTTP Basic, form-decoded as RFC 6749
	// §2.3.1 says; the default) or "body" (client_id and client_secret
	// form parameters).
	TokenAuth string
	// Deny makes the user decline at the consent step (the server then
	// redirects with error=access_denied). Server.Deny changes it later.
	Deny bool
	// CallbackURL is the redirect URI registered for the client. When
	// empty, New starts a small callback server and registers its
	// /v1/oauth/callback.
	CallbackURL string
	// AccessTokenTTL is the lifetime of access tokens; 10 minutes when
	// zero. Refresh tokens live 24 hours.
	AccessTokenTTL time.Duration
}

// Server is the running authorization server.
type Server struct {
	// URL is the base URL of the authorization server: /authorize,
	// /token, /revoke, /me and /login.
	URL string
	// CallbackURL is the redirect URI registered for the client.
	CallbackURL string
	// Manager and OAuth are go-oauth2's manager and server, for tests that
	// look behind the endpoints.
	Manager *manage.Manager
	OAuth   *server.Server

	// Exchanges counts authorization_code grant requests; Verified those
	// of them that carried a PKCE code_verifier; Refreshes refresh_token
	// grant requests; Logins the sessions the login page opened.
	Exchanges atomic.Int64
	Verified  atomic.Int64
	Refreshes atomic.Int64
	Logins    atomic.Int64
	// RefreshDelay is how long (in nanoseconds) each refresh grant waits
	// before it is served, so that concurrent callers pile up.
	RefreshDelay atomic.Int64
	// FailRefreshes makes refresh grants answer 503 temporarily_unavailable.
	FailRefreshes atomic.Bool
	// Deny makes the user decline at the consent step.
	Deny atomic.Bool

	mu            sync.Mutex
	beforeRefresh func(refreshToken string)
}

// New starts the server, closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{}
	s.Deny.Store(opts.Deny)

	s.CallbackURL = opts.CallbackURL
	if s.CallbackURL == "" {
		callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<p>Wiresk test callback</p>")
		}))
		t.Cleanup(callback.Close)
		s.CallbackURL = callback.URL + "/v1/oauth/callback"
	}
	cb, err := url.Parse(s.CallbackURL)
	if err != nil || cb.Host == "" {
		t.Fatalf("oauthtest: CallbackURL %q is not an absolute URL", s.CallbackURL)
	}

	ttl := opts.AccessTokenTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	s.Manager = manage.NewDefaultManager()
	s.Manager.SetAuthorizeCodeExp(time.Minute)
	s.Manager.SetAuthorizeCodeTokenCfg(&manage.Config{
		AccessTokenExp: ttl, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true,
	})
	s.Manager.SetRefreshTokenCfg(&manage.RefreshingConfig{
		AccessTokenExp: ttl, IsGenerateRefresh: true, IsRemoveAccess: true, IsRemoveRefreshing: true,
	})
	s.Manager.MustTokenStorage(store.NewMemoryTokenStore())
	clients := store.NewClientStore()
	if err := clients.Set(ClientID, &models.Client{ID: ClientID, Secret: ClientSecret, Domain: cb.Scheme + "://" + cb.Host}); err != nil {
		t.Fatal(err)
	}
	s.Manager.MapClientStorage(clients)

	cfg := server.NewConfig()
	cfg.AllowedResponseTypes = []oauth2lib.ResponseType{oauth2lib.Code}
	cfg.AllowedGrantTypes = []oauth2lib.GrantType{oauth2lib.AuthorizationCode, oauth2lib.Refreshing}
	cfg.AllowedCodeChallengeMethods = []oauth2lib.CodeChallengeMethod{oauth2lib.CodeChallengeS256}
	cfg.ForcePKCE = true
	s.OAuth = server.NewServer(cfg, s.Manager)
	switch opts.TokenAuth {
	case "", "basic":
		s.OAuth.SetClientInfoHandler(clientBasicRFC6749)
	case "body":
		s.OAuth.SetClientInfoHandler(server.ClientFormHandler)
	default:
		t.Fatalf("oauthtest: TokenAuth %q, want basic or body", opts.TokenAuth)
	}
	// The logged-in test user approves at once (or declines, with Deny);
	// anyone else is sent to the login page, which opens a session (a
	// cookie) and sends them back.
	s.OAuth.SetUserAuthorizationHandler(func(w http.ResponseWriter, r *http.Request) (string, error) {
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value != User {
			http.Redirect(w, r, "/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return "", nil
		}
		if s.Deny.Load() {
			return "", oautherrors.ErrAccessDenied
		}
		return User, nil
	})

	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		back := r.URL.Query().Get("return_to")
		if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
			http.Error(w, "bad return_to", http.StatusBadRequest)
			return
		}
		s.Logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: User, Path: "/", HttpOnly: true})
		http.Redirect(w, r, back, http.StatusFound)
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		if err := s.OAuth.HandleAuthorizeRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/token", s.handleToken)
	mux.HandleFunc("/revoke", s.handleRevoke)
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		ti, err := s.OAuth.ValidationBearerToken(r)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_token"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"user":%q}`, ti.GetUserID())
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// clientBasicRFC6749 reads HTTP Basic client credentials form-decoded, as
// RFC 6749 §2.3.1 says and x/oauth2 sends them. (go-oauth2's own
// ClientBasicHandler does not decode them.)
func clientBasicRFC6749(r *http.Request) (string, string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", oautherrors.ErrInvalidClient
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return "", "", oautherrors.ErrInvalidClient
	}
	return id, secret, nil
}

// handleToken counts the grants and serves the token endpoint. For the
// refresh grant it also checks the client's credentials, which go-oauth2
// v4.5.4 does not do on that grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		s.Exchanges.Add(1)
		if r.PostForm.Get("code_verifier") != "" {
			s.Verified.Add(1)
		}
	case "refresh_token":
		s.Refreshes.Add(1)
		if d := time.Duration(s.RefreshDelay.Load()); d > 0 {
			time.Sleep(d)
		}
		if s.FailRefreshes.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"try later"}`)
			return
		}
		s.mu.Lock()
		hook := s.beforeRefresh
		s.beforeRefresh = nil
		s.mu.Unlock()
		if hook != nil {
			hook(r.PostForm.Get("refresh_token"))
		}
		id, secret, err := s.OAuth.ClientInfoHandler(r)
		if err != nil || id != ClientID || secret != ClientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
	}
	if err := s.OAuth.HandleTokenRequest(w, r); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// handleRevoke is an RFC 7009 revocation endpoint over go-oauth2's manager
// (the library has none): it authenticates the client, then removes the
// token and, for a refresh token, its access token.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, err := s.OAuth.ClientInfoHandler(r)
	if err != nil || id != ClientID || secret != ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	s.Revoke(r.Context(), r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// Revoke revokes token at the server, as the user would from the
// provider's account settings: a refresh token is removed with its access
// token; any other token is removed as an access token.
func (s *Server) Revoke(ctx context.Context, token string) {
	if ti, err := s.Manager.LoadRefreshToken(ctx, token); err == nil {
		_ = s.Manager.RemoveAccessToken(ctx, ti.GetAccess())
		_ = s.Manager.RemoveRefreshToken(ctx, token)
		return
	}
	_ = s.Manager.RemoveAccessToken(ctx, token)
}

// SetBeforeRefresh installs a hook that runs (once) before the next refresh
// grant is served, with the refresh token it presents.
func (s *Server) SetBeforeRefresh(fn func(refreshToken string)) {
	s.mu.Lock()
	s.beforeRefresh = fn
	s.mu.Unlock()
}

// Authorize follows authURL like a browser with a cookie jar: the login
// page, back to the authorization endpoint, and the redirect to the
// callback, where it stops. It returns the query of that redirect: the
// code and the state, or the provider's error and the state.
func (s *Server) Authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var callback *url.URL
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			u := req.URL
			if u.Scheme+"://"+u.Host+u.Path == s.CallbackURL {
				callback = u
				return http.ErrUseLastResponse
			}
			return nil
		}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("oauthtest: follow the authorization URL: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if callback == nil {
		t.Fatalf("oauthtest: the authorization ended at %s with status %d, not with a redirect to the callback %s: %s",
			resp.Request.URL, resp.StatusCode, s.CallbackURL, body)
	}
	return callback.Query()
}

// Valid reports whether accessToken is a live access token the server
// issued: what a provider's API checks, for stand-ins of it
// (apptest.Fake.Accept).
func (s *Server) Valid(accessToken string) bool {
	ti, err := s.Manager.LoadAccessToken(context.Background(), accessToken)
	return err == nil && ti != nil
}

// Me calls the resource endpoint /me with an access token and returns the
// HTTP status: 200 for a valid token, 401 otherwise.
func (s *Server) Me(t testing.TB, accessToken string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+"/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// RefreshDirect refreshes with refreshToken outside any lease, like a
// worker that does not respect it, and returns the new token.
func (s *Server) RefreshDirect(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	conf := &oauth2.Config{ClientID: ClientID, ClientSecret: ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// Override returns the catalog override that points an app declared with
// AppYAML at s: its authorization, token and revocation endpoints, and its
// API base URL (for the Test request, GET /me).
func (s *Server) Override() catalog.Override {
	return catalog.Override{AuthorizeURL: s.URL + "/authorize", TokenURL: s.URL + "/token",
		RevokeURL: s.URL + "/revoke", BaseURL: s.URL}
}

// AppYAML returns a catalog app file for the server's provider: auth types
// oauth2 and oauth2_advanced, PKCE S256, rotating refresh tokens, default
// scopes read and write (admin optional), Google-style extra authorization
// parameters, an RFC 7009 revocation of the refresh token, client
// authentication tokenAuth ("basic" or "body") at the token and revocation
// endpoints, a bearer credential, and a Test request GET /me whose answer
// names the account. Its URLs are placeholders: load it with Override.
func AppYAML(tokenAuth string) string { return fmt.Sprintf(appYAML, tokenAuth, tokenAuth) }

const appYAML = `name: Test IdP
description: An app served by the go-oauth2 test server.
auth: [oauth2, oauth2_advanced]
oauth:
  authorize_url: https://idp.example.test/authorize
  token_url: https://idp.example.test/token
  revoke:
    url: https://idp.example.test/revoke
    token: refresh_token
    in: form
    client_auth: %s
  scopes:
    default: [read, write]
    optional: [admin]
  authorize_params:
    access_type: offline
    prompt: consent
  pkce: S256
  token_auth: %s
  refresh_tokens: rotating
credential:
  type: bearer
base_url: https://api.idp.example.test
test:
  method: GET
  path: /me
  identity: ["{{ response.user }}"]
`

// NoPKCEAppYAML is a catalog app file for the same provider declared
// without PKCE (and without revocation), which the server, forcing PKCE,
// refuses to authorize.
const NoPKCEAppYAML = `name: Test IdP without PKCE
description: An app that sends no PKCE challenge.
auth: [oauth2]
oauth:
  authorize_url: https://idp.example.test/authorize
  token_url: https://idp.example.test/token
  scopes:
    default: [read]
  token_auth: basic
  refresh_tokens: rotating
credential:
  type: bearer
test:
  method: GET
  url: https://api.idp.example.test/me
  identity: ["{{ response.user }}"]
`
