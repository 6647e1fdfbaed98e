package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/testkit/oauthtest"
)

// appsEnv is a local runner whose apps are played by the apptest fakes,
// with the OAuth apps' authorization servers played by oauthtest servers
// (one per provider, as in life): Connections are made through the real
// OAuth flow and the fakes take the access tokens those servers issue.
type appsEnv struct {
	r     *runner
	env   []string // the runner's environment beside startRunner's
	fakes map[string]*apptest.Fake
	idps  map[string]*oauthtest.Server
}

// startWithApps starts the fakes of apps and a runner pointed at them.
func startWithApps(t *testing.T, dataDir string, apps []string, env ...string) *appsEnv {
	t.Helper()
	// The authorization servers must know the runner's callback before it
	// starts: take a free port for it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := &appsEnv{fakes: map[string]*apptest.Fake{}, idps: map[string]*oauthtest.Server{}}
	for _, id := range apps {
		f, ok := apptest.New(t, id)
		if !ok {
			t.Fatalf("no fake for %s", id)
		}
		e.fakes[id] = f
	}
	overrides := apptest.Overrides(e.fakes)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range apps {
		app, _ := cat.App(id)
		if app.OAuth == nil {
			continue
		}
		idp := oauthtest.New(t, oauthtest.Options{TokenAuth: app.OAuth.TokenAuth, CallbackURL: "http://" + addr + "/v1/oauth/callback"})
		e.idps[id] = idp
		e.fakes[id].Accept = idp.Valid
		o := overrides[id]
		io := idp.Override()
		o.AuthorizeURL, o.TokenURL, o.RevokeURL = io.AuthorizeURL, io.TokenURL, io.RevokeURL
		if app.OAuth.Revoke == nil {
			o.RevokeURL = ""
		}
		overrides[id] = o
	}
	js, err := json.Marshal(overrides)
	if err != nil {
		t.Fatal(err)
	}
	env = append([]string{"WIRESK_ADDR=" + addr, "WIRESK_HTTP_ALLOW_CIDRS=127.0.0.1/32", "WIRESK_APP_OVERRIDES=" + string(js)}, env...)
	e.env = env
	e.r = startRunner(t, dataDir, true, env...)
	return e
}

// connectOAuth creates an oauth2_advanced Connection to app with the
// authorization server's client (and scopes, if given, beside the app's
// default ones), follows its authorize link like a
// browser (the runner's start link, the provider's login and consent, the
// redirect to the runner's callback) and returns the Connection, active.
func (e *appsEnv) connectOAuth(t *testing.T, app, name string, scopes ...string) string {
	t.Helper()
	var c struct{ ID, AuthorizeURL string }
	body := map[string]any{"name": name, "app": app, "authType": "oauth2_advanced", "clientId": oauthtest.ClientID, "clientSecret": oauthtest.ClientSecret}
	if len(scopes) > 0 {
		body["scopes"] = scopes
	}
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/connections", body, &c)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := browser.Get(c.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/v1/oauth/callback" || resp.StatusCode >= 400 {
		t.Fatalf("the OAuth round trip ended at %s with %d, want the runner's callback:\n%s\n%s", resp.Request.URL, resp.StatusCode, page, e.r.Output())
	}
	var got struct{ Status, Account string }
	e.r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/connections/"+c.ID, nil, &got)
	if got.Status != "active" {
		t.Fatalf("%s Connection after the OAuth flow = %+v, want active", app, got)
	}
	return c.ID
}

// hubspotSample is HubSpot's documented contact.creation webhook delivery
// (a batch of one event, objectId 123), copied byte for byte from the
// provider samples, with its headers.
func hubspotSample(t *testing.T) (body string, headers []string) {
	t.Helper()
	b, err := os.ReadFile("testdata/webhooks/hubspot/contact.creation-v1.body")
	if err != nil {
		t.Fatal(err)
	}
	return string(b), []string{"X-HubSpot-Signature", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de", "X-HubSpot-Signature-Version", "v1"}
}

// connectKey creates an api_key Connection to the fake of app with the
// token it accepts and returns its id.
func (e *appsEnv) connectKey(t *testing.T, app string) string {
	t.Helper()
	var c struct{ ID, Status string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/connections", map[string]any{"name": app + " key", "app": app, "authType": "api_key", "apiKey": e.fakes[app].Token}, &c)
	if c.Status != "active" {
		t.Fatalf("%s key Connection = %+v, want active", app, c)
	}
	return c.ID
}

// TestAWorkerKilledAfterStepOneResumesAtStepTwo: the runner dies after
// step 1 of a 3-step Flow (HubSpot get contact → HubSpot create deal →
// Gmail send) has succeeded, as step 2's request leaves. After the
// restart and the redelivery, each app saw each step exactly once and the
// Run succeeded.
func TestAWorkerKilledAfterStepOneResumesAtStepTwo(t *testing.T) {
	dir := t.TempDir()
	e := startWithApps(t, dir, []string{"hubspot", "gmail"}, "WIRESK_VISIBILITY_TIMEOUT=2s")
	hubspot := e.connectKey(t, "hubspot")
	gmail := e.connectOAuth(t, "gmail", "Gmail")
	var f struct{ ID string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Deal and welcome", "steps": []any{
		map[string]any{"id": "contact", "app": "hubspot", "method": "get_contact", "connectionId": hubspot, "input": map[string]any{"contact_id": "{{ trigger.body[0].objectId }}"}},
		map[string]any{"id": "deal", "app": "hubspot", "method": "create_deal", "connectionId": hubspot, "input": map[string]any{"properties": map[string]any{"dealname": "{{ steps.contact.output.firstname }} - Pro"}}},
		map[string]any{"id": "welcome", "app": "gmail", "method": "send_email", "connectionId": gmail, "input": map[string]any{"to": "{{ steps.contact.output.email }}", "subject": "Your deal", "text": "Deal {{ steps.deal.output.deal_id }}"}},
	}}, &f)
	var k struct{ ID, Key string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var tr struct{ URL string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)

	first := e.r
	var killed atomic.Bool
	e.fakes["hubspot"].Before = func(req *http.Request) bool {
		if req.URL.Path == "/crm/v3/objects/deals" && killed.CompareAndSwap(false, true) {
			first.Kill()
			return false
		}
		return true
	}
	body, headers := hubspotSample(t)
	status, runID, err := hook(tr.URL, k.Key, body, headers...)
	if err != nil || status != 202 {
		t.Fatalf("webhook = %d %v, want 202", status, err)
	}
	<-first.done

	r2 := startRunner(t, dir, true, e.env...)
	run := r2.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || len(run.Steps) != 3 {
		t.Fatalf("the Run after the restart = %+v, want succeeded with 3 steps", run)
	}
	for route, f := range map[string]*apptest.Fake{
		"GET /crm/v3/objects/contacts/123":      e.fakes["hubspot"],
		"POST /crm/v3/objects/deals":            e.fakes["hubspot"],
		"POST /gmail/v1/users/me/messages/send": e.fakes["gmail"],
	} {
		if n := len(f.Received(route)); n != 1 {
			t.Errorf("%s got %q %d times, want exactly once", f.App, route, n)
		}
	}
}

// TestARevokedGrantBreaksTheConnectionAndNamesTheFlow: the user removed
// the app's access at HubSpot (the access token is refused, the refresh
// token revoked). The step's 401 has the Connection re-tested at once; it
// goes broken, the Run fails saying to reconnect, and the Connection lists
// the Flow that uses it.
func TestARevokedGrantBreaksTheConnectionAndNamesTheFlow(t *testing.T) {
	e := startWithApps(t, t.TempDir(), []string{"hubspot"})
	hubspot := e.connectOAuth(t, "hubspot", "HubSpot")
	var f struct{ ID string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Read the contact", "steps": []any{
		map[string]any{"id": "contact", "app": "hubspot", "method": "get_contact", "connectionId": hubspot, "input": map[string]any{"contact_id": "{{ trigger.body[0].objectId }}"}},
	}}, &f)
	url, key := e.hookFor(t, f.ID)

	idp := e.idps["hubspot"]
	var revoked atomic.Bool
	e.fakes["hubspot"].Accept = func(token string) bool { return !revoked.Load() && idp.Valid(token) }
	idp.SetBeforeRefresh(func(refreshToken string) { idp.Revoke(context.Background(), refreshToken) })
	revoked.Store(true)

	body, headers := hubspotSample(t)
	run := e.fire(t, url, key, body, headers...)
	if run.Status != "failed" || !strings.Contains(run.Error, "reconnect") {
		t.Fatalf("the Run = %+v, want failed saying to reconnect", run)
	}
	var c struct {
		Status string
		UsedBy []struct{ ID, Name string }
	}
	e.r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/connections/"+hubspot, nil, &c)
	if c.Status != "broken" || len(c.UsedBy) != 1 || c.UsedBy[0].ID != f.ID || c.UsedBy[0].Name != "Read the contact" {
		t.Fatalf("the Connection = %+v, want broken, used by the Flow %s", c, f.ID)
	}
}
