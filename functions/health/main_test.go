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
	"wiresk/internal/egress"
	"wiresk/internal/testkit/lambdatest"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/group"
	"wiresk/internal/manage"
	"wiresk/internal/testkit/oauthtest"
)

// sample is events/health-schedule.json: what the EventBridge schedule
// rule sends.
func sample(t *testing.T) events.CloudWatchEvent {
	t.Helper()
	ev := lambdatest.Event[events.CloudWatchEvent](t, "health-schedule.json")
	if got, want := ev.DetailType, "Scheduled Event"; got != want {
		t.Fatalf("detail-type: got %q, want %q", got, want)
	}
	return ev
}

const (
	groupID = "grp_dev"
	owner   = "owner-1"
)

func newStore(t *testing.T) (*bolt.Store, *bolt.Vault) {
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
	now := time.Now().UTC()
	if err := store.CreateGroup(context.Background(), group.Group{ID: groupID, Name: "Development", CreatedAt: now},
		group.Member{GroupID: groupID, UserID: owner, Role: group.RoleOwner, AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	return store, vault
}

func testConfig(t *testing.T) config {
	t.Helper()
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_SECRET_PREFIX": "wiresk/dev", "WIRESK_HTTP_ALLOW_CIDRS": "127.0.0.0/8, ::1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNothingDue(t *testing.T) {
	store, vault := newStore(t)
	h := newHandler(testConfig(t), deps{Store: store, Vault: vault, Catalog: catalog.MustLoad()})
	rep, err := h(context.Background(), sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep, (connect.HealthReport{}); got != want {
		t.Errorf("report: got %+v, want %+v", got, want)
	}
}

// TestRefreshesExpiringTokens connects an OAuth Connection whose access
// token lives 5 minutes, less than connect.RefreshWindow: the scheduled
// run refreshes it at the provider and writes the new tokens back.
func TestRefreshesExpiringTokens(t *testing.T) {
	ctx := context.Background()
	store, vault := newStore(t)
	callbackURL := "https://api.example.com/v1/oauth/callback"
	idp := oauthtest.New(t, oauthtest.Options{CallbackURL: callbackURL, AccessTokenTTL: 5 * time.Minute})
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
	cfg := testConfig(t)

	// The connections and callback functions' part: create, consent,
	// callback.
	hc := egress.NewClient(cfg.Guard)
	conns := connect.New(connect.Config{Store: store, Vault: vault, Authz: manage.Access{Store: store}, Catalog: cat,
		StateKey: bytes.Repeat([]byte("k"), 32), CallbackURL: callbackURL, StartURL: strings.TrimSuffix(callbackURL, "/callback") + "/start",
		HTTPClient: hc, Apps: &appcall.Client{Engine: egress.Engine{Client: hc}}})
	svc := struct {
		*connect.Connections
		*connect.Authorizations
	}{conns.Connections, conns.Authorizations}
	v, err := svc.Create(ctx, auth.Identity{UserID: owner}, groupID, connect.CreateInput{Name: "Test IdP", App: "idp", AuthType: "oauth2"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(v.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	start := svc.Start(context.Background(), link.Query())
	if res := svc.Callback(ctx, idp.Authorize(t, start.Redirect), []*http.Cookie{start.Cookie}); !res.OK {
		t.Fatalf("callback: %+v", res)
	}
	before, err := vault.Get(ctx, connection.SecretName(v.ID))
	if err != nil {
		t.Fatal(err)
	}

	h := newHandler(cfg, deps{Store: store, Vault: vault, Catalog: cat})
	rep, err := h(ctx, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep, (connect.HealthReport{Refreshed: 1}); got != want {
		t.Errorf("report: got %+v, want %+v", got, want)
	}
	if got, want := idp.Refreshes.Load(), int64(1); got != want {
		t.Errorf("refresh grants at the provider: got %d, want %d", got, want)
	}
	after, err := vault.Get(ctx, connection.SecretName(v.ID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Errorf("the Connection's secret is unchanged; want the refreshed tokens written back")
	}
	c, err := store.GetConnection(ctx, groupID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Status, connection.StatusActive; got != want {
		t.Errorf("connection status: got %s, want %s", got, want)
	}
}

// failingStore fails the due list.
type failingStore struct{ *bolt.Store }

func (failingStore) ListConnectionsDue(context.Context, time.Time) ([]connection.Connection, error) {
	return nil, errors.New("table unavailable")
}

func TestFailsWhenTheDueListFails(t *testing.T) {
	store, vault := newStore(t)
	h := newHandler(testConfig(t), deps{Store: failingStore{store}, Vault: vault, Catalog: catalog.MustLoad()})
	if _, err := h(context.Background(), sample(t)); err == nil {
		t.Errorf("error: got nil, want the store's (the invocation must fail, for the Errors metric)")
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
	if cfg.SecretPrefix != "wiresk/dev" || len(cfg.Guard.Allow) != 0 {
		t.Errorf("defaults: got %+v; want prefix wiresk/dev, no allowed CIDR", cfg)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no secret prefix", "WIRESK_SECRET_PREFIX", "", "WIRESK_SECRET_PREFIX is required"},
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
