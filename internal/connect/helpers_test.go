package connect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/egress"
	"wiresk/internal/flow"
	"wiresk/internal/manage"
	"wiresk/internal/metrics"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/testkit/oauthtest"
	"wiresk/internal/wiresk"
)

// stateKey is the HMAC key of the tests' Services.
var stateKey = []byte("connect-test-state-key-0123456789abcdef")

// testClock is the use cases' clock: real time plus an offset the test moves
// forward (the go-oauth2 server and the leases keep real time).
type testClock struct{ offset atomic.Int64 }

// Now returns the test time.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the test time forward by d.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// services are the Connections use cases of one Config, embedded so that
// the tests call them as one (e.svc.Create, e.svc.Callback, e.svc.CheckDue).
type services struct {
	connect.Config
	*connect.Connections
	*connect.Authorizations
	*connect.Credentials
	*connect.Health
}

// newServices builds the use cases of c with connect.New.
func newServices(c connect.Config) *services {
	s := connect.New(c)
	return &services{Config: c, Connections: s.Connections, Authorizations: s.Authorizations, Credentials: s.Credentials, Health: s.Health}
}

// env is the Connections use cases on real parts: the bbolt store and vault in a temporary
// directory, a manage.Service as Authz, the catalog's own app files plus
// the test IdP app ("idp", served by the oauthtest server), the apptest
// fakes of OpenAI and of the generic HTTP app, and an appcall client and
// OAuth HTTP client allowed to reach loopback.
type env struct {
	t       *testing.T
	db      *bolt.DB
	store   *bolt.Store
	vault   *bolt.Vault
	mgr     manage.Services
	svc     *services
	clock   *testClock
	idp     *oauthtest.Server
	openai  *apptest.Fake
	http    *apptest.Fake
	catalog *catalog.Catalog
	logs    *syncBuffer
	metrics *syncBuffer // the EMF lines of the use cases' metrics

	owner   auth.Identity
	groupID string
	// stranger owns another Group.
	stranger      auth.Identity
	otherGroupID  string
	secretsMu     sync.Mutex
	secretsLogged []string // every secret the test used, for the leak scans
	browserMu     sync.Mutex
	browser       []*http.Cookie // the user's browser's binding cookies
}

// newEnv builds an env whose OAuth server issues 10-minute access tokens.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOpts(t, oauthtest.Options{TokenAuth: "basic"})
}

// newEnvOpts builds an env with an OAuth server started with opts.
func newEnvOpts(t *testing.T, opts oauthtest.Options) *env {
	t.Helper()
	e := &env{t: t, clock: &testClock{}, logs: &syncBuffer{}, metrics: &syncBuffer{}}
	var err error
	e.db, err = bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if e.store, err = bolt.NewStore(e.db); err != nil {
		t.Fatal(err)
	}
	if e.vault, err = bolt.NewVault(e.db, filepath.Join(t.TempDir(), "vault.key")); err != nil {
		t.Fatal(err)
	}
	e.mgr = manage.New(manage.Config{Store: e.store, Now: e.clock.Now})

	e.idp = oauthtest.New(t, opts)
	e.openai, _ = apptest.New(t, "openai")
	e.http, _ = apptest.New(t, "http")
	e.catalog = loadCatalog(t, map[string]catalog.Override{
		"idp":    e.idp.Override(),
		"openai": {BaseURL: e.openai.URL()},
	})

	guard, err := egress.NewGuard("127.0.0.0/8", "::1")
	if err != nil {
		t.Fatal(err)
	}
	e.svc = newServices(connect.Config{
		Store: e.store, Vault: e.vault, Authz: e.mgr.Access, Catalog: e.catalog,
		Apps:        &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}},
		StateKey:    stateKey,
		CallbackURL: e.idp.CallbackURL,
		StartURL:    strings.TrimSuffix(e.idp.CallbackURL, "/callback") + "/start",
		HTTPClient:  egress.NewClient(guard),
		Now:         e.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:     metrics.New("Wiresk/test", e.metrics),
	})

	e.owner = auth.Identity{UserID: "user-owner"}
	g, err := e.mgr.Groups.CreateGroup(t.Context(), e.owner, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	e.groupID = g.ID
	e.stranger = auth.Identity{UserID: "user-stranger"}
	og, err := e.mgr.Groups.CreateGroup(t.Context(), e.stranger, "Other")
	if err != nil {
		t.Fatal(err)
	}
	e.otherGroupID = og.ID
	e.remember(e.openai.Token, oauthtest.ClientSecret, e.http.Token, e.http.Password)
	for _, k := range e.openai.Tokens {
		e.remember(k)
	}
	return e
}

// loadCatalog loads the catalog's own app files and the test IdP app, with
// the overrides.
func loadCatalog(t *testing.T, ov map[string]catalog.Override) *catalog.Catalog {
	t.Helper()
	fsys := fstest.MapFS{"idp.yaml": {Data: []byte(oauthtest.AppYAML("basic"))}}
	appsDir := filepath.Join("..", "catalog", "apps")
	names, err := fs.Glob(os.DirFS(appsDir), "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no app files in %s: %v", appsDir, err)
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(appsDir, n))
		if err != nil {
			t.Fatal(err)
		}
		fsys[n] = &fstest.MapFile{Data: data}
	}
	c, err := appfile.LoadFS(fsys, catalog.WithOverrides(ov))
	if err != nil {
		t.Fatalf("load the catalog: %v", err)
	}
	return c
}

// remember adds secrets to those the leak scans look for.
func (e *env) remember(secrets ...string) {
	e.secretsMu.Lock()
	defer e.secretsMu.Unlock()
	for _, s := range secrets {
		if s != "" && !slices.Contains(e.secretsLogged, s) {
			e.secretsLogged = append(e.secretsLogged, s)
		}
	}
}

// secrets returns the secrets remembered.
func (e *env) secrets() []string {
	e.secretsMu.Lock()
	defer e.secretsMu.Unlock()
	return slices.Clone(e.secretsLogged)
}

// creds returns the Connection's Credentials in the vault (remembering
// their secrets), and whether there are any.
func (e *env) creds(id string) (connection.Credentials, bool) {
	e.t.Helper()
	raw, err := e.vault.Get(e.t.Context(), connection.SecretName(id))
	if errors.Is(err, wiresk.ErrNotFound) {
		return connection.Credentials{}, false
	}
	if err != nil {
		e.t.Fatalf("vault Get: %v", err)
	}
	c, err := connection.DecodeCredentials(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	e.remember(c.Secrets()...)
	return c, true
}

// conn returns the stored Connection.
func (e *env) conn(id string) connection.Connection {
	e.t.Helper()
	c, err := e.store.GetConnection(e.t.Context(), e.groupID, id)
	if err != nil {
		e.t.Fatalf("GetConnection(%s): %v", id, err)
	}
	return c
}

// audit returns the events of the Connection's trail, oldest first.
func (e *env) audit(id string) []connection.AuditEvent {
	e.t.Helper()
	evs, err := e.svc.Audit(e.t.Context(), e.owner, e.groupID, id, 1000)
	if err != nil {
		e.t.Fatalf("Audit: %v", err)
	}
	slices.Reverse(evs)
	return evs
}

// events returns the event names of the Connection's trail, oldest first.
func (e *env) events(id string) []connection.Event {
	e.t.Helper()
	var out []connection.Event
	for _, ev := range e.audit(id) {
		out = append(out, ev.Event)
	}
	return out
}

// count returns how many events of kind ev the Connection's trail has.
func (e *env) count(id string, ev connection.Event) int {
	e.t.Helper()
	n := 0
	for _, x := range e.events(id) {
		if x == ev {
			n++
		}
	}
	return n
}

// addFlow stores a Flow of the Group with a step that uses connectionID.
func (e *env) addFlow(name, connectionID string) flow.Flow {
	e.t.Helper()
	now := e.clock.Now().UTC()
	f := flow.Flow{ID: wiresk.NewIDAt("flw", now), GroupID: e.groupID, Name: name, Enabled: true, Version: 1,
		CreatedAt: now, UpdatedAt: now, Steps: []flow.Step{
			{ID: "first", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com"}},
			{ID: "notify", App: "idp", Method: "call", ConnectionID: connectionID, Input: map[string]any{}},
		}}
	if err := e.store.CreateFlow(e.t.Context(), f); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// bucketCounts returns the number of keys of each bbolt bucket.
func (e *env) bucketCounts() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	err := e.db.Bolt().View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			out[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// stored returns every key and value of every bbolt bucket but the vault's,
// nested buckets included.
func (e *env) stored() [][]byte {
	e.t.Helper()
	var out [][]byte
	var walk func(b *bbolt.Bucket) error
	walk = func(b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			out = append(out, slices.Clone(k))
			if v == nil {
				return walk(b.Bucket(k))
			}
			out = append(out, slices.Clone(v))
			return nil
		})
	}
	err := e.db.Bolt().View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if string(name) == "vault" {
				return nil
			}
			return walk(b)
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// wantCode fails unless err is a *wiresk.Error (in its chain) with code
// and, when field is not "", that field.
func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want code %s", code)
	}
	if got := wiresk.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (%v)", got, code, err)
	}
	if field != "" {
		if got := wiresk.ErrorField(err); got != field {
			t.Fatalf("error field = %q, want %q (%v)", got, field, err)
		}
	}
}

// jsonOf encodes v.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leakScanner collects every text the Service gave out (errors, Views,
// Details, callback results) for the leak scan.
type leakScanner struct {
	mu    sync.Mutex
	texts []string
}

// add records the texts of v: an error in every fmt form, anything else
// as JSON and with %+v.
func (l *leakScanner) add(v any) {
	if v == nil {
		return
	}
	var texts []string
	if err, ok := v.(error); ok {
		texts = append(texts, err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
			texts = append(texts, u.Error())
		}
	} else {
		b, _ := json.Marshal(v)
		texts = append(texts, string(b), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v))
	}
	l.mu.Lock()
	l.texts = append(l.texts, texts...)
	l.mu.Unlock()
}

// scan fails for every text that contains a secret.
func scanFor(t *testing.T, what string, texts []string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				i := strings.Index(txt, s)
				t.Errorf("%s contains a secret (%d characters) at %d: …%s…", what, len(s), i, redactAround(txt, i, len(s)))
			}
		}
	}
}

// redactAround shows the context of a leak without the secret.
func redactAround(txt string, i, n int) string {
	lo, hi := max(i-30, 0), min(i+n+30, len(txt))
	return txt[lo:i] + "[SECRET]" + txt[i+n:hi]
}

// refreshes counts the TokenRefreshes metric lines by their Outcome.
func (e *env) refreshes() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(e.metrics.String()), "\n") {
		var m map[string]any
		if l == "" || json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if _, ok := m["TokenRefreshes"]; ok {
			out[fmt.Sprint(m["Outcome"])]++
		}
	}
	return out
}
