package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	oauth2lib "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
	bbolt "go.etcd.io/bbolt"
	"golang.org/x/oauth2"

	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/oauth"
)

// Test identities. The client secret has characters that RFC 6749 §2.3.1
// form-encodes in HTTP Basic, to prove the encoding round-trips.
const (
	testClientID     = "wiresk-test-client"
	testClientSecret = "s3cr3t+/=~Client!Secret-9f8e7d"
	testUser         = "user-42"
	sessionCookie    = "idp_session"
)

// stateKey is the HMAC key of the tests' Flows.
var stateKey = []byte("0123456789abcdef0123456789abcdef-test-state-key")

// authServer is a real OAuth 2.0 authorization server, go-oauth2/oauth2 v4
// (manage + server, memory token store, a confidential client), inside an
// httptest server, next to a callback server playing Wiresk's
// /v1/oauth/callback.
type authServer struct {
	URL         string // the authorization server's base URL
	CallbackURL string // the redirect URI registered for the client

	mgr *manage.Manager
	srv *server.Server

	exchanges atomic.Int64 // authorization_code grant requests
	refreshes atomic.Int64 // refresh_token grant requests
	logins    atomic.Int64 // sessions the login page opened

	refreshDelay  atomic.Int64 // nanoseconds each refresh grant waits first
	failRefreshes atomic.Bool  // answer refresh grants 503 server_error

	mu            sync.Mutex
	beforeRefresh func(refreshToken string) // runs (once) before a refresh grant
}

// serverOptions configures newAuthServer.
type serverOptions struct {
	// tokenAuth is how the client must authenticate at the token endpoint:
	// "basic" or "body".
	tokenAuth string
	// deny makes the user decline at the consent step.
	deny bool
}

// newAuthServer starts the authorization server and the callback server.
// Access tokens of the authorization-code grant live 10 minutes; refresh
// tokens rotate (each refresh issues a new one and removes the old one).
func newAuthServer(t *testing.T, opts serverOptions) *authServer {
	t.Helper()
	a := &authServer{}

	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<p>Wiresk test callback</p>")
	}))
	t.Cleanup(callback.Close)
	a.CallbackURL = callback.URL + "/v1/oauth/callback"

	a.mgr = manage.NewDefaultManager()
	a.mgr.SetAuthorizeCodeExp(time.Minute)
	a.mgr.SetAuthorizeCodeTokenCfg(&manage.Config{
		AccessTokenExp: 10 * time.Minute, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true,
	})
	a.mgr.SetRefreshTokenCfg(&manage.RefreshingConfig{
		IsGenerateRefresh: true, IsRemoveAccess: true, IsRemoveRefreshing: true,
	})
	a.mgr.MustTokenStorage(store.NewMemoryTokenStore())
	clients := store.NewClientStore()
	if err := clients.Set(testClientID, &models.Client{ID: testClientID, Secret: testClientSecret, Domain: callback.URL}); err != nil {
		t.Fatal(err)
	}
	a.mgr.MapClientStorage(clients)

	cfg := server.NewConfig()
	cfg.AllowedResponseTypes = []oauth2lib.ResponseType{oauth2lib.Code}
	cfg.AllowedGrantTypes = []oauth2lib.GrantType{oauth2lib.AuthorizationCode, oauth2lib.Refreshing}
	cfg.AllowedCodeChallengeMethods = []oauth2lib.CodeChallengeMethod{oauth2lib.CodeChallengeS256}
	cfg.ForcePKCE = true
	a.srv = server.NewServer(cfg, a.mgr)
	switch opts.tokenAuth {
	case "basic":
		a.srv.SetClientInfoHandler(clientBasicRFC6749)
	case "body":
		a.srv.SetClientInfoHandler(server.ClientFormHandler)
	default:
		t.Fatalf("tokenAuth %q", opts.tokenAuth)
	}
	// The logged-in test user approves at once; anyone else is sent to the
	// login page, which opens a session (a cookie) and sends them back.
	a.srv.SetUserAuthorizationHandler(func(w http.ResponseWriter, r *http.Request) (string, error) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value != testUser {
			http.Redirect(w, r, "/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return "", nil
		}
		if opts.deny {
			return "", oautherrors.ErrAccessDenied
		}
		return testUser, nil
	})

	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		back := r.URL.Query().Get("return_to")
		if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
			http.Error(w, "bad return_to", http.StatusBadRequest)
			return
		}
		a.logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: testUser, Path: "/", HttpOnly: true})
		http.Redirect(w, r, back, http.StatusFound)
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		if err := a.srv.HandleAuthorizeRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/token", a.handleToken)
	mux.HandleFunc("/revoke", a.handleRevoke)
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		ti, err := a.srv.ValidationBearerToken(r)
		if err != nil {
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"user":%q}`, ti.GetUserID())
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	a.URL = ts.URL
	return a
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
func (a *authServer) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		a.exchanges.Add(1)
	case "refresh_token":
		a.refreshes.Add(1)
		if d := time.Duration(a.refreshDelay.Load()); d > 0 {
			time.Sleep(d)
		}
		if a.failRefreshes.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"try later"}`)
			return
		}
		a.mu.Lock()
		hook := a.beforeRefresh
		a.beforeRefresh = nil
		a.mu.Unlock()
		if hook != nil {
			hook(r.PostForm.Get("refresh_token"))
		}
		id, secret, err := a.srv.ClientInfoHandler(r)
		if err != nil || id != testClientID || secret != testClientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
	}
	if err := a.srv.HandleTokenRequest(w, r); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// handleRevoke is an RFC 7009 revocation endpoint over go-oauth2's manager
// (the library has none): it authenticates the client, then removes the
// token and, for a refresh token, its access token.
func (a *authServer) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, err := a.srv.ClientInfoHandler(r)
	if err != nil || id != testClientID || secret != testClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	tok := r.PostForm.Get("token")
	ctx := r.Context()
	if ti, err := a.mgr.LoadRefreshToken(ctx, tok); err == nil {
		_ = a.mgr.RemoveAccessToken(ctx, ti.GetAccess())
		_ = a.mgr.RemoveRefreshToken(ctx, tok)
	} else {
		_ = a.mgr.RemoveAccessToken(ctx, tok)
	}
	w.WriteHeader(http.StatusOK)
}

// setBeforeRefresh installs a hook that runs before the next refresh grant.
func (a *authServer) setBeforeRefresh(fn func(refreshToken string)) {
	a.mu.Lock()
	a.beforeRefresh = fn
	a.mu.Unlock()
}

// authorize follows authURL like a browser with a cookie jar: the login
// page, back to the authorization endpoint, the redirect to the callback.
// It returns the callback's query.
func (a *authServer) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("follow the authorization URL: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("authorization ended with status %d, want %d: %s", got, want, body)
	}
	final := resp.Request.URL
	if got, want := final.Scheme+"://"+final.Host+final.Path, a.CallbackURL; got != want {
		t.Fatalf("authorization ended at %s, want the callback %s", got, want)
	}
	return final.Query()
}

// me calls the resource endpoint with an access token and returns the status.
func (a *authServer) me(t *testing.T, accessToken string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.URL+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refreshDirect refreshes with refreshToken outside any Source, like a
// worker that does not respect the lease, and returns the new token.
func (a *authServer) refreshDirect(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	conf := &oauth2.Config{ClientID: testClientID, ClientSecret: testClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: a.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// appYAML is a catalog app file for the test server; %s is the token auth.
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

// noPKCEYAML is the same provider, declared without PKCE.
const noPKCEYAML = `name: Test IdP without PKCE
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

// testApps loads the catalog apps "idp" (HTTP Basic client auth),
// "idp_body" (client credentials in the body) and "idp_nopkce", all pointed
// at a.
func (a *authServer) testApps(t *testing.T) *catalog.Catalog {
	t.Helper()
	fsys := fstest.MapFS{
		"idp.yaml":        {Data: []byte(fmt.Sprintf(appYAML, "basic", "basic"))},
		"idp_body.yaml":   {Data: []byte(fmt.Sprintf(appYAML, "body", "body"))},
		"idp_nopkce.yaml": {Data: []byte(noPKCEYAML)},
	}
	ov := catalog.Override{AuthorizeURL: a.URL + "/authorize", TokenURL: a.URL + "/token", RevokeURL: a.URL + "/revoke"}
	c, err := catalog.LoadFS(fsys, catalog.WithOverrides(map[string]catalog.Override{
		"idp": ov, "idp_body": ov, "idp_nopkce": {AuthorizeURL: ov.AuthorizeURL, TokenURL: ov.TokenURL},
	}))
	if err != nil {
		t.Fatalf("load test apps: %v", err)
	}
	return c
}

// app returns the catalog app id.
func app(t *testing.T, c *catalog.Catalog, id string) *catalog.App {
	t.Helper()
	a, ok := c.App(id)
	if !ok {
		t.Fatalf("no app %q", id)
	}
	return a
}

// newFlow returns a Flow with the test state key and clock.
func newFlow(t *testing.T, clock *testClock) *oauth.Flow {
	t.Helper()
	f, err := oauth.NewFlow(oauth.FlowConfig{StateKey: stateKey, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// request returns the Request of app for the test client and callback.
func (a *authServer) request(app *catalog.App) oauth.Request {
	return oauth.Request{App: app, Client: oauth.Client{ID: testClientID, Secret: testClientSecret}, RedirectURI: a.CallbackURL}
}

// connect runs the whole authorization: Authorize, the browser, the
// callback, Exchange. It returns the token and the callback's code.
func (a *authServer) connect(t *testing.T, f *oauth.Flow, req oauth.Request) (*oauth.Token, string) {
	t.Helper()
	auth, err := f.Authorize(req)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	code, state, err := oauth.ParseCallback(a.authorize(t, auth.URL))
	if err != nil {
		t.Fatalf("ParseCallback: %v", err)
	}
	if got, want := state, auth.State; got != want {
		t.Fatalf("callback state = %q, want %q", got, want)
	}
	tok, err := f.Exchange(t.Context(), req, code, state)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok, code
}

// testClock is the clock of Flows and Sources: real time plus an offset
// the test moves forward.
type testClock struct{ offset atomic.Int64 }

// Now returns the test time.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the test time forward by d.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// newVault opens the real embedded vault (and its bbolt file) in a
// temporary directory.
func newVault(t *testing.T) (*bolt.Vault, *bolt.DB) {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	v, err := bolt.NewVault(db, filepath.Join(t.TempDir(), "vault.key"))
	if err != nil {
		t.Fatal(err)
	}
	return v, db
}

// boltLeaser is a Leaser over a bbolt bucket: a small real lease, shared by
// every Source on the same file, standing in for the store's lease until
// internal/connection provides one.
type boltLeaser struct {
	db       *bbolt.DB
	acquired atomic.Int64 // leases granted
}

var leaseBucket = []byte("test_oauth_leases")

type leaseRecord struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// AcquireLease takes name for holder unless another holder's lease is
// unexpired, in one read-write transaction.
func (l *boltLeaser) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	got := false
	err := l.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(leaseBucket)
		if err != nil {
			return err
		}
		now := time.Now()
		if raw := b.Get([]byte(name)); raw != nil {
			var cur leaseRecord
			if err := json.Unmarshal(raw, &cur); err != nil {
				return err
			}
			if cur.Holder != holder && now.Before(cur.Until) {
				return nil
			}
		}
		rec, _ := json.Marshal(leaseRecord{Holder: holder, Until: now.Add(ttl)})
		got = true
		return b.Put([]byte(name), rec)
	})
	if err != nil {
		return false, err
	}
	if got {
		l.acquired.Add(1)
	}
	return got, nil
}

// ReleaseLease deletes holder's lease name.
func (l *boltLeaser) ReleaseLease(_ context.Context, name, holder string) error {
	return l.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(leaseBucket)
		if err != nil {
			return err
		}
		if raw := b.Get([]byte(name)); raw != nil {
			var cur leaseRecord
			if err := json.Unmarshal(raw, &cur); err == nil && cur.Holder != holder {
				return nil
			}
			return b.Delete([]byte(name))
		}
		return nil
	})
}

// assertNoSecrets fails if err's text, in any fmt form, contains a secret.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, form := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			if s != "" && strings.Contains(form, s) {
				t.Errorf("error %q contains a secret (%d characters)", form, len(s))
			}
		}
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		for _, s := range secrets {
			if s != "" && strings.Contains(u.Error(), s) {
				t.Errorf("wrapped error %q contains a secret", u.Error())
			}
		}
	}
}
