package connect_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/httpapi"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// unchanged records a Connection and its secret, to check that a refused
// callback changed neither.
type unchanged struct {
	c      connection.Connection
	secret []byte
}

func (e *env) snapshot(id string) unchanged {
	e.t.Helper()
	raw, _ := e.vault.Get(e.t.Context(), connection.SecretName(id))
	return unchanged{c: e.conn(id), secret: raw}
}

func (e *env) assertUnchanged(id string, u unchanged) {
	e.t.Helper()
	c := e.conn(id)
	if c.Version != u.c.Version || c.Status != u.c.Status || c.Account != u.c.Account {
		e.t.Errorf("connection changed: version %d status %s account %q, want %d %s %q",
			c.Version, c.Status, c.Account, u.c.Version, u.c.Status, u.c.Account)
	}
	raw, _ := e.vault.Get(e.t.Context(), connection.SecretName(id))
	if !bytes.Equal(raw, u.secret) {
		e.t.Errorf("the connection's vault secret changed")
	}
}

// wantRefused checks a refused callback: its status, that it is not OK,
// that its message says to start again, and its Connection.
func wantRefused(t *testing.T, res connect.CallbackResult, status int, connectionID string, says string) {
	t.Helper()
	if res.OK || httpapi.StatusOf(res.Code) != status {
		t.Fatalf("Callback = %+v, want status %d, not OK", res, status)
	}
	if res.Title == "" || !strings.Contains(res.Message, says) {
		t.Errorf("Callback message = %q (title %q), want a title and %q", res.Message, res.Title, says)
	}
	if res.ConnectionID != connectionID {
		t.Errorf("Callback ConnectionID = %q, want %q", res.ConnectionID, connectionID)
	}
}

// TestCallbackRefusals: every way a callback can be wrong is refused with
// the right status and a sentence saying what to do, and changes nothing.
func TestCallbackRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	t.Run("missing state", func(t *testing.T) {
		wantRefused(t, e.svc.Callback(ctx, url.Values{"code": {"abc"}}, e.cookies()), http.StatusBadRequest, "", "Start again")
	})

	t.Run("forged state", func(t *testing.T) {
		v := e.createIdP("Forged")
		u := e.snapshot(v.ID)
		q := e.authorize(v.AuthorizeURL)
		forged := oauth.NewState()
		q.Set("state", forged)
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusForbidden, "", "did not")
		// Even from a browser bound to it, a state Wiresk did not issue.
		wantRefused(t, e.svc.Callback(ctx, q, []*http.Cookie{e.svc.BindingCookie(forged)}), http.StatusBadRequest, "", "not one Wiresk issued")
		e.assertUnchanged(v.ID, u)
		if got := e.idp.Exchanges.Load(); got != 0 {
			t.Errorf("exchanges = %d, want 0", got)
		}
	})

	t.Run("replayed state", func(t *testing.T) {
		v := e.createIdP("Replayed")
		q := e.authorize(v.AuthorizeURL)
		if res := e.svc.Callback(ctx, q, e.cookies()); !res.OK {
			t.Fatalf("first Callback = %+v", res)
		}
		u := e.snapshot(v.ID)
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, "", "already used")
		e.assertUnchanged(v.ID, u)
		e.creds(v.ID)
	})

	t.Run("expired state", func(t *testing.T) {
		v := e.createIdP("Expired")
		u := e.snapshot(v.ID)
		q := e.authorize(v.AuthorizeURL)
		n := e.idp.Exchanges.Load()
		e.clock.Advance(connection.StateTTL + time.Second)
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, v.ID, "expired")
		e.assertUnchanged(v.ID, u)
		if got := e.idp.Exchanges.Load(); got != n {
			t.Errorf("an expired state was exchanged")
		}
		// Single use even when refused.
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, "", "already used")
	})

	t.Run("state of another Group's connection", func(t *testing.T) {
		v := e.createIdP("Mine")
		u := e.snapshot(v.ID)
		// A state record bound to the other Group but naming this Group's
		// Connection (a forged or cross-Group binding): the Connection is
		// looked up in the state's Group, where it does not exist.
		q := e.authorize(v.AuthorizeURL)
		raw := oauth.NewState()
		now := e.clock.Now().UTC()
		if err := e.store.PutOAuthState(ctx, connection.OAuthState{ID: connection.StateID(raw), GroupID: e.otherGroupID,
			ConnectionID: v.ID, CreatedBy: e.stranger.UserID, RedirectURI: e.idp.CallbackURL, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		q.Set("state", raw)
		n := e.idp.Exchanges.Load()
		wantRefused(t, e.svc.Callback(ctx, q, []*http.Cookie{e.svc.BindingCookie(raw)}), http.StatusBadRequest, v.ID, "no longer exists")
		e.assertUnchanged(v.ID, u)
		if got := e.idp.Exchanges.Load(); got != n {
			t.Errorf("a foreign state was exchanged")
		}
	})

	t.Run("access denied", func(t *testing.T) {
		v := e.createIdP("Declined")
		u := e.snapshot(v.ID)
		e.idp.Deny.Store(true)
		q := e.authorize(v.AuthorizeURL)
		e.idp.Deny.Store(false)
		if q.Get("error") != "access_denied" {
			t.Fatalf("callback query = %v, want error=access_denied", q)
		}
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, v.ID, "declined")
		e.assertUnchanged(v.ID, u)
		if got := e.conn(v.ID).Status; got != connection.StatusPending {
			t.Errorf("Status = %q, want still pending", got)
		}
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, "", "already used")
	})

	t.Run("PKCE mismatch", func(t *testing.T) {
		v := e.createIdP("Tampered")
		u := e.snapshot(v.ID)
		// The authorization request carries another challenge than the one
		// of the state's verifier: the exchange is refused.
		au, _ := url.Parse(e.start(v.AuthorizeURL))
		aq := au.Query()
		sum := sha256.Sum256([]byte(oauth.Verifier([]byte("another-key-another-key-another-key!"), aq.Get("state"))))
		aq.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		au.RawQuery = aq.Encode()
		q := e.authorizeAt(au.String())
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadGateway, v.ID, "PKCE")
		e.assertUnchanged(v.ID, u)

		// Another deployment's state key derives another binding (and
		// another verifier): its callback refuses this browser.
		rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		q = e.authorize(rv.AuthorizeURL)
		otherCfg := e.svc.Config
		otherCfg.StateKey = []byte("a-different-state-key-of-enough-bytes!!")
		other := newServices(otherCfg)
		wantRefused(t, other.Callback(ctx, q, e.cookies()), http.StatusForbidden, "", "did not")
		e.assertUnchanged(v.ID, u)
	})

	t.Run("connection deleted meanwhile", func(t *testing.T) {
		v := e.createIdP("Gone")
		q := e.authorize(v.AuthorizeURL)
		if err := e.svc.Delete(ctx, e.owner, e.groupID, v.ID); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, e.svc.Callback(ctx, q, e.cookies()), http.StatusBadRequest, v.ID, "no longer exists")
		if _, err := e.store.GetConnection(ctx, e.groupID, v.ID); wiresk.ErrorCode(err) != wiresk.ENotFound {
			t.Errorf("the callback recreated a deleted connection: %v", err)
		}
	})

	t.Run("waits for a refresh under way", func(t *testing.T) {
		c := e.connectIdP("Busy")
		rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		q := e.authorize(rv.AuthorizeURL)
		u := e.snapshot(c.ID)
		lease := connection.RefreshLeaseName(c.ID)
		if ok, err := e.store.AcquireLease(ctx, lease, "a-refreshing-worker", time.Minute); !ok || err != nil {
			t.Fatalf("AcquireLease = %v, %v", ok, err)
		}
		done := make(chan connect.CallbackResult, 1)
		go func() { done <- e.svc.Callback(ctx, q, e.cookies()) }()
		select {
		case res := <-done:
			t.Fatalf("Callback returned %+v while another holder had the refresh lease", res)
		case <-time.After(300 * time.Millisecond):
		}
		e.assertUnchanged(c.ID, u)
		if err := e.store.ReleaseLease(ctx, lease, "a-refreshing-worker"); err != nil {
			t.Fatal(err)
		}
		if res := <-done; !res.OK {
			t.Fatalf("Callback after the lease was released = %+v, want OK", res)
		}
		if now, _ := e.creds(c.ID); now.AccessToken == "" || string(u.secret) == string(mustEncode(t, now)) {
			t.Errorf("the callback did not store new tokens")
		}
	})

	t.Run("return URL", func(t *testing.T) {
		sCfg := e.svc.Config
		sCfg.ReturnURL = "https://app.example.com/connections?tab=all"
		s := newServices(sCfg)
		v := e.createIdP("Returning")
		res := s.Callback(ctx, e.authorize(v.AuthorizeURL), e.cookies())
		if !res.OK {
			t.Fatalf("Callback = %+v", res)
		}
		e.creds(v.ID)
		r, err := url.Parse(res.Redirect)
		if err != nil || r.Host != "app.example.com" {
			t.Fatalf("Redirect = %q, want the return URL", res.Redirect)
		}
		if got, want := r.Query(), (url.Values{"tab": {"all"}, "connection": {v.ID}, "status": {"ok"}}); got.Encode() != want.Encode() {
			t.Errorf("Redirect query = %v, want %v", got, want)
		}
		forged := oauth.NewState()
		for _, c := range []struct {
			cookies []*http.Cookie
			want    string
		}{{nil, "error/browser_mismatch"}, {[]*http.Cookie{s.BindingCookie(forged)}, "error/invalid_state"}} {
			res = s.Callback(ctx, url.Values{"state": {forged}, "code": {"x"}}, c.cookies)
			want := c.want
			r, _ = url.Parse(res.Redirect)
			if got := r.Query().Get("status") + "/" + r.Query().Get("reason"); got != want {
				t.Errorf("Redirect of a refused callback = %q, want status/reason %s", res.Redirect, want)
			}
		}
	})
	scanFor(t, "the logs", []string{e.logs.String()}, e.secrets())
}
