package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// createOAuth creates a pending OAuth Connection and its authorization.
func (s *Authorizations) createOAuth(ctx context.Context, who auth.Identity, app *catalog.App, c connection.Connection, in CreateInput) (View, error) {
	scopes, err := scopesFor(app, c.AuthType, in.Scopes)
	if err != nil {
		return View{}, err
	}
	c.Scopes = scopes
	var client oauth.Client
	var creds *connection.Credentials
	if c.AuthType == catalog.AuthOAuth2Advanced {
		id, err := cleanSecret("clientId", in.ClientID)
		if err != nil {
			return View{}, err
		}
		secret, err := cleanSecret("clientSecret", in.ClientSecret)
		if err != nil {
			return View{}, err
		}
		creds = &connection.Credentials{ClientID: id, ClientSecret: secret}
		client = oauth.Client{ID: id, Secret: secret}
	} else if client, err = s.platformClient(ctx, app); err != nil {
		return View{}, err
	}
	c.Status = connection.StatusPending
	c.StatusReason = "waiting for the authorization at " + app.Name
	authURL, st, err := s.startAuthorization(app, c, client, who.UserID)
	if err != nil {
		return View{}, err
	}
	// Store the secret, the Connection and the state; undo on failure.
	if creds != nil {
		if err := s.writeCredentials(ctx, c.ID, *creds); err != nil {
			return View{}, err
		}
	}
	if err := s.store.CreateConnection(ctx, c); err != nil {
		if creds != nil {
			s.restore(ctx, c, snapshot{})
		}
		return View{}, err
	}
	if err := s.store.PutOAuthState(ctx, st); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if derr := s.store.DeleteConnection(dctx, c.GroupID, c.ID); derr != nil {
			s.log().ErrorContext(ctx, "cannot remove a connection whose creation failed", "group", c.GroupID, "connection", c.ID, "err", derr)
		}
		cancel()
		if creds != nil {
			s.restore(ctx, c, snapshot{})
		}
		return View{}, err
	}
	s.audit(ctx, c, who.UserID, connection.EventCreated, fmt.Sprintf("auth %s; scopes %s; authorization started at %s",
		c.AuthType, strings.Join(c.Scopes, " "), app.Name))
	s.log().InfoContext(ctx, "connection created", "group", c.GroupID, "connection", c.ID, "app", c.App, "auth", string(c.AuthType))
	return View{Connection: c, AuthorizeURL: authURL}, nil
}

// restart starts a new authorization of the existing OAuth Connection c
// (Reconnect) with a new single-use state, and returns its start link.
func (s *Authorizations) restart(ctx context.Context, app *catalog.App, c connection.Connection, client oauth.Client, userID string) (string, error) {
	authURL, st, err := s.startAuthorization(app, c, client, userID)
	if err != nil {
		return "", err
	}
	if err := s.store.PutOAuthState(ctx, st); err != nil {
		return "", err
	}
	return authURL, nil
}

// startAuthorization returns the start link of Connection c's authorization
// (see Start) and the state record to store (nothing is written).
func (s *Authorizations) startAuthorization(app *catalog.App, c connection.Connection, client oauth.Client, userID string) (string, connection.OAuthState, error) {
	f, err := s.flow()
	if err != nil {
		return "", connection.OAuthState{}, err
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	a, err := f.Authorize(oauth.Request{App: app, Config: c.Config, Client: client, Scopes: scopes, RedirectURI: s.callbackURL})
	if err != nil {
		if wiresk.ErrorField(err) == "redirect_uri" {
			return "", connection.OAuthState{}, wiresk.Errorf(wiresk.EUnavailable, "OAuth connections are not available: the deployment's OAuth callback URL is not an absolute http or https URL")
		}
		return "", connection.OAuthState{}, err
	}
	now := s.now()
	st := connection.OAuthState{
		ID: connection.StateID(a.State), GroupID: c.GroupID, ConnectionID: c.ID, CreatedBy: userID,
		RedirectURI: s.callbackURL, ExpiresAt: now.Add(connection.StateTTL), CreatedAt: now,
	}
	link, err := s.startLink(a.URL, st.ExpiresAt)
	if err != nil {
		return "", connection.OAuthState{}, err
	}
	return link, st, nil
}

// Reason codes of a callback's Redirect.
const (
	reasonMissingState  = "missing_state"
	reasonInvalidState  = "invalid_state"
	reasonExpiredState  = "expired_state"
	reasonAccessDenied  = "access_denied"
	reasonProviderError = "provider_error"
	reasonNoConnection  = "connection_not_found"
	reasonNotConfigured = "not_configured"
	reasonExchange      = "exchange_failed"
	reasonTest          = "test_failed"
	reasonInternal      = "internal"
)

// startAgain ends the messages of a failed authorization.
const startAgain = " Nothing was changed. Start again from Reconnect in Wiresk."

// Callback completes an OAuth authorization from the query of the
// provider's redirect to the callback URL and the cookies of the browser.
// The browser must present the cookie that Start set for the state: without
// it (another browser, or a provider link that did not go through the
// start link) the callback is refused with 403 and reason
// browser_mismatch, before the state is even read, so nothing is taken,
// exchanged or stored. The state is single use: it is
// taken from the store (replayed, forged or unknown states are refused, and
// so is one past its 10 minutes), and it names the Group and the Connection
// it was issued for, which must still exist. A provider's error (the user
// declined) is reported. Otherwise the code is exchanged with the PKCE
// verifier derived from the state, the new access token is checked with
// the app's Test request (which reads the account), and then, under the
// Connection's refresh lease, the tokens are written to the vault and the
// Connection becomes active with its account, scopes and token expiry.
//
// A failure at any point leaves the Connection and its secret as they
// were. The result says what happened, with the status to answer and a
// sentence for the user.
//
// The result clears the binding cookie whenever the browser presented one.
func (s *Authorizations) Callback(ctx context.Context, query url.Values, cookies []*http.Cookie) CallbackResult {
	var clear *http.Cookie
	res, reason := func() (CallbackResult, string) {
		code, state, perr := oauth.ParseCallback(query)
		if state == "" {
			return failed(wiresk.EInvalid, "Authorization not completed",
				"This page was opened without the state Wiresk sends to the provider, so it cannot tell which connection it is for."+startAgain), reasonMissingState
		}
		var ok bool
		ok, clear = s.bound(state, cookies)
		if !ok || len(s.stateKey) < oauth.MinStateKeyBytes {
			s.log().InfoContext(ctx, "oauth callback refused: the browser did not start this authorization", "cookie", clear != nil)
			return failed(wiresk.EForbidden, "Authorization not started in this browser",
				"Wiresk completes an authorization only in the browser that opened its authorization link from Wiresk, and this browser did not. "+
					"If you did not start connecting an app to Wiresk just now, someone may have sent you their link: close this window."+
					" Otherwise start again from Reconnect in Wiresk, in this browser. Nothing was changed."), ReasonBrowserMismatch
		}
		return s.callback(ctx, code, state, perr)
	}()
	res.Reason = reason
	res.ClearCookie = clear
	if s.returnTo != "" {
		res.Redirect = s.returnURL(ctx, res, reason)
	}
	return res
}

func (s *Authorizations) callback(ctx context.Context, code, state string, perr error) (CallbackResult, string) {
	log := s.log()
	st, err := s.store.TakeOAuthState(ctx, connection.StateID(state))
	if errors.Is(err, wiresk.ErrNotFound) {
		log.InfoContext(ctx, "oauth callback with an unknown or used state")
		return failed(wiresk.EInvalid, "Authorization link not valid",
			"This authorization link was already used, or it is not one Wiresk issued."+startAgain), reasonInvalidState
	}
	if err != nil {
		log.ErrorContext(ctx, "oauth callback: cannot take the state", "err", err)
		return failed(wiresk.EUnavailable, "Authorization not completed",
			"Wiresk could not complete the authorization because of a problem on its side."+startAgain), reasonInternal
	}
	res := CallbackResult{GroupID: st.GroupID, ConnectionID: st.ConnectionID}
	fail := func(code, title, msg, reason string) (CallbackResult, string) {
		res.Code, res.Title, res.Message = code, title, msg
		log.InfoContext(ctx, "oauth callback failed", "group", st.GroupID, "connection", st.ConnectionID, "reason", reason)
		return res, reason
	}
	if st.Expired(s.now()) {
		return fail(wiresk.EInvalid, "Authorization link expired",
			fmt.Sprintf("This authorization link expired: links are valid for %d minutes.", int(connection.StateTTL/time.Minute))+startAgain, reasonExpiredState)
	}
	c, err := s.store.GetConnection(ctx, st.GroupID, st.ConnectionID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return fail(wiresk.EInvalid, "Connection not found",
			"The connection this authorization was started for no longer exists. Nothing was changed.", reasonNoConnection)
	}
	if err != nil {
		log.ErrorContext(ctx, "oauth callback: cannot read the connection", "group", st.GroupID, "connection", st.ConnectionID, "err", err)
		return fail(wiresk.EUnavailable, "Authorization not completed",
			"Wiresk could not complete the authorization because of a problem on its side."+startAgain, reasonInternal)
	}
	app, err := s.appOf(c)
	if err != nil || !c.AuthType.IsOAuth() {
		return fail(wiresk.EInvalid, "Authorization link not valid",
			"This authorization link does not belong to an OAuth connection."+startAgain, reasonInvalidState)
	}
	if perr != nil {
		var oe *oauth.Error
		errors.As(perr, &oe)
		switch {
		case oe != nil && oe.Kind == oauth.KindAccessDenied:
			return fail(wiresk.EInvalid, "Access declined",
				fmt.Sprintf("Access was declined at %s, so connection %q was not changed. To connect it, start again from Reconnect in Wiresk and approve the access.", app.Name, c.Name),
				reasonAccessDenied)
		case oe != nil && oe.Kind == oauth.KindInvalidResponse:
			return fail(wiresk.EInvalid, "Authorization not completed",
				fmt.Sprintf("%s sent no authorization code back.", app.Name)+startAgain, reasonProviderError)
		}
		what := "an error"
		if oe != nil && oe.Code != "" {
			what = "the error " + oe.Code
			if oe.Description != "" {
				what += " (" + oe.Description + ")"
			}
		}
		return fail(wiresk.EInvalid, "Authorization not completed",
			fmt.Sprintf("%s reported %s.", app.Name, what)+startAgain, reasonProviderError)
	}

	var creds *connection.Credentials
	if c.AuthType == catalog.AuthOAuth2Advanced {
		cr, _, err := s.readCredentials(ctx, c.ID)
		if err != nil {
			log.ErrorContext(ctx, "oauth callback: cannot read the connection's client", "group", c.GroupID, "connection", c.ID, "err", err)
			return fail(wiresk.EUnavailable, "Authorization not completed",
				"Wiresk could not complete the authorization because of a problem on its side."+startAgain, reasonInternal)
		}
		creds = &cr
	}
	client, err := s.oauthClient(ctx, app, c, creds)
	if err != nil {
		return fail(wiresk.EUnavailable, "Authorization not completed", wiresk.ErrorMessage(err)+startAgain, reasonNotConfigured)
	}
	f, err := s.flow()
	if err != nil {
		return fail(wiresk.EUnavailable, "Authorization not completed", wiresk.ErrorMessage(err)+startAgain, reasonNotConfigured)
	}
	req := oauth.Request{App: app, Config: c.Config, Client: client, Scopes: c.Scopes, RedirectURI: st.RedirectURI}
	tok, err := f.Exchange(ctx, req, code, state)
	if err != nil {
		log.WarnContext(ctx, "oauth callback: the code exchange failed", "group", c.GroupID, "connection", c.ID, "app", c.App, "err", err)
		msg := fmt.Sprintf("%s did not accept the authorization code: %v.", app.Name, err)
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Kind == oauth.KindInvalidGrant {
			msg = fmt.Sprintf("%s refused the authorization code (it expired, was used already, or its PKCE verifier does not match).", app.Name)
		} else if errors.As(err, &oe) && oe.Kind == oauth.KindUnavailable {
			msg = fmt.Sprintf("Wiresk could not reach %s to complete the authorization.", app.Name)
		}
		return fail(wiresk.EProviderError, "Authorization failed", msg+startAgain, reasonExchange)
	}
	secrets := connection.Credentials{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ClientSecret: client.Secret}

	// Check the new token and read the account before storing anything.
	tres, terr := s.apps().Test(ctx, app, c.Config, appcall.Credential{Kind: appcall.CredentialBearer, Token: tok.AccessToken})
	if errors.Is(terr, appcall.ErrUnauthorized) {
		s.discard(ctx, f, req, tok, c)
		return fail(wiresk.EProviderError, "Authorization failed",
			fmt.Sprintf("%s issued a token but refused it when Wiresk checked it (%s). Check that the requested scopes were granted.",
				app.Name, secrets.Redact(tres.Message))+startAgain, reasonTest)
	}

	release, err := s.holdLease(ctx, c.ID)
	if err != nil {
		s.discard(ctx, f, req, tok, c)
		return fail(wiresk.EUnavailable, "Authorization not completed",
			"Wiresk could not store the new tokens because the connection is busy."+startAgain, reasonInternal)
	}
	defer release()
	snap, err := s.takeSnapshot(ctx, c.ID)
	if err == nil {
		err = oauth.NewVaultStore(s.vault).PutToken(ctx, connection.SecretName(c.ID), tok)
	}
	if err != nil {
		log.ErrorContext(ctx, "oauth callback: cannot store the tokens", "group", c.GroupID, "connection", c.ID, "err", err)
		s.discard(ctx, f, req, tok, c)
		return fail(wiresk.EUnavailable, "Authorization not completed",
			"Wiresk could not store the new tokens because of a problem on its side."+startAgain, reasonInternal)
	}
	now := s.now()
	updated, err := s.modify(ctx, c.GroupID, c.ID, func(n *connection.Connection) error {
		n.Status = connection.StatusActive
		n.StatusReason, n.BrokenAt = "", nil
		n.TokenExpiresAt = expiryPtr(tok.Expiry)
		n.LastRefreshAt, n.RefreshCooldownUntil, n.RefreshFailures = nil, nil, 0
		if granted := splitScopes(tok.Scope); len(granted) > 0 {
			n.Scopes = granted
		}
		n.LastTest = &connection.TestResult{At: now, OK: terr == nil, Message: secrets.Redact(tres.Message)}
		if terr == nil {
			n.Account = secrets.Redact(tres.Account)
		}
		return nil
	})
	if err != nil {
		s.restore(ctx, c, snap)
		s.discard(ctx, f, req, tok, c)
		if errors.Is(err, wiresk.ErrNotFound) {
			return fail(wiresk.EInvalid, "Connection not found",
				"The connection this authorization was started for was deleted meanwhile. Nothing was changed.", reasonNoConnection)
		}
		log.ErrorContext(ctx, "oauth callback: cannot update the connection", "group", c.GroupID, "connection", c.ID, "err", err)
		return fail(wiresk.EUnavailable, "Authorization not completed",
			"Wiresk could not update the connection because of a problem on its side."+startAgain, reasonInternal)
	}
	detail := fmt.Sprintf("authorized at %s", app.Name)
	if updated.Account != "" {
		detail += " as " + updated.Account
	}
	detail += "; scopes " + strings.Join(updated.Scopes, " ")
	if terr != nil {
		detail += "; the account could not be checked: " + updated.LastTest.Message
	}
	s.audit(ctx, updated, st.CreatedBy, connection.EventAuthorized, detail)
	log.InfoContext(ctx, "connection authorized", "group", c.GroupID, "connection", c.ID, "app", c.App)

	res.OK, res.Title = true, "Connected"
	res.Message = fmt.Sprintf("Your %s connection %q is connected", app.Name, updated.Name)
	if updated.Account != "" {
		res.Message += " as " + updated.Account
	}
	res.Message += ". You can close this window."
	if terr != nil {
		res.Message += fmt.Sprintf(" (Wiresk could not check the account yet: %s)", updated.LastTest.Message)
	}
	return res, ""
}

// failed is a CallbackResult of a failure that names no Connection.
func failed(code, title, msg string) CallbackResult {
	return CallbackResult{Code: code, Title: title, Message: msg}
}

// discard revokes tokens a failed callback obtained but does not keep.
func (s *Authorizations) discard(ctx context.Context, f *oauth.Flow, req oauth.Request, tok *oauth.Token, c connection.Connection) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := f.Revoke(rctx, req, tok); err != nil && !errors.Is(err, oauth.ErrNoRevocation) {
		s.log().WarnContext(ctx, "cannot revoke the tokens of a failed authorization", "group", c.GroupID, "connection", c.ID, "err", err)
	}
}

// returnURL is ReturnURL with the callback's outcome in its query.
func (s *Authorizations) returnURL(ctx context.Context, res CallbackResult, reason string) string {
	u, err := url.Parse(s.returnTo)
	if err != nil {
		s.log().ErrorContext(ctx, "the OAuth return URL does not parse; showing a page instead")
		return ""
	}
	q := u.Query()
	if res.ConnectionID != "" {
		q.Set("connection", res.ConnectionID)
	}
	if res.OK {
		q.Set("status", "ok")
	} else {
		q.Set("status", "error")
		q.Set("reason", reason)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// splitScopes splits a granted scope string (blank- or comma-separated).
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}
