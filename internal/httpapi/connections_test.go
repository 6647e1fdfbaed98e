package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/egress"
	"wiresk/internal/httpapi"
	"wiresk/internal/manage"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/testkit/oauthtest"
)

// connSystem is the management, Connections and OAuth callback APIs on the
// embedded adapters, with a fake of every catalog app.
type connSystem struct {
	*system
	catalog *catalog.Catalog
	fakes   map[string]*apptest.Fake
	conns   *httpapi.Connections
	svc     *connect.Authorizations
	cfg     connect.Config
	// idp is the OAuth server connOptions.idpApp is pointed at.
	idp *oauthtest.Server
}

// anyStep accepts every step kind and input, so that Flows can have steps
// of catalog apps that use a Connection.
type anyStep struct{}

func (anyStep) ValidateStep(app, method string, input map[string]any) error { return nil }

// connOptions vary a connSystem.
type connOptions struct {
	// returnURL is where the callback redirects; none shows the page.
	returnURL string
	// idpApp, when set, is a catalog app whose OAuth endpoints and test
	// request are pointed at a go-oauth2 server (connSystem.idp) that
	// registers the system's callback; the app must authenticate its
	// client in the body.
	idpApp string
}

// MustConnSystem starts a connSystem: the Connections service on the bolt
// store and vault, the catalog pointed at the app fakes, and app calls
// allowed to reach loopback.
func MustConnSystem(t *testing.T, opts connOptions) *connSystem {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: 3})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := bolt.NewVault(db, t.TempDir()+"/vault.key")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fakes := apptest.NewAll(t)
	overrides := apptest.Overrides(fakes)
	var idp *oauthtest.Server
	if opts.idpApp != "" {
		idp = oauthtest.New(t, oauthtest.Options{TokenAuth: "body", CallbackURL: srv.URL + httpapi.OAuthCallbackPath})
		ov := overrides[opts.idpApp]
		ov.AuthorizeURL, ov.TokenURL, ov.RevokeURL, ov.TestURL = idp.URL+"/authorize", idp.URL+"/token", idp.URL+"/revoke", idp.URL+"/me"
		overrides[opts.idpApp] = ov
	}
	cat, err := catalog.Load(catalog.WithOverrides(overrides))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	hc := egress.NewClient(guard)
	clk := &clock{t: time.Now().UTC()}
	j := &auth.JWT{Key: []byte("0123456789abcdef0123456789abcdef"), Issuer: "test", Audience: "wiresk"}
	mgr := manage.New(manage.Config{Store: store, Queue: q, Kinds: anyStep{}, Now: clk.Now})
	cfg := connect.Config{
		Store:       store,
		Vault:       vault,
		Authz:       mgr.Access,
		Catalog:     cat,
		Apps:        &appcall.Client{Engine: egress.Engine{Client: hc, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}},
		StateKey:    []byte("state-key-state-key-state-key-32"),
		CallbackURL: srv.URL + httpapi.OAuthCallbackPath,
		StartURL:    srv.URL + httpapi.OAuthStartPath,
		ReturnURL:   opts.returnURL,
		HTTPClient:  hc,
		Now:         clk.Now,
	}
	svc := connect.New(cfg)

	conns := httpapi.NewConnections(svc.Connections, j, nil)
	mux.Handle("/v1/", httpapi.NewManagement(mgr, j, "http://hooks.example", nil))
	for _, p := range conns.Routes() {
		mux.Handle(p, conns)
	}
	oauthAPI := httpapi.NewOAuthBrowser(svc.Authorizations, nil)
	mux.Handle(httpapi.OAuthCallbackPath, oauthAPI)
	mux.Handle(httpapi.OAuthStartPath, oauthAPI)
	return &connSystem{
		system:  &system{db: db, store: store, queue: q, clock: clk, jwt: j, server: srv},
		catalog: cat, fakes: fakes, conns: conns, svc: svc.Authorizations, cfg: cfg, idp: idp,
	}
}

// connFixture is a Group "grp_a" (owner alice, admin ada, member mia) and
// a Group "grp_b" (owner bob).
type connFixture struct {
	alice, ada, mia, bob string
}

// MustConnFixture seeds the Groups of a connFixture.
func MustConnFixture(t *testing.T, s *connSystem) connFixture {
	t.Helper()
	s.seedGroup(t, "grp_a", "alice")
	s.seedGroup(t, "grp_b", "bob")
	f := connFixture{alice: s.token(t, "alice"), ada: s.token(t, "ada"), mia: s.token(t, "mia"), bob: s.token(t, "bob")}
	for user, role := range map[string]string{"ada": "admin", "mia": "member"} {
		if r := s.api(t, f.alice, "POST", "/v1/groups/grp_a/members", map[string]any{"userId": user, "role": role}); r.Status != http.StatusCreated {
			t.Fatalf("add %s: %d %s", user, r.Status, r.Body)
		}
	}
	return f
}

// connView is the part of a Connection's answer the tests read.
type connView struct {
	ID           string
	GroupID      string
	Name         string
	App          string
	AuthType     string
	Status       string
	Account      string
	AuthorizeURL string
	Version      int
	LastTest     *struct {
		OK      bool
		Message string
	}
	UsedBy []struct {
		ID    string
		Steps []string
	}
}

// badKey is an API key the OpenAI fake refuses.
const badKey = "sk-proj-wrong0123456789abcdefghijklmnopqrstuvwxyzABCD"

// openAIKey is the body creating an API-key Connection to the OpenAI fake.
func openAIKey(name, key string) map[string]any {
	return map[string]any{"name": name, "app": "openai", "authType": "api_key", "apiKey": key}
}

// newConn creates a Connection as tok and returns its view.
func (s *connSystem) newConn(t *testing.T, tok, groupID string, body map[string]any) connView {
	t.Helper()
	r := s.api(t, tok, "POST", "/v1/groups/"+groupID+"/connections", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create connection: %d %s", r.Status, r.Body)
	}
	var v connView
	r.decode(t, &v)
	return v
}

// noSecret fails the test if the answer holds one of secrets.
func noSecret(t *testing.T, what string, body []byte, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(string(body), sec) {
			t.Errorf("%s: the answer holds the secret %q: %s", what, sec, body)
		}
	}
}

// send sends a request as the holder of tok (none when "") without
// following redirects, and returns the answer with its headers. body is
// as for system.do.
func (s *connSystem) send(t *testing.T, tok, method, path string, body any) (response, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		rd = strings.NewReader(mustJSON(t, b))
	}
	req, err := http.NewRequest(method, s.server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Body: data}, resp.Header
}

func TestConnectionLifecycle(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	ai := s.fakes["openai"]
	g := "/v1/groups/grp_a/connections"

	// want checks an answer's status, that it is not cached and that it
	// holds no secret, and decodes it into v (when not nil).
	want := func(what string, r response, h http.Header, status int, v any) {
		t.Helper()
		if got := r.Status; got != status {
			t.Fatalf("%s: status = %d, want %d: %s", what, got, status, r.Body)
		}
		if got, want := h.Get("Cache-Control"), "no-store"; got != want {
			t.Errorf("%s: Cache-Control = %q, want %q", what, got, want)
		}
		noSecret(t, what, r.Body, ai.Token)
		if v != nil {
			r.decode(t, v)
		}
	}

	var created connView
	r, h := s.send(t, f.alice, "POST", g, openAIKey("OpenAI prod", ai.Token))
	want("create", r, h, http.StatusCreated, &created)
	if got, want := created.Status, "active"; got != want {
		t.Errorf("created status = %q, want %q", got, want)
	}
	if got, want := created.Account, ai.Account; got != want {
		t.Errorf("created account = %q, want %q", got, want)
	}
	if created.App != "openai" || created.AuthType != "api_key" || created.GroupID != "grp_a" || created.Name != "OpenAI prod" {
		t.Errorf("created = %+v", created)
	}
	if created.AuthorizeURL != "" {
		t.Errorf("an API-key connection has authorizeUrl %q", created.AuthorizeURL)
	}
	c := g + "/" + created.ID

	var list struct{ Connections []connView }
	r, h = s.send(t, f.mia, "GET", g, nil)
	want("list", r, h, http.StatusOK, &list)
	if got, want := len(list.Connections), 1; got != want || list.Connections[0].ID != created.ID {
		t.Fatalf("list = %+v, want the created connection", list.Connections)
	}

	var detail connView
	r, h = s.send(t, f.mia, "GET", c, nil)
	want("get", r, h, http.StatusOK, &detail)
	if detail.ID != created.ID || detail.Name != created.Name {
		t.Errorf("get = %+v, want %+v", detail, created)
	}
	if !strings.Contains(string(r.Body), `"usedBy":[]`) {
		t.Errorf("get: want an empty usedBy list: %s", r.Body)
	}

	var patched connView
	r, h = s.send(t, f.alice, "PATCH", c, map[string]any{"name": "OpenAI staging"})
	want("patch", r, h, http.StatusOK, &patched)
	if got, want := patched.Name, "OpenAI staging"; got != want {
		t.Errorf("patched name = %q, want %q", got, want)
	}
	if patched.Version <= created.Version {
		t.Errorf("patched version = %d, want more than %d", patched.Version, created.Version)
	}

	before := ai.Requests()
	var tested connView
	r, h = s.send(t, f.alice, "POST", c+"/test", nil)
	want("test", r, h, http.StatusOK, &tested)
	if got, want := ai.Requests(), before+1; got != want {
		t.Errorf("the fake got %d requests, want %d", got, want)
	}
	if tested.LastTest == nil || !tested.LastTest.OK {
		t.Errorf("lastTest = %+v, want ok", tested.LastTest)
	}

	var disconnected connView
	r, h = s.send(t, f.alice, "POST", c+"/disconnect", nil)
	want("disconnect", r, h, http.StatusOK, &disconnected)
	if got, want := disconnected.Status, "disconnected"; got != want {
		t.Errorf("disconnected status = %q, want %q", got, want)
	}

	var audit struct {
		Events []struct{ Event, Actor, ConnectionID string }
	}
	r, h = s.send(t, f.alice, "GET", c+"/audit", nil)
	want("audit", r, h, http.StatusOK, &audit)
	var events []string
	for _, e := range audit.Events {
		events = append(events, e.Event)
		if e.ConnectionID != created.ID {
			t.Errorf("audit event %+v of another connection", e)
		}
	}
	for _, e := range []string{"created", "edited", "tested", "disconnected"} {
		if !slices.Contains(events, e) {
			t.Errorf("audit events = %v, want %q among them", events, e)
		}
	}
	r, h = s.send(t, f.alice, "GET", c+"/audit?limit=1", nil)
	want("audit limit", r, h, http.StatusOK, &audit)
	if got, want := len(audit.Events), 1; got != want {
		t.Errorf("audit?limit=1 answered %d events, want %d", got, want)
	}

	r, h = s.send(t, f.alice, "DELETE", c, nil)
	want("delete", r, h, http.StatusNoContent, nil)
	if got, want := len(r.Body), 0; got != want {
		t.Errorf("delete answered a body: %s", r.Body)
	}
	r, _ = s.send(t, f.alice, "GET", c, nil)
	if got, want := r.Status, http.StatusNotFound; got != want || r.errorCode() != "not_found" {
		t.Errorf("get after delete = %d %s, want %d not_found", got, r.Body, want)
	}
	r, _ = s.send(t, f.alice, "GET", g, nil)
	r.decode(t, &list)
	if got, want := len(list.Connections), 0; got != want {
		t.Errorf("list after delete has %d connections, want %d", got, want)
	}
	if !strings.Contains(string(r.Body), `"connections":[]`) {
		t.Errorf("empty list: want an empty array: %s", r.Body)
	}
}

func TestCreateConnectionRefusesBadInputAndWritesNothing(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	ai := s.fakes["openai"]
	g := "/v1/groups/grp_a/connections"
	with := func(k string, v any) map[string]any {
		b := openAIKey("OpenAI", ai.Token)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name      string
		body      any
		wantCode  string
		wantField string
	}{
		{"key the app refuses", openAIKey("OpenAI", badKey), "validation_failed", "apiKey"},
		{"no key", with("apiKey", nil), "validation_failed", "apiKey"},
		{"no name", with("name", nil), "validation_failed", "name"},
		{"unknown app", with("app", "fax"), "validation_failed", "app"},
		{"auth type the app does not offer", with("authType", "oauth2"), "validation_failed", "authType"},
		{"unknown config field", with("config", map[string]string{"region": "eu"}), "validation_failed", "config.region"},
		{"malformed JSON", `{"name":`, "invalid_json", ""},
		{"unknown field", `{"name":"x","app":"openai","authType":"api_key","apiKey":"k","token":"t"}`, "invalid_json", ""},
		{"wrong JSON type", `{"name":7}`, "invalid_json", "name"},
		{"empty body", "", "invalid_json", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.snapshot(t)
			r, h := s.send(t, f.alice, "POST", g, tc.body)
			if got, want := r.Status, http.StatusBadRequest; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
			}
			if got, want := r.errorCode(), tc.wantCode; got != want {
				t.Errorf("code = %q, want %q: %s", got, want, r.Body)
			}
			if tc.wantField != "" {
				if got, want := r.errorField(), tc.wantField; got != want {
					t.Errorf("field = %q, want %q: %s", got, want, r.Body)
				}
			}
			if got, want := h.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			noSecret(t, tc.name, r.Body, ai.Token, badKey)
			if got, want := s.snapshot(t), before; got != want {
				t.Errorf("the refused request wrote to the store, vault or queue")
			}
		})
	}
}

// connRoutes are the Connection routes with path c under it, and the body
// each sends.
func connRoutes(c string) []struct {
	method, path string
	body         any
} {
	return []struct {
		method, path string
		body         any
	}{
		{"GET", c, nil},
		{"PATCH", c, map[string]any{"name": "x"}},
		{"DELETE", c, nil},
		{"POST", c + "/test", nil},
		{"POST", c + "/reconnect", nil},
		{"POST", c + "/disconnect", nil},
		{"GET", c + "/audit", nil},
	}
}

func TestConnectionOfAnotherGroupIsNotFound(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	ai := s.fakes["openai"]
	con := s.newConn(t, f.alice, "grp_a", openAIKey("OpenAI", ai.Token))
	before := s.snapshot(t)
	for _, base := range []string{
		"/v1/groups/grp_a/connections/" + con.ID, // a Group bob is not in
		"/v1/groups/grp_b/connections/" + con.ID, // bob's Group, another's connection
	} {
		for _, rt := range connRoutes(base) {
			t.Run(rt.method+" "+rt.path, func(t *testing.T) {
				r, _ := s.send(t, f.bob, rt.method, rt.path, rt.body)
				noSecret(t, rt.path, r.Body, ai.Token, con.Name)
				if strings.HasPrefix(rt.path, "/v1/groups/grp_b/") && strings.HasSuffix(rt.path, "/audit") {
					// A trail outlives its Connection, so the audit of
					// an id the Group does not have is empty, as for any
					// unknown id: nothing of grp_a shows.
					if got, want := r.Status, http.StatusOK; got != want {
						t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
					}
					var audit struct{ Events []any }
					r.decode(t, &audit)
					if got, want := len(audit.Events), 0; got != want {
						t.Errorf("bob reads %d events of alice's connection, want %d", got, want)
					}
					return
				}
				if got, want := r.Status, http.StatusNotFound; got != want {
					t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
				}
				if got, want := r.errorCode(), "not_found"; got != want {
					t.Errorf("code = %q, want %q", got, want)
				}
			})
		}
	}
	r, _ := s.send(t, f.bob, "GET", "/v1/groups/grp_a/connections", nil)
	if got, want := r.Status, http.StatusNotFound; got != want {
		t.Errorf("bob lists grp_a's connections: status = %d, want %d", got, want)
	}
	r, _ = s.send(t, f.bob, "POST", "/v1/groups/grp_a/connections", openAIKey("mine", ai.Token))
	if got, want := r.Status, http.StatusNotFound; got != want {
		t.Errorf("bob creates in grp_a: status = %d, want %d", got, want)
	}
	if got, want := s.snapshot(t), before; got != want {
		t.Errorf("calls on another Group's connection wrote to the store")
	}
	var list struct{ Connections []connView }
	s.api(t, f.bob, "GET", "/v1/groups/grp_b/connections", nil).decode(t, &list)
	if got, want := len(list.Connections), 0; got != want {
		t.Errorf("bob's Group lists %d connections, want %d", got, want)
	}
	// alice's connection is untouched.
	var got connView
	s.api(t, f.alice, "GET", "/v1/groups/grp_a/connections/"+con.ID, nil).decode(t, &got)
	if got.Name != con.Name || got.Status != "active" || got.Version != con.Version {
		t.Errorf("alice's connection = %+v, want it unchanged from %+v", got, con)
	}
}

// Every Connection use case needs the member role: members and admins
// alike manage the Group's Connections.
func TestMembersAndAdminsManageConnections(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	ai := s.fakes["openai"]
	for _, tc := range []struct{ role, tok string }{{"member", f.mia}, {"admin", f.ada}, {"owner", f.alice}} {
		t.Run(tc.role, func(t *testing.T) {
			con := s.newConn(t, tc.tok, "grp_a", openAIKey("OpenAI of "+tc.role, ai.Token))
			c := "/v1/groups/grp_a/connections/" + con.ID
			for _, step := range []struct {
				method, path string
				body         any
				want         int
			}{
				{"GET", c, nil, http.StatusOK},
				{"PATCH", c, map[string]any{"name": "renamed by " + tc.role}, http.StatusOK},
				{"POST", c + "/test", nil, http.StatusOK},
				{"POST", c + "/disconnect", nil, http.StatusOK},
				{"GET", c + "/audit", nil, http.StatusOK},
				{"DELETE", c, nil, http.StatusNoContent},
			} {
				r, _ := s.send(t, tc.tok, step.method, step.path, step.body)
				if got := r.Status; got != step.want {
					t.Errorf("%s %s: status = %d, want %d: %s", step.method, step.path, got, step.want, r.Body)
				}
			}
		})
	}
}

func TestConnectionsNeedAJWT(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	for _, p := range s.conns.Routes() {
		method, path, _ := strings.Cut(p, " ")
		path = strings.NewReplacer("{g}", "grp_a", "{c}", "con_x").Replace(path)
		t.Run(p, func(t *testing.T) {
			r, h := s.send(t, "", method, path, nil)
			if got, want := r.Status, http.StatusUnauthorized; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
			}
			if got, want := r.errorCode(), "unauthenticated"; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if h.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
		})
	}
}

func TestConnectionsRoutes(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	want := []string{
		"GET /v1/apps",
		"POST /v1/groups/{g}/connections",
		"GET /v1/groups/{g}/connections",
		"GET /v1/groups/{g}/connections/{c}",
		"PATCH /v1/groups/{g}/connections/{c}",
		"DELETE /v1/groups/{g}/connections/{c}",
		"POST /v1/groups/{g}/connections/{c}/test",
		"POST /v1/groups/{g}/connections/{c}/reconnect",
		"POST /v1/groups/{g}/connections/{c}/disconnect",
		"GET /v1/groups/{g}/connections/{c}/audit",
	}
	if got := s.conns.Routes(); !slices.Equal(got, want) {
		t.Errorf("Routes() = %q, want %q", got, want)
	}

	// What the handler does not route is a JSON 404, as in the management
	// API.
	tok := s.token(t, "alice")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/nope"},
		{"PUT", "/v1/groups/grp_a/connections/con_x"},
		{"POST", "/v1/apps"},
		{"GET", "/v1/groups/grp_a/connections/con_x/nope"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			s.conns.ServeHTTP(rec, req)
			if got, want := rec.Code, http.StatusNotFound; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, rec.Body)
			}
			if got, want := rec.Header().Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := (response{Body: rec.Body.Bytes()}).errorCode(), "not_found"; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
		})
	}
}

func TestConnectionCallsRefuseBadParameters(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	con := s.newConn(t, f.alice, "grp_a", openAIKey("OpenAI", s.fakes["openai"].Token))
	c := "/v1/groups/grp_a/connections/" + con.ID
	cases := []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCode           string
		wantField          string
	}{
		{"audit limit not a number", "GET", c + "/audit?limit=ten", nil, 400, "validation_failed", "limit"},
		{"audit limit zero", "GET", c + "/audit?limit=0", nil, 400, "validation_failed", "limit"},
		{"audit limit too large", "GET", c + "/audit?limit=1001", nil, 400, "validation_failed", "limit"},
		{"test with a field", "POST", c + "/test", `{"apiKey":"sk-new"}`, 400, "invalid_json", ""},
		{"reconnect with a field", "POST", c + "/reconnect", `{"apiKey":"sk-new"}`, 400, "invalid_json", ""},
		{"disconnect with garbage", "POST", c + "/disconnect", `nope`, 400, "invalid_json", ""},
		{"patch unknown field", "PATCH", c, `{"app":"slack"}`, 400, "invalid_json", ""},
		{"patch wrong type", "PATCH", c, `{"name":["x"]}`, 400, "invalid_json", "name"},
		{"patch empty body", "PATCH", c, ``, 400, "invalid_json", ""},
		{"patch a key the app refuses", "PATCH", c, map[string]any{"apiKey": badKey}, 400, "validation_failed", "apiKey"},
		{"reconnect an API-key connection", "POST", c + "/reconnect", nil, 400, "validation_failed", "authType"},
		{"test with an empty object", "POST", c + "/test", `{}`, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.snapshot(t)
			r, _ := s.send(t, f.alice, tc.method, tc.path, tc.body)
			if got, want := r.Status, tc.wantStatus; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
			}
			noSecret(t, tc.name, r.Body, s.fakes["openai"].Token, badKey)
			if tc.wantStatus == http.StatusOK {
				return
			}
			if got, want := r.errorCode(), tc.wantCode; got != want {
				t.Errorf("code = %q, want %q: %s", got, want, r.Body)
			}
			if got, want := r.errorField(), tc.wantField; got != want {
				t.Errorf("field = %q, want %q: %s", got, want, r.Body)
			}
			if got, want := s.snapshot(t), before; got != want {
				t.Errorf("the refused request wrote to the store")
			}
		})
	}
}

func TestListApps(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	r, _ := s.send(t, f.mia, "GET", "/v1/apps", nil)
	if got, want := r.Status, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.Body)
	}
	var body struct {
		Apps []struct {
			ID     string
			Name   string
			Auth   []string
			Scopes *struct{ Default []string }
		}
	}
	r.decode(t, &body)
	var ids []string
	for _, a := range s.catalog.Apps() {
		ids = append(ids, a.ID)
	}
	var got []string
	auth := map[string][]string{}
	for _, a := range body.Apps {
		got = append(got, a.ID)
		auth[a.ID] = a.Auth
		if a.Name == "" || len(a.Auth) == 0 {
			t.Errorf("app %q has no name or no auth types: %+v", a.ID, a)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("apps = %q, want %q", got, ids)
	}
	for _, tc := range []struct {
		app  string
		want []string
	}{
		{"openai", []string{"api_key"}},
		{"slack", []string{"oauth2", "oauth2_advanced"}},
		{"http", []string{"none", "api_key", "basic"}},
	} {
		if got := auth[tc.app]; !slices.Equal(got, tc.want) {
			t.Errorf("auth of %s = %q, want %q", tc.app, got, tc.want)
		}
	}
	// No credential, endpoint or credential placement is public.
	for id, fake := range s.fakes {
		noSecret(t, "apps", r.Body, fake.Token, fake.Password, fake.URL())
		for _, tok := range fake.Tokens {
			noSecret(t, "apps of "+id, r.Body, tok)
		}
	}
	for _, word := range []string{"client_secret", "clientSecret", "token_url", "tokenUrl", "authorize_url"} {
		if strings.Contains(string(r.Body), word) {
			t.Errorf("apps answer mentions %q", word)
		}
	}
}

func TestConnectionInUse(t *testing.T) {
	s := MustConnSystem(t, connOptions{})
	f := MustConnFixture(t, s)
	con := s.newConn(t, f.alice, "grp_a", openAIKey("OpenAI", s.fakes["openai"].Token))
	c := "/v1/groups/grp_a/connections/" + con.ID
	flowID := newFlow(t, s.system, f.alice, "grp_a", map[string]any{"name": "Summarise", "steps": []any{
		map[string]any{"id": "ask", "app": "openai", "method": "chat_completion", "connectionId": con.ID,
			"input": map[string]any{"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": "{{ trigger.body.text }}"}}}},
	}})

	var detail connView
	s.api(t, f.mia, "GET", c, nil).decode(t, &detail)
	if got, want := len(detail.UsedBy), 1; got != want {
		t.Fatalf("usedBy = %+v, want the Flow", detail.UsedBy)
	}
	if got, want := detail.UsedBy[0].ID, flowID; got != want {
		t.Errorf("usedBy flow = %q, want %q", got, want)
	}
	if got, want := detail.UsedBy[0].Steps, []string{"ask"}; !slices.Equal(got, want) {
		t.Errorf("usedBy steps = %q, want %q", got, want)
	}

	before := s.snapshot(t)
	r, _ := s.send(t, f.alice, "DELETE", c, nil)
	if got, want := r.Status, http.StatusConflict; got != want {
		t.Fatalf("delete a connection in use: status = %d, want %d: %s", got, want, r.Body)
	}
	if got, want := r.errorCode(), "conflict"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if !strings.Contains(string(r.Body), "Summarise") {
		t.Errorf("the refusal does not name the Flow: %s", r.Body)
	}
	if got, want := s.snapshot(t), before; got != want {
		t.Errorf("the refused delete wrote to the store")
	}

	if r := s.api(t, f.alice, "DELETE", "/v1/groups/grp_a/flows/"+flowID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete flow: %d %s", r.Status, r.Body)
	}
	if r, _ := s.send(t, f.alice, "DELETE", c, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete a connection no longer used: status = %d, want %d: %s", r.Status, http.StatusNoContent, r.Body)
	}
}
