package connect_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/connect"
	"wiresk/internal/connection"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// TestAPIKeyConnectionLifecycle drives an OpenAI (api_key) Connection
// against the OpenAI fake: a refused key stores nothing, a good one is
// active with its account; Test, Update, a key that stops working, repair
// by Update, Disconnect, Delete.
func TestAPIKeyConnectionLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	before := e.bucketCounts()

	// A refused key: 400 on apiKey, and nothing stored anywhere.
	bad := "sk-proj-WRONG0123456789abcdefghijklmnopqrstuvwxyz"
	e.remember(bad)
	_, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", AuthType: "api_key", APIKey: bad})
	wantCode(t, err, wiresk.EValidation, "apiKey")
	if !strings.Contains(wiresk.ErrorMessage(err), "refused") {
		t.Errorf("message = %q, want it to say the key was refused", wiresk.ErrorMessage(err))
	}
	// Rate limited while checking: unavailable, nothing stored either.
	e.openai.Throttle(-1, "0")
	_, err = e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	wantCode(t, err, wiresk.EUnavailable, "")
	e.openai.Throttle(0, "")
	if got := e.bucketCounts(); !maps.Equal(got, before) {
		t.Fatalf("after refused creations, bucket sizes = %v, want %v (nothing stored)", got, before)
	}

	// Validation before any call.
	for name, in := range map[string]connect.CreateInput{
		"no name":            {App: "openai", APIKey: e.openai.Token},
		"unknown app":        {Name: "x", App: "nope", APIKey: e.openai.Token},
		"auth not offered":   {Name: "x", App: "openai", AuthType: "oauth2"},
		"no key":             {Name: "x", App: "openai", AuthType: "api_key"},
		"password with key":  {Name: "x", App: "openai", APIKey: e.openai.Token, Password: "p4ssword"},
		"unknown config":     {Name: "x", App: "openai", APIKey: e.openai.Token, Config: map[string]string{"region": "eu"}},
		"scopes for api key": {Name: "x", App: "openai", APIKey: e.openai.Token, Scopes: []string{"read"}},
	} {
		_, err := e.svc.Create(ctx, e.owner, e.groupID, in)
		if got, want := wiresk.ErrorCode(err), wiresk.EValidation; got != want {
			t.Errorf("%s: Create error code = %q, want %q (%v)", name, got, want, err)
		}
	}
	// Not a member: the Group is not found.
	_, err = e.svc.Create(ctx, e.stranger, e.groupID, connect.CreateInput{Name: "x", App: "openai", APIKey: e.openai.Token})
	wantCode(t, err, wiresk.ENotFound, "")

	// A good key: active, with the account and the test recorded.
	v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: " " + e.openai.Token + "\n",
		Config: map[string]string{"organization": "org-42"}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	id := v.ID
	if got, want := v.Status, connection.StatusActive; got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
	if got, want := v.Account, e.openai.Account; got != want {
		t.Errorf("Account = %q, want %q", got, want)
	}
	if v.LastTest == nil || !v.LastTest.OK {
		t.Errorf("LastTest = %+v, want a successful test", v.LastTest)
	}
	if v.AuthorizeURL != "" {
		t.Errorf("AuthorizeURL = %q, want none for an API key", v.AuthorizeURL)
	}
	if got, want := e.openai.LastRequest().Header.Get("OpenAI-Organization"), "org-42"; got != want {
		t.Errorf("test request OpenAI-Organization = %q, want %q (the config)", got, want)
	}
	creds, ok := e.creds(id)
	if !ok || creds.APIKey != e.openai.Token {
		t.Fatalf("vault holds %v (found %v), want the API key, trimmed", creds, ok)
	}
	if got, want := e.events(id), []connection.Event{connection.EventCreated}; !slices.Equal(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}

	// List and Get: no secret, UsedBy empty.
	list, err := e.svc.List(ctx, e.owner, e.groupID)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("List = %v, %v; want the connection", list, err)
	}
	d, err := e.svc.Get(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d.UsedBy == nil || len(d.UsedBy) != 0 {
		t.Errorf("UsedBy = %#v, want an empty list", d.UsedBy)
	}
	if _, err := e.svc.Get(ctx, e.stranger, e.otherGroupID, id); wiresk.ErrorCode(err) != wiresk.ENotFound {
		t.Errorf("Get from another Group = %v, want not_found", err)
	}

	// Test.
	n := e.openai.Requests()
	tv, err := e.svc.Test(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if got, want := e.openai.Requests(), n+1; got != want {
		t.Errorf("fake requests = %d, want %d", got, want)
	}
	if tv.Status != connection.StatusActive || tv.LastTest == nil || !tv.LastTest.OK {
		t.Errorf("Test view = %s/%+v, want active and OK", tv.Status, tv.LastTest)
	}

	// Credential for the workers.
	cred, err := e.svc.Credential(ctx, e.groupID, id)
	if err != nil {
		t.Fatalf("Credential: %v", err)
	}
	if cred.Kind != appcall.CredentialAPIKey || cred.Token != e.openai.Token {
		t.Errorf("Credential = %v, want the API key", cred)
	}

	// Update: a key without quota is refused (not a credential refusal)
	// and changes nothing; a rename with the good key passes.
	noQuota := e.openai.Tokens["quota_exhausted"]
	name := "OpenAI prod"
	_, err = e.svc.Update(ctx, e.owner, e.groupID, id, connect.UpdateInput{Name: &name, APIKey: &noQuota})
	wantCode(t, err, wiresk.EValidation, "")
	if c := e.conn(id); c.Name != "OpenAI" || c.Version != v.Version+1 {
		t.Errorf("after a refused Update: name %q version %d, want unchanged", c.Name, c.Version)
	}
	if creds, _ := e.creds(id); creds.APIKey != e.openai.Token {
		t.Errorf("after a refused Update the vault key changed")
	}
	key := e.openai.Token
	uv, err := e.svc.Update(ctx, e.owner, e.groupID, id, connect.UpdateInput{Name: &name, APIKey: &key})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if uv.Name != name || uv.Status != connection.StatusActive {
		t.Errorf("Update view = %q %s, want %q active", uv.Name, uv.Status, name)
	}
	if _, err := e.svc.Update(ctx, e.owner, e.groupID, id, connect.UpdateInput{Username: &name}); wiresk.ErrorCode(err) != wiresk.EValidation {
		t.Errorf("Update of a user name of an api_key connection = %v, want validation_failed", err)
	}

	// The key stops working (revoked at OpenAI): Test marks it broken, and
	// Credential refuses it, naming it.
	f := e.addFlow("Summarize leads", id)
	if err := e.vault.Put(ctx, connection.SecretName(id), mustEncode(t, connection.Credentials{APIKey: bad})); err != nil {
		t.Fatal(err)
	}
	bv, err := e.svc.Test(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if bv.Status != connection.StatusBroken || bv.BrokenAt == nil || bv.StatusReason == "" {
		t.Fatalf("after a refused Test: %s at %v (%q), want broken with a reason", bv.Status, bv.BrokenAt, bv.StatusReason)
	}
	if ev := e.audit(id); ev[len(ev)-1].Event != connection.EventBroken || !strings.Contains(ev[len(ev)-1].Detail, f.Name) {
		t.Errorf("last audit event = %+v, want broken naming the Flow %q", ev[len(ev)-1], f.Name)
	}
	_, err = e.svc.Credential(ctx, e.groupID, id)
	var ue *connect.UnusableError
	if !errors.As(err, &ue) || !errors.Is(err, connect.ErrUnusable) || wiresk.ErrorCode(err) != wiresk.EConflict {
		t.Fatalf("Credential of a broken connection = %v, want an *UnusableError with code conflict", err)
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "Reconnect") {
		t.Errorf("Credential error %q, want it to name the connection and say to reconnect it", err)
	}
	// Reconnect is for OAuth: it says to Update with a new key.
	_, err = e.svc.Reconnect(ctx, e.owner, e.groupID, id)
	wantCode(t, err, wiresk.EValidation, "authType")
	if !strings.Contains(wiresk.ErrorMessage(err), "new API key") {
		t.Errorf("Reconnect message = %q, want it to point at Update with a new API key", wiresk.ErrorMessage(err))
	}
	// Update with the good key repairs it.
	rv, err := e.svc.Update(ctx, e.owner, e.groupID, id, connect.UpdateInput{APIKey: &key})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if rv.Status != connection.StatusActive || rv.BrokenAt != nil || rv.StatusReason != "" {
		t.Errorf("after Update with a good key: %s %v %q, want active, no broken time or reason", rv.Status, rv.BrokenAt, rv.StatusReason)
	}

	// Delete while a Flow uses it: 409 naming the Flow.
	err = e.svc.Delete(ctx, e.owner, e.groupID, id)
	wantCode(t, err, wiresk.EConflict, "")
	if !strings.Contains(wiresk.ErrorMessage(err), `"`+f.Name+`"`) {
		t.Errorf("Delete refusal %q, want it to name the Flow %q", wiresk.ErrorMessage(err), f.Name)
	}

	// Disconnect: the secret is deleted, the status says so.
	dv, err := e.svc.Disconnect(ctx, e.owner, e.groupID, id)
	if err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if dv.Status != connection.StatusDisconnected {
		t.Errorf("Status = %q, want disconnected", dv.Status)
	}
	if _, ok := e.creds(id); ok {
		t.Errorf("the vault still holds the credentials of a disconnected connection")
	}
	if _, err := e.svc.Credential(ctx, e.groupID, id); !errors.As(err, &ue) || ue.Status != connection.StatusDisconnected {
		t.Errorf("Credential of a disconnected connection = %v, want an *UnusableError", err)
	}
	if _, err := e.svc.Test(ctx, e.owner, e.groupID, id); wiresk.ErrorCode(err) != wiresk.EConflict {
		t.Errorf("Test of a disconnected connection = %v, want conflict", err)
	}

	// Delete after the Flow is gone: the record and the secret go, the
	// audit trail stays.
	if err := e.store.DeleteFlow(ctx, e.groupID, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, e.owner, e.groupID, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := e.svc.Get(ctx, e.owner, e.groupID, id); wiresk.ErrorCode(err) != wiresk.ENotFound {
		t.Errorf("Get after Delete = %v, want not_found", err)
	}
	want := []connection.Event{connection.EventCreated, connection.EventTested, connection.EventEdited,
		connection.EventBroken, connection.EventEdited, connection.EventDisconnected, connection.EventDeleted}
	if got := e.events(id); !slices.Equal(got, want) {
		t.Errorf("audit trail = %v, want %v", got, want)
	}
	scanFor(t, "the logs", []string{e.logs.String()}, e.secrets())
}

// TestBasicAndNoneConnections drives the generic HTTP app: basic auth with
// a wrong and a right password, and auth none with a test URL.
func TestBasicAndNoneConnections(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cfg := map[string]string{"test_url": e.http.Config["test_url"]}

	_, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "API", App: "http", AuthType: "basic",
		Config: cfg, Username: e.http.Username, Password: "wrong password"})
	wantCode(t, err, wiresk.EValidation, "password")

	v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "API", App: "http", AuthType: "basic",
		Config: cfg, Username: e.http.Username, Password: e.http.Password})
	if err != nil {
		t.Fatalf("Create basic: %v", err)
	}
	if v.Status != connection.StatusActive || v.Account != e.http.Account {
		t.Errorf("basic connection = %s %q, want active %q", v.Status, v.Account, e.http.Account)
	}
	if got, want := v.Config["header_name"], "Authorization"; got != want {
		t.Errorf("config header_name = %q, want the default %q", got, want)
	}
	cred, err := e.svc.Credential(ctx, e.groupID, v.ID)
	if err != nil || cred.Kind != appcall.CredentialBasic || cred.Username != e.http.Username || cred.Password != e.http.Password {
		t.Errorf("Credential = %v, %v; want the user name and password", cred, err)
	}

	// No test URL: stored active, untested.
	nv, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "Public API", App: "http", AuthType: "none"})
	if err != nil {
		t.Fatalf("Create none: %v", err)
	}
	if nv.Status != connection.StatusActive || nv.LastTest == nil || nv.LastTest.OK {
		t.Errorf("untestable connection = %s %+v, want active with a not-OK LastTest saying why", nv.Status, nv.LastTest)
	}
	if cred, err := e.svc.Credential(ctx, e.groupID, nv.ID); err != nil || cred.Kind != appcall.CredentialNone {
		t.Errorf("Credential = %v, %v; want none", cred, err)
	}
	// A config pointing at an endpoint that wants a credential: the test
	// of the new config is refused on config.
	_, err = e.svc.Update(ctx, e.owner, e.groupID, nv.ID, connect.UpdateInput{Config: cfg})
	wantCode(t, err, wiresk.EValidation, "config")
	if _, err := e.svc.Reconnect(ctx, e.owner, e.groupID, nv.ID); wiresk.ErrorCode(err) != wiresk.EValidation {
		t.Errorf("Reconnect of a none connection = %v, want validation_failed", err)
	}
	if _, err := e.svc.Disconnect(ctx, e.owner, e.groupID, nv.ID); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
}

// mustEncode encodes credentials for the vault.
func mustEncode(t *testing.T, c connection.Credentials) []byte {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAConnectionAnAppTriggerPollsWithIsInUse: a Flow whose only use of a
// Connection is an app trigger names it in UsedBy, and Delete refuses.
func TestAConnectionAnAppTriggerPollsWithIsInUse(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	d, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	if err != nil {
		t.Fatal(err)
	}
	fl := e.addFlow("Polls", "")
	now := e.clock.Now().UTC()
	tr := trigger.Schedule{ID: "trg_poll", GroupID: e.groupID, FlowID: fl.ID, Expression: "rate(5 minutes)", Timezone: "UTC", Enabled: true,
		CreatedAt: now, EnabledAt: now, Poll: &trigger.Poll{App: "openai", Event: "new_thing", ConnectionID: d.ID}}
	if err := e.store.CreateSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Get(ctx, e.owner, e.groupID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.UsedBy) != 1 || got.UsedBy[0].ID != fl.ID || !slices.Equal(got.UsedBy[0].Triggers, []string{"trg_poll"}) || len(got.UsedBy[0].Steps) != 0 {
		t.Fatalf("UsedBy = %+v, want the Flow %s by its trigger trg_poll", got.UsedBy, fl.ID)
	}
	err = e.svc.Delete(ctx, e.owner, e.groupID, d.ID)
	wantCode(t, err, wiresk.EConflict, "")
	if !strings.Contains(wiresk.ErrorMessage(err), fl.Name) {
		t.Errorf("Delete refusal %q, want it to name %q", wiresk.ErrorMessage(err), fl.Name)
	}
}
