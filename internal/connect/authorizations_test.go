package connect_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/httpapi"
)

// TestAuthorizationsCompleteAReconnect: the authorization Connections'
// Reconnect starts is completed by Authorizations alone (as the callback
// function does, in another process): Start binds the browser, Callback
// in that browser makes the Connection active again, and its state serves
// once.
func TestAuthorizationsCompleteAReconnect(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.connectIdP("IdP")
	rv, err := e.svc.Reconnect(ctx, e.owner, e.groupID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	auths := connect.New(e.svc.Config).Authorizations
	link, err := url.Parse(rv.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	start := auths.Start(context.Background(), link.Query())
	if start.Redirect == "" || start.Code != "" || start.Cookie == nil {
		t.Fatalf("Start = %+v, want a redirect and a cookie", start)
	}
	e.remember(start.Cookie.Value)
	q := e.authorizeAt(start.Redirect)
	browser := []*http.Cookie{start.Cookie}

	res := auths.Callback(ctx, q, browser)
	if !res.OK || res.Code != "" || res.ConnectionID != c.ID {
		t.Fatalf("Callback = %+v, want OK (200) for %s", res, c.ID)
	}
	if got, want := e.conn(c.ID).Status, connection.StatusActive; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	evs := e.events(c.ID)
	if i := slices.Index(evs, connection.EventReconnected); i < 0 || !slices.Contains(evs[i:], connection.EventAuthorized) {
		t.Errorf("audit trail %v, want reconnected then authorized", evs)
	}

	replay := auths.Callback(ctx, q, browser)
	if got, want := replay.Reason, "invalid_state"; replay.OK || got != want {
		t.Errorf("replayed Callback = %+v, want refused with reason %q", replay, want)
	}
}

// TestAuthorizationsRefusals: what Start and Callback refuse, with the
// status and the stable reason the page and the return URL carry.
func TestAuthorizationsRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	auths := connect.New(e.svc.Config).Authorizations
	v := e.createIdP("IdP")
	link, _ := url.Parse(v.AuthorizeURL)
	noKey := e.svc.Config
	noKey.StateKey = nil

	tests := []struct {
		name   string
		do     func() (status int, reason string)
		status int
		reason string
	}{
		{"start without a signed link", func() (int, string) {
			r := auths.Start(context.Background(), url.Values{})
			return httpapi.StatusOf(r.Code), r.Reason
		}, http.StatusBadRequest, "invalid_link"},
		{"start without a state key", func() (int, string) {
			r := connect.New(noKey).Authorizations.Start(context.Background(), link.Query())
			return httpapi.StatusOf(r.Code), r.Reason
		}, http.StatusServiceUnavailable, "not_configured"},
		{"callback without a state", func() (int, string) {
			r := auths.Callback(ctx, url.Values{"code": {"x"}}, nil)
			return httpapi.StatusOf(r.Code), r.Reason
		}, http.StatusBadRequest, "missing_state"},
		{"callback in a browser that did not start it", func() (int, string) {
			r := auths.Callback(ctx, url.Values{"code": {"x"}, "state": {"abc"}}, nil)
			return httpapi.StatusOf(r.Code), r.Reason
		}, http.StatusForbidden, connect.ReasonBrowserMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, reason := tc.do()
			if status != tc.status || reason != tc.reason {
				t.Errorf("got status %d, reason %q; want %d, %q", status, reason, tc.status, tc.reason)
			}
		})
	}
	if got, want := e.conn(v.ID).Status, connection.StatusPending; got != want {
		t.Errorf("status = %q, want %q (nothing changed)", got, want)
	}
}
