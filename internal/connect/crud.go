package connect

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/group"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// Create creates a Connection of the Group (role member). The app must be
// in the catalog and offer the auth type; the config is validated and
// completed with its defaults.
//
// For api_key and basic (and none), the app's Test request runs first
// with the credential: only when it succeeds are the credential stored in
// the vault and the Connection stored, active, with the account the Test
// read. A refused credential is a validation error on apiKey (password for
// basic), any other failure (rate limited, unreachable) an error too, and
// in both cases nothing is stored. An app without a test request (the
// generic HTTP app without a test URL) is stored active untested.
//
// For oauth2 (the platform's OAuth app, whose client is read from the
// vault at AppSecretName(app)) and oauth2_advanced (the user's own client
// id and secret, stored in the Connection's Credentials), the Connection is
// stored pending with a single-use authorization state (valid
// connection.StateTTL, bound to the Group, the Connection and the caller),
// and the View carries the AuthorizeURL to send the user to; the callback
// completes it.
func (s *Connections) Create(ctx context.Context, who auth.Identity, groupID string, in CreateInput) (View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return View{}, err
	}
	if err := connection.ValidateName(in.Name); err != nil {
		return View{}, err
	}
	if in.App == "" {
		return View{}, wiresk.FieldError("app", "is required")
	}
	app, ok := s.catalog.App(in.App)
	if !ok {
		return View{}, wiresk.FieldError("app", "%q is not an app of the catalog", in.App)
	}
	at := catalog.AuthType(in.AuthType)
	if at == "" && len(app.Auth) == 1 {
		at = app.Auth[0]
	}
	if at == "" {
		return View{}, wiresk.FieldError("authType", "is required: %s offers %s", app.Name, authList(app))
	}
	if !app.Offers(at) {
		return View{}, wiresk.FieldError("authType", "%s does not offer %q; it offers %s", app.Name, at, authList(app))
	}
	config, err := app.ValidateConfig(in.Config)
	if err != nil {
		return View{}, err
	}
	if err := checkSecretFields(at, in); err != nil {
		return View{}, err
	}
	now := s.now()
	c := connection.Connection{
		ID: connection.NewID(now), GroupID: groupID, Name: in.Name, App: app.ID, AuthType: at, Config: config,
		CreatedAt: now, UpdatedAt: now, CreatedBy: who.UserID, Version: 1,
	}
	if len(c.Config) == 0 {
		c.Config = nil
	}
	if at.IsOAuth() {
		return s.auth.createOAuth(ctx, who, app, c, in)
	}
	return s.createDirect(ctx, who, app, c, in)
}

// authList names the auth types app offers.
func authList(app *catalog.App) string {
	out := make([]string, len(app.Auth))
	for i, t := range app.Auth {
		out[i] = string(t)
	}
	return strings.Join(out, ", ")
}

// checkSecretFields refuses the secret fields of in that auth type t does
// not use, and requires those it does.
func checkSecretFields(t catalog.AuthType, in CreateInput) error {
	uses := map[string]bool{}
	switch t {
	case catalog.AuthAPIKey:
		uses["apiKey"] = true
	case catalog.AuthBasic:
		uses["username"], uses["password"] = true, true
	case catalog.AuthOAuth2Advanced:
		uses["clientId"], uses["clientSecret"] = true, true
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"apiKey", in.APIKey != ""}, {"username", in.Username != ""}, {"password", in.Password != ""},
		{"clientId", in.ClientID != ""}, {"clientSecret", in.ClientSecret != ""},
	} {
		if f.set && !uses[f.name] {
			return wiresk.FieldError(f.name, "is not used with auth type %s", t)
		}
		if !f.set && uses[f.name] {
			return wiresk.FieldError(f.name, "is required with auth type %s", t)
		}
	}
	if len(in.Scopes) > 0 && !t.IsOAuth() {
		return wiresk.FieldError("scopes", "are only used with the OAuth auth types")
	}
	return nil
}

// cleanSecret trims the blanks a paste adds around a key, and refuses one
// with control characters inside.
func cleanSecret(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", wiresk.FieldError(field, "is required")
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return "", wiresk.FieldError(field, "contains a control character")
	}
	return v, nil
}

// createDirect creates an api_key, basic or none Connection: test, then
// store.
func (s *Connections) createDirect(ctx context.Context, who auth.Identity, app *catalog.App, c connection.Connection, in CreateInput) (View, error) {
	var creds connection.Credentials
	var err error
	switch c.AuthType {
	case catalog.AuthAPIKey:
		if creds.APIKey, err = cleanSecret("apiKey", in.APIKey); err != nil {
			return View{}, err
		}
	case catalog.AuthBasic:
		if creds.Username, err = cleanSecret("username", in.Username); err != nil {
			return View{}, err
		}
		if in.Password == "" || strings.ContainsFunc(in.Password, unicode.IsControl) {
			return View{}, wiresk.FieldError("password", "is required, without control characters")
		}
		creds.Password = in.Password
	}
	res, terr := s.apps().Test(ctx, app, c.Config, appCredential(c.AuthType, creds))
	if err := refusal(app, c.AuthType, creds, res, terr); err != nil {
		return View{}, err
	}
	c.Status = connection.StatusActive
	c.LastTest = &connection.TestResult{At: s.now(), OK: terr == nil, Message: creds.Redact(res.Message)}
	if terr == nil {
		c.Account = creds.Redact(res.Account)
	}
	stored := c.AuthType != catalog.AuthNone
	if stored {
		if err := s.writeCredentials(ctx, c.ID, creds); err != nil {
			return View{}, err
		}
	}
	if err := s.store.CreateConnection(ctx, c); err != nil {
		if stored {
			s.restore(ctx, c, snapshot{})
		}
		return View{}, err
	}
	s.audit(ctx, c, who.UserID, connection.EventCreated, fmt.Sprintf("auth %s; %s", c.AuthType, c.LastTest.Message))
	s.log().InfoContext(ctx, "connection created", "group", c.GroupID, "connection", c.ID, "app", c.App, "auth", string(c.AuthType))
	return View{Connection: c}, nil
}

// refusal turns a failed Test of a credential the user gives into the
// error that refuses it; nil when it may be stored (it passed, or the app
// has no test request).
func refusal(app *catalog.App, t catalog.AuthType, creds connection.Credentials, res appcall.Result, err error) error {
	msg := creds.Redact(res.Message)
	switch {
	case err == nil, errors.Is(err, catalog.ErrNoTest):
		return nil
	case errors.Is(err, appcall.ErrUnauthorized):
		return wiresk.FieldError(secretField(t), "%s refused the %s (%s); nothing was saved", app.Name, secretWhat(t), msg)
	case errors.Is(err, appcall.ErrRateLimited), errors.Is(err, appcall.ErrTransient):
		return &codedError{coded: wiresk.Errorf(wiresk.EUnavailable,
			"could not check the %s with %s (%s); nothing was saved, try again later", secretWhat(t), app.Name, msg), cause: err}
	}
	return &codedError{coded: wiresk.Errorf(wiresk.EValidation,
		"testing the connection with %s failed (%s); nothing was saved", app.Name, msg), cause: err}
}

// List returns the Group's Connections, oldest first, without secrets.
func (s *Connections) List(ctx context.Context, who auth.Identity, groupID string) ([]View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return nil, err
	}
	cs, err := s.store.ListConnections(ctx, groupID)
	if err != nil {
		return nil, err
	}
	out := make([]View, len(cs))
	for i, c := range cs {
		out[i] = View{Connection: c}
	}
	return out, nil
}

// Get returns a Connection with the Flows whose steps use it (what a
// broken Connection affects).
func (s *Connections) Get(ctx context.Context, who auth.Identity, groupID, id string) (Detail, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return Detail{}, err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return Detail{}, err
	}
	used, err := s.usedBy(ctx, c)
	if err != nil {
		return Detail{}, err
	}
	return Detail{View: View{Connection: c}, UsedBy: used}, nil
}

// Update edits a Connection: its name, its config (validated again) and,
// for api_key and basic, its secrets, which can only be replaced. A new
// secret, or a new config of a Connection with a stored credential, is
// tested first as in Create: a refused one changes nothing; one that
// passes makes the Connection active again (this is how a broken or
// disconnected API-key Connection is repaired).
func (s *Connections) Update(ctx context.Context, who auth.Identity, groupID, id string, in UpdateInput) (View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return View{}, err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return View{}, err
	}
	app, err := s.appOf(c)
	if err != nil {
		return View{}, err
	}
	var changed []string
	if in.Name != nil {
		if err := connection.ValidateName(*in.Name); err != nil {
			return View{}, err
		}
		changed = append(changed, "name")
	}
	config := c.Config
	if in.Config != nil {
		if config, err = app.ValidateConfig(in.Config); err != nil {
			return View{}, err
		}
		if len(config) == 0 {
			config = nil
		}
		changed = append(changed, "config")
	}
	var hostChange string
	if in.Config != nil {
		// Where the credential may be sent (the base URL's host) and
		// where Test sends it (test_url) are an admin's to change.
		oldHost, newHost := destinations(app, c.Config), destinations(app, config)
		if oldHost != newHost {
			if _, err := s.authz.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
				return View{}, wiresk.Errorf(wiresk.EForbidden, "only an admin of the group may change where this Connection's credential is sent (base_url, test_url)")
			}
			hostChange = fmt.Sprintf("; credential destination %s -> %s", oldHost, newHost)
		}
	}
	secrets := in.APIKey != nil || in.Username != nil || in.Password != nil
	if secrets {
		if err := checkUpdateSecrets(c.AuthType, in); err != nil {
			return View{}, err
		}
	}
	if len(changed) == 0 && !secrets {
		return View{Connection: c}, nil
	}

	// Decide whether to test: a new secret always; a new config when the
	// Connection has a credential to test it with.
	creds, exists, err := s.readCredentials(ctx, c.ID)
	if err != nil {
		return View{}, err
	}
	test := false
	if !c.AuthType.IsOAuth() {
		test = secrets || (in.Config != nil && c.Status != connection.StatusDisconnected) || (in.Config != nil && c.AuthType == catalog.AuthNone)
	}
	if secrets {
		if in.APIKey != nil {
			if creds.APIKey, err = cleanSecret("apiKey", *in.APIKey); err != nil {
				return View{}, err
			}
			changed = append(changed, "API key")
		}
		if in.Username != nil {
			if creds.Username, err = cleanSecret("username", *in.Username); err != nil {
				return View{}, err
			}
			changed = append(changed, "user name")
		}
		if in.Password != nil {
			if *in.Password == "" || strings.ContainsFunc(*in.Password, unicode.IsControl) {
				return View{}, wiresk.FieldError("password", "is required, without control characters")
			}
			creds.Password = *in.Password
			changed = append(changed, "password")
		}
		if c.AuthType == catalog.AuthAPIKey && creds.APIKey == "" {
			return View{}, wiresk.FieldError("apiKey", "is required")
		}
		if c.AuthType == catalog.AuthBasic && (creds.Username == "" || creds.Password == "") {
			return View{}, wiresk.FieldError("password", "the user name and the password are both required (the connection has none stored)")
		}
	}
	if test && c.AuthType != catalog.AuthNone && !secrets && !exists {
		// A new config of a Connection without a stored credential: store
		// it untested.
		test = false
	}
	var res appcall.Result
	var terr error
	if test {
		res, terr = s.apps().Test(ctx, app, config, appCredential(c.AuthType, creds))
		if !secrets && errors.Is(terr, appcall.ErrUnauthorized) {
			// The stored credential, refused with the new config.
			return View{}, wiresk.FieldError("config", "%s refused the stored %s with this config (%s); nothing was saved",
				app.Name, secretWhat(c.AuthType), creds.Redact(res.Message))
		}
		if err := refusal(app, c.AuthType, creds, res, terr); err != nil {
			return View{}, err
		}
	}

	var snap snapshot
	if secrets {
		release, err := s.holdLease(ctx, c.ID)
		if err != nil {
			return View{}, err
		}
		defer release()
		if snap, err = s.takeSnapshot(ctx, c.ID); err != nil {
			return View{}, err
		}
		if err := s.writeCredentials(ctx, c.ID, creds); err != nil {
			return View{}, err
		}
	}
	now := s.now()
	updated, err := s.modify(ctx, groupID, id, func(n *connection.Connection) error {
		if in.Name != nil {
			n.Name = *in.Name
		}
		if in.Config != nil {
			n.Config = cloneMap(config)
		}
		if test {
			n.LastTest = &connection.TestResult{At: now, OK: terr == nil, Message: creds.Redact(res.Message)}
			if terr == nil {
				n.Account = creds.Redact(res.Account)
			}
			if n.Status != connection.StatusPending {
				n.Status = connection.StatusActive
				n.StatusReason, n.BrokenAt = "", nil
			}
		}
		return nil
	})
	if err != nil {
		if secrets {
			s.restore(ctx, c, snap)
		}
		if errors.Is(err, wiresk.ErrConflict) {
			return View{}, wiresk.Errorf(wiresk.EConflict, "connection %q kept changing meanwhile; try again", id)
		}
		return View{}, notFoundOr(err, id)
	}
	detail := "changed " + strings.Join(changed, ", ") + hostChange
	if test {
		detail += "; " + updated.LastTest.Message
	}
	s.audit(ctx, updated, who.UserID, connection.EventEdited, detail)
	return View{Connection: updated}, nil
}

// checkUpdateSecrets refuses secret fields auth type t does not use.
func checkUpdateSecrets(t catalog.AuthType, in UpdateInput) error {
	switch {
	case t.IsOAuth():
		return wiresk.FieldError("authType", "the credentials of an %s connection are renewed by Reconnect, not edited", t)
	case t == catalog.AuthAPIKey && (in.Username != nil || in.Password != nil):
		return wiresk.FieldError("password", "is not used with auth type %s", t)
	case t == catalog.AuthBasic && in.APIKey != nil:
		return wiresk.FieldError("apiKey", "is not used with auth type %s", t)
	case t == catalog.AuthNone:
		return wiresk.FieldError("authType", "a connection with auth type none has no credential to edit")
	}
	return nil
}

// Reconnect starts a new authorization of an OAuth Connection: a new
// single-use state and the AuthorizeURL to send the user to, for the same
// Connection id. The Connection keeps its status until the callback
// succeeds. An api_key or basic Connection is not reconnected: Update it
// with a new key (a validation error says so).
func (s *Connections) Reconnect(ctx context.Context, who auth.Identity, groupID, id string) (View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return View{}, err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return View{}, err
	}
	if !c.AuthType.IsOAuth() {
		what := "a new API key"
		switch c.AuthType {
		case catalog.AuthBasic:
			what = "a new user name and password"
		case catalog.AuthNone:
			what = "a new config"
		}
		return View{}, wiresk.FieldError("authType", "a connection with auth type %s is not reconnected through an authorization: update it (PATCH) with %s instead", c.AuthType, what)
	}
	app, err := s.appOf(c)
	if err != nil {
		return View{}, err
	}
	client, err := s.oauthClient(ctx, app, c, nil)
	if err != nil {
		return View{}, err
	}
	authURL, err := s.auth.restart(ctx, app, c, client, who.UserID)
	if err != nil {
		return View{}, err
	}
	s.audit(ctx, c, who.UserID, connection.EventReconnected, "authorization started at "+app.Name)
	return View{Connection: c, AuthorizeURL: authURL}, nil
}

// Disconnect disconnects a Connection: its OAuth tokens are revoked at the
// provider where the catalog says how (a provider without a revocation
// endpoint, or a failed revocation, is noted in the status reason), its
// vault secret is deleted (for oauth2_advanced, only the user's client id
// and secret are kept, so that Reconnect can use them) and its status
// becomes disconnected. Disconnecting a disconnected Connection changes
// nothing.
func (s *Connections) Disconnect(ctx context.Context, who auth.Identity, groupID, id string) (View, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return View{}, err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return View{}, err
	}
	if c.Status == connection.StatusDisconnected {
		return View{Connection: c}, nil
	}
	app, err := s.appOf(c)
	if err != nil {
		return View{}, err
	}
	var updated connection.Connection
	note, err := s.forget(ctx, app, c, true, func() error {
		var err error
		updated, err = s.modify(ctx, groupID, id, func(n *connection.Connection) error {
			n.Status = connection.StatusDisconnected
			n.StatusReason = "disconnected by a user"
			n.BrokenAt, n.TokenExpiresAt, n.RefreshCooldownUntil = nil, nil, nil
			n.RefreshFailures = 0
			return nil
		})
		return notFoundOr(err, id)
	})
	if err != nil {
		return View{}, err
	}
	s.audit(ctx, updated, who.UserID, connection.EventDisconnected, note)
	return View{Connection: updated}, nil
}

// Delete deletes a Connection that no Flow uses: a Connection in use is
// refused with a conflict naming those Flows. Its OAuth tokens are revoked
// at the provider where possible, its vault secret deleted, and its record
// removed; its audit trail stays.
func (s *Connections) Delete(ctx context.Context, who auth.Identity, groupID, id string) error {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return err
	}
	c, err := s.load(ctx, groupID, id)
	if err != nil {
		return err
	}
	used, err := s.usedBy(ctx, c)
	if err != nil {
		return err
	}
	if len(used) > 0 {
		return wiresk.Errorf(wiresk.EConflict, "connection %q is used by %s; remove it from their steps and app triggers (or delete those Flows) first",
			c.Name, flowNames(used))
	}
	app, err := s.appOf(c)
	if err != nil {
		return err
	}
	note, err := s.forget(ctx, app, c, false, func() error {
		return notFoundOr(s.store.DeleteConnection(ctx, groupID, id), id)
	})
	if err != nil {
		return err
	}
	s.audit(ctx, c, who.UserID, connection.EventDeleted, note)
	s.log().InfoContext(ctx, "connection deleted", "group", c.GroupID, "connection", c.ID, "app", c.App)
	return nil
}

// forget revokes the Connection's OAuth tokens at the provider and deletes
// its secret (keeping an oauth2_advanced client when keepClient), then
// runs then, all under the refresh lease so that no refresh writes tokens
// back meanwhile. If then fails, the secret is put back. The note says
// what happened at the provider, for the audit trail.
func (s *Connections) forget(ctx context.Context, app *catalog.App, c connection.Connection, keepClient bool, then func() error) (string, error) {
	release, err := s.holdLease(ctx, c.ID)
	if err != nil {
		return "", err
	}
	defer release()
	snap, err := s.takeSnapshot(ctx, c.ID)
	if err != nil {
		return "", err
	}
	note := "no credentials were stored"
	var creds connection.Credentials
	if snap.exists {
		note = "credentials deleted"
		if creds, err = connection.DecodeCredentials(snap.raw); err != nil {
			creds = connection.Credentials{}
		}
	}
	if c.AuthType.IsOAuth() && (creds.AccessToken != "" || creds.RefreshToken != "") {
		note = s.revoke(ctx, app, c, creds) + "; tokens deleted"
	}
	keep := keepClient && c.AuthType == catalog.AuthOAuth2Advanced && creds.ClientID != ""
	switch {
	case keep:
		if err := s.writeCredentials(ctx, c.ID, connection.Credentials{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}); err != nil {
			return "", err
		}
		note += " (the OAuth client id and secret are kept for Reconnect)"
	case snap.exists:
		if err := s.deleteSecret(ctx, c.ID); err != nil {
			return "", err
		}
	}
	if err := then(); err != nil {
		if snap.exists {
			s.restore(ctx, c, snap)
		}
		return "", err
	}
	return note, nil
}

// revoke revokes the tokens in creds at the provider, and says how it
// went, in a sentence free of secrets.
func (s *Connections) revoke(ctx context.Context, app *catalog.App, c connection.Connection, creds connection.Credentials) string {
	client, err := s.oauthClient(ctx, app, c, &creds)
	if err != nil {
		return "not revoked at " + app.Name + " (" + creds.Redact(wiresk.ErrorMessage(err)) + ")"
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = s.revoker().Revoke(rctx, oauth.Request{App: app, Config: c.Config, Client: client},
		&oauth.Token{AccessToken: creds.AccessToken, RefreshToken: creds.RefreshToken})
	switch {
	case err == nil:
		return "tokens revoked at " + app.Name
	case errors.Is(err, oauth.ErrNoRevocation):
		return app.Name + " has no revocation endpoint: revoke Wiresk's access in your " + app.Name + " account settings if needed"
	}
	s.log().WarnContext(ctx, "revocation failed", "group", c.GroupID, "connection", c.ID, "app", c.App, "err", creds.Redact(err.Error()))
	return "revoking at " + app.Name + " failed (" + creds.Redact(err.Error()) + ")"
}

// Audit returns the newest events of a Connection's audit trail (at most
// limit; 50 when limit is not in 1..1000), newest first. The trail of a
// deleted Connection stays listable.
func (s *Connections) Audit(ctx context.Context, who auth.Identity, groupID, id string, limit int) ([]connection.AuditEvent, error) {
	if err := s.authorize(ctx, who, groupID); err != nil {
		return nil, err
	}
	return s.store.ListAudit(ctx, groupID, id, limit)
}

// scopesFor returns the scopes to request for auth type t: for oauth2, the
// app's default scopes plus requested ones among its default and optional
// scopes; for oauth2_advanced, the requested ones, or the app's default
// scopes when none are requested.
func scopesFor(app *catalog.App, t catalog.AuthType, requested []string) ([]string, error) {
	o := app.OAuth
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, sc := range requested {
		if strings.TrimSpace(sc) == "" {
			return nil, wiresk.FieldError("scopes", "has an empty scope")
		}
	}
	if t == catalog.AuthOAuth2 {
		for _, sc := range o.Scopes.Default {
			add(sc)
		}
		for _, sc := range requested {
			if !slices.Contains(o.Scopes.Default, sc) && !slices.Contains(o.Scopes.Optional, sc) {
				allowed := append(slices.Clone(o.Scopes.Default), o.Scopes.Optional...)
				return nil, wiresk.FieldError("scopes", "%q is not a scope Wiresk's %s app may request (it may request %s); use auth type %s with your own OAuth app for other scopes",
					sc, app.Name, strings.Join(allowed, ", "), catalog.AuthOAuth2Advanced)
			}
			add(sc)
		}
		return nonNil(out), nil
	}
	if len(requested) == 0 {
		return nonNil(slices.Clone(o.Scopes.Default)), nil
	}
	for _, sc := range requested {
		add(sc)
	}
	return out, nil
}

// nonNil returns s, or an empty slice for nil.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// revoker returns an OAuth flow for revocations, which derive nothing from
// the state key: a deployment without one can still revoke.
func (s *Connections) revoker() *oauth.Flow {
	key := s.stateKey
	if len(key) < oauth.MinStateKeyBytes {
		key = make([]byte, oauth.MinStateKeyBytes)
		_, _ = rand.Read(key)
	}
	f, _ := oauth.NewFlow(oauth.FlowConfig{StateKey: key, HTTPClient: s.httpClient, Now: s.clock()})
	return f
}

// destinations names where a config sends the credential: the host steps
// may send it to and the host Test sends it to.
func destinations(app *catalog.App, config map[string]string) string {
	host, err := credentialHost(app, config)
	if err != nil {
		host = "(none)"
	}
	hostOf := func(field string) string {
		if u, err := url.Parse(config[field]); err == nil && u.Host != "" {
			return u.Host
		}
		return "(none)"
	}
	// base_url is named too: a deployment's base-URL override may stand
	// in for it today, but the config is what applies without one.
	return "steps " + host + ", base_url " + hostOf("base_url") + ", test " + hostOf("test_url")
}

// Apps returns the apps of the catalog that Connections can be made for,
// as the API shows them. A Connections without a catalog is a wiring
// mistake: an error that is not a *wiresk.Error.
func (s *Connections) Apps() ([]catalog.PublicApp, error) {
	if s.catalog == nil {
		return nil, errors.New("connect: the Connections use cases have no catalog")
	}
	return s.catalog.Public(), nil
}
