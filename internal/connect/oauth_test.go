package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/httpapi"
	"wiresk/internal/oauth"
	"wiresk/internal/testkit/oauthtest"
	"wiresk/internal/wiresk"
)

// createIdP creates an oauth2_advanced Connection of the test IdP with the
// test server's client, and returns its View (pending, with the
// authorization URL).
func (e *env) createIdP(name string) connect.View {
	e.t.Helper()
	v, err := e.svc.Create(e.t.Context(), e.owner, e.groupID, connect.CreateInput{Name: name, App: "idp", AuthType: "oauth2_advanced",
		ClientID: oauthtest.ClientID, ClientSecret: oauthtest.ClientSecret})
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return v
}

// start opens the start link of an authorization like the user's browser:
// it keeps the binding cookie Start sets (see cookies) and returns the
// provider's authorization URL it redirects to.
func (e *env) start(link string) string {
	e.t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, e.svc.StartURL+"?") {
		e.t.Fatalf("authorize URL %q, want the start link %s?...", link, e.svc.StartURL)
	}
	res := e.svc.Start(context.Background(), u.Query())
	if res.Redirect == "" || res.Cookie == nil {
		e.t.Fatalf("Start(%s) = %+v, want a redirect and a cookie", link, res)
	}
	e.remember(res.Cookie.Value)
	e.browserMu.Lock()
	e.browser = append(e.browser, res.Cookie)
	e.browserMu.Unlock()
	return res.Redirect
}

// cookies returns the binding cookies of the user's browser.
func (e *env) cookies() []*http.Cookie {
	e.browserMu.Lock()
	defer e.browserMu.Unlock()
	return slices.Clone(e.browser)
}

// authorize follows a start link and then the provider's authorization
// URL like the user's browser and returns the query of the redirect to
// the callback, remembering the code and the PKCE verifier as secrets.
func (e *env) authorize(link string) url.Values {
	e.t.Helper()
	return e.authorizeAt(e.start(link))
}

// authorizeAt follows a provider's authorization URL like the user's
// browser (see authorize).
func (e *env) authorizeAt(authURL string) url.Values {
	e.t.Helper()
	q := e.idp.Authorize(e.t, authURL)
	e.remember(q.Get("code"), oauth.Verifier(stateKey, q.Get("state")))
	return q
}

// connectIdP creates an IdP Connection and completes its authorization.
func (e *env) connectIdP(name string) connection.Connection {
	e.t.Helper()
	v := e.createIdP(name)
	res := e.svc.Callback(e.t.Context(), e.authorize(v.AuthorizeURL), e.cookies())
	if !res.OK {
		e.t.Fatalf("Callback = %+v, want OK", res)
	}
	e.creds(v.ID)
	return e.conn(v.ID)
}

// TestOAuthConnectionLifecycle drives the whole authorization-code flow
// against the go-oauth2 server (PKCE S256 forced, rotating refresh
// tokens): create, authorize in a browser, callback, test, refresh on
// expiry (once for 20 concurrent workers), a refresh token revoked at the
// provider found broken with the Flows that use it, reconnect, disconnect
// with revocation, delete.
func TestOAuthConnectionLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Create: pending, with an authorization URL carrying the state and
	// an S256 challenge, and the client kept in the vault.
	v := e.createIdP("Team IdP")
	id := v.ID
	if got, want := v.Status, connection.StatusPending; got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
	if got, want := v.Scopes, []string{"read", "write"}; !slices.Equal(got, want) {
		t.Errorf("Scopes = %v, want the app's default %v", got, want)
	}
	providerURL := e.start(v.AuthorizeURL)
	au, err := url.Parse(providerURL)
	if err != nil || !strings.HasPrefix(providerURL, e.idp.URL+"/authorize?") {
		t.Fatalf("the start link redirects to %q, want the server's authorization endpoint", providerURL)
	}
	aq := au.Query()
	for k, want := range map[string]string{"client_id": oauthtest.ClientID, "redirect_uri": e.idp.CallbackURL,
		"code_challenge_method": "S256", "response_type": "code", "scope": "read write"} {
		if got := aq.Get(k); got != want {
			t.Errorf("authorization URL %s = %q, want %q", k, got, want)
		}
	}
	if aq.Get("state") == "" || aq.Get("code_challenge") == "" {
		t.Errorf("authorization URL %s lacks the state or the PKCE challenge", v.AuthorizeURL)
	}
	if creds, ok := e.creds(id); !ok || creds.ClientSecret != oauthtest.ClientSecret || creds.AccessToken != "" {
		t.Errorf("vault = %v (found %v), want only the client", creds, ok)
	}
	if _, err := e.svc.Test(ctx, e.owner, e.groupID, id); wiresk.ErrorCode(err) != wiresk.EConflict {
		t.Errorf("Test of a pending connection = %v, want conflict", err)
	}
	var ue *connect.UnusableError
	if _, err := e.svc.Credential(ctx, e.groupID, id); !errors.As(err, &ue) || ue.Status != connection.StatusPending {
		t.Errorf("Credential of a pending connection = %v, want an *UnusableError", err)
	}

	// The browser: log in, consent, redirected to the callback.
	q := e.authorize(v.AuthorizeURL)
	if q.Get("code") == "" || q.Get("state") != aq.Get("state") {
		t.Fatalf("callback query = %v, want a code and the state", q)
	}
	res := e.svc.Callback(ctx, q, e.cookies())
	if !res.OK || res.Code != "" || res.ConnectionID != id || res.GroupID != e.groupID {
		t.Fatalf("Callback = %+v, want 200 OK for %s", res, id)
	}
	if !strings.Contains(res.Message, oauthtest.User) || res.Redirect != "" {
		t.Errorf("Callback message = %q redirect %q, want the account named and no redirect", res.Message, res.Redirect)
	}
	c := e.conn(id)
	if c.Status != connection.StatusActive || c.Account != oauthtest.User || c.StatusReason != "" {
		t.Errorf("after the callback: %s %q %q, want active as %q", c.Status, c.Account, c.StatusReason, oauthtest.User)
	}
	if got, want := c.Scopes, []string{"read", "write"}; !slices.Equal(got, want) {
		t.Errorf("Scopes = %v, want %v", got, want)
	}
	if c.TokenExpiresAt == nil || c.TokenExpiresAt.Sub(e.clock.Now()) < 9*time.Minute || c.TokenExpiresAt.Sub(e.clock.Now()) > 10*time.Minute {
		t.Errorf("TokenExpiresAt = %v, want about 10 minutes from now", c.TokenExpiresAt)
	}
	creds, _ := e.creds(id)
	if creds.AccessToken == "" || creds.RefreshToken == "" || creds.ClientID != oauthtest.ClientID || creds.ClientSecret != oauthtest.ClientSecret {
		t.Fatalf("vault after the callback = %v, want the tokens and the client", creds)
	}
	if got, want := e.idp.Me(t, creds.AccessToken), http.StatusOK; got != want {
		t.Errorf("the stored access token at /me: %d, want %d", got, want)
	}
	if got, want := e.events(id), []connection.Event{connection.EventCreated, connection.EventAuthorized}; !slices.Equal(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}

	// The same callback again: the state is used up.
	again := e.svc.Callback(ctx, q, e.cookies())
	if again.OK || httpapi.StatusOf(again.Code) != http.StatusBadRequest || !strings.Contains(again.Message, "already used") {
		t.Errorf("replayed Callback = %+v, want 400 saying the link was already used", again)
	}
	if got := e.conn(id); got.Version != c.Version {
		t.Errorf("a replayed callback changed the connection (version %d, want %d)", got.Version, c.Version)
	}

	// Test: the app's test request with the access token.
	tv, err := e.svc.Test(ctx, e.owner, e.groupID, id)
	if err != nil || tv.LastTest == nil || !tv.LastTest.OK || tv.Account != oauthtest.User {
		t.Fatalf("Test = %+v, %v; want a successful test as %q", tv.LastTest, err, oauthtest.User)
	}

	// Credential: the stored token while it is valid, no refresh.
	cred, err := e.svc.Credential(ctx, e.groupID, id)
	if err != nil || cred.Kind != appcall.CredentialBearer || cred.Token != creds.AccessToken {
		t.Fatalf("Credential = %v, %v; want the stored access token", cred, err)
	}
	if got := e.idp.Refreshes.Load(); got != 0 {
		t.Errorf("refreshes = %d, want 0", got)
	}

	// Past the expiry: 20 workers at once get one refreshed token, and
	// the provider sees exactly one refresh.
	e.clock.Advance(11 * time.Minute)
	e.idp.RefreshDelay.Store(int64(100 * time.Millisecond))
	const workers = 20
	tokens := make([]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			cr, err := e.svc.Credential(ctx, e.groupID, id)
			tokens[i], errs[i] = cr.Token, err
		})
	}
	wg.Wait()
	e.idp.RefreshDelay.Store(0)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: Credential: %v", i, err)
		}
	}
	if got, want := e.idp.Refreshes.Load(), int64(1); got != want {
		t.Fatalf("refreshes for %d concurrent workers = %d, want %d", workers, got, want)
	}
	fresh, _ := e.creds(id)
	if fresh.AccessToken == creds.AccessToken || fresh.RefreshToken == creds.RefreshToken {
		t.Fatalf("the vault still holds the old tokens after a refresh")
	}
	if fresh.ClientSecret != oauthtest.ClientSecret {
		t.Errorf("the refresh lost the client secret from the credential")
	}
	for i, tok := range tokens {
		if tok != fresh.AccessToken {
			t.Fatalf("worker %d got another token than the refreshed one", i)
		}
	}
	if got, want := e.idp.Me(t, fresh.AccessToken), http.StatusOK; got != want {
		t.Errorf("the refreshed token at /me: %d, want %d", got, want)
	}
	c = e.conn(id)
	if c.LastRefreshAt == nil || c.TokenExpiresAt == nil || c.TokenExpiresAt.Before(e.clock.Now().Add(9*time.Minute)) {
		t.Errorf("after the refresh: LastRefreshAt %v TokenExpiresAt %v, want set, about 10 minutes ahead", c.LastRefreshAt, c.TokenExpiresAt)
	}
	if got, want := e.count(id, connection.EventRefreshed), 1; got != want {
		t.Errorf("refreshed events = %d, want %d", got, want)
	}

	// A Flow uses the Connection; the user revokes Wiresk's access at the
	// provider; once the token expires, the refresh is refused for good.
	fl := e.addFlow("Sync users", id)
	e.idp.Revoke(ctx, fresh.RefreshToken)
	e.clock.Advance(11 * time.Minute)
	_, err = e.svc.Credential(ctx, e.groupID, id)
	if !errors.As(err, &ue) || !errors.Is(err, connect.ErrUnusable) || !errors.Is(err, oauth.ErrBroken) {
		t.Fatalf("Credential after revocation = %v, want an *UnusableError matching oauth.ErrBroken", err)
	}
	if wiresk.ErrorCode(err) != wiresk.EConflict || ue.Status != connection.StatusBroken || !strings.Contains(err.Error(), "Team IdP") {
		t.Errorf("Credential error = %q (code %s), want conflict naming the broken connection", err, wiresk.ErrorCode(err))
	}
	d, err := e.svc.Get(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != connection.StatusBroken || d.BrokenAt == nil || !strings.Contains(d.StatusReason, "invalid_grant") {
		t.Errorf("Get = %s %v %q, want broken with invalid_grant in the reason", d.Status, d.BrokenAt, d.StatusReason)
	}
	if len(d.UsedBy) != 1 || d.UsedBy[0].ID != fl.ID || d.UsedBy[0].Name != fl.Name || !slices.Equal(d.UsedBy[0].Steps, []string{"notify"}) {
		t.Errorf("UsedBy = %+v, want the Flow %q with its step notify", d.UsedBy, fl.Name)
	}
	ev := e.audit(id)
	if last := ev[len(ev)-1]; last.Event != connection.EventBroken || last.Actor != connection.ActorSystem || !strings.Contains(last.Detail, fl.Name) {
		t.Errorf("last audit event = %+v, want broken by the system naming the Flow", last)
	}
	// Once broken, workers are refused without asking the provider again.
	n := e.idp.Refreshes.Load()
	if _, err := e.svc.Credential(ctx, e.groupID, id); !errors.As(err, &ue) {
		t.Errorf("Credential of a broken connection = %v, want an *UnusableError", err)
	}
	if got := e.idp.Refreshes.Load(); got != n {
		t.Errorf("a broken connection's Credential asked the provider (%d refreshes, want %d)", got, n)
	}
	// Test confirms it: still broken, the result recorded.
	tv, err = e.svc.Test(ctx, e.owner, e.groupID, id)
	if err != nil || tv.Status != connection.StatusBroken || tv.LastTest == nil || tv.LastTest.OK {
		t.Errorf("Test of the broken connection = %s %+v, %v; want broken, a failed test", tv.Status, tv.LastTest, err)
	}

	// Delete refuses while the Flow uses it.
	err = e.svc.Delete(ctx, e.owner, e.groupID, id)
	wantCode(t, err, wiresk.EConflict, "")
	if !strings.Contains(wiresk.ErrorMessage(err), fl.Name) {
		t.Errorf("Delete refusal %q, want it to name %q", wiresk.ErrorMessage(err), fl.Name)
	}

	// Reconnect: a new authorization of the same Connection, which stays
	// broken until the callback succeeds.
	rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	if rv.ID != id || rv.AuthorizeURL == "" || rv.Status != connection.StatusBroken {
		t.Fatalf("Reconnect = %s %s %q, want the same connection, still broken, with an authorization URL", rv.ID, rv.Status, rv.AuthorizeURL)
	}
	res = e.svc.Callback(ctx, e.authorize(rv.AuthorizeURL), e.cookies())
	if !res.OK {
		t.Fatalf("Callback after Reconnect = %+v, want OK", res)
	}
	c = e.conn(id)
	if c.Status != connection.StatusActive || c.BrokenAt != nil || c.StatusReason != "" {
		t.Errorf("after reconnecting: %s %v %q, want active, no broken time or reason", c.Status, c.BrokenAt, c.StatusReason)
	}
	recon, _ := e.creds(id)
	if cred, err := e.svc.Credential(ctx, e.groupID, id); err != nil || cred.Token != recon.AccessToken {
		t.Errorf("Credential after reconnecting = %v, want the new access token", err)
	}

	// Disconnect: the refresh token is revoked at the provider (with its
	// access token), the tokens leave the vault, the client stays.
	dv, err := e.svc.Disconnect(ctx, e.owner, e.groupID, id)
	if err != nil || dv.Status != connection.StatusDisconnected {
		t.Fatalf("Disconnect = %s, %v; want disconnected", dv.Status, err)
	}
	if got, want := e.idp.Me(t, recon.AccessToken), http.StatusUnauthorized; got != want {
		t.Errorf("the access token after Disconnect at /me: %d, want %d (revoked)", got, want)
	}
	if _, err := e.idp.RefreshDirect(ctx, recon.RefreshToken); err == nil {
		t.Errorf("the refresh token still works after Disconnect")
	}
	if left, ok := e.creds(id); !ok || left.AccessToken != "" || left.RefreshToken != "" || left.ClientSecret != oauthtest.ClientSecret {
		t.Errorf("vault after Disconnect = %v (found %v), want only the client", left, ok)
	}
	if ev := e.audit(id); !strings.Contains(ev[len(ev)-1].Detail, "revoked") {
		t.Errorf("disconnected audit detail = %q, want it to say the tokens were revoked", ev[len(ev)-1].Detail)
	}

	// Delete once the Flow is gone.
	if err := e.store.DeleteFlow(ctx, e.groupID, fl.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, e.owner, e.groupID, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := e.creds(id); ok {
		t.Errorf("the vault still holds the credentials of a deleted connection")
	}
	want := []connection.Event{connection.EventCreated, connection.EventAuthorized, connection.EventTested, connection.EventRefreshed,
		connection.EventBroken, connection.EventTested, connection.EventReconnected, connection.EventAuthorized,
		connection.EventDisconnected, connection.EventDeleted}
	if got := e.events(id); !slices.Equal(got, want) {
		t.Errorf("audit trail = %v, want %v", got, want)
	}
	scanFor(t, "the logs", []string{e.logs.String()}, e.secrets())
}

// TestPlatformOAuth2 uses the platform's registered app: without its
// client in the vault, creating a Connection says what the operator must
// do and stores nothing; with it, the flow completes and the client is
// never copied into the Connection's credential.
func TestPlatformOAuth2(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	before := e.bucketCounts()
	_, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "IdP", App: "idp", AuthType: "oauth2"})
	wantCode(t, err, wiresk.EUnavailable, "")
	if msg := wiresk.ErrorMessage(err); !strings.Contains(msg, connect.AppSecretName("idp")) {
		t.Errorf("message %q, want it to name the vault secret %q", msg, connect.AppSecretName("idp"))
	}
	after := e.bucketCounts()
	for k, n := range before {
		if after[k] != n {
			t.Errorf("bucket %s has %d keys, want %d (nothing stored)", k, after[k], n)
		}
	}

	if err := e.vault.Put(ctx, connect.AppSecretName("idp"), []byte(`{"client_id":"`+oauthtest.ClientID+`","client_secret":"`+oauthtest.ClientSecret+`"}`)); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "IdP", App: "idp", AuthType: "oauth2", Scopes: []string{"delete_everything"}})
	wantCode(t, err, wiresk.EValidation, "scopes")
	_, err = e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "IdP", App: "idp", AuthType: "oauth2", ClientSecret: "mine"})
	wantCode(t, err, wiresk.EValidation, "clientSecret")

	v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "IdP", App: "idp", AuthType: "oauth2", Scopes: []string{"admin"}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got, want := v.Scopes, []string{"read", "write", "admin"}; !slices.Equal(got, want) {
		t.Errorf("Scopes = %v, want %v", got, want)
	}
	if _, ok := e.creds(v.ID); ok {
		t.Errorf("a pending oauth2 connection has a vault secret; want none until authorized")
	}
	res := e.svc.Callback(ctx, e.authorize(v.AuthorizeURL), e.cookies())
	if !res.OK {
		t.Fatalf("Callback = %+v, want OK", res)
	}
	creds, _ := e.creds(v.ID)
	if creds.AccessToken == "" || creds.ClientID != "" || creds.ClientSecret != "" {
		t.Errorf("vault = %v, want the tokens and no client (the platform's stays in its own secret)", creds)
	}
	if got, want := e.conn(v.ID).Scopes, []string{"read", "write", "admin"}; !slices.Equal(got, want) {
		t.Errorf("granted Scopes = %v, want %v", got, want)
	}
	// Refresh through the platform client.
	e.clock.Advance(11 * time.Minute)
	if _, err := e.svc.Credential(ctx, e.groupID, v.ID); err != nil {
		t.Fatalf("Credential: %v", err)
	}
	if got, want := e.idp.Refreshes.Load(), int64(1); got != want {
		t.Errorf("refreshes = %d, want %d", got, want)
	}
	e.creds(v.ID)
	if _, err := e.svc.Disconnect(ctx, e.owner, e.groupID, v.ID); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if _, ok := e.creds(v.ID); ok {
		t.Errorf("the vault still holds a secret of the disconnected oauth2 connection")
	}
	// Reconnect a disconnected one, completed: active again.
	rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.svc.Callback(ctx, e.authorize(rv.AuthorizeURL), e.cookies()); !res.OK {
		t.Fatalf("Callback after Reconnect = %+v", res)
	}
	if got := e.conn(v.ID).Status; got != connection.StatusActive {
		t.Errorf("Status = %q, want active", got)
	}
	e.creds(v.ID)
	scanFor(t, "the logs", []string{e.logs.String()}, e.secrets())
}

// TestRejectedAccessTokenIsRefreshedOnce: an access token the provider
// revoked while its expiry says valid fails the Test; Test refreshes once
// and succeeds with the new token.
func TestRejectedAccessTokenIsRefreshedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.connectIdP("IdP")
	creds, _ := e.creds(c.ID)
	e.idp.Revoke(ctx, creds.AccessToken) // the access token only
	tv, err := e.svc.Test(ctx, e.owner, e.groupID, c.ID)
	if err != nil || tv.Status != connection.StatusActive || !tv.LastTest.OK {
		t.Fatalf("Test = %s %+v, %v; want active and OK after one refresh", tv.Status, tv.LastTest, err)
	}
	if got, want := e.idp.Refreshes.Load(), int64(1); got != want {
		t.Errorf("refreshes = %d, want %d", got, want)
	}
	e.creds(c.ID)
}

// TestCredentialWhenProviderIsDown: a refresh that fails for a transient
// reason is unavailable (retry later) and leaves the Connection active.
func TestCredentialWhenProviderIsDown(t *testing.T) {
	e := newEnv(t)
	c := e.connectIdP("IdP")
	e.clock.Advance(11 * time.Minute)
	e.idp.FailRefreshes.Store(true)
	_, err := e.svc.Credential(t.Context(), e.groupID, c.ID)
	wantCode(t, err, wiresk.EUnavailable, "")
	if errors.Is(err, connect.ErrUnusable) {
		t.Errorf("a transient failure matches ErrUnusable: %v", err)
	}
	if got := e.conn(c.ID).Status; got != connection.StatusActive {
		t.Errorf("Status = %q, want still active", got)
	}
	e.idp.FailRefreshes.Store(false)
	if _, err := e.svc.Credential(t.Context(), e.groupID, c.ID); err != nil {
		t.Errorf("Credential once the provider is back: %v", err)
	}
}
