package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"wiresk/internal/bolt"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// fixture is a Connection authorized against the real test server, its
// token stored in the real embedded vault, and a bbolt lease.
type fixture struct {
	srv    *authServer
	clock  *testClock
	flow   *oauth.Flow
	req    oauth.Request
	vault  *bolt.Vault
	store  *oauth.VaultStore
	leaser *boltLeaser
	name   string
	first  *oauth.Token // the token of the code exchange

	refreshed atomic.Int64 // OnRefresh calls, over every Source
	mu        sync.Mutex
	events    []oauth.Refreshed
}

// credentialName is the vault name of the test Connection's credential.
const credentialName = "wiresk/connections/g1/c1"

// connected authorizes a Connection of the "idp" app (HTTP Basic client
// authentication, PKCE, rotating refresh tokens) and stores its token in a
// credential blob that also holds the client's id and secret.
func connected(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{srv: newAuthServer(t, serverOptions{tokenAuth: "basic"}), clock: &testClock{}, name: credentialName}
	fx.flow = newFlow(t, fx.clock)
	fx.req = fx.srv.request(app(t, fx.srv.testApps(t), "idp"))
	var db *bolt.DB
	fx.vault, db = newVault(t)
	fx.store = oauth.NewVaultStore(fx.vault)
	fx.leaser = &boltLeaser{db: db.Bolt()}

	blob := `{"client_id":"` + testClientID + `","client_secret":"` + testClientSecret + `"}`
	if err := fx.vault.Put(t.Context(), fx.name, []byte(blob)); err != nil {
		t.Fatal(err)
	}
	fx.first, _ = fx.srv.connect(t, fx.flow, fx.req)
	if err := fx.store.PutToken(t.Context(), fx.name, fx.first); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	return fx
}

// source returns a new Source of the fixture's Connection, as a worker
// would build it; mod may change its config.
func (fx *fixture) source(t *testing.T, mod func(*oauth.SourceConfig)) *oauth.Source {
	t.Helper()
	cfg := oauth.SourceConfig{
		App: fx.req.App, Client: fx.req.Client, Store: fx.store, Name: fx.name, Leaser: fx.leaser,
		Now: fx.clock.Now,
		OnRefresh: func(_ context.Context, r oauth.Refreshed) {
			fx.refreshed.Add(1)
			fx.mu.Lock()
			fx.events = append(fx.events, r)
			fx.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := oauth.NewSource(cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

// stored reads the stored token.
func (fx *fixture) stored(t *testing.T) *oauth.Token {
	t.Helper()
	tok, err := fx.store.GetToken(t.Context(), fx.name)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok
}

// secrets are every secret the fixture knows of.
func (fx *fixture) secrets(t *testing.T) []string {
	tok := fx.stored(t)
	return []string{testClientSecret, fx.first.AccessToken, fx.first.RefreshToken, tok.AccessToken, tok.RefreshToken}
}

func TestSourceUsesStoredTokenThenRefreshesAndWritesBack(t *testing.T) {
	fx := connected(t)
	src := fx.source(t, nil)

	got, err := src.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got.AccessToken != fx.first.AccessToken {
		t.Errorf("Token returned another access token than the stored, still valid one")
	}
	if got.RefreshToken != "" {
		t.Errorf("Token returned the refresh token; it must stay inside the Source")
	}
	if got, want := fx.srv.refreshes.Load(), int64(0); got != want {
		t.Errorf("refreshes = %d, want %d", got, want)
	}

	// 30 minutes later the 10-minute token has expired.
	fx.clock.Advance(30 * time.Minute)
	got, err = src.Token(t.Context())
	if err != nil {
		t.Fatalf("Token after expiry: %v", err)
	}
	if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
		t.Errorf("refreshes = %d, want %d", got, want)
	}
	if got.AccessToken == fx.first.AccessToken {
		t.Fatalf("Token after expiry returned the expired access token")
	}
	stored := fx.stored(t)
	if stored.AccessToken != got.AccessToken {
		t.Errorf("the stored access token is not the refreshed one: not written back")
	}
	if stored.RefreshToken == "" || stored.RefreshToken == fx.first.RefreshToken {
		t.Errorf("the stored refresh token was not rotated")
	}
	if !stored.Expiry.Equal(got.Expiry) {
		t.Errorf("stored Expiry = %s, returned %s", stored.Expiry, got.Expiry)
	}
	if d := stored.Expiry.Sub(fx.clock.Now()); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("the refreshed token expires in %s, want about 10 minutes", d)
	}
	if got, want := stored.Scope, "read write"; got != want {
		t.Errorf("stored Scope = %q, want %q", got, want)
	}

	// The credential blob keeps its other fields.
	raw, err := fx.vault.Get(t.Context(), fx.name)
	if err != nil {
		t.Fatal(err)
	}
	var blob map[string]any
	if err := json.Unmarshal(raw, &blob); err != nil {
		t.Fatal(err)
	}
	if got, want := blob["client_secret"], testClientSecret; got != want {
		t.Errorf("credential client_secret = %v, want it kept", got)
	}

	// The provider agrees: the new access token works, the old ones do not.
	if got, want := fx.srv.me(t, got.AccessToken), http.StatusOK; got != want {
		t.Errorf("GET /me with the refreshed token: %d, want %d", got, want)
	}
	if got, want := fx.srv.me(t, fx.first.AccessToken), http.StatusUnauthorized; got != want {
		t.Errorf("GET /me with the old token: %d, want %d", got, want)
	}
	_, err = fx.srv.refreshDirect(t.Context(), fx.first.RefreshToken)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh with the rotated-away token = %v, want invalid_grant", err)
	}

	// The hook saw one refresh, with what the audit event needs.
	fx.mu.Lock()
	events := fx.events
	fx.mu.Unlock()
	if got, want := len(events), 1; got != want {
		t.Fatalf("OnRefresh calls = %d, want %d", got, want)
	}
	if ev := events[0]; ev.Name != fx.name || !ev.Rotated || !ev.Expiry.Equal(stored.Expiry) {
		t.Errorf("OnRefresh(%+v), want Name %q, Rotated, Expiry %s", ev, fx.name, stored.Expiry)
	}

	// And the next call uses the stored token again.
	before := fx.srv.refreshes.Load()
	again, err := src.Token(t.Context())
	if err != nil || again.AccessToken != got.AccessToken {
		t.Errorf("Token after the refresh: err %v, same token %v; want the stored one", err, err == nil && again.AccessToken == got.AccessToken)
	}
	if got, want := fx.srv.refreshes.Load(), before; got != want {
		t.Errorf("refreshes = %d, want %d", got, want)
	}
}

// TestConcurrentWorkersRefreshOnce: 20 workers, each with its own Source
// (as in separate Lambda instances) on the same vault and lease, need the
// expired token at the same moment. The provider rotates refresh tokens:
// exactly one refresh must happen, and all 20 get its token.
func TestConcurrentWorkersRefreshOnce(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "separate_sources"
		if shared {
			name = "one_shared_source"
		}
		t.Run(name, func(t *testing.T) {
			fx := connected(t)
			fx.clock.Advance(30 * time.Minute)
			fx.srv.refreshDelay.Store(int64(150 * time.Millisecond)) // the others arrive meanwhile

			const workers = 20
			sources := make([]*oauth.Source, workers)
			for i := range sources {
				if shared && i > 0 {
					sources[i] = sources[0]
					continue
				}
				sources[i] = fx.source(t, nil)
			}
			tokens := make([]*oauth2.Token, workers)
			errs := make([]error, workers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range workers {
				wg.Go(func() {
					<-start
					tokens[i], errs[i] = sources[i].Token(t.Context())
				})
			}
			close(start)
			wg.Wait()

			if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
				t.Errorf("refresh grants at the server = %d, want %d", got, want)
			}
			if got, want := fx.refreshed.Load(), int64(1); got != want {
				t.Errorf("OnRefresh calls = %d, want %d", got, want)
			}
			stored := fx.stored(t)
			for i := range workers {
				if errs[i] != nil {
					t.Errorf("worker %d: %v", i, errs[i])
					continue
				}
				if tokens[i].AccessToken != stored.AccessToken {
					t.Errorf("worker %d got another access token than the stored, refreshed one", i)
				}
			}
			if stored.AccessToken == fx.first.AccessToken || stored.RefreshToken == fx.first.RefreshToken {
				t.Errorf("the stored token was not refreshed and rotated")
			}
			if got, want := fx.srv.me(t, stored.AccessToken), http.StatusOK; got != want {
				t.Errorf("GET /me with the shared token: %d, want %d", got, want)
			}
		})
	}
}

// TestRevokedRefreshTokenMakesTheConnectionBroken: after a revocation the
// provider refuses the refresh token; each Source re-reads the store, finds
// nothing newer, and reports the Connection broken without writing
// anything.
func TestRevokedRefreshTokenMakesTheConnectionBroken(t *testing.T) {
	fx := connected(t)
	if err := fx.flow.Revoke(t.Context(), fx.req, fx.first); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got, want := fx.srv.me(t, fx.first.AccessToken), http.StatusUnauthorized; got != want {
		t.Errorf("GET /me after revocation: %d, want %d", got, want)
	}
	fx.clock.Advance(30 * time.Minute)

	// 20 workers, each with its own Source.
	const workers = 20
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		src := fx.source(t, nil)
		wg.Go(func() {
			<-start
			_, errs[i] = src.Token(t.Context())
		})
	}
	close(start)
	wg.Wait()

	var oe *oauth.Error
	for i, err := range errs {
		if !errors.Is(err, oauth.ErrBroken) {
			t.Errorf("worker %d: Token error = %v, want ErrBroken", i, err)
			continue
		}
		assertNoSecrets(t, err, fx.secrets(t)...)
		var be *oauth.BrokenError
		if !errors.As(err, &be) || be.Reason == "" {
			t.Errorf("worker %d: error %v is not a *BrokenError with a reason", i, err)
		}
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.Op != "refresh" {
			t.Errorf("worker %d: the provider's answer = %+v, want the refresh's invalid_grant", i, oe)
		}
	}
	if got := fx.srv.refreshes.Load(); got < 1 || got > workers {
		t.Errorf("refresh grants = %d, want 1 to %d (one per Source at most)", got, workers)
	}
	if got, want := fx.refreshed.Load(), int64(0); got != want {
		t.Errorf("OnRefresh calls = %d, want %d", got, want)
	}
	if stored := fx.stored(t); stored.AccessToken != fx.first.AccessToken || stored.RefreshToken != fx.first.RefreshToken {
		t.Errorf("the stored token changed; a refusal must write nothing")
	}

	// 20 goroutines of one Source: one refused refresh, then the Source
	// remembers the verdict for that refresh token.
	shared := fx.source(t, nil)
	before := fx.srv.refreshes.Load()
	start = make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			_, errs[i] = shared.Token(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, oauth.ErrBroken) {
			t.Errorf("goroutine %d: Token error = %v, want ErrBroken", i, err)
		}
	}
	if got, want := fx.srv.refreshes.Load()-before, int64(1); got != want {
		t.Errorf("refresh grants of the shared Source = %d, want %d", got, want)
	}

	// Reconnecting stores a new token; the same Source uses it.
	tok, _ := fx.srv.connect(t, fx.flow, fx.req)
	if err := fx.store.PutToken(t.Context(), fx.name, tok); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(30 * time.Minute)
	if _, err := shared.Token(t.Context()); err != nil {
		t.Errorf("Token after reconnecting: %v; want a token", err)
	}
}

// reconnectingStore is a TokenStore in which a reconnect lands right after
// the first read that follows the armed moment.
type reconnectingStore struct {
	oauth.TokenStore
	armed     atomic.Bool
	once      sync.Once
	reconnect func()
}

func (s *reconnectingStore) GetToken(ctx context.Context, name string) (*oauth.Token, error) {
	tok, err := s.TokenStore.GetToken(ctx, name)
	if s.armed.Load() {
		s.once.Do(s.reconnect)
	}
	return tok, err
}

// TestRefusalNeverOverwritesAReconnect: the user reconnects (a new token is
// stored) just after a worker re-read the store following invalid_grant.
// The worker reports ErrBroken for the token it had, but the reconnect's
// token stays stored.
func TestRefusalNeverOverwritesAReconnect(t *testing.T) {
	fx := connected(t)
	next, _ := fx.srv.connect(t, fx.flow, fx.req)
	if err := fx.flow.Revoke(t.Context(), fx.req, fx.first); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(30 * time.Minute)
	rs := &reconnectingStore{TokenStore: fx.store}
	rs.reconnect = func() {
		if err := fx.store.PutToken(context.Background(), fx.name, next); err != nil {
			t.Errorf("reconnect: %v", err)
		}
	}
	fx.srv.setBeforeRefresh(func(string) { rs.armed.Store(true) })

	_, err := fx.source(t, func(c *oauth.SourceConfig) { c.Store = rs }).Token(t.Context())
	if !errors.Is(err, oauth.ErrBroken) {
		t.Fatalf("Token = %v, want ErrBroken for the revoked token", err)
	}
	if stored := fx.stored(t); stored.RefreshToken != next.RefreshToken {
		t.Fatalf("the reconnect's token was overwritten")
	}
	if _, err := fx.source(t, nil).Token(t.Context()); err != nil {
		t.Errorf("Token with the reconnect's token: %v", err)
	}
}

// TestUsedRefreshTokenMakesTheConnectionBroken: the stored refresh token
// was already used (rotated by someone whose result was lost), so the
// provider refuses it; nothing newer is stored.
func TestUsedRefreshTokenMakesTheConnectionBroken(t *testing.T) {
	fx := connected(t)
	if _, err := fx.srv.refreshDirect(t.Context(), fx.first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(30 * time.Minute)
	_, err := fx.source(t, nil).Token(t.Context())
	if !errors.Is(err, oauth.ErrBroken) {
		t.Fatalf("Token = %v, want ErrBroken", err)
	}
	assertNoSecrets(t, err, fx.secrets(t)...)
	if got, want := fx.srv.refreshes.Load(), int64(2); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

// TestInvalidGrantRereadsTheStore: while this worker's refresh is on its
// way, another worker (one whose lease had expired) rotates the refresh
// token and stores the result. The provider refuses this worker's refresh
// token, but the re-read finds the newer one: no ErrBroken.
func TestInvalidGrantRereadsTheStore(t *testing.T) {
	for _, tc := range []struct {
		name        string
		storedFresh bool // the other worker's token is still fresh for us
		refreshes   int64
		ourRefresh  int64
	}{
		{"uses_the_other_workers_token", true, 2, 0},
		{"refreshes_with_the_new_refresh_token", false, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := connected(t)
			fx.clock.Advance(30 * time.Minute)
			var theirs *oauth.Token
			fx.srv.setBeforeRefresh(func(refreshToken string) {
				nt, err := fx.srv.refreshDirect(context.Background(), refreshToken)
				if err != nil {
					t.Errorf("the other worker's refresh: %v", err)
					return
				}
				theirs = &oauth.Token{AccessToken: nt.AccessToken, TokenType: nt.TokenType, RefreshToken: nt.RefreshToken,
					Expiry: fx.clock.Now().Add(10 * time.Minute)}
				if !tc.storedFresh {
					theirs.Expiry = fx.clock.Now().Add(30 * time.Second) // within the margin
				}
				if err := fx.store.PutToken(context.Background(), fx.name, theirs); err != nil {
					t.Errorf("the other worker's write-back: %v", err)
				}
			})
			got, err := fx.source(t, nil).Token(t.Context())
			if err != nil {
				t.Fatalf("Token = %v, want the other worker's or a new token", err)
			}
			if got, want := fx.srv.refreshes.Load(), tc.refreshes; got != want {
				t.Errorf("refresh grants = %d, want %d", got, want)
			}
			if got, want := fx.refreshed.Load(), tc.ourRefresh; got != want {
				t.Errorf("OnRefresh calls = %d, want %d", got, want)
			}
			stored := fx.stored(t)
			if got.AccessToken != stored.AccessToken {
				t.Errorf("Token did not return the stored token")
			}
			if tc.storedFresh && got.AccessToken != theirs.AccessToken {
				t.Errorf("Token did not return the other worker's token")
			}
			if got, want := fx.srv.me(t, got.AccessToken), http.StatusOK; got != want {
				t.Errorf("GET /me: %d, want %d", got, want)
			}
		})
	}
}

// TestRefreshAfterTheAppRejectsTheToken: a 401 from the app makes the
// Source refresh a token whose expiry says it is valid, unless another
// worker already replaced it.
func TestRefreshAfterTheAppRejectsTheToken(t *testing.T) {
	fx := connected(t)
	src := fx.source(t, nil)
	got, err := src.Refresh(t.Context(), fx.first.AccessToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got.AccessToken == fx.first.AccessToken {
		t.Errorf("Refresh returned the rejected token")
	}
	if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
	// Another worker that had the same, now replaced, token.
	again, err := fx.source(t, nil).Refresh(t.Context(), fx.first.AccessToken)
	if err != nil || again.AccessToken != got.AccessToken {
		t.Errorf("Refresh of an already replaced token: %v; want the current token", err)
	}
	if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

func TestTransientRefreshFailureIsNotBroken(t *testing.T) {
	fx := connected(t)
	fx.clock.Advance(30 * time.Minute)
	fx.srv.failRefreshes.Store(true)
	_, err := fx.source(t, nil).Token(t.Context())
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("Token = %v, want an *oauth.Error", err)
	}
	if errors.Is(err, oauth.ErrBroken) {
		t.Errorf("Token = %v, a 503 must not break the Connection", err)
	}
	if !oe.Temporary() || oe.Status != http.StatusServiceUnavailable {
		t.Errorf("error %v: Temporary %v, Status %d; want true, 503", err, oe.Temporary(), oe.Status)
	}
	assertNoSecrets(t, err, fx.secrets(t)...)
	if stored := fx.stored(t); stored.AccessToken != fx.first.AccessToken {
		t.Errorf("the stored token changed after a failed refresh: %v", stored)
	}

	fx.srv.failRefreshes.Store(false)
	if _, err := fx.source(t, nil).Token(t.Context()); err != nil {
		t.Errorf("Token once the provider is back: %v", err)
	}
}

func TestTokenWithoutRefreshToken(t *testing.T) {
	fx := connected(t)
	src := fx.source(t, nil)
	now := fx.clock.Now()
	for _, tc := range []struct {
		name   string
		expiry time.Time
		broken bool
	}{
		{"no_expiry", time.Time{}, false},
		{"expiring_within_the_margin", now.Add(20 * time.Second), false},
		{"expired", now.Add(-time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := &oauth.Token{AccessToken: "xoxb-no-refresh-access", TokenType: "Bearer", Expiry: tc.expiry}
			if err := fx.store.PutToken(t.Context(), fx.name, tok); err != nil {
				t.Fatal(err)
			}
			got, err := src.Token(t.Context())
			if tc.broken {
				if !errors.Is(err, oauth.ErrBroken) {
					t.Errorf("Token = %v, want ErrBroken", err)
				}
				assertNoSecrets(t, err, tok.AccessToken)
				return
			}
			if err != nil || got.AccessToken != tok.AccessToken {
				t.Errorf("Token = %v; want the stored token", err)
			}
			_, err = src.Refresh(t.Context(), tok.AccessToken)
			if !errors.Is(err, oauth.ErrBroken) {
				t.Errorf("Refresh of a rejected token without refresh token = %v, want ErrBroken", err)
			}
		})
	}
	if got, want := fx.srv.refreshes.Load(), int64(0); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

func TestNoStoredTokenIsBroken(t *testing.T) {
	fx := connected(t)
	src := fx.source(t, func(c *oauth.SourceConfig) { c.Name = "wiresk/connections/g1/missing" })
	_, err := src.Token(t.Context())
	if !errors.Is(err, oauth.ErrBroken) || !errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Token = %v, want ErrBroken wrapping wiresk.ErrNotFound", err)
	}
}

// TestWaiterBoundedByMaxWaitAndContext: a lease another holder keeps makes
// a waiter give up after MaxWait, or when its context ends, without
// breaking anything.
func TestWaiterBoundedByMaxWaitAndContext(t *testing.T) {
	fx := connected(t)
	fx.clock.Advance(30 * time.Minute)
	leaser := &oauth.MemoryLeaser{}
	if ok, _ := leaser.AcquireLease(t.Context(), oauth.LeaseName(fx.name), "stuck-worker", time.Minute); !ok {
		t.Fatal("could not take the lease")
	}
	src := fx.source(t, func(c *oauth.SourceConfig) { c.Leaser = leaser; c.MaxWait = 200 * time.Millisecond })

	start := time.Now()
	_, err := src.Token(t.Context())
	if err == nil || errors.Is(err, oauth.ErrBroken) {
		t.Errorf("Token = %v, want a transient error", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("Token gave up after %s, want about 200ms", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = fx.source(t, func(c *oauth.SourceConfig) { c.Leaser = leaser }).Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Token with an ending context = %v, want context.DeadlineExceeded", err)
	}
	if got, want := fx.srv.refreshes.Load(), int64(0); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

// TestWaiterTakesOverFromACrashedHolder: the holder of the lease died
// without releasing it; once the lease expires, a waiter refreshes.
func TestWaiterTakesOverFromACrashedHolder(t *testing.T) {
	fx := connected(t)
	fx.clock.Advance(30 * time.Minute)
	const ttl = 300 * time.Millisecond
	if ok, err := fx.leaser.AcquireLease(t.Context(), oauth.LeaseName(fx.name), "crashed-worker", ttl); !ok || err != nil {
		t.Fatalf("could not take the lease: %v", err)
	}
	start := time.Now()
	got, err := fx.source(t, nil).Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if d := time.Since(start); d < ttl {
		t.Errorf("Token returned after %s, before the crashed holder's lease expired (%s)", d, ttl)
	}
	if got.AccessToken == fx.first.AccessToken {
		t.Errorf("Token returned the expired token")
	}
	if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

// TestTokenSourceForHTTPClients: the Source plugs into oauth2.NewClient.
func TestTokenSourceForHTTPClients(t *testing.T) {
	fx := connected(t)
	fx.clock.Advance(30 * time.Minute)
	client := oauth2.NewClient(t.Context(), fx.source(t, nil).TokenSource(t.Context()))
	resp, err := client.Get(fx.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Errorf("GET /me through oauth2.NewClient: %d, want %d", got, want)
	}
	if got, want := fx.srv.refreshes.Load(), int64(1); got != want {
		t.Errorf("refresh grants = %d, want %d", got, want)
	}
}

func TestNewSourceChecksItsConfig(t *testing.T) {
	fx := connected(t)
	for name, mod := range map[string]func(*oauth.SourceConfig){
		"no app":    func(c *oauth.SourceConfig) { c.App = nil },
		"no store":  func(c *oauth.SourceConfig) { c.Store = nil },
		"no leaser": func(c *oauth.SourceConfig) { c.Leaser = nil },
		"no name":   func(c *oauth.SourceConfig) { c.Name = "" },
	} {
		cfg := oauth.SourceConfig{App: fx.req.App, Client: fx.req.Client, Store: fx.store, Name: fx.name, Leaser: fx.leaser}
		mod(&cfg)
		if _, err := oauth.NewSource(cfg); err == nil {
			t.Errorf("NewSource with %s: got no error, want one", name)
		}
	}
}
