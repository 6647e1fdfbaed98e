package connect_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/oauth"
	"wiresk/internal/testkit/oauthtest"
)

// pointAt reloads the env's catalog with app's OAuth endpoints and its test
// request pointed at the env's OAuth server.
func (e *env) pointAt(app *catalog.App) {
	e.t.Helper()
	ov := catalog.Override{AuthorizeURL: e.idp.URL + "/authorize", TokenURL: e.idp.URL + "/token", TestURL: e.idp.URL + "/me"}
	if app.OAuth.Revoke != nil {
		ov.RevokeURL = e.idp.URL + "/revoke"
	}
	e.catalog = loadCatalog(e.t, map[string]catalog.Override{
		"idp":    e.idp.Override(),
		"openai": {BaseURL: e.openai.URL()},
		app.ID:   ov,
	})
	cfg := e.svc.Config
	cfg.Catalog = e.catalog
	e.svc = newServices(cfg)
}

// TestCatalogAppsPKCE runs the authorization of every OAuth app of the
// catalog against the go-oauth2 server, which forces PKCE S256: an app
// declared pkce: S256 sends an S256 challenge of the state's verifier and
// exchanges the code with that verifier, and the Connection becomes active;
// an app declared without PKCE sends no challenge.
func TestCatalogAppsPKCE(t *testing.T) {
	for _, app := range catalog.MustLoad().Apps() {
		if app.OAuth == nil {
			continue
		}
		t.Run(app.ID, func(t *testing.T) {
			e := newEnvOpts(t, oauthtest.Options{TokenAuth: app.OAuth.TokenAuth})
			e.pointAt(app)
			ctx := t.Context()
			v, err := e.svc.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: app.Name, App: app.ID,
				AuthType: string(catalog.AuthOAuth2Advanced), ClientID: oauthtest.ClientID, ClientSecret: oauthtest.ClientSecret})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			providerURL := e.start(v.AuthorizeURL)
			au, err := url.Parse(providerURL)
			if err != nil {
				t.Fatal(err)
			}
			aq := au.Query()
			if app.OAuth.PKCE != "S256" {
				if aq.Has("code_challenge") || aq.Has("code_challenge_method") {
					t.Errorf("authorization URL %s has a PKCE challenge; %s declares none", providerURL, app.ID)
				}
				return
			}
			verifier := oauth.Verifier(stateKey, aq.Get("state"))
			sum := sha256.Sum256([]byte(verifier))
			if got, want := aq.Get("code_challenge"), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
				t.Errorf("code_challenge = %q, want %q (S256 of the state's verifier)", got, want)
			}
			if got, want := aq.Get("code_challenge_method"), "S256"; got != want {
				t.Errorf("code_challenge_method = %q, want %q", got, want)
			}
			res := e.svc.Callback(ctx, e.authorizeAt(providerURL), e.cookies())
			if !res.OK {
				t.Fatalf("Callback = %+v, want OK", res)
			}
			if got, want := e.idp.Verified.Load(), e.idp.Exchanges.Load(); got != want || got != 1 {
				t.Errorf("%d of %d code exchanges sent a code_verifier, want 1 of 1", got, want)
			}
			if creds, _ := e.creds(v.ID); creds.AccessToken == "" {
				t.Errorf("no access token stored for %s", app.ID)
			}
		})
	}
}
