package connect_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/testkit/oauthtest"
)

// TestCheckDue runs the health schedule: a token about to expire is
// refreshed, a failed refresh cools down and is retried, Connections not
// tested for a day are tested, and a refresh token revoked at the provider
// marks the Connection broken.
func TestCheckDue(t *testing.T) {
	// Access tokens of an hour, as most providers issue them.
	e := newEnvOpts(t, oauthtest.Options{AccessTokenTTL: time.Hour})
	ctx := t.Context()
	c := e.connectIdP("IdP")
	key, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	if err != nil {
		t.Fatal(err)
	}

	check := func(want connect.HealthReport) {
		t.Helper()
		got, err := e.svc.CheckDue(ctx)
		if err != nil {
			t.Fatalf("CheckDue: %v", err)
		}
		if got != want {
			t.Fatalf("CheckDue = %+v, want %+v", got, want)
		}
	}

	// Nothing due yet: the token has an hour left, both were tested just
	// now.
	check(connect.HealthReport{})
	// 40 minutes later the token is near, but not yet within the refresh
	// window.
	e.clock.Advance(40 * time.Minute)
	check(connect.HealthReport{})

	// 6 minutes later the token expires within the refresh window.
	e.clock.Advance(6 * time.Minute)
	old, _ := e.creds(c.ID)
	check(connect.HealthReport{Refreshed: 1})
	fresh, _ := e.creds(c.ID)
	if fresh.RefreshToken == old.RefreshToken {
		t.Errorf("the refresh token did not rotate")
	}
	if got := e.conn(c.ID); got.TokenExpiresAt == nil || got.TokenExpiresAt.Sub(e.clock.Now()) < 59*time.Minute {
		t.Errorf("TokenExpiresAt = %v, want about an hour ahead", got.TokenExpiresAt)
	}
	check(connect.HealthReport{})

	// The provider fails: the failure counts and cools down.
	e.clock.Advance(46 * time.Minute)
	e.idp.FailRefreshes.Store(true)
	check(connect.HealthReport{Failed: 1})
	got := e.conn(c.ID)
	if got.RefreshFailures != 1 || got.RefreshCooldownUntil == nil || got.Status != connection.StatusActive {
		t.Fatalf("after a failed refresh: failures %d cooldown %v status %s, want 1, set, active", got.RefreshFailures, got.RefreshCooldownUntil, got.Status)
	}
	if got, want := e.count(c.ID, connection.EventRefreshFailed), 1; got != want {
		t.Errorf("refresh_failed events = %d, want %d", got, want)
	}
	n := e.idp.Refreshes.Load()
	check(connect.HealthReport{}) // cooling down: not even tried
	if e.idp.Refreshes.Load() != n {
		t.Errorf("a refresh was tried during the cooldown")
	}
	// After the cooldown, the provider is back.
	e.idp.FailRefreshes.Store(false)
	e.clock.Advance(connect.RefreshCooldown(1))
	check(connect.HealthReport{Refreshed: 1})
	if got := e.conn(c.ID); got.RefreshFailures != 0 || got.RefreshCooldownUntil != nil {
		t.Errorf("after a successful refresh: failures %d cooldown %v, want reset", got.RefreshFailures, got.RefreshCooldownUntil)
	}
	e.creds(c.ID)

	// A day later: both are due for a Test (the OAuth one refreshed first).
	e.clock.Advance(connection.TestInterval)
	tests := e.openai.Requests()
	check(connect.HealthReport{Refreshed: 1, Tested: 2})
	if got := e.openai.Requests(); got != tests+1 {
		t.Errorf("OpenAI test requests = %d, want %d", got, tests+1)
	}
	if got := e.conn(key.ID); got.LastTest == nil || got.LastTest.At.Before(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("LastTest = %+v, want one just now", got.LastTest)
	}
	if ev := e.audit(key.ID); ev[len(ev)-1].Event != connection.EventTested || ev[len(ev)-1].Actor != connection.ActorSystem {
		t.Errorf("last event = %+v, want tested by the system", ev[len(ev)-1])
	}
	e.creds(c.ID)

	// The user revokes Wiresk at the provider: the next refresh is refused
	// for good, and the Connection is broken.
	cur, _ := e.creds(c.ID)
	e.idp.Revoke(ctx, cur.RefreshToken)
	e.clock.Advance(46 * time.Minute)
	check(connect.HealthReport{Broken: 1})
	if got := e.conn(c.ID); got.Status != connection.StatusBroken || !strings.Contains(got.StatusReason, "invalid_grant") {
		t.Errorf("after the revocation: %s %q, want broken for invalid_grant", got.Status, got.StatusReason)
	}
	// A broken Connection is no longer scheduled.
	e.clock.Advance(connection.TestInterval)
	check(connect.HealthReport{Tested: 1})
	scanFor(t, "the logs", []string{e.logs.String()}, e.secrets())
	scanFor(t, "the metrics", []string{e.metrics.String()}, e.secrets())
	// Three refreshes, one the provider failed, one it refused for good.
	if got, want := e.refreshes(), map[string]int{"refreshed": 3, "failed": 1, "refused": 1}; !maps.Equal(got, want) {
		t.Errorf("TokenRefreshes by outcome = %v, want %v", got, want)
	}
}

// TestCheckDueGivesUpAfterRepeatedFailures: a provider that keeps failing
// is retried with growing cooldowns, and the Connection is marked broken
// after MaxRefreshFailures once its access token has expired.
func TestCheckDueGivesUpAfterRepeatedFailures(t *testing.T) {
	e := newEnv(t)
	c := e.connectIdP("IdP")
	e.idp.FailRefreshes.Store(true)
	e.clock.Advance(6 * time.Minute)
	for i := 1; i <= connect.MaxRefreshFailures; i++ {
		rep, err := e.svc.CheckDue(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := e.conn(c.ID)
		if i < connect.MaxRefreshFailures {
			if rep.Failed != 1 || got.Status != connection.StatusActive || got.RefreshFailures != i {
				t.Fatalf("round %d: %+v, status %s, failures %d; want 1 failed, active, %d failures", i, rep, got.Status, got.RefreshFailures, i)
			}
			if want := connect.RefreshCooldown(i); got.RefreshCooldownUntil.Sub(e.clock.Now().UTC()) > want {
				t.Errorf("round %d: cooldown until %v, want within %v", i, got.RefreshCooldownUntil, want)
			}
			e.clock.Advance(connect.RefreshCooldown(i) + time.Second)
			continue
		}
		if rep.Broken != 1 || got.Status != connection.StatusBroken {
			t.Fatalf("round %d: %+v, status %s; want broken", i, rep, got.Status)
		}
	}
	if got, want := connect.RefreshCooldown(1), time.Minute; got != want {
		t.Errorf("RefreshCooldown(1) = %v, want %v", got, want)
	}
	if got, want := connect.RefreshCooldown(20), time.Hour; got != want {
		t.Errorf("RefreshCooldown(20) = %v, want %v", got, want)
	}
}

// TestHealthNeedsNoAccessCheck: the health schedule, wired without an
// access check (it acts for no caller), re-tests the Connections due.
func TestHealthNeedsNoAccessCheck(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token}); err != nil {
		t.Fatal(err)
	}
	cfg := e.svc.Config
	cfg.Authz = nil
	health := connect.New(cfg).Health
	e.clock.Advance(connection.TestInterval + time.Minute)
	got, err := health.CheckDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (connect.HealthReport{Tested: 1}); got != want {
		t.Errorf("CheckDue = %+v, want %+v", got, want)
	}
}
