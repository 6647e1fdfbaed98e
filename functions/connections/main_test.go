package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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

	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/group"
	"wiresk/internal/oauth"
	"wiresk/internal/testkit/oauthtest"
)

// readEvent decodes events/<name>, the sample used by sam local invoke.
func readEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return lambdatest.Event[events.APIGatewayV2HTTPRequest](t, name)
}

const (
	groupID = "grp_dev"
	owner   = "owner-1"
	// sampleDomain is the domain of the sample events.
	sampleDomain = "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"
)

// env is the embedded store and vault of a test.
type env struct {
	store *bolt.Store
	vault *bolt.Vault
}

// newEnv returns an embedded store with Group grp_dev, owned by another
// user than the samples' sub (whose groups claim grants member access),
// and an embedded vault holding the platform's Slack client.
func newEnv(t *testing.T) env {
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
	for app, id := range map[string]string{"slack": "1234567890.0987654321", "idp": oauthtest.ClientID} {
		if err := vault.Put(ctx, connect.AppSecretName(app), []byte(`{"client_id":"`+id+`","client_secret":"platform-secret"}`)); err != nil {
			t.Fatal(err)
		}
	}
	return env{store: store, vault: vault}
}

// deps returns the handler's dependencies on e, with cat as the catalog,
// the state key loaded from the vault as main does.
func (e env) deps(cat *catalog.Catalog) deps {
	return deps{Store: e.store, Vault: e.vault, Catalog: cat,
		StateKey: func(ctx context.Context) ([]byte, error) { return connect.LoadStateKey(ctx, e.vault) }}
}

// testConfig is the configuration of the template's environment.
func testConfig(t *testing.T, kv ...string) config {
	t.Helper()
	m := map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_SECRET_PREFIX": "wiresk/dev"}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	cfg, err := loadConfig(func(k string) string { return m[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// idpCatalog is a catalog with the app "idp" of the test OAuth server
// (PKCE S256), at placeholder URLs: authorize URLs are only built.
func idpCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := appfile.LoadFS(fstest.MapFS{"idp.yaml": {Data: []byte(oauthtest.AppYAML("basic"))}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func invoke(t *testing.T, h handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestListConnectionsEvent(t *testing.T) {
	ev := readEvent(t, "connections-list.json")
	if got, want := ev.RouteKey, "GET /v1/groups/{g}/connections"; got != want {
		t.Fatalf("routeKey: got %q, want %q", got, want)
	}
	h := newHandler(testConfig(t), newEnv(t).deps(catalog.MustLoad()))
	// The sample's sub is not a stored member: its groups claim alone
	// grants member access.
	resp := invoke(t, h, ev)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	if got, want := strings.TrimSpace(resp.Body), `{"connections":[]}`; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestListAppsEvent(t *testing.T) {
	ev := readEvent(t, "connections-list-apps.json")
	if got, want := ev.RouteKey, "GET /v1/apps"; got != want {
		t.Fatalf("routeKey: got %q, want %q", got, want)
	}
	h := newHandler(testConfig(t), newEnv(t).deps(catalog.MustLoad()))
	resp := invoke(t, h, ev)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	var out struct {
		Apps []struct {
			ID string `json:"id"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range out.Apps {
		ids = append(ids, a.ID)
	}
	if got, want := len(ids), len(catalog.MustLoad().Apps()); got != want {
		t.Errorf("apps: got %v, want the %d of the catalog", ids, want)
	}
}

// authorizeURL creates the sample's Connection and returns its authorize
// URL.
func authorizeURL(t *testing.T, h handler, ev events.APIGatewayV2HTTPRequest) *url.URL {
	t.Helper()
	resp := invoke(t, h, ev)
	if got, want := resp.StatusCode, http.StatusCreated; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	var v struct {
		Status       string `json:"status"`
		AuthorizeURL string `json:"authorizeUrl"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		t.Fatal(err)
	}
	if got, want := v.Status, "pending"; got != want {
		t.Errorf("connection status: got %q, want %q", got, want)
	}
	// The authorizeUrl is the start link, on the API's own domain (the
	// redirect URI's), carrying the provider's authorization URL.
	link, err := url.Parse(v.AuthorizeURL)
	if err != nil || link.Path != "/v1/oauth/start" {
		t.Fatalf("authorizeUrl %q (%v), want the start link", v.AuthorizeURL, err)
	}
	u, err := url.Parse(link.Query().Get("to"))
	if err != nil || u.Host == "" {
		t.Fatalf("the start link %q carries no provider URL (%v)", v.AuthorizeURL, err)
	}
	if got, want := link.Scheme+"://"+link.Host+"/v1/oauth/callback", u.Query().Get("redirect_uri"); got != want {
		t.Errorf("start link on %s, want it next to the redirect URI %s", got, want)
	}
	return u
}

func TestCreateOAuthConnectionEvent(t *testing.T) {
	ev := readEvent(t, "connections-create.json")
	if got, want := ev.RouteKey, "POST /v1/groups/{g}/connections"; got != want {
		t.Fatalf("routeKey: got %q, want %q", got, want)
	}
	tests := []struct {
		name, publicURL, domain, wantRedirect string
	}{
		{"from the request's domain", "", sampleDomain, "https://" + sampleDomain + "/v1/oauth/callback"},
		{"from another domain of the same API", "", "api.example.com", "https://api.example.com/v1/oauth/callback"},
		{"from WIRESK_PUBLIC_URL", "https://api.example.org/", sampleDomain, "https://api.example.org/v1/oauth/callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(testConfig(t, "WIRESK_PUBLIC_URL", tt.publicURL), newEnv(t).deps(catalog.MustLoad()))
			ev := readEvent(t, "connections-create.json")
			ev.RequestContext.DomainName = tt.domain
			u := authorizeURL(t, h, ev)
			if got, want := u.Scheme+"://"+u.Host+u.Path, "https://slack.com/oauth/v2/authorize"; got != want {
				t.Errorf("authorize endpoint: got %s, want %s", got, want)
			}
			q := u.Query()
			if got, want := q.Get("redirect_uri"), tt.wantRedirect; got != want {
				t.Errorf("redirect_uri: got %q, want %q", got, want)
			}
			if got, want := q.Get("client_id"), "1234567890.0987654321"; got != want {
				t.Errorf("client_id: got %q, want the platform's %q", got, want)
			}
			if q.Get("state") == "" {
				t.Errorf("no state in %s", u)
			}
		})
	}
}

// TestStateKeyComesFromTheVault checks that the PKCE challenge of an
// authorize URL derives from the key stored in the vault, the one the
// callback function reads.
func TestStateKeyComesFromTheVault(t *testing.T) {
	e := newEnv(t)
	h := newHandler(testConfig(t), e.deps(idpCatalog(t)))
	ev := readEvent(t, "connections-create.json")
	ev.Body = `{"name":"Test IdP","app":"idp","authType":"oauth2"}`
	u := authorizeURL(t, h, ev)
	key, err := e.vault.Get(context.Background(), connect.StateKeySecret)
	if err != nil {
		t.Fatalf("state key in the vault: %v", err)
	}
	q := u.Query()
	sum := sha256.Sum256([]byte(oauth.Verifier(key, q.Get("state"))))
	if got, want := q.Get("code_challenge"), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("code_challenge: got %q, want S256 of the verifier derived from the vault's key (%q)", got, want)
	}
	if got, want := q.Get("code_challenge_method"), "S256"; got != want {
		t.Errorf("code_challenge_method: got %q, want %q", got, want)
	}
}

func TestStateKeyLoadsOnFirstRequestAndAfterAFailure(t *testing.T) {
	e := newEnv(t)
	d := e.deps(catalog.MustLoad())
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
		t.Fatalf("state key loads before any request: got %d, want %d (a cold start calls no AWS service)", got, want)
	}
	resp := invoke(t, h, readEvent(t, "connections-list.json"))
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status while the key cannot be read: got %d, want %d (%s)", got, want, resp.Body)
	}
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || out.Error.Code != "unavailable" {
		t.Errorf("body: got %s, want a JSON error of code unavailable", resp.Body)
	}
	fail = false
	for range 3 {
		if resp := invoke(t, h, readEvent(t, "connections-list.json")); resp.StatusCode != http.StatusOK {
			t.Fatalf("status once the key is readable: got %d, want %d (%s)", resp.StatusCode, http.StatusOK, resp.Body)
		}
	}
	if got, want := calls, 2; got != want {
		t.Errorf("state key loads: got %d, want %d (the failed one, then one that is kept)", got, want)
	}
}

func TestIdentityComesFromClaims(t *testing.T) {
	h := newHandler(testConfig(t), newEnv(t).deps(catalog.MustLoad()))
	tests := []struct {
		name   string
		claims map[string]string
		status int
	}{
		{"stored owner without groups claim", map[string]string{"sub": owner, "groups": ""}, http.StatusOK},
		{"other group in claim", map[string]string{"groups": "[grp_other]"}, http.StatusNotFound},
		{"no sub", map[string]string{"sub": ""}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := readEvent(t, "connections-list.json")
			for k, v := range tt.claims {
				if v == "" {
					delete(ev.RequestContext.Authorizer.JWT.Claims, k)
				} else {
					ev.RequestContext.Authorizer.JWT.Claims[k] = v
				}
			}
			if got, want := invoke(t, h, ev).StatusCode, tt.status; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
		})
	}
	t.Run("no authorizer context", func(t *testing.T) {
		ev := readEvent(t, "connections-list.json")
		ev.RequestContext.Authorizer = nil
		if got, want := invoke(t, h, ev).StatusCode, http.StatusUnauthorized; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})
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
	if cfg.GroupsClaim != "groups" || cfg.PublicURL != "" || cfg.ReturnURL != "" || len(cfg.Guard.Allow) != 0 || cfg.SecretPrefix != "wiresk/dev" {
		t.Errorf("defaults: got %+v; want claim groups, no public or return URL, no allowed CIDR", cfg)
	}
	cfg, err = loadConfig(env("WIRESK_GROUPS_CLAIM", "cognito:groups", "WIRESK_PUBLIC_URL", "https://api.example.com",
		"WIRESK_OAUTH_RETURN_URL", "https://app.example.com/connections?tab=all", "WIRESK_HTTP_ALLOW_CIDRS", "10.1.0.0/16"))
	if err != nil || cfg.GroupsClaim != "cognito:groups" || cfg.PublicURL != "https://api.example.com" ||
		cfg.ReturnURL != "https://app.example.com/connections?tab=all" || len(cfg.Guard.Allow) != 1 {
		t.Errorf("got %+v, %v", cfg, err)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no secret prefix", "WIRESK_SECRET_PREFIX", "", "WIRESK_SECRET_PREFIX is required"},
		{"relative public URL", "WIRESK_PUBLIC_URL", "api.example.com", "WIRESK_PUBLIC_URL"},
		{"public URL with a query", "WIRESK_PUBLIC_URL", "https://api.example.com/?a=1", "WIRESK_PUBLIC_URL"},
		{"relative return URL", "WIRESK_OAUTH_RETURN_URL", "/connections", "WIRESK_OAUTH_RETURN_URL"},
		{"return URL of another scheme", "WIRESK_OAUTH_RETURN_URL", "javascript:alert(1)", "WIRESK_OAUTH_RETURN_URL"},
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
