package connect_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/bolt"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/testkit/oauthtest"
)

// TestNoSecretLeaks runs the lifecycle of an API-key Connection, an
// oauth2_advanced and an oauth2 Connection (with refused keys, refused
// callbacks, refreshes, a revocation found broken, reconnects,
// disconnects, deletes), then looks for every secret it used (API keys,
// the client secret, every access and refresh token the vault held, the
// authorization codes and PKCE verifiers) in every byte the store holds
// outside the vault bucket, the raw database file, every audit Detail,
// every error, every View, Detail and callback result as JSON, and the
// logs. None may appear.
func TestNoSecretLeaks(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var seen leakScanner
	var ids []string
	keep := func(v any, err error) {
		seen.add(v)
		seen.add(err)
	}
	// Credential returns the secret itself, for the worker: only its
	// error is scanned.
	keepErr := func(_ appcall.Credential, err error) { seen.add(err) }
	if err := e.vault.Put(ctx, connect.AppSecretName("idp"), []byte(`{"client_id":"`+oauthtest.ClientID+`","client_secret":"`+oauthtest.ClientSecret+`"}`)); err != nil {
		t.Fatal(err)
	}

	// API key: refused, accepted, tested, broken, repaired, disconnected,
	// deleted.
	bad := "sk-proj-LEAKCHECK0123456789abcdefghijklmnopqrstu"
	e.remember(bad)
	keep(e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: bad}))
	v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	keep(v, err)
	ids = append(ids, v.ID)
	keep(e.svc.Test(ctx, e.owner, e.groupID, v.ID))
	keep(e.svc.Update(ctx, e.owner, e.groupID, v.ID, connect.UpdateInput{APIKey: &bad}))
	quota := e.openai.Tokens["quota_exhausted"]
	keep(e.svc.Update(ctx, e.owner, e.groupID, v.ID, connect.UpdateInput{APIKey: &quota}))
	keepErr(e.svc.Credential(ctx, e.groupID, v.ID))
	fl := e.addFlow("Leak check", v.ID)
	seen.add(e.svc.Delete(ctx, e.owner, e.groupID, v.ID))
	keep(e.svc.Get(ctx, e.owner, e.groupID, v.ID))
	keep(e.svc.Reconnect(ctx, e.owner, e.groupID, v.ID))
	keep(e.svc.Disconnect(ctx, e.owner, e.groupID, v.ID))
	keepErr(e.svc.Credential(ctx, e.groupID, v.ID))

	// oauth2_advanced: refused callbacks, authorized, refreshed by many
	// workers, revoked at the provider, found broken, reconnected,
	// disconnected.
	a := e.createIdP("Advanced")
	ids = append(ids, a.ID)
	seen.add(a)
	e.idp.Deny.Store(true)
	seen.add(e.svc.Callback(ctx, e.authorize(a.AuthorizeURL), e.cookies()))
	e.idp.Deny.Store(false)
	rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, a.ID)
	keep(rv, err)
	q := e.authorize(rv.AuthorizeURL)
	otherCfg := e.svc.Config
	otherCfg.StateKey = []byte("a-different-state-key-of-enough-bytes!!")
	other := newServices(otherCfg)
	seen.add(other.Callback(ctx, q, e.cookies())) // refused: the binding is under another key
	rv, err = e.svc.Reconnect(ctx, e.owner, e.groupID, a.ID)
	keep(rv, err)
	q = e.authorize(rv.AuthorizeURL)
	seen.add(e.svc.Callback(ctx, q, e.cookies()))
	seen.add(e.svc.Callback(ctx, q, e.cookies())) // replayed
	e.creds(a.ID)
	keep(e.svc.Test(ctx, e.owner, e.groupID, a.ID))
	e.clock.Advance(11 * time.Minute)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { keepErr(e.svc.Credential(ctx, e.groupID, a.ID)) })
	}
	wg.Wait()
	cur, _ := e.creds(a.ID)
	e.addFlow("Leak check OAuth", a.ID)
	e.idp.Revoke(ctx, cur.RefreshToken)
	e.clock.Advance(11 * time.Minute)
	keepErr(e.svc.Credential(ctx, e.groupID, a.ID))
	keep(e.svc.Test(ctx, e.owner, e.groupID, a.ID))
	keep(e.svc.Get(ctx, e.owner, e.groupID, a.ID))
	rv, err = e.svc.Reconnect(ctx, e.owner, e.groupID, a.ID)
	keep(rv, err)
	seen.add(e.svc.Callback(ctx, e.authorize(rv.AuthorizeURL), e.cookies()))
	e.creds(a.ID)
	e.idp.FailRefreshes.Store(true)
	e.clock.Advance(6 * time.Minute)
	keep(e.svc.CheckDue(ctx))
	e.idp.FailRefreshes.Store(false)
	e.clock.Advance(2 * time.Minute)
	keep(e.svc.CheckDue(ctx))
	e.creds(a.ID)
	keep(e.svc.Disconnect(ctx, e.owner, e.groupID, a.ID))

	// oauth2 (the platform's client): authorized, tested a day later,
	// deleted.
	p, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "Platform", App: "idp", AuthType: "oauth2"})
	keep(p, err)
	ids = append(ids, p.ID)
	seen.add(e.svc.Callback(ctx, e.authorize(p.AuthorizeURL), e.cookies()))
	e.creds(p.ID)
	e.clock.Advance(25 * time.Hour)
	keep(e.svc.CheckDue(ctx))
	e.creds(p.ID)
	keep(e.svc.List(ctx, e.owner, e.groupID))
	seen.add(e.svc.Delete(ctx, e.owner, e.groupID, p.ID))
	if err := e.store.DeleteFlow(ctx, e.groupID, fl.ID); err != nil {
		t.Fatal(err)
	}
	seen.add(e.svc.Delete(ctx, e.owner, e.groupID, v.ID))

	secrets := e.secrets()
	// The lifecycle went through the paths it means to.
	for i, want := range [][]connection.Event{
		{connection.EventCreated, connection.EventTested, connection.EventDisconnected, connection.EventDeleted},
		{connection.EventCreated, connection.EventReconnected, connection.EventReconnected, connection.EventAuthorized,
			connection.EventTested, connection.EventRefreshed, connection.EventBroken, connection.EventTested,
			connection.EventReconnected, connection.EventAuthorized, connection.EventRefreshFailed, connection.EventRefreshed,
			connection.EventDisconnected},
		{connection.EventCreated, connection.EventAuthorized, connection.EventRefreshed, connection.EventTested, connection.EventDeleted},
	} {
		if got := e.events(ids[i]); !slices.Equal(got, want) {
			t.Errorf("connection %d: audit trail = %v, want %v", i, got, want)
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets collected; the lifecycle did not run as intended", len(secrets))
	}

	// The store, bucket by bucket (the vault bucket is encrypted).
	var stored []string
	for _, b := range e.stored() {
		stored = append(stored, string(b))
	}
	scanFor(t, "the store", stored, secrets)
	// The raw database file, free pages included.
	raw, err := os.ReadFile(filepath.Join(e.db.Dir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	scanFor(t, "the database file", []string{string(raw)}, secrets)
	// The audit trails.
	var audit []string
	for _, id := range ids {
		for _, ev := range e.audit(id) {
			audit = append(audit, ev.Detail, jsonOf(t, ev))
		}
	}
	if len(audit) == 0 {
		t.Fatal("no audit events")
	}
	scanFor(t, "an audit event", audit, secrets)
	// Everything the Service returned, and the logs.
	scanFor(t, "a returned value or error", seen.texts, secrets)
	scanFor(t, "the logs", []string{e.logs.String()}, secrets)
}
