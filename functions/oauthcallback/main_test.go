package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/testkit/lambdatest"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/group"
	"wiresk/internal/manage"
	"wiresk/internal/testkit/oauthtest"
)

// readEvent decodes events/oauthcallback.json, the sample used by sam
// local invoke.
func readEvent(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return lambdatest.Event[events.APIGatewayV2HTTPRequest](t, "oauthcallback.json")
}

const (
	groupID = "grp_dev"
	owner   = "owner-1"
	// sampleDomain is the domain of the sample event.
	sampleDomain = "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"
)

// env is a test's embedded store and vault, the OAuth server's app "idp"
// in the catalog, and the platform's client of that app in the vault.
type env struct {
	store   *bolt.Store
	vault   *bolt.Vault
	catalog *catalog.Catalog
	idp     *oauthtest.Server
}

// newEnv starts the test OAuth server with callbackURL as its client's
// redirect URI, and returns the embedded adapters with Group grp_dev.
func newEnv(t *testing.T, callbackURL string) env {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(dir, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := bolt.NewVault(db, filepath.Join(dir, "vault.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.CreateGroup(ctx, group.Group{ID: groupID, Name: "Development", CreatedAt: now},
		group.Member{GroupID: groupID, UserID: owner, Role: group.RoleOwner, AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	idp := oauthtest.New(t, oauthtest.Options{CallbackURL: callbackURL})
	cat, err := appfile.LoadFS(fstest.MapFS{"idp.yaml": {Data: []byte(oauthtest.AppYAML("basic"))}},
		catalog.WithOverrides(map[string]catalog.Override{"idp": idp.Override()}))
	if err != nil {
		t.Fatal(err)
	}
	client, err := json.Marshal(map[string]string{"client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.Put(ctx, connect.AppSecretName("idp"), client); err != nil {
		t.Fatal(err)
	}
	return env{store: store, vault: vault, catalog: cat, idp: idp}
}

// deps returns the handler's dependencies, the state key loaded from the
// vault as main does.
func (e env) deps() deps {
	return deps{Store: e.store, Vault: e.vault, Catalog: e.catalog,
		StateKey: func(ctx context.Context) ([]byte, error) { return connect.LoadStateKey(ctx, e.vault) }}
}

// testConfig is the template's environment, with the loopback addresses of
// the test OAuth server allowed, and kv on top.
func testConfig(t *testing.T, kv ...string) config {
	t.Helper()
	m := map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_SECRET_PREFIX": "wiresk/dev", "WIRESK_HTTP_ALLOW_CIDRS": "127.0.0.0/8, ::1"}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	cfg, err := loadConfig(func(k string) string { return m[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// authorize plays the connections function (the same store and vault, the
// state key in the vault or key) and the user's browser: it creates an
// oauth2 Connection of the app "idp" with callbackURL as its redirect URI,
// opens the start link (through h's GET /v1/oauth/start, or, when h is
// nil, the starter's own), follows the provider's URL through its login
// and consent, and returns the Connection's id, the query the provider
// sends the browser back with, and the browser's cookies.
func (e env) authorize(t *testing.T, h handler, callbackURL string, key []byte) (string, url.Values, []string) {
	t.Helper()
	ctx := context.Background()
	if key == nil {
		var err error
		if key, err = connect.LoadStateKey(ctx, e.vault); err != nil {
			t.Fatal(err)
		}
	}
	conns := connect.New(connect.Config{Store: e.store, Vault: e.vault, Authz: manage.Access{Store: e.store}, Catalog: e.catalog,
		StateKey: key, CallbackURL: callbackURL, StartURL: strings.TrimSuffix(callbackURL, "/callback") + "/start"})
	starter := struct {
		*connect.Connections
		*connect.Authorizations
	}{conns.Connections, conns.Authorizations}
	v, err := starter.Create(ctx, auth.Identity{UserID: owner}, groupID, connect.CreateInput{Name: "Test IdP", App: "idp", AuthType: "oauth2"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(v.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		res := starter.Start(context.Background(), link.Query())
		return v.ID, e.idp.Authorize(t, res.Redirect), []string{res.Cookie.Name + "=" + res.Cookie.Value}
	}
	ev := readEvent(t)
	ev.RouteKey, ev.RawPath, ev.RequestContext.HTTP.Path = "GET /v1/oauth/start", link.Path, link.Path
	ev.RequestContext.RouteKey = ev.RouteKey
	setQuery(&ev, link.Query())
	ev.RequestContext.DomainName, ev.Headers["host"] = link.Host, link.Host
	resp := invoke(t, h, ev)
	if got, want := resp.StatusCode, http.StatusFound; got != want {
		t.Fatalf("GET the start link: status %d, want %d (%s)", got, want, resp.Body)
	}
	var cookies []string
	for _, sc := range resp.Cookies {
		c, err := http.ParseSetCookie(sc)
		if err != nil {
			t.Fatal(err)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/v1/oauth" {
			t.Errorf("the start link sets %q, want an HttpOnly, SameSite=Lax, Secure cookie for /v1/oauth", sc)
		}
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	if len(cookies) != 1 {
		t.Fatalf("the start link sets cookies %q, want one", resp.Cookies)
	}
	return v.ID, e.idp.Authorize(t, resp.Headers["Location"]), cookies
}

// setQuery sets the query of ev to q.
func setQuery(ev *events.APIGatewayV2HTTPRequest, q url.Values) {
	ev.RawQueryString = q.Encode()
	ev.QueryStringParameters = map[string]string{}
	for k := range q {
		ev.QueryStringParameters[k] = q.Get(k)
	}
}

// callbackEvent is the sample with the provider's query q and the
// browser's cookies, received on domain.
func callbackEvent(t *testing.T, q url.Values, cookies []string, domain string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	ev := readEvent(t)
	setQuery(&ev, q)
	ev.Cookies = cookies
	ev.RequestContext.DomainName = domain
	ev.Headers["host"] = domain
	return ev
}

func invoke(t *testing.T, h handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// status returns the stored status of Connection id.
func (e env) status(t *testing.T, id string) connection.Status {
	t.Helper()
	c, err := e.store.GetConnection(context.Background(), groupID, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Status
}

// noQuery fails the test if body shows the callback's code or state.
func noQuery(t *testing.T, body string, q url.Values) {
	t.Helper()
	for _, k := range []string{"code", "state"} {
		if v := q.Get(k); v != "" && strings.Contains(body, v) {
			t.Errorf("the page shows the %s: %s", k, body)
		}
	}
}

func TestCallbackCompletesTheAuthorization(t *testing.T) {
	tests := []struct {
		name, publicURL, callbackURL string
	}{
		{"redirect URI from the request's domain", "", "https://" + sampleDomain + "/v1/oauth/callback"},
		{"redirect URI from WIRESK_PUBLIC_URL", "https://api.example.org", "https://api.example.org/v1/oauth/callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.callbackURL)
			h := newHandler(testConfig(t, "WIRESK_PUBLIC_URL", tt.publicURL), e.deps())
			id, q, cookies := e.authorize(t, h, tt.callbackURL, nil)

			// Another browser, without the start's cookie, is refused.
			resp := invoke(t, h, callbackEvent(t, q, nil, sampleDomain))
			if got, want := resp.StatusCode, http.StatusForbidden; got != want {
				t.Errorf("status without the cookie: got %d, want %d (%s)", got, want, resp.Body)
			}
			if got, want := e.idp.Exchanges.Load(), int64(0); got != want {
				t.Errorf("code exchanges without the cookie: got %d, want %d", got, want)
			}

			ev := callbackEvent(t, q, cookies, sampleDomain)

			resp = invoke(t, h, ev)
			if got, want := resp.StatusCode, http.StatusOK; got != want {
				t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
			}
			if len(resp.Cookies) != 1 || !strings.Contains(resp.Cookies[0], "Max-Age=0") {
				t.Errorf("Set-Cookie %q, want the binding cookie cleared", resp.Cookies)
			}
			if got, want := resp.Headers["Content-Type"], "text/html; charset=utf-8"; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			noQuery(t, resp.Body, q)
			if got, want := e.status(t, id), connection.StatusActive; got != want {
				t.Errorf("connection status: got %s, want %s", got, want)
			}
			if got, want := e.idp.Exchanges.Load(), int64(1); got != want {
				t.Errorf("code exchanges at the provider: got %d, want %d", got, want)
			}

			// The state is single-use: the same callback again completes
			// nothing.
			resp = invoke(t, h, ev)
			if got, want := resp.StatusCode, http.StatusBadRequest; got != want {
				t.Errorf("status of a replayed callback: got %d, want %d (%s)", got, want, resp.Body)
			}
			if got, want := e.idp.Exchanges.Load(), int64(1); got != want {
				t.Errorf("code exchanges after a replay: got %d, want %d", got, want)
			}
		})
	}
}

// TestCallbackNeedsTheSharedStateKey checks why the state key lives in the
// vault: an authorization started with another key (its start link and
// cookie, its PKCE verifier) fails.
func TestCallbackNeedsTheSharedStateKey(t *testing.T) {
	callbackURL := "https://" + sampleDomain + "/v1/oauth/callback"
	e := newEnv(t, callbackURL)
	h := newHandler(testConfig(t), e.deps())
	id, q, cookies := e.authorize(t, nil, callbackURL, bytes.Repeat([]byte("x"), connect.StateKeySize))
	resp := invoke(t, h, callbackEvent(t, q, cookies, sampleDomain))
	if resp.StatusCode < 400 {
		t.Errorf("status: got %d, want a failure (%s)", resp.StatusCode, resp.Body)
	}
	if got, want := e.status(t, id), connection.StatusPending; got != want {
		t.Errorf("connection status: got %s, want %s", got, want)
	}
}

func TestCallbackRedirectsToTheReturnURL(t *testing.T) {
	callbackURL := "https://" + sampleDomain + "/v1/oauth/callback"
	e := newEnv(t, callbackURL)
	h := newHandler(testConfig(t, "WIRESK_OAUTH_RETURN_URL", "https://app.example.com/connections"), e.deps())
	id, q, cookies := e.authorize(t, h, callbackURL, nil)
	resp := invoke(t, h, callbackEvent(t, q, cookies, sampleDomain))
	if got, want := resp.StatusCode, http.StatusSeeOther; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	loc, err := url.Parse(resp.Headers["Location"])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, "https://app.example.com/connections"; got != want {
		t.Errorf("Location: got %s, want the return URL %s", loc, want)
	}
	if got, want := loc.Query().Get("connection"), id; got != want {
		t.Errorf("Location connection: got %q, want %q", got, want)
	}
	noQuery(t, loc.String(), q)
}

func TestSampleEvent(t *testing.T) {
	ev := readEvent(t)
	if got, want := ev.RouteKey, "GET /v1/oauth/callback"; got != want {
		t.Fatalf("routeKey: got %q, want %q", got, want)
	}
	if ev.RequestContext.Authorizer != nil {
		t.Errorf("the sample has an authorizer context; the callback route has none")
	}
	e := newEnv(t, "https://"+sampleDomain+"/v1/oauth/callback")
	resp := invoke(t, newHandler(testConfig(t), e.deps()), ev)
	// A state from a browser that did not start it: a page saying so,
	// without the code or the state.
	if got, want := resp.StatusCode, http.StatusForbidden; got != want {
		t.Errorf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	q := url.Values{}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	noQuery(t, resp.Body, q)
	if got, want := resp.Headers["Cache-Control"], "no-store"; got != want {
		t.Errorf("Cache-Control: got %q, want %q", got, want)
	}
}

func TestStateKeyLoadsOnFirstRequestAndAfterAFailure(t *testing.T) {
	e := newEnv(t, "https://"+sampleDomain+"/v1/oauth/callback")
	d := e.deps()
	calls := 0
	fail := true
	d.StateKey = func(ctx context.Context) ([]byte, error) {
		calls++
		if fail {
			return nil, errors.New("secrets manager unavailable")
		}
		return connect.LoadStateKey(ctx, e.vault)
	}
	h := newHandler(testConfig(t), d)
	if got, want := calls, 0; got != want {
		t.Fatalf("state key loads before any request: got %d, want %d", got, want)
	}
	if got, want := invoke(t, h, readEvent(t)).StatusCode, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status while the key cannot be read: got %d, want %d", got, want)
	}
	fail = false
	for range 3 {
		if got, want := invoke(t, h, readEvent(t)).StatusCode, http.StatusForbidden; got != want {
			t.Fatalf("status once the key is readable: got %d, want %d (the sample's state, without its cookie)", got, want)
		}
	}
	if got, want := calls, 2; got != want {
		t.Errorf("state key loads: got %d, want %d", got, want)
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_SECRET_PREFIX": "wiresk/dev"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := loadConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicURL != "" || cfg.ReturnURL != "" || len(cfg.Guard.Allow) != 0 || cfg.SecretPrefix != "wiresk/dev" {
		t.Errorf("defaults: got %+v; want no public or return URL, no allowed CIDR", cfg)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no secret prefix", "WIRESK_SECRET_PREFIX", "", "WIRESK_SECRET_PREFIX is required"},
		{"relative public URL", "WIRESK_PUBLIC_URL", "api.example.com", "WIRESK_PUBLIC_URL"},
		{"relative return URL", "WIRESK_OAUTH_RETURN_URL", "/connections", "WIRESK_OAUTH_RETURN_URL"},
		{"bad CIDR", "WIRESK_HTTP_ALLOW_CIDRS", "10.1.0.0/33", "WIRESK_HTTP_ALLOW_CIDRS"},
		{"bad level", "WIRESK_LOG_LEVEL", "loud", "WIRESK_LOG_LEVEL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(env(tt.key, tt.value))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error: got %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
