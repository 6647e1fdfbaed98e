package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	bbolt "go.etcd.io/bbolt"
	"golang.org/x/oauth2"

	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/oauth"
	"wiresk/internal/testkit/oauthtest"
)

// Test identities: those of the oauthtest server.
const (
	testClientID     = oauthtest.ClientID
	testClientSecret = oauthtest.ClientSecret
)

// stateKey is the HMAC key of the tests' Flows.
var stateKey = []byte("0123456789abcdef0123456789abcdef-test-state-key")

// authServer is a real OAuth 2.0 authorization server, go-oauth2/oauth2 v4
// (see internal/oauth/oauthtest), with a callback server playing Wiresk's
// /v1/oauth/callback. Its counters and switches keep the short names the
// tests use.
type authServer struct {
	*oauthtest.Server

	exchanges     *atomic.Int64 // authorization_code grant requests
	refreshes     *atomic.Int64 // refresh_token grant requests
	logins        *atomic.Int64 // sessions the login page opened
	refreshDelay  *atomic.Int64 // nanoseconds each refresh grant waits first
	failRefreshes *atomic.Bool  // answer refresh grants 503 server_error
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
	if opts.tokenAuth != "basic" && opts.tokenAuth != "body" {
		t.Fatalf("tokenAuth %q", opts.tokenAuth)
	}
	s := oauthtest.New(t, oauthtest.Options{TokenAuth: opts.tokenAuth, Deny: opts.deny})
	return &authServer{Server: s, exchanges: &s.Exchanges, refreshes: &s.Refreshes, logins: &s.Logins,
		refreshDelay: &s.RefreshDelay, failRefreshes: &s.FailRefreshes}
}

// setBeforeRefresh installs a hook that runs before the next refresh grant.
func (a *authServer) setBeforeRefresh(fn func(refreshToken string)) { a.SetBeforeRefresh(fn) }

// authorize follows authURL like a browser with a cookie jar: the login
// page, back to the authorization endpoint, the redirect to the callback.
// It returns the callback's query.
func (a *authServer) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	return a.Authorize(t, authURL)
}

// me calls the resource endpoint with an access token and returns the status.
func (a *authServer) me(t *testing.T, accessToken string) int {
	t.Helper()
	return a.Me(t, accessToken)
}

// refreshDirect refreshes with refreshToken outside any Source, like a
// worker that does not respect the lease, and returns the new token.
func (a *authServer) refreshDirect(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	return a.RefreshDirect(ctx, refreshToken)
}

// testApps loads the catalog apps "idp" (HTTP Basic client auth),
// "idp_body" (client credentials in the body) and "idp_nopkce", all pointed
// at a.
func (a *authServer) testApps(t *testing.T) *catalog.Catalog {
	t.Helper()
	fsys := fstest.MapFS{
		"idp.yaml":        {Data: []byte(oauthtest.AppYAML("basic"))},
		"idp_body.yaml":   {Data: []byte(oauthtest.AppYAML("body"))},
		"idp_nopkce.yaml": {Data: []byte(oauthtest.NoPKCEAppYAML)},
	}
	ov := catalog.Override{AuthorizeURL: a.URL + "/authorize", TokenURL: a.URL + "/token", RevokeURL: a.URL + "/revoke"}
	c, err := appfile.LoadFS(fsys, catalog.WithOverrides(map[string]catalog.Override{
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
