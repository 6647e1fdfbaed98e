package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"wiresk/internal/backoff"
	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// Leaser grants short exclusive leases by name: the lock under which one
// worker refreshes a Connection's token while the others wait.
type Leaser interface {
	// AcquireLease takes the lease name for holder until ttl from now, and
	// reports whether it got it: false (and no error) while another holder
	// has an unexpired lease.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives up holder's lease name; releasing a lease that
	// holder no longer has is not an error.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Defaults of SourceConfig.
const (
	DefaultMargin   = 60 * time.Second
	DefaultLeaseTTL = 30 * time.Second
)

// DefaultGrantErrors are the error codes besides invalid_grant by which
// providers refuse a refresh token for good: Slack's oauth.v2.access
// answers invalid_refresh_token.
var DefaultGrantErrors = []string{"invalid_refresh_token"}

// LeaseName is the default name of the refresh lease of the credential
// name. Whoever else writes the credential's token (the OAuth callback of a
// reconnect) should hold this lease while writing, so that a refresh under
// way cannot overwrite the new token.
func LeaseName(credential string) string { return "oauth-refresh:" + credential }

// Refreshed describes a refresh, for OnRefresh: enough to record a
// "refreshed" audit event and the new expiry, and no secret.
type Refreshed struct {
	// Name is the credential's name.
	Name string
	// At is when the new token was stored.
	At time.Time
	// Expiry is the new access token's expiry; zero when it does not
	// expire.
	Expiry time.Time
	// Rotated reports whether the provider issued a new refresh token.
	Rotated bool
}

// SourceConfig configures a Source.
type SourceConfig struct {
	// App is the catalog app; it must offer OAuth.
	App *catalog.App
	// Config is the connection config the token URL may depend on.
	Config map[string]string
	// Client is the OAuth client the token was issued to.
	Client Client
	// Store keeps the token; Name is the credential's name there.
	Store TokenStore
	Name  string
	// Leaser serializes refreshes across workers.
	Leaser Leaser
	// Lease is the name of the refresh lease; LeaseName(Name) when empty.
	// Every Source of the same Connection must use the same name.
	Lease string
	// Holder identifies this Source as a lease holder; random when empty.
	Holder string
	// Margin: a token expiring within it is refreshed; DefaultMargin when
	// zero.
	Margin time.Duration
	// LeaseTTL bounds a refresh: the lease expires after it, so a crashed
	// holder does not block the others for longer, and the refresh request
	// is given half of it. DefaultLeaseTTL when zero.
	LeaseTTL time.Duration
	// MaxWait bounds how long a worker waits for another's refresh (the
	// context may end it sooner); LeaseTTL plus 10 s when zero, so that a
	// waiter outlives a crashed holder's lease and takes over.
	MaxWait time.Duration
	// GrantErrors are the provider's error codes, besides invalid_grant,
	// that refuse a refresh token for good; DefaultGrantErrors when nil.
	GrantErrors []string
	// HTTPClient calls the token endpoint; a client with a 30 s timeout
	// when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnRefresh, when set, is called after each refresh this Source made
	// and wrote back (not when it used another worker's).
	OnRefresh func(ctx context.Context, r Refreshed)
	// OnRefreshError, when set, is called when a refresh this Source
	// attempted failed: the provider refused the refresh token for good
	// (err is a *BrokenError), could not be reached or answered an error,
	// or the new token could not be stored. err names no secret.
	OnRefreshError func(ctx context.Context, err error)
}

// Source gives a Connection's valid access token to workers and to Test,
// refreshing it when it expires. Any number of Sources, in any number of
// processes, may serve the same Connection: they share the TokenStore and
// the Leaser, and one refresh at a time happens under the lease, so a
// rotating refresh token is never used twice. A Source is safe for
// concurrent use.
type Source struct {
	app       *catalog.App
	conf      *oauth2.Config
	host      string
	store     TokenStore
	name      string
	leaser    Leaser
	lease     string
	holder    string
	margin    time.Duration
	leaseTTL  time.Duration
	maxWait   time.Duration
	grant     []string
	hc        *http.Client
	now       func() time.Time
	onRefresh func(context.Context, Refreshed)
	// onRefreshError is SourceConfig.OnRefreshError.
	onRefreshError func(context.Context, error)

	gate    chan struct{}           // one goroutine of this Source refreshes at a time
	seq     atomic.Uint64           // makes each lease attempt's holder unique
	refused atomic.Pointer[refusal] // the last refresh token the provider refused for good
}

// refusal remembers a refresh token the provider refused for good (by its
// hash), so that this Source does not try it again.
type refusal struct {
	hash [sha256.Size]byte
	err  *BrokenError
}

// NewSource returns a Source. It renders the app's token URL for the
// connection config, so a config error shows here.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.App == nil || cfg.App.OAuth == nil {
		return nil, wiresk.FieldError("auth", "the app does not use OAuth")
	}
	if cfg.Store == nil || cfg.Leaser == nil {
		return nil, errors.New("oauth: a Source needs a TokenStore and a Leaser")
	}
	if cfg.Name == "" {
		return nil, errors.New("oauth: a Source needs the credential's name")
	}
	tokenURL, err := cfg.App.TokenURL(cfg.Config)
	if err != nil {
		return nil, err
	}
	s := &Source{
		app: cfg.App, conf: oauthConfig(cfg.App.OAuth, cfg.Client, tokenURL), host: hostOf(tokenURL),
		store: cfg.Store, name: cfg.Name, leaser: cfg.Leaser, lease: cfg.Lease, holder: cfg.Holder,
		margin: cfg.Margin, leaseTTL: cfg.LeaseTTL, maxWait: cfg.MaxWait, grant: cfg.GrantErrors,
		hc: cfg.HTTPClient, now: cfg.Now, onRefresh: cfg.OnRefresh, onRefreshError: cfg.OnRefreshError,
		gate: make(chan struct{}, 1),
	}
	if s.lease == "" {
		s.lease = LeaseName(s.name)
	}
	if s.holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		s.holder = "oauth-" + hex.EncodeToString(b)
	}
	if s.margin <= 0 {
		s.margin = DefaultMargin
	}
	if s.leaseTTL <= 0 {
		s.leaseTTL = DefaultLeaseTTL
	}
	if s.maxWait <= 0 {
		s.maxWait = s.leaseTTL + 10*time.Second
	}
	if s.grant == nil {
		s.grant = DefaultGrantErrors
	}
	if s.hc == nil {
		s.hc = defaultHTTPClient
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Token returns a valid access token: the stored one if it expires later
// than the margin, or else a refreshed one (this worker's, or another's it
// waited for). A refresh token the provider refuses for good, once a
// re-read of the store confirms nobody replaced it, is a *BrokenError
// (errors.Is(err, ErrBroken)); so is an expired token without a refresh
// token. Other failures (network, provider 5xx, lease timeout) are
// transient. The token returned has no refresh token.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	return s.token(ctx, "")
}

// Refresh returns a new access token after the app rejected rejected (an
// access token Token returned, answered with a 401): unless another worker
// already replaced it, the token is refreshed even though its expiry says it
// is valid. Without a refresh token, the rejection makes the Connection
// broken.
func (s *Source) Refresh(ctx context.Context, rejected string) (*oauth2.Token, error) {
	if rejected == "" {
		return nil, errors.New("oauth: Refresh needs the rejected access token")
	}
	return s.token(ctx, rejected)
}

// TokenSource adapts s to x/oauth2's TokenSource, with ctx for every call,
// for oauth2.NewClient.
func (s *Source) TokenSource(ctx context.Context) oauth2.TokenSource {
	return ctxSource{ctx: ctx, s: s}
}

type ctxSource struct {
	ctx context.Context
	s   *Source
}

func (c ctxSource) Token() (*oauth2.Token, error) { return c.s.Token(c.ctx) }

func (s *Source) token(ctx context.Context, rejected string) (*oauth2.Token, error) {
	tok, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if t, done, err := s.usable(tok, rejected); done {
		return t, err
	}
	// One goroutine of this process goes for the lease; the others wait
	// here and find its token when they get through.
	gateWait := time.NewTimer(s.maxWait)
	select {
	case s.gate <- struct{}{}:
		gateWait.Stop()
	case <-ctx.Done():
		gateWait.Stop()
		return nil, ctx.Err()
	case <-gateWait.C:
		return nil, fmt.Errorf("oauth: gave up after %s waiting for another refresh of %s", s.maxWait, s.name)
	}
	defer func() { <-s.gate }()

	deadline := time.Now().Add(s.maxWait)
	for attempt := 1; ; attempt++ {
		tok, err := s.load(ctx)
		if err != nil {
			return nil, err
		}
		if t, done, err := s.usable(tok, rejected); done {
			return t, err
		}
		holder := s.holder + "." + strconv.FormatUint(s.seq.Add(1), 10)
		got, err := s.leaser.AcquireLease(ctx, s.lease, holder, s.leaseTTL)
		if err != nil {
			return nil, fmt.Errorf("oauth: acquire the refresh lease of %s: %w", s.name, err)
		}
		if got {
			return s.refreshLeased(ctx, holder, rejected)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("oauth: gave up after %s waiting for another worker to refresh %s", s.maxWait, s.name)
		}
		// Wait with jitter, growing to 250 ms, then re-read.
		if err := backoff.Sleep(ctx, LeaseBackoff.Delay(attempt)); err != nil {
			return nil, err
		}
	}
}

// load reads the stored token.
func (s *Source) load(ctx context.Context) (*Token, error) {
	tok, err := s.store.GetToken(ctx, s.name)
	if errors.Is(err, wiresk.ErrNotFound) {
		return nil, &BrokenError{Reason: "no token is stored for the connection", Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: read the token of %s: %w", s.name, err)
	}
	return tok, nil
}

// usable decides what tok gives without a refresh: done is false when it
// needs one.
func (s *Source) usable(tok *Token, rejected string) (t *oauth2.Token, done bool, err error) {
	valid := tok.AccessToken != "" && tok.AccessToken != rejected
	now := s.now()
	if valid && (tok.Expiry.IsZero() || tok.Expiry.After(now.Add(s.margin))) {
		return tok.OAuth2(), true, nil
	}
	if tok.RefreshToken != "" {
		if r := s.refused.Load(); r != nil && r.hash == sha256.Sum256([]byte(tok.RefreshToken)) {
			return nil, true, r.err
		}
		return nil, false, nil
	}
	switch {
	case tok.AccessToken == "":
		return nil, true, &BrokenError{Reason: "no access token and no refresh token are stored for the connection"}
	case !valid:
		return nil, true, &BrokenError{Reason: "the app rejected the access token and the provider issued no refresh token"}
	case !tok.Expiry.After(now):
		return nil, true, &BrokenError{Reason: "the access token expired and the provider issued no refresh token"}
	}
	// Expiring within the margin but still valid, and nothing to refresh
	// with: use it while it lasts.
	return tok.OAuth2(), true, nil
}

// refreshLeased refreshes under the lease held by holder: it re-reads the
// token (another worker may have refreshed it a moment ago), refreshes if
// still needed, writes the new token back and releases the lease.
func (s *Source) refreshLeased(ctx context.Context, holder, rejected string) (*oauth2.Token, error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.leaser.ReleaseLease(rctx, s.lease, holder) // it expires anyway
	}()
	used, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if t, done, err := s.usable(used, rejected); done {
		return t, err
	}
	var fresh *Token
	for attempt := 0; ; attempt++ {
		fresh, err = s.refresh(ctx, used.RefreshToken)
		if err == nil {
			break
		}
		var oe *Error
		if !errors.As(err, &oe) || oe.Kind != KindInvalidGrant {
			s.refreshFailed(ctx, err)
			return nil, err
		}
		// Refused. Before calling the Connection broken, re-read: if the
		// refresh token changed meanwhile (a worker whose lease had
		// expired, or a reconnect), use the new one.
		again, lerr := s.load(ctx)
		if lerr != nil {
			return nil, lerr
		}
		changed := again.RefreshToken != used.RefreshToken || again.AccessToken != used.AccessToken
		if changed && attempt < 2 {
			if t, done, err := s.usable(again, rejected); done {
				return t, err
			}
			used = again // it has a refresh token: usable would be done otherwise
			continue
		}
		reason := fmt.Sprintf("the provider refused the refresh token (%s); reconnect the connection", oe.Code)
		if oe.Code == "" {
			reason = "the provider refused the refresh token; reconnect the connection"
		}
		// Nothing is written: a write here could replace a token that a
		// reconnect stored a moment ago. The caller marks the Connection
		// broken; this Source remembers the verdict for this refresh token.
		be := &BrokenError{Reason: reason, Err: err}
		s.refused.Store(&refusal{hash: sha256.Sum256([]byte(used.RefreshToken)), err: be})
		s.refreshFailed(ctx, be)
		return nil, be
	}
	rotated := fresh.RefreshToken != "" && fresh.RefreshToken != used.RefreshToken
	if fresh.RefreshToken == "" {
		fresh.RefreshToken = used.RefreshToken
	}
	if fresh.Scope == "" {
		fresh.Scope = used.Scope
	}
	if err := s.writeBack(ctx, fresh); err != nil {
		s.refreshFailed(ctx, err)
		return nil, err
	}
	if s.onRefresh != nil {
		s.onRefresh(ctx, Refreshed{Name: s.name, At: s.now(), Expiry: fresh.Expiry, Rotated: rotated})
	}
	return fresh.OAuth2(), nil
}

// refreshFailed tells OnRefreshError, if set, that a refresh failed.
func (s *Source) refreshFailed(ctx context.Context, err error) {
	if s.onRefreshError != nil {
		s.onRefreshError(ctx, err)
	}
}

// refresh calls the token endpoint with the refresh_token grant, within half
// the lease so that the lease outlives it.
func (s *Source) refresh(ctx context.Context, refreshToken string) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.leaseTTL/2)
	defer cancel()
	ts := s.conf.TokenSource(tokenContext(ctx, s.hc, s.app), &oauth2.Token{RefreshToken: refreshToken})
	t, err := ts.Token()
	if err != nil {
		return nil, providerError("refresh", s.host, err, s.grant, s.conf.ClientSecret, refreshToken)
	}
	return tokenFrom(t, s.now()), nil
}

// LeaseBackoff spaces the tries of a refresh lease another holder has:
// 10ms, doubled up to 250ms, with jitter.
var LeaseBackoff = backoff.Policy{Base: 10 * time.Millisecond, Max: 250 * time.Millisecond}

// writeBackoff spaces the tries of storing a refreshed token.
var writeBackoff = backoff.Policy{Base: 100 * time.Millisecond, Max: 200 * time.Millisecond}

// writeBack stores a refreshed token. It goes on when ctx ends (a rotated
// refresh token that is not stored is lost, and the Connection with it) and
// retries a failed write twice.
func (s *Source) writeBack(ctx context.Context, t *Token) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			_ = backoff.Sleep(wctx, writeBackoff.Delay(attempt))
		}
		if err = s.store.PutToken(wctx, s.name, t); err == nil {
			return nil
		}
	}
	return fmt.Errorf("oauth: store the refreshed token of %s: %w", s.name, err)
}
