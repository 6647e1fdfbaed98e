package appcall_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/testkit/apptest"
)

// The tests below check behaviour particular to one app, as its fake
// plays it from the app's documentation.

func TestSlackFailuresInsideHTTP200(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "slack")
	for _, tc := range []struct {
		name, token, code string
	}{
		{"bad token", "xoxb-not-a-real-token-000000", "invalid_auth"},
		{"expired token", f.Tokens[apptest.Expired], "token_expired"},
		{"revoked token", f.Tokens[apptest.Revoked], "token_revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Test(context.Background(), app, nil, credential(app, tc.token))
			if !errors.Is(err, appcall.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if got, want := res.Status, http.StatusOK; got != want {
				t.Errorf("Status = %d, want %d (Slack answers failures with 200)", got, want)
			}
			if !strings.Contains(res.Message, tc.code) {
				t.Errorf("Message = %q, want it to name Slack's error %q", res.Message, tc.code)
			}
			if got, want := res.Attempts, 1; got != want {
				t.Errorf("Attempts = %d, want %d", got, want)
			}
			checkNoSecret(t, res, err, tc.token)
		})
	}
}

func TestSlackSendsTheTokenAsBearer(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "slack")
	if _, err := loopbackClient(t).Test(context.Background(), app, nil, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	r := f.LastRequest()
	if got, want := r.Method+" "+r.Path, "POST /api/auth.test"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Error("the Authorization header is not the bearer token")
	}
}

func TestZohoSendsItsOwnAuthorizationScheme(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "zoho_crm")
	if _, err := loopbackClient(t).Test(context.Background(), app, f.Config, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	r := f.LastRequest()
	if got, want := r.Header.Get("Authorization"), "Zoho-oauthtoken "+f.Token; got != want {
		t.Error(`the Authorization header is not "Zoho-oauthtoken <token>"`)
	}
	if got, want := r.Query.Get("type"), "CurrentUser"; got != want {
		t.Errorf("type = %q, want %q", got, want)
	}
}

func TestMailchimpKeyInBodyAndInvalidKeyAs500(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "mailchimp_transactional")

	if _, err := c.Test(context.Background(), app, nil, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	r := f.LastRequest()
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("the request body is not JSON: %v", err)
	}
	if got, want := body["key"], any(f.Token); got != want {
		t.Error(`the request body's "key" is not the API key`)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Error("an Authorization header was sent; the key belongs in the body only")
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}

	bad := "md-not-a-real-key-000000"
	res, err := c.Test(context.Background(), app, nil, credential(app, bad))
	if !errors.Is(err, appcall.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if got, want := res.Status, http.StatusInternalServerError; got != want {
		t.Errorf("Status = %d, want %d", got, want)
	}
	if got, want := res.Attempts, 1; got != want {
		t.Errorf("Attempts = %d, want %d (a 500 Invalid_Key is no server error to retry)", got, want)
	}
	if !strings.Contains(res.Message, "Invalid_Key") {
		t.Errorf("Message = %q, want it to name Invalid_Key", res.Message)
	}
	checkNoSecret(t, res, err, bad, f.Token)
}

func TestNotionVersionHeaderAndWorkspaceOwnedBot(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "notion")

	res, err := c.Test(context.Background(), app, nil, credential(app, f.Tokens[apptest.Internal]))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Account, "Ada's Workspace"; got != want {
		t.Errorf("Account of an internal integration = %q, want %q", got, want)
	}
	if got, want := f.LastRequest().Header.Get("Notion-Version"), app.Headers["Notion-Version"]; got != want || got == "" {
		t.Errorf("Notion-Version = %q, want %q", got, want)
	}

	req, err := app.BuildTest(nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Del("Notion-Version")
	resp, err := c.Do(context.Background(), app, nil, credential(app, f.Token), req)
	if !errors.Is(err, appcall.ErrPermanent) {
		t.Fatalf("Do without Notion-Version: err = %v, want ErrPermanent", err)
	}
	if got, want := resp.Status, http.StatusBadRequest; got != want {
		t.Errorf("Status = %d, want %d", got, want)
	}
	if !strings.Contains(err.Error(), "missing_version") {
		t.Errorf("err = %q, want it to name missing_version", err)
	}
	if got, want := resp.Attempts, 1; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
}

func TestAirtableIdentityWithoutEmailScope(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "airtable")
	res, err := loopbackClient(t).Test(context.Background(), app, nil, credential(app, f.Tokens[apptest.Internal]))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Account, "usrL2PNC5o3H4lBEi"; got != want {
		t.Errorf("Account without user.email:read = %q, want the user id %q", got, want)
	}
}

func TestGoogleForbiddenAnswers(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	for _, id := range []string{"gmail", "google_drive"} {
		app, f := e.app(t, id)
		// Gmail tests with the userinfo endpoint, whose answer to a token
		// without userinfo.email is not documented: its fake has no
		// NoScope token.
		if token, ok := f.Tokens[apptest.NoScope]; ok {
			t.Run(id+" without scope", func(t *testing.T) {
				res, err := c.Test(context.Background(), app, nil, credential(app, token))
				if !errors.Is(err, appcall.ErrUnauthorized) {
					t.Fatalf("err = %v, want ErrUnauthorized", err)
				}
				if got, want := res.Status, http.StatusForbidden; got != want {
					t.Errorf("Status = %d, want %d", got, want)
				}
				checkNoSecret(t, res, err, token)
			})
		}
		t.Run(id+" user rate limit as 403", func(t *testing.T) {
			token := f.Tokens[apptest.RateLimitedForbidden]
			before := f.Requests()
			res, err := c.Test(context.Background(), app, nil, credential(app, token))
			if !errors.Is(err, appcall.ErrRateLimited) {
				t.Fatalf("err = %v, want ErrRateLimited (the catalog's rule on userRateLimitExceeded)", err)
			}
			if got, want := res.Attempts, c.MaxAttempts; got != want {
				t.Errorf("Attempts = %d, want %d", got, want)
			}
			if got, want := f.Requests()-before, c.MaxAttempts; got != want {
				t.Errorf("fake requests = %d, want %d", got, want)
			}
		})
	}
}

func TestDriveAboutNeedsFields(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "google_drive")
	req, err := app.BuildTest(nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = strings.TrimSuffix(req.URL, "?fields=user")
	resp, err := loopbackClient(t).Do(context.Background(), app, nil, credential(app, f.Token), req)
	if !errors.Is(err, appcall.ErrPermanent) {
		t.Fatalf("Do without fields: err = %v, want ErrPermanent", err)
	}
	if got, want := resp.Status, http.StatusBadRequest; got != want {
		t.Errorf("Status = %d, want %d", got, want)
	}
	if !strings.Contains(err.Error(), "fields") {
		t.Errorf("err = %q, want it to quote Google's explanation about fields", err)
	}
}

func TestOpenAIQuotaAndConfigHeaders(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "openai")

	config := map[string]string{"organization": "org-abc123", "project": "proj_def456"}
	if _, err := c.Test(context.Background(), app, config, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	h := f.LastRequest().Header
	if got, want := h.Get("OpenAI-Organization"), "org-abc123"; got != want {
		t.Errorf("OpenAI-Organization = %q, want %q", got, want)
	}
	if got, want := h.Get("OpenAI-Project"), "proj_def456"; got != want {
		t.Errorf("OpenAI-Project = %q, want %q", got, want)
	}

	token := f.Tokens[apptest.QuotaExhausted]
	res, err := c.Test(context.Background(), app, nil, credential(app, token))
	if !errors.Is(err, appcall.ErrPermanent) {
		t.Fatalf("err = %v, want ErrPermanent (insufficient_quota is no rate limit)", err)
	}
	if got, want := res.Attempts, 1; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
	if !strings.Contains(res.Message, "insufficient_quota") {
		t.Errorf("Message = %q, want it to name insufficient_quota", res.Message)
	}

	bad := "sk-proj-bad0123456789abcdefghijklmnopqrstuvwxyzWXYZ"
	res, err = c.Test(context.Background(), app, nil, credential(app, bad))
	if !errors.Is(err, appcall.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(res.Message, "WXYZ") || strings.Contains(res.Message, "Incorrect API key") {
		t.Errorf("Message = %q quotes OpenAI's explanation, which repeats part of the key", res.Message)
	}
	if !strings.Contains(res.Message, "invalid_api_key") {
		t.Errorf("Message = %q, want it to name invalid_api_key", res.Message)
	}
}

func TestHubSpotExpiredToken(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "hubspot")
	token := f.Tokens[apptest.Expired]
	res, err := loopbackClient(t).Test(context.Background(), app, nil, credential(app, token))
	if !errors.Is(err, appcall.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(res.Message, "EXPIRED_AUTHENTICATION") {
		t.Errorf("Message = %q, want it to name EXPIRED_AUTHENTICATION", res.Message)
	}
}

func TestHTTPAppTestURL(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "http")

	t.Run("without test_url", func(t *testing.T) {
		before := f.Requests()
		res, err := c.Test(context.Background(), app, map[string]string{"header_name": "X-API-Key"}, credential(app, f.Token))
		if !errors.Is(err, catalog.ErrNoTest) {
			t.Fatalf("err = %v, want catalog.ErrNoTest", err)
		}
		if res.OK || res.Attempts != 0 {
			t.Errorf("Result = %+v, want not OK and no attempt", res)
		}
		if got, want := f.Requests()-before, 0; got != want {
			t.Errorf("fake requests = %d, want %d", got, want)
		}
		if res.Message == "" {
			t.Error("Message is empty")
		}
	})
	t.Run("custom header without prefix", func(t *testing.T) {
		res, err := c.Test(context.Background(), app, f.Config, credential(app, f.Token))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Account, "Test URL answered"; got != want {
			t.Errorf("Account = %q, want %q", got, want)
		}
		r := f.LastRequest()
		if got, want := r.Header.Get("X-API-Key"), f.Token; got != want {
			t.Error("X-API-Key is not the bare key")
		}
		if got := r.Header.Get("Authorization"); got != "" {
			t.Error("an Authorization header was sent along with X-API-Key")
		}
	})
	t.Run("default Authorization Bearer refused by the API", func(t *testing.T) {
		config := map[string]string{"test_url": f.Config["test_url"]}
		res, err := c.Test(context.Background(), app, config, credential(app, f.Token))
		if !errors.Is(err, appcall.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if got, want := f.LastRequest().Header.Get("Authorization"), "Bearer "+f.Token; got != want {
			t.Error(`the default header is not "Authorization: Bearer <key>"`)
		}
		checkNoSecret(t, res, err, f.Token)
	})
	t.Run("basic", func(t *testing.T) {
		cred := appcall.Credential{Kind: appcall.CredentialBasic, Username: f.Username, Password: f.Password}
		res, err := c.Test(context.Background(), app, map[string]string{"test_url": f.Config["test_url"]}, cred)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			t.Errorf("OK = false, want true")
		}
		bad := appcall.Credential{Kind: appcall.CredentialBasic, Username: f.Username, Password: "wrong password!"}
		res, err = c.Test(context.Background(), app, map[string]string{"test_url": f.Config["test_url"]}, bad)
		if !errors.Is(err, appcall.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		checkNoSecret(t, res, err, f.Password, bad.Password)
	})
	t.Run("no content", func(t *testing.T) {
		config := map[string]string{"test_url": f.URL() + apptest.HTTPNoContentPath, "header_name": "X-API-Key", "header_prefix": ""}
		res, err := c.Test(context.Background(), app, config, credential(app, f.Token))
		if err != nil {
			t.Fatalf("Test of a URL answering 204: %v", err)
		}
		if got, want := res.Status, http.StatusNoContent; got != want {
			t.Errorf("Status = %d, want %d", got, want)
		}
	})
	t.Run("none", func(t *testing.T) {
		res, err := c.Test(context.Background(), app, f.Config, appcall.Credential{Kind: appcall.CredentialNone})
		if !errors.Is(err, appcall.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized (the API needs a key)", err)
		}
		if got := f.LastRequest().Header.Get("X-API-Key"); got != "" {
			t.Error("a key was sent with a none credential")
		}
		_ = res
	})
}

func TestCredentialKindMustSuitTheApp(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	for _, tc := range []struct {
		app  string
		cred appcall.Credential
	}{
		{"gmail", appcall.Credential{Kind: appcall.CredentialBasic, Username: "ada", Password: "secret-password"}},
		{"gmail", appcall.Credential{Kind: appcall.CredentialNone}},
		{"gmail", appcall.Credential{Kind: appcall.CredentialBearer}},
		{"slack", appcall.Credential{Kind: "cookie", Token: "xoxc-secret-token"}},
		{"openai", appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "sk-line\r\nX-Injected: 1"}},
	} {
		t.Run(tc.app+" "+string(tc.cred.Kind), func(t *testing.T) {
			app, f := e.app(t, tc.app)
			before := f.Requests()
			res, err := c.Test(context.Background(), app, nil, tc.cred)
			if !errors.Is(err, appcall.ErrPermanent) {
				t.Fatalf("err = %v, want ErrPermanent", err)
			}
			if got, want := f.Requests()-before, 0; got != want {
				t.Errorf("fake requests = %d, want %d", got, want)
			}
			checkNoSecret(t, res, err, tc.cred.Token, tc.cred.Password)
		})
	}
}

func TestDoSendsMethodRequests(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "slack")
	req, err := app.BuildRequest("post_message", nil, map[string]any{"channel": "#sales", "text": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := loopbackClient(t).Do(context.Background(), app, nil, credential(app, f.Token), req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Status, http.StatusOK; got != want {
		t.Errorf("Status = %d, want %d", got, want)
	}
	r := f.LastRequest()
	if got, want := r.Method+" "+r.Path, "POST /api/chat.postMessage"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil || body["channel"] != "#sales" {
		t.Errorf("body = %s, want the rendered JSON", r.Body)
	}
}
