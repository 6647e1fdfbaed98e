package connect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/metrics"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// Test runs the app's Test request with the Connection's credential (for
// OAuth, an access token from the refreshing token source, refreshed under
// the lease when it is about to expire, and refreshed once more if the app
// rejects it) and records the result as LastTest. A credential the app
// refuses, or a refresh token the provider refuses for good, marks the
// Connection broken (audit "broken", with the Flows that use it); a
// successful Test makes it active again, with its account read anew. Other
// failures (rate limits, the app unreachable) are recorded without changing
// the status. The View returned shows the outcome; the error is for
// failures to run the Test at all. A pending or disconnected Connection is
// refused with a conflict.
func (s *Connections) Test(ctx context.Context, who auth.Identity, groupID, id string) (View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return View{}, err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return View{}, err
	}
	switch c.Status {
	case connection.StatusPending:
		return View{}, wiresk.Errorf(wiresk.EConflict, "connection %q is waiting for its authorization; open its authorize URL (or Reconnect it) first", c.Name)
	case connection.StatusDisconnected:
		return View{}, wiresk.Errorf(wiresk.EConflict, "connection %q is disconnected; reconnect it first", c.Name)
	}
	c, err = s.runTest(ctx, c, who.UserID)
	if err != nil {
		return View{}, err
	}
	return View{Connection: c}, nil
}

// runTest tests c and records the outcome (see Test).
func (s *core) runTest(ctx context.Context, c connection.Connection, actor string) (connection.Connection, error) {
	app, err := s.appOf(c)
	if err != nil {
		return c, err
	}
	var (
		res   appcall.Result
		terr  error
		seen  [sha256.Size]byte
		creds connection.Credentials
	)
	if c.AuthType.IsOAuth() {
		src, ws, err := s.source(ctx, app, c, 0, nil)
		if err != nil {
			return c, err
		}
		tok, err := src.Token(ctx)
		if err == nil {
			res, terr = s.apps().Test(ctx, app, c.Config, appcall.Credential{Kind: appcall.CredentialBearer, Token: tok.AccessToken})
			if errors.Is(terr, appcall.ErrUnauthorized) {
				// Maybe revoked while its expiry says valid: refresh once.
				if tok, err = src.Refresh(ctx, tok.AccessToken); err == nil {
					res, terr = s.apps().Test(ctx, app, c.Config, appcall.Credential{Kind: appcall.CredentialBearer, Token: tok.AccessToken})
				}
			}
		}
		seen = ws.seen()
		if err != nil {
			if errors.Is(err, oauth.ErrBroken) {
				return s.markBroken(ctx, c, seen, actor, brokenReason(err), &connection.TestResult{At: s.now(), Message: err.Error()})
			}
			return s.recordTest(ctx, c, actor, appcall.Result{Message: "could not get an access token: " + err.Error()}, err)
		}
	} else {
		var exists bool
		if creds, exists, err = s.readCredentials(ctx, c.ID); err != nil {
			return c, err
		}
		seen = fingerprint(creds, exists)
		if !exists && c.AuthType != catalog.AuthNone {
			reason := "its credentials are missing from the vault; update it with a new " + secretWhat(c.AuthType)
			return s.markBroken(ctx, c, seen, actor, reason, &connection.TestResult{At: s.now(), Message: reason})
		}
		res, terr = s.apps().Test(ctx, app, c.Config, appCredential(c.AuthType, creds))
	}
	res.Message = creds.Redact(res.Message)
	res.Account = creds.Redact(res.Account)
	if errors.Is(terr, appcall.ErrUnauthorized) {
		return s.markBroken(ctx, c, seen, actor, fmt.Sprintf("%s refused the credential: %s", app.Name, res.Message),
			&connection.TestResult{At: s.now(), Message: res.Message})
	}
	return s.recordTest(ctx, c, actor, res, terr)
}

// recordTest records a Test that did not find the Connection broken: on
// success it becomes active with the account read; otherwise only LastTest
// changes.
func (s *core) recordTest(ctx context.Context, c connection.Connection, actor string, res appcall.Result, terr error) (connection.Connection, error) {
	now := s.now()
	wasBroken := false
	updated, err := s.modify(ctx, c.GroupID, c.ID, func(n *connection.Connection) error {
		if n.Status == connection.StatusPending || n.Status == connection.StatusDisconnected {
			return errNoChange // changed meanwhile: the Test is moot
		}
		n.LastTest = &connection.TestResult{At: now, OK: terr == nil, Message: res.Message}
		if terr == nil {
			wasBroken = n.Status == connection.StatusBroken
			n.Status = connection.StatusActive
			n.StatusReason, n.BrokenAt = "", nil
			n.Account = res.Account
		}
		return nil
	})
	if err != nil {
		return c, notFoundOr(err, c.ID)
	}
	detail := "ok: " + res.Message
	if terr != nil {
		detail = "failed: " + res.Message
	} else if wasBroken {
		detail += " (it was broken; it is active again)"
	}
	s.audit(ctx, updated, actor, connection.EventTested, detail)
	return updated, nil
}

// brokenReason returns the reason of an oauth broken error, for the
// status reason.
func brokenReason(err error) string {
	var be *oauth.BrokenError
	if errors.As(err, &be) {
		return be.Reason
	}
	return err.Error()
}

// markBroken marks c broken for reason, if the credential that failed
// (whose fingerprint is seen) is still the stored one, checked under the
// refresh lease: a reconnect or an edit that stored a new credential
// meanwhile wins. It records test as LastTest when given, audits
// "broken" with the Flows that use the Connection, and logs a warning. A
// Connection found pending or disconnected is left alone.
func (s *core) markBroken(ctx context.Context, c connection.Connection, seen [sha256.Size]byte, actor, reason string, test *connection.TestResult) (connection.Connection, error) {
	release, err := s.holdLease(ctx, c.ID)
	if err != nil {
		return c, err
	}
	creds, exists, err := s.readCredentials(ctx, c.ID)
	if err != nil {
		release()
		return c, err
	}
	reason = creds.Redact(reason)
	if test != nil {
		test.Message = creds.Redact(test.Message)
	}
	if fingerprint(creds, exists) != seen {
		release()
		s.log().InfoContext(ctx, "a connection's credential failed but was replaced meanwhile; not marking it broken", "group", c.GroupID, "connection", c.ID)
		cur, err := s.store.GetConnection(ctx, c.GroupID, c.ID)
		return cur, notFoundOr(err, c.ID)
	}
	now := s.now()
	wasBroken := false
	updated, err := s.modify(ctx, c.GroupID, c.ID, func(n *connection.Connection) error {
		if n.Status == connection.StatusPending || n.Status == connection.StatusDisconnected {
			return errNoChange
		}
		wasBroken = n.Status == connection.StatusBroken
		if wasBroken && test == nil && n.StatusReason == reason {
			return errNoChange
		}
		n.Status = connection.StatusBroken
		n.StatusReason = reason
		if n.BrokenAt == nil {
			n.BrokenAt = ptr(now)
		}
		if test != nil {
			n.LastTest = test
		}
		return nil
	})
	release()
	if err != nil {
		return c, notFoundOr(err, c.ID)
	}
	if updated.Status != connection.StatusBroken {
		return updated, nil
	}
	if wasBroken {
		if test != nil {
			s.audit(ctx, updated, actor, connection.EventTested, "failed: "+test.Message)
		}
		return updated, nil
	}
	detail := reason
	used, err := s.usedBy(ctx, updated)
	if err == nil && len(used) > 0 {
		detail += "; used by " + flowNames(used)
	}
	s.audit(ctx, updated, actor, connection.EventBroken, detail)
	names := make([]string, len(used))
	for i, u := range used {
		names[i] = u.Name
	}
	s.log().WarnContext(ctx, "connection broken", "group", updated.GroupID, "connection", updated.ID, "app", updated.App,
		"reason", reason, "flows", strings.Join(names, ", "))
	return updated, nil
}

// watchedStore is the TokenStore of a Source that remembers the
// fingerprint of the last token it read or wrote: the token a broken
// verdict is about.
type watchedStore struct {
	oauth.TokenStore
	last atomic.Pointer[[sha256.Size]byte]
}

// GetToken reads the token and remembers it.
func (w *watchedStore) GetToken(ctx context.Context, name string) (*oauth.Token, error) {
	t, err := w.TokenStore.GetToken(ctx, name)
	switch {
	case err == nil:
		w.remember(t)
	case errors.Is(err, wiresk.ErrNotFound):
		fp := fingerprint(connection.Credentials{}, false)
		w.last.Store(&fp)
	}
	return t, err
}

// PutToken writes the token and remembers it.
func (w *watchedStore) PutToken(ctx context.Context, name string, t *oauth.Token) error {
	err := w.TokenStore.PutToken(ctx, name, t)
	if err == nil {
		w.remember(t)
	}
	return err
}

func (w *watchedStore) remember(t *oauth.Token) {
	fp := fingerprint(connection.Credentials{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken}, true)
	w.last.Store(&fp)
}

// seen returns the fingerprint of the last token read or written.
func (w *watchedStore) seen() [sha256.Size]byte {
	if p := w.last.Load(); p != nil {
		return *p
	}
	return [sha256.Size]byte{}
}

// source returns a token source of OAuth Connection c: the vault holds the
// token, the store's lease serializes the refreshes of every worker, and a
// refresh is recorded on the Connection (LastRefreshAt, TokenExpiresAt)
// and audited. margin is how soon before its expiry a token is refreshed
// (oauth.DefaultMargin when zero); refreshed, when set, is called after
// each refresh this source made.
func (s *core) source(ctx context.Context, app *catalog.App, c connection.Connection, margin time.Duration, refreshed func()) (*oauth.Source, *watchedStore, error) {
	client, err := s.oauthClient(ctx, app, c, nil)
	if err != nil {
		return nil, nil, err
	}
	ws := &watchedStore{TokenStore: oauth.NewVaultStore(s.vault)}
	src, err := oauth.NewSource(oauth.SourceConfig{
		App: app, Config: c.Config, Client: client, Store: ws, Name: connection.SecretName(c.ID),
		Leaser: s.store, Lease: connection.RefreshLeaseName(c.ID), Margin: margin,
		HTTPClient: s.httpClient, Now: s.clock(),
		OnRefresh: func(ctx context.Context, r oauth.Refreshed) {
			s.metrics.Count(ctx, metrics.TokenRefreshes, "refreshed")
			s.recordRefresh(ctx, c, r)
			if refreshed != nil {
				refreshed()
			}
		},
		OnRefreshError: func(ctx context.Context, err error) {
			outcome := "failed"
			if errors.Is(err, oauth.ErrBroken) {
				outcome = "refused"
			}
			s.metrics.Count(ctx, metrics.TokenRefreshes, outcome)
			s.log().WarnContext(ctx, "token refresh failed", "group", c.GroupID, "connection", c.ID, "app", c.App, "outcome", outcome, "err", err)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	return src, ws, nil
}

// recordRefresh records a refresh on the Connection and in its audit
// trail. It runs under the refresh lease.
func (s *core) recordRefresh(ctx context.Context, c connection.Connection, r oauth.Refreshed) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	updated, err := s.modify(ctx, c.GroupID, c.ID, func(n *connection.Connection) error {
		n.LastRefreshAt = ptr(r.At.UTC())
		n.TokenExpiresAt = expiryPtr(r.Expiry)
		n.RefreshFailures, n.RefreshCooldownUntil = 0, nil
		return nil
	})
	if err != nil {
		s.log().ErrorContext(ctx, "cannot record a token refresh on the connection", "group", c.GroupID, "connection", c.ID, "err", err)
		return
	}
	detail := "access token refreshed"
	if !r.Expiry.IsZero() {
		detail += "; it expires at " + r.Expiry.UTC().Format(time.RFC3339)
	}
	if r.Rotated {
		detail += "; the provider rotated the refresh token"
	}
	s.audit(ctx, updated, connection.ActorSystem, connection.EventRefreshed, detail)
}

// Credential returns the credential a worker's step sends to the app:
// for OAuth, a valid access token (refreshed under the Connection's lease
// when it is about to expire, and written back; a refresh token the
// provider refuses for good marks the Connection broken, audited, and is
// returned as an *UnusableError); for api_key and basic, the stored key or
// user name and password; for none, no credential.
//
// A Connection that is not active is refused with an *UnusableError: code
// conflict (409: the request conflicts with the Connection's state;
// retrying cannot help until a user acts), errors.Is(err, ErrUnusable),
// and a message naming the Connection and saying to reconnect it. A
// provider that cannot be reached is an unavailable error (retry later).
// An unknown Connection is not_found.
func (s *Credentials) Credential(ctx context.Context, groupID, connectionID string) (appcall.Credential, error) {
	c, err := s.load(ctx, groupID, connectionID)
	if err != nil {
		return appcall.Credential{}, err
	}
	if c.Status != connection.StatusActive {
		return appcall.Credential{}, unusable(c, nil)
	}
	app, err := s.appOf(c)
	if err != nil {
		return appcall.Credential{}, err
	}
	if !c.AuthType.IsOAuth() {
		if c.AuthType == catalog.AuthNone {
			return appcall.Credential{Kind: appcall.CredentialNone}, nil
		}
		creds, exists, err := s.readCredentials(ctx, c.ID)
		if err != nil {
			return appcall.Credential{}, err
		}
		if !exists {
			reason := "its credentials are missing from the vault; update it with a new " + secretWhat(c.AuthType)
			b, _ := s.markBroken(ctx, c, fingerprint(creds, false), connection.ActorSystem, reason, nil)
			return appcall.Credential{}, unusable(b, nil)
		}
		return appCredential(c.AuthType, creds), nil
	}
	src, ws, err := s.source(ctx, app, c, 0, nil)
	if err != nil {
		return appcall.Credential{}, err
	}
	tok, err := src.Token(ctx)
	if err == nil {
		return appcall.Credential{Kind: appcall.CredentialBearer, Token: tok.AccessToken}, nil
	}
	if errors.Is(err, oauth.ErrBroken) {
		b, merr := s.markBroken(ctx, c, ws.seen(), connection.ActorSystem, brokenReason(err), nil)
		if merr != nil {
			s.log().ErrorContext(ctx, "cannot mark a connection broken", "group", c.GroupID, "connection", c.ID, "err", merr)
			b.Status, b.StatusReason = connection.StatusBroken, brokenReason(err)
		}
		if b.Status == connection.StatusActive {
			// Replaced meanwhile (a reconnect): the caller may retry.
			return appcall.Credential{}, unavailable(nil, "connection %q was reconnected while its token was refreshed; try again", c.Name)
		}
		return appcall.Credential{}, unusable(b, err)
	}
	if ctx.Err() != nil {
		return appcall.Credential{}, err
	}
	return appcall.Credential{}, unavailable(err, "cannot get an access token for connection %q", c.Name)
}

// unusable is the *UnusableError of c.
func unusable(c connection.Connection, cause error) *UnusableError {
	return &UnusableError{GroupID: c.GroupID, ConnectionID: c.ID, Name: c.Name, Status: c.Status, Reason: c.StatusReason, Err: cause}
}

// CheckDue is the health schedule, run periodically (every few minutes):
// it looks at the Connections whose DueAt falls within RefreshWindow from
// now, re-reading each (the due index may lag), and for each active one
//
//   - refreshes its OAuth tokens when they expire within RefreshWindow
//     (under the lease, like any refresh) unless a cooldown is running. A
//     refresh token the provider refuses for good marks the Connection
//     broken. Any other failure (the provider unreachable, 5xx) counts in
//     RefreshFailures and sets RefreshCooldownUntil (RefreshCooldown), and
//     only after MaxRefreshFailures in a row, once the access token has
//     expired, marks the Connection broken;
//   - runs its Test when it was not tested for connection.TestInterval.
//
// The error is for a failure to list the due Connections; failures with
// single Connections are logged and counted in the report.
func (s *Health) CheckDue(ctx context.Context) (HealthReport, error) {
	var rep HealthReport
	due, err := s.store.ListConnectionsDue(ctx, s.now().Add(RefreshWindow))
	if err != nil {
		return rep, err
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		s.checkOne(ctx, d, &rep)
	}
	return rep, nil
}

// checkOne is CheckDue for one Connection.
func (s *Health) checkOne(ctx context.Context, d connection.Connection, rep *HealthReport) {
	log := s.log()
	c, err := s.store.GetConnection(ctx, d.GroupID, d.ID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return
	}
	if err != nil {
		log.ErrorContext(ctx, "health check: cannot read a connection", "group", d.GroupID, "connection", d.ID, "err", err)
		rep.Failed++
		return
	}
	if c.Status != connection.StatusActive {
		return
	}
	app, err := s.appOf(c)
	if err != nil {
		log.ErrorContext(ctx, "health check: connection of an unknown app", "group", c.GroupID, "connection", c.ID, "app", c.App)
		rep.Failed++
		return
	}
	now := s.now()
	if c.AuthType.IsOAuth() && c.TokenExpiresAt != nil && c.TokenExpiresAt.Before(now.Add(RefreshWindow)) &&
		(c.RefreshCooldownUntil == nil || !now.Before(*c.RefreshCooldownUntil)) {
		switch s.refreshDue(ctx, app, c) {
		case outcomeRefreshed:
			rep.Refreshed++
		case outcomeBroken:
			rep.Broken++
			return
		case outcomeFailed:
			rep.Failed++
		}
		if c, err = s.store.GetConnection(ctx, c.GroupID, c.ID); err != nil || c.Status != connection.StatusActive {
			return
		}
	}
	tested := c.CreatedAt
	if c.LastTest != nil {
		tested = c.LastTest.At
	}
	if now.Before(tested.Add(connection.TestInterval)) {
		return
	}
	updated, err := s.runTest(ctx, c, connection.ActorSystem)
	if err != nil {
		log.ErrorContext(ctx, "health check: cannot test a connection", "group", c.GroupID, "connection", c.ID, "err", err)
		rep.Failed++
		return
	}
	rep.Tested++
	if updated.Status == connection.StatusBroken {
		rep.Broken++
	}
}

// Outcomes of refreshDue.
const (
	outcomeNone = iota
	outcomeRefreshed
	outcomeBroken
	outcomeFailed
)

// refreshDue refreshes the tokens of c, which expire within RefreshWindow.
func (s *Health) refreshDue(ctx context.Context, app *catalog.App, c connection.Connection) int {
	log := s.log()
	var refreshed atomic.Bool
	src, ws, err := s.source(ctx, app, c, RefreshWindow, func() { refreshed.Store(true) })
	if err != nil {
		log.ErrorContext(ctx, "health check: cannot refresh a connection", "group", c.GroupID, "connection", c.ID, "err", err)
		return outcomeFailed
	}
	_, err = src.Token(ctx)
	switch {
	case err == nil && refreshed.Load():
		return outcomeRefreshed
	case err == nil:
		return outcomeNone // another worker refreshed it, or there is nothing to refresh with
	case errors.Is(err, oauth.ErrBroken):
		b, merr := s.markBroken(ctx, c, ws.seen(), connection.ActorSystem, brokenReason(err), nil)
		if merr != nil || b.Status != connection.StatusBroken {
			return outcomeFailed
		}
		return outcomeBroken
	}
	// A transient failure: count it, cool down, and give up after
	// MaxRefreshFailures once the token has expired.
	now := s.now()
	var failures int
	updated, merr := s.modify(ctx, c.GroupID, c.ID, func(n *connection.Connection) error {
		if n.Status != connection.StatusActive {
			return errNoChange
		}
		n.RefreshFailures++
		failures = n.RefreshFailures
		n.RefreshCooldownUntil = ptr(now.Add(RefreshCooldown(n.RefreshFailures)))
		return nil
	})
	if merr != nil {
		log.ErrorContext(ctx, "health check: cannot record a failed refresh", "group", c.GroupID, "connection", c.ID, "err", merr)
		return outcomeFailed
	}
	log.WarnContext(ctx, "health check: refresh failed; will retry", "group", c.GroupID, "connection", c.ID, "failures", failures, "err", err)
	s.audit(ctx, updated, connection.ActorSystem, connection.EventRefreshFailed,
		fmt.Sprintf("refresh %d in a row failed (%v); retrying after %s", failures, err, RefreshCooldown(failures)))
	expired := updated.TokenExpiresAt != nil && !now.Before(*updated.TokenExpiresAt)
	if failures >= MaxRefreshFailures && expired {
		reason := fmt.Sprintf("refreshing the access token failed %d times in a row (last: %v); reconnect the connection", failures, err)
		b, merr := s.markBroken(ctx, updated, ws.seen(), connection.ActorSystem, reason, nil)
		if merr == nil && b.Status == connection.StatusBroken {
			return outcomeBroken
		}
	}
	return outcomeFailed
}
