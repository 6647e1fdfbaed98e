package connect_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/connect"
	"wiresk/internal/wiresk"
)

// TestCredentials: the workers' credentials come without a Group check
// (the worker has no caller; the Flow's Group is the check), only for an
// active Connection, and only for the app's host.
func TestCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.svc.Config
	cfg.Authz = nil // as the worker wires it
	creds := connect.New(cfg).Credentials

	cred, err := creds.Credential(ctx, e.groupID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cred.Kind, appcall.CredentialAPIKey; got != want || cred.Token != e.openai.Token {
		t.Errorf("Credential kind %q (token matches: %v), want %q with the stored key", got, cred.Token == e.openai.Token, want)
	}

	conn, secrets, err := creds.Bind(ctx, e.groupID, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := conn.App, "openai"; got != want || conn.Credential.Token != e.openai.Token {
		t.Errorf("bound app %q (token matches: %v), want %q with the stored key", got, conn.Credential.Token == e.openai.Token, want)
	}
	if s := fmt.Sprint(conn) + fmt.Sprintf("%#v", conn); strings.Contains(s, e.openai.Token) {
		t.Errorf("printing the bound Connection shows the key: %s", s)
	}
	authn := conn.Authenticate
	if !slices.Contains(secrets, e.openai.Token) {
		t.Errorf("secrets to redact: %d, want the key among them", len(secrets))
	}
	h := http.Header{}
	u, _ := url.Parse(e.openai.URL() + "/v1/models")
	if err := authn(h, u); err != nil || !strings.Contains(strings.Join(h.Values("Authorization"), " "), e.openai.Token) {
		t.Errorf("on the app's host: err %v, Authorization set: %v; want the key sent", err, h.Get("Authorization") != "")
	}
	h = http.Header{}
	other, _ := url.Parse("https://elsewhere.example/v1/models")
	if err := authn(h, other); err == nil || len(h) != 0 {
		t.Errorf("on another host: err %v, headers %d; want refused with nothing set", err, len(h))
	}

	_, err = creds.Credential(ctx, e.groupID, "con_missing")
	wantCode(t, err, wiresk.ENotFound, "")
	_, err = creds.Credential(ctx, e.otherGroupID, v.ID)
	wantCode(t, err, wiresk.ENotFound, "")

	if _, err := e.svc.Disconnect(ctx, e.owner, e.groupID, v.ID); err != nil {
		t.Fatal(err)
	}
	_, err = creds.Credential(ctx, e.groupID, v.ID)
	if !errors.Is(err, connect.ErrUnusable) || wiresk.ErrorCode(err) != wiresk.EConflict {
		t.Errorf("Credential of a disconnected Connection = %v (code %q), want ErrUnusable, code conflict", err, wiresk.ErrorCode(err))
	}
}
