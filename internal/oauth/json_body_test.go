package oauth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/oauth"
)

// jsonTokenYAML is a Notion-like app: the token endpoint takes a JSON body
// and HTTP Basic client authentication.
const jsonTokenYAML = `name: JSON token endpoint
description: An app whose token endpoint takes JSON, like Notion's.
auth: [oauth2]
oauth:
  authorize_url: https://idp.example.test/authorize
  token_url: https://idp.example.test/token
  scopes:
    default: []
  pkce: S256
  token_auth: basic
  token_body: json
  refresh_tokens: rotating
credential:
  type: bearer
test:
  method: GET
  url: https://api.idp.example.test/me
  identity: [Test account]
`

// TestJSONTokenBody: go-oauth2 reads only form bodies, so a small httptest
// token endpoint stands in for Notion's, which takes JSON.
func TestJSONTokenBody(t *testing.T) {
	var calls atomic.Int64
	var verifierSeen atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		user, pass, ok := r.BasicAuth()
		if r.Header.Get("Content-Type") != "application/json" || !ok || user != testClientID || pass != url.QueryEscape(testClientSecret) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request","error_description":"not JSON"}`)
			return
		}
		switch body["grant_type"] {
		case "authorization_code":
			if body["code"] != "the-code" || body["redirect_uri"] != "https://wiresk.example/v1/oauth/callback" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"invalid_grant"}`)
				return
			}
			verifierSeen.Store(body["code_verifier"])
			fmt.Fprint(w, `{"access_token":"at-1","token_type":"bearer","refresh_token":"rt-1","expires_in":3600}`)
		case "refresh_token":
			if body["refresh_token"] != "rt-1" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"invalid_grant"}`)
				return
			}
			fmt.Fprint(w, `{"access_token":"at-2","token_type":"bearer","refresh_token":"rt-2","expires_in":3600}`)
		}
	}))
	defer ts.Close()
	c, err := appfile.LoadFS(fstest.MapFS{"notionish.yaml": {Data: []byte(jsonTokenYAML)}},
		catalog.WithOverrides(map[string]catalog.Override{"notionish": {TokenURL: ts.URL + "/token"}}))
	if err != nil {
		t.Fatal(err)
	}
	a := app(t, c, "notionish")
	clock := &testClock{}
	f := newFlow(t, clock)
	req := oauth.Request{App: a, Client: oauth.Client{ID: testClientID, Secret: testClientSecret}, RedirectURI: "https://wiresk.example/v1/oauth/callback"}
	state := oauth.NewState()
	tok, err := f.Exchange(t.Context(), req, "the-code", state)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if got, want := tok.AccessToken, "at-1"; got != want {
		t.Errorf("AccessToken = %q, want %q", got, want)
	}
	if got, want := verifierSeen.Load(), oauth.Verifier(stateKey, state); got != want {
		t.Errorf("code_verifier = %v, want the one derived from the state", got)
	}

	v, db := newVault(t)
	store := oauth.NewVaultStore(v)
	if err := store.PutToken(t.Context(), "n1", tok); err != nil {
		t.Fatal(err)
	}
	src, err := oauth.NewSource(oauth.SourceConfig{App: a, Client: req.Client, Store: store, Name: "n1",
		Leaser: &boltLeaser{db: db.Bolt()}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	var got *oauth2.Token
	if got, err = src.Token(t.Context()); err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got.AccessToken != "at-2" {
		t.Errorf("AccessToken = %q, want the refreshed at-2", got.AccessToken)
	}
	if got, want := calls.Load(), int64(2); got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
}
