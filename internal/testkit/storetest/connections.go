package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/wiresk"
)

// runConnections runs the subtests of the Connection records.
func runConnections(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Connections", func(t *testing.T) { testConnections(t, newStore(t)) })
	t.Run("ConnectionsDue", func(t *testing.T) { testConnectionsDue(t, newStore(t)) })
	t.Run("OAuthStates", func(t *testing.T) { testOAuthStates(t, newStore(t)) })
	t.Run("OAuthStateSingleUse", func(t *testing.T) { testOAuthStateSingleUse(t, newStore(t)) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, newStore(t)) })
	t.Run("LeaseConcurrentAcquire", func(t *testing.T) { testLeaseConcurrent(t, newStore(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newStore(t)) })
}

// NewConnection returns an active OAuth Connection of groupID with every
// field set, created at t0. The adapters' own tests use it too.
func NewConnection(groupID, id string) connection.Connection {
	exp, refreshed, broken := t0.Add(time.Hour), t0.Add(-time.Hour), t0.Add(-2*time.Hour)
	return connection.Connection{ID: id, GroupID: groupID, Name: "Zoho " + id, App: "zoho_crm", AuthType: catalog.AuthOAuth2,
		Config: map[string]string{"domain": "eu"}, Scopes: []string{"ZohoCRM.modules.ALL", "ZohoCRM.users.READ"},
		Status: connection.StatusActive, Account: "ada@example.com", StatusReason: "recovered", BrokenAt: &broken,
		LastTest:       &connection.TestResult{At: t0, OK: true, Message: "HTTP 200"},
		TokenExpiresAt: &exp, LastRefreshAt: &refreshed, RefreshFailures: 1,
		CreatedAt: t0, UpdatedAt: t0, CreatedBy: "u1", Version: 1}
}

// asJSON returns v's JSON, to compare records whatever their times'
// locations.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

func ids(cs []connection.Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testConnections(t *testing.T, s Store) {
	ctx := t.Context()
	c1 := NewConnection("grp_a", "con_1")
	must(t, s.CreateConnection(ctx, c1))
	wantErr(t, s.CreateConnection(ctx, c1), wiresk.ErrConflict)
	got, err := s.GetConnection(ctx, "grp_a", "con_1")
	must(t, err)
	if got, want := asJSON(t, got), asJSON(t, c1); got != want {
		t.Fatalf("GetConnection = %s, want %s", got, want)
	}

	// A minimal Connection round-trips too, without inventing fields.
	c2 := connection.Connection{ID: "con_2", GroupID: "grp_a", Name: "Key", App: "openai", AuthType: catalog.AuthAPIKey,
		Status: connection.StatusPending, CreatedAt: t0, UpdatedAt: t0, Version: 1}
	must(t, s.CreateConnection(ctx, c2))
	got, err = s.GetConnection(ctx, "grp_a", "con_2")
	must(t, err)
	if got, want := asJSON(t, got), asJSON(t, c2); got != want {
		t.Fatalf("GetConnection = %s, want %s", got, want)
	}

	// Groups are isolated: the same id in another Group is another record.
	_, err = s.GetConnection(ctx, "grp_b", "con_1")
	wantErr(t, err, wiresk.ErrNotFound)
	other := NewConnection("grp_b", "con_1")
	other.Name = "B's"
	must(t, s.CreateConnection(ctx, other))
	list, err := s.ListConnections(ctx, "grp_a")
	must(t, err)
	if got, want := fmt.Sprint(ids(list)), "[con_1 con_2]"; got != want {
		t.Fatalf("ListConnections(grp_a) = %s, want %s", got, want)
	}
	list, err = s.ListConnections(ctx, "grp_b")
	must(t, err)
	if len(list) != 1 || list[0].Name != "B's" {
		t.Fatalf("ListConnections(grp_b) = %+v, want B's only", list)
	}
	list, err = s.ListConnections(ctx, "grp_c")
	must(t, err)
	if list == nil || len(list) != 0 {
		t.Fatalf("ListConnections(grp_c) = %#v, want an empty list", list)
	}

	// Optimistic concurrency.
	upd := c1
	upd.Name, upd.Status, upd.Version, upd.UpdatedAt = "Renamed", connection.StatusBroken, 2, t0.Add(time.Minute)
	must(t, s.UpdateConnection(ctx, upd))
	got, err = s.GetConnection(ctx, "grp_a", "con_1")
	must(t, err)
	if got, want := asJSON(t, got), asJSON(t, upd); got != want {
		t.Fatalf("after update GetConnection = %s, want %s", got, want)
	}
	stale := c1
	stale.Version = 2 // read at version 1, as upd was
	wantErr(t, s.UpdateConnection(ctx, stale), wiresk.ErrConflict)
	skip := upd
	skip.Version = 4
	wantErr(t, s.UpdateConnection(ctx, skip), wiresk.ErrConflict)
	missing := NewConnection("grp_a", "con_missing")
	missing.Version = 2
	wantErr(t, s.UpdateConnection(ctx, missing), wiresk.ErrNotFound)
	cross := upd
	cross.GroupID, cross.ID, cross.Version = "grp_c", "con_1", 3
	wantErr(t, s.UpdateConnection(ctx, cross), wiresk.ErrNotFound)
	got, err = s.GetConnection(ctx, "grp_b", "con_1")
	must(t, err)
	if got.Name != "B's" || got.Version != 1 {
		t.Fatalf("grp_b's connection after grp_a's updates = %+v", got)
	}

	// Delete.
	wantErr(t, s.DeleteConnection(ctx, "grp_c", "con_1"), wiresk.ErrNotFound)
	must(t, s.DeleteConnection(ctx, "grp_a", "con_1"))
	_, err = s.GetConnection(ctx, "grp_a", "con_1")
	wantErr(t, err, wiresk.ErrNotFound)
	wantErr(t, s.DeleteConnection(ctx, "grp_a", "con_1"), wiresk.ErrNotFound)
	_, err = s.GetConnection(ctx, "grp_b", "con_1")
	must(t, err)
	list, err = s.ListConnections(ctx, "grp_a")
	must(t, err)
	if got, want := fmt.Sprint(ids(list)), "[con_2]"; got != want {
		t.Fatalf("after delete ListConnections(grp_a) = %s, want %s", got, want)
	}
}

func testConnectionsDue(t *testing.T, s Store) {
	ctx := t.Context()
	now := t0
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	conn := func(groupID, id string, st connection.Status, tokenExpires *time.Time, lastTest *time.Time) connection.Connection {
		c := NewConnection(groupID, id)
		c.Status, c.TokenExpiresAt, c.LastTest, c.RefreshCooldownUntil = st, tokenExpires, nil, nil
		if lastTest != nil {
			c.LastTest = &connection.TestResult{At: *lastTest, OK: true}
		}
		return c
	}
	// Due a minute ago: its token needs refreshing.
	refresh := conn("grp_a", "con_refresh", connection.StatusActive, at(connection.RefreshLead-time.Minute), at(0))
	// Due in an hour.
	later := conn("grp_a", "con_later", connection.StatusActive, at(connection.RefreshLead+time.Hour), at(0))
	// Another Group's API key Connection, due 30 s ago for its Test.
	test := conn("grp_b", "con_test", connection.StatusActive, nil, at(-connection.TestInterval-30*time.Second))
	// Never tested, created long enough ago: due 2 minutes ago.
	never := conn("grp_a", "con_never", connection.StatusActive, nil, nil)
	never.CreatedAt = now.Add(-connection.TestInterval - 2*time.Minute)
	// Its refresh failed: not before its cooldown, in 30 minutes.
	cooling := conn("grp_a", "con_cooling", connection.StatusActive, at(0), at(0))
	cooling.RefreshCooldownUntil = at(30 * time.Minute)
	// Not scheduled, however old their tokens.
	pending := conn("grp_a", "con_pending", connection.StatusPending, at(-time.Hour), nil)
	gone := conn("grp_a", "con_gone", connection.StatusDisconnected, at(-time.Hour), at(-48*time.Hour))
	broken := conn("grp_b", "con_broken", connection.StatusBroken, at(-time.Hour), at(-48*time.Hour))
	for _, c := range []connection.Connection{refresh, later, test, never, cooling, pending, gone, broken} {
		must(t, s.CreateConnection(ctx, c))
	}
	due := func(before time.Time, want string) {
		t.Helper()
		list, err := s.ListConnectionsDue(ctx, before)
		must(t, err)
		if got := fmt.Sprint(ids(list)); got != want {
			t.Fatalf("ListConnectionsDue(now%+v) = %s, want %s", before.Sub(now), got, want)
		}
	}
	due(now, "[con_never con_refresh con_test]")
	due(now.Add(-90*time.Second), "[con_never]")
	due(now.Add(time.Hour+time.Second), "[con_never con_refresh con_test con_cooling con_later]")
	list, err := s.ListConnectionsDue(ctx, now)
	must(t, err)
	if got, want := asJSON(t, list[1]), asJSON(t, refresh); got != want {
		t.Fatalf("ListConnectionsDue record = %s, want %s", got, want)
	}

	// Writes move a Connection in the schedule or out of it.
	refreshed := refresh
	refreshed.TokenExpiresAt, refreshed.Version = at(2*time.Hour), 2
	must(t, s.UpdateConnection(ctx, refreshed))
	tested := test
	tested.Status, tested.Version = connection.StatusBroken, 2
	must(t, s.UpdateConnection(ctx, tested))
	due(now, "[con_never]")
	must(t, s.DeleteConnection(ctx, "grp_a", "con_never"))
	due(now, "[]")
	due(now.Add(2*time.Hour), "[con_cooling con_later con_refresh]")
	fixed := broken
	fixed.Status, fixed.Version = connection.StatusActive, 2
	must(t, s.UpdateConnection(ctx, fixed))
	due(now, "[con_broken]")
}

func testOAuthStates(t *testing.T, s Store) {
	ctx := t.Context()
	raw, st := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/v1/oauth/callback", t0)
	must(t, s.PutOAuthState(ctx, st))
	wantErr(t, s.PutOAuthState(ctx, st), wiresk.ErrConflict)
	got, err := s.TakeOAuthState(ctx, connection.StateID(raw))
	must(t, err)
	if got, want := asJSON(t, got), asJSON(t, st); got != want {
		t.Fatalf("TakeOAuthState = %s, want %s", got, want)
	}
	_, err = s.TakeOAuthState(ctx, st.ID)
	wantErr(t, err, wiresk.ErrNotFound)
	_, err = s.TakeOAuthState(ctx, connection.StateID("never issued"))
	wantErr(t, err, wiresk.ErrNotFound)

	// An expired state is handed back with its expiry, once, so that the
	// caller can say it expired.
	_, old := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/v1/oauth/callback", time.Now().Add(-time.Hour))
	must(t, s.PutOAuthState(ctx, old))
	got, err = s.TakeOAuthState(ctx, old.ID)
	must(t, err)
	if !got.ExpiresAt.Equal(old.ExpiresAt) || !got.Expired(time.Now()) {
		t.Fatalf("expired state: ExpiresAt = %v, want %v, expired", got.ExpiresAt, old.ExpiresAt)
	}
	_, err = s.TakeOAuthState(ctx, old.ID)
	wantErr(t, err, wiresk.ErrNotFound)
}

func testOAuthStateSingleUse(t *testing.T, s Store) {
	ctx := t.Context()
	_, st := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/v1/oauth/callback", time.Now())
	must(t, s.PutOAuthState(ctx, st))
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for range 10 {
		wg.Go(func() {
			got, err := s.TakeOAuthState(ctx, st.ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && got.ConnectionID == "con_1":
				won++
			case errors.Is(err, wiresk.ErrNotFound):
				lost++
			default:
				t.Errorf("TakeOAuthState = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 9 {
		t.Fatalf("10 concurrent TakeOAuthState: %d won, %d not found; want 1 and 9", won, lost)
	}
}

func acquire(t *testing.T, s Store, name, holder string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := s.AcquireLease(t.Context(), name, holder, ttl)
	must(t, err)
	if got != want {
		t.Fatalf("AcquireLease(%s, %s) = %v, want %v", name, holder, got, want)
	}
}

func testLeases(t *testing.T, s Store) {
	ctx := t.Context()
	lease := connection.RefreshLeaseName("con_1")
	acquire(t, s, lease, "w1", time.Minute, true)
	acquire(t, s, lease, "w2", time.Minute, false)
	acquire(t, s, lease, "w1", time.Minute, true) // the holder extends it
	acquire(t, s, connection.RefreshLeaseName("con_2"), "w2", time.Minute, true)

	// Only the holder releases.
	wantErr(t, s.ReleaseLease(ctx, lease, "w2"), wiresk.ErrNotFound)
	acquire(t, s, lease, "w2", time.Minute, false)
	must(t, s.ReleaseLease(ctx, lease, "w1"))
	wantErr(t, s.ReleaseLease(ctx, lease, "w1"), wiresk.ErrNotFound)
	acquire(t, s, lease, "w2", time.Minute, true)

	// An expired lease goes to whoever asks; its former holder cannot
	// release it any more.
	short := "short"
	acquire(t, s, short, "w1", 100*time.Millisecond, true)
	acquire(t, s, short, "w2", time.Minute, false)
	time.Sleep(250 * time.Millisecond)
	acquire(t, s, short, "w2", time.Minute, true)
	acquire(t, s, short, "w1", time.Minute, false)
	wantErr(t, s.ReleaseLease(ctx, short, "w1"), wiresk.ErrNotFound)
	must(t, s.ReleaseLease(ctx, short, "w2"))

	if _, err := s.AcquireLease(ctx, "bad", "w1", 0); err == nil {
		t.Fatal("AcquireLease with ttl 0: err = nil, want an error")
	}
}

func testLeaseConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for i := range 20 {
		wg.Go(func() {
			holder := fmt.Sprintf("w%02d", i)
			ok, err := s.AcquireLease(ctx, "contended", holder, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, holder)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("20 concurrent AcquireLease: winners = %v, want exactly one", winners)
	}
	acquire(t, s, "contended", winners[0], time.Minute, true)
	must(t, s.ReleaseLease(ctx, "contended", winners[0]))
}

func testAudit(t *testing.T, s Store) {
	ctx := t.Context()
	events := []connection.Event{connection.EventCreated, connection.EventAuthorized, connection.EventTested,
		connection.EventRefreshed, connection.EventRefreshFailed, connection.EventBroken}
	var appended []connection.AuditEvent
	for i, ev := range events {
		e := connection.AuditEvent{ConnectionID: "con_1", GroupID: "grp_a", At: t0.Add(time.Duration(i) * time.Minute),
			Actor: "u1", Event: ev, Detail: fmt.Sprintf("step %d", i)}
		if ev == connection.EventRefreshed || ev == connection.EventRefreshFailed {
			e.Actor = connection.ActorSystem
		}
		appended = append(appended, e)
	}
	// Appended out of order: the trail is ordered by time.
	for _, i := range []int{0, 2, 1, 3, 5, 4} {
		must(t, s.AppendAudit(ctx, appended[i]))
	}
	must(t, s.AppendAudit(ctx, connection.AuditEvent{ConnectionID: "con_10", GroupID: "grp_a", At: t0, Actor: "u1", Event: connection.EventCreated}))
	must(t, s.AppendAudit(ctx, connection.AuditEvent{ConnectionID: "con_1", GroupID: "grp_b", At: t0, Actor: "u9", Event: connection.EventCreated}))

	got, err := s.ListAudit(ctx, "grp_a", "con_1", 3)
	must(t, err)
	if got, want := asJSON(t, got), asJSON(t, []connection.AuditEvent{appended[5], appended[4], appended[3]}); got != want {
		t.Fatalf("ListAudit(limit 3) = %s, want %s", got, want)
	}
	got, err = s.ListAudit(ctx, "grp_a", "con_1", 0)
	must(t, err)
	if len(got) != 6 || got[0].Event != connection.EventBroken || got[5].Event != connection.EventCreated {
		t.Fatalf("ListAudit(no limit) = %+v, want the 6 events, newest first", got)
	}
	got, err = s.ListAudit(ctx, "grp_b", "con_1", 10)
	must(t, err)
	if len(got) != 1 || got[0].Actor != "u9" {
		t.Fatalf("ListAudit(grp_b) = %+v, want grp_b's one event", got)
	}
	got, err = s.ListAudit(ctx, "grp_a", "con_missing", 10)
	must(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("ListAudit(unknown connection) = %#v, want an empty list", got)
	}
	// The trail outlives the Connection.
	c := NewConnection("grp_a", "con_1")
	must(t, s.CreateConnection(ctx, c))
	must(t, s.DeleteConnection(ctx, "grp_a", "con_1"))
	got, err = s.ListAudit(ctx, "grp_a", "con_1", 10)
	must(t, err)
	if len(got) != 6 {
		t.Fatalf("ListAudit after delete = %d events, want 6", len(got))
	}
}

// ConnectionLifecycle writes one record of every Connection kind through s
// (a Connection created, updated and tested, a second one, a taken and a
// pending OAuth state, a lease, audit events), as the use cases would, so
// that an adapter's own tests can inspect what it stored.
func ConnectionLifecycle(t *testing.T, s connection.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	c := NewConnection("grp_a", connection.NewID(now))
	c.Status, c.TokenExpiresAt, c.LastTest, c.BrokenAt, c.StatusReason = connection.StatusPending, nil, nil, nil, ""
	must(t, s.CreateConnection(ctx, c))
	must(t, s.AppendAudit(ctx, connection.AuditEvent{ConnectionID: c.ID, GroupID: c.GroupID, At: now, Actor: "u1", Event: connection.EventCreated}))
	raw, st := connection.NewOAuthState(c.GroupID, c.ID, "u1", "https://wiresk.example/v1/oauth/callback", now)
	must(t, s.PutOAuthState(ctx, st))
	_, err := s.TakeOAuthState(ctx, connection.StateID(raw))
	must(t, err)
	_, pending := connection.NewOAuthState(c.GroupID, c.ID, "u1", "https://wiresk.example/v1/oauth/callback", now)
	must(t, s.PutOAuthState(ctx, pending))
	exp := now.Add(time.Hour)
	c.Status, c.Account, c.TokenExpiresAt, c.LastRefreshAt, c.Version = connection.StatusActive, "ada@example.com", &exp, &now, 2
	c.LastTest = &connection.TestResult{At: now, OK: true, Message: "HTTP 200"}
	must(t, s.UpdateConnection(ctx, c))
	must(t, s.AppendAudit(ctx, connection.AuditEvent{ConnectionID: c.ID, GroupID: c.GroupID, At: now, Actor: "u1", Event: connection.EventAuthorized, Detail: "ada@example.com"}))
	ok, err := s.AcquireLease(ctx, connection.RefreshLeaseName(c.ID), "worker-1", time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("AcquireLease of a free lease = false")
	}
	must(t, s.AppendAudit(ctx, connection.AuditEvent{ConnectionID: c.ID, GroupID: c.GroupID, At: now, Actor: connection.ActorSystem, Event: connection.EventRefreshed}))
	must(t, s.CreateConnection(ctx, NewConnection("grp_a", connection.NewID(now))))
}

// secretLike matches the field names that suggest secret material.
var secretLike = regexp.MustCompile(`(?i)token|secret|passw|credential|key`)

// NonSecretFields are the field names that match secretLike but hold no
// secret: metadata about a token, not the token.
var NonSecretFields = []string{"tokenExpiresAt"}

// SecretLikeName reports whether a stored field name suggests a secret
// (token, secret, password, credential, key) and is not one of
// NonSecretFields.
func SecretLikeName(name string) bool {
	return secretLike.MatchString(name) && !slices.Contains(NonSecretFields, name)
}
