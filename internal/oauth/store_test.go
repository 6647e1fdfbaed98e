package oauth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

func TestVaultStoreRoundTripKeepsOtherFields(t *testing.T) {
	v, _ := newVault(t)
	s := oauth.NewVaultStore(v)
	const name = "wiresk/connections/g1/c9"
	if err := v.Put(t.Context(), name, []byte(`{"client_id":"cid","client_secret":"csec","scope":"old"}`)); err != nil {
		t.Fatal(err)
	}
	want := &oauth.Token{AccessToken: "at-1", TokenType: "Bearer", RefreshToken: "rt-1",
		Expiry: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	if err := s.PutToken(t.Context(), name, want); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	got, err := s.GetToken(t.Context(), name)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if *got != *want {
		t.Errorf("GetToken = %#v, want %#v", *got, *want)
	}
	raw, _ := v.Get(t.Context(), name)
	var blob map[string]any
	if err := json.Unmarshal(raw, &blob); err != nil {
		t.Fatal(err)
	}
	if blob["client_id"] != "cid" || blob["client_secret"] != "csec" {
		t.Errorf("credential = %s, want client_id and client_secret kept", raw)
	}
	if _, ok := blob["scope"]; ok {
		t.Errorf("credential = %s, want the old scope removed (the token has none)", raw)
	}
	if got, want := blob["expiry"], "2026-11-23T10:00:00Z"; got != want {
		t.Errorf("expiry = %v, want %v", got, want)
	}
}

func TestVaultStoreErrors(t *testing.T) {
	v, _ := newVault(t)
	s := oauth.NewVaultStore(v)
	if _, err := s.GetToken(t.Context(), "missing"); !errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("GetToken(missing) = %v, want wiresk.ErrNotFound", err)
	}
	const secret = "sk_live_not_json_secret_value"
	if err := v.Put(t.Context(), "corrupt", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetToken(t.Context(), "corrupt")
	if err == nil {
		t.Errorf("GetToken(corrupt) = nil error, want one")
	}
	assertNoSecrets(t, err, secret)
	err = s.PutToken(t.Context(), "corrupt", &oauth.Token{AccessToken: "at"})
	if err == nil {
		t.Errorf("PutToken over a non-JSON credential = nil error, want a refusal")
	}
	assertNoSecrets(t, err, secret)
	if raw, _ := v.Get(t.Context(), "corrupt"); string(raw) != secret {
		t.Errorf("the non-JSON credential was overwritten")
	}
}

func TestPrintingNeverShowsSecrets(t *testing.T) {
	tok := oauth.Token{AccessToken: "at-secret-value", RefreshToken: "rt-secret-value", TokenType: "Bearer", Expiry: time.Unix(1e9, 0)}
	client := oauth.Client{ID: "cid", Secret: "client-secret-value"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "token", tok, "ptr", &tok)
	for _, s := range []string{
		fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), fmt.Sprintf("%v %+v", &tok, &tok),
		fmt.Sprintf("%v %+v %#v", client, client, client), logged.String(),
	} {
		for _, secret := range []string{tok.AccessToken, tok.RefreshToken, client.Secret} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows a secret", s)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(client), "cid") {
		t.Errorf("Client prints as %q, want its id", fmt.Sprint(client))
	}
}
