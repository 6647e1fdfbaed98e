package oauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
	"wiresk/internal/oauth"
)

// revokeYAML is an app whose revoke spec is %[1]s.
const revokeYAML = `name: Revoke test
description: An app with a revocation endpoint.
auth: [oauth2]
oauth:
  authorize_url: https://idp.example.test/authorize
  token_url: https://idp.example.test/token
%[1]s
  scopes:
    default: [read]
  token_auth: body
  refresh_tokens: reusable
credential:
  type: bearer
test:
  method: GET
  url: https://api.idp.example.test/me
  identity: [Test account]
`

// revokeRecord is what the revocation endpoint received.
type revokeRecord struct {
	method, path, contentType, authorization, notionVersion string
	query                                                   url.Values
	body                                                    string
}

// revokeEndpoint is an httptest stand-in for providers' revocation
// endpoints, which go-oauth2 does not have: it records each request and
// answers status and body.
type revokeEndpoint struct {
	URL    string
	mu     sync.Mutex
	got    []revokeRecord
	status int
	answer string
}

func newRevokeEndpoint(t *testing.T) *revokeEndpoint {
	e := &revokeEndpoint{status: http.StatusOK, answer: `{"ok":true}`}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.got = append(e.got, revokeRecord{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			authorization: r.Header.Get("Authorization"), notionVersion: r.Header.Get("Notion-Version"),
			query: r.URL.Query(), body: string(body)})
		status, answer := e.status, e.answer
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	return e
}

func (e *revokeEndpoint) last(t *testing.T) revokeRecord {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 {
		t.Fatal("the revocation endpoint got no request")
	}
	return e.got[len(e.got)-1]
}

// revokeApp loads an app with the given revoke spec (YAML lines under
// oauth:), its revocation URL pointed at e.
func revokeApp(t *testing.T, e *revokeEndpoint, spec string) *catalog.App {
	t.Helper()
	fsys := fstest.MapFS{"rv.yaml": {Data: []byte(fmt.Sprintf(revokeYAML, spec))}}
	var opts []catalog.Option
	if strings.Contains(spec, "revoke:") {
		opts = append(opts, catalog.WithOverrides(map[string]catalog.Override{"rv": {RevokeURL: e.URL + "/revoke"}}))
	}
	c, err := appfile.LoadFS(fsys, opts...)
	if err != nil {
		t.Fatalf("load app: %v", err)
	}
	return app(t, c, "rv")
}

func TestRevokeFollowsTheCatalogSpec(t *testing.T) {
	tok := &oauth.Token{AccessToken: "access-tok-123456", RefreshToken: "refresh-tok-654321"}
	client := oauth.Client{ID: "client-1", Secret: "client+secret/1"}
	basic := func(id, secret string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r.Header.Get("Authorization")
	}
	for _, tc := range []struct {
		name  string
		spec  string
		check func(t *testing.T, r revokeRecord)
	}{
		{"google_form", `  revoke:
    url: https://idp.example.test/revoke
    token: refresh_token
    in: form`, func(t *testing.T, r revokeRecord) {
			if got, want := r.method, "POST"; got != want {
				t.Errorf("method = %s, want %s", got, want)
			}
			if got, want := r.contentType, "application/x-www-form-urlencoded"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := r.body, "token="+tok.RefreshToken; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if r.authorization != "" {
				t.Errorf("Authorization = %q, want none", r.authorization)
			}
		}},
		{"zoho_query", `  revoke:
    url: https://idp.example.test/revoke
    token: refresh_token
    in: query`, func(t *testing.T, r revokeRecord) {
			if got, want := r.query.Get("token"), tok.RefreshToken; got != want {
				t.Errorf("query token = %q, want %q", got, want)
			}
			if r.body != "" {
				t.Errorf("body = %q, want none", r.body)
			}
		}},
		{"hubspot_form_with_client_in_body", `  revoke:
    url: https://idp.example.test/revoke
    token: refresh_token
    in: form
    client_auth: body`, func(t *testing.T, r revokeRecord) {
			q, _ := url.ParseQuery(r.body)
			want := url.Values{"token": {tok.RefreshToken}, "client_id": {client.ID}, "client_secret": {client.Secret}}
			if got := q.Encode(); got != want.Encode() {
				t.Errorf("body = %q, want %q", got, want.Encode())
			}
		}},
		{"notion_json_basic", `  revoke:
    url: https://idp.example.test/revoke
    token: access_token
    in: json
    client_auth: basic
    headers:
      Notion-Version: "2022-06-28"`, func(t *testing.T, r revokeRecord) {
			var body map[string]string
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body) != 1 || body["token"] != tok.AccessToken {
				t.Errorf("body = %q, want {\"token\": the access token}", r.body)
			}
			if got, want := r.contentType, "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := r.authorization, basic(client.ID, client.Secret); got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if got, want := r.notionVersion, "2022-06-28"; got != want {
				t.Errorf("Notion-Version = %q, want %q", got, want)
			}
		}},
		{"slack_bearer", `  revoke:
    url: https://idp.example.test/revoke
    token: access_token
    in: bearer`, func(t *testing.T, r revokeRecord) {
			if got, want := r.authorization, "Bearer "+tok.AccessToken; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if r.body != "" || len(r.query) != 0 {
				t.Errorf("body %q, query %v; want neither", r.body, r.query)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRevokeEndpoint(t)
			f := newFlow(t, &testClock{})
			req := oauth.Request{App: revokeApp(t, e, tc.spec), Client: client}
			if err := f.Revoke(t.Context(), req, tok); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			r := e.last(t)
			if got, want := r.path, "/revoke"; got != want {
				t.Errorf("path = %s, want %s", got, want)
			}
			tc.check(t, r)
		})
	}
}

func TestRevokeAnswers(t *testing.T) {
	spec := `  revoke:
    url: https://idp.example.test/revoke
    token: refresh_token
    in: query
    client_auth: body`
	tok := &oauth.Token{AccessToken: "access-tok-123456", RefreshToken: "refresh-tok-654321"}
	client := oauth.Client{ID: "client-1", Secret: "client-secret-1"}
	f := newFlow(t, &testClock{})

	t.Run("already_invalid_is_revoked", func(t *testing.T) {
		e := newRevokeEndpoint(t)
		e.status, e.answer = http.StatusBadRequest, `{"error":"invalid_token","error_description":"Token expired or revoked"}`
		if err := f.Revoke(t.Context(), oauth.Request{App: revokeApp(t, e, spec), Client: client}, tok); err != nil {
			t.Errorf("Revoke = %v, want nil", err)
		}
	})
	t.Run("slack_ok_false", func(t *testing.T) {
		e := newRevokeEndpoint(t)
		e.answer = `{"ok":false,"error":"invalid_auth"}`
		err := f.Revoke(t.Context(), oauth.Request{App: revokeApp(t, e, spec), Client: client}, tok)
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Code != "invalid_auth" || oe.Op != "revoke" {
			t.Errorf("Revoke = %v, want a revoke *oauth.Error with code invalid_auth", err)
		}
	})
	t.Run("server_error_echoing_secrets", func(t *testing.T) {
		e := newRevokeEndpoint(t)
		e.status = http.StatusInternalServerError
		e.answer = fmt.Sprintf(`{"error":"server_error","error_description":"failed for %s with %s"}`, tok.RefreshToken, client.Secret)
		err := f.Revoke(t.Context(), oauth.Request{App: revokeApp(t, e, spec), Client: client}, tok)
		var oe *oauth.Error
		if !errors.As(err, &oe) || !oe.Temporary() || oe.Status != http.StatusInternalServerError {
			t.Fatalf("Revoke = %v, want a temporary *oauth.Error with status 500", err)
		}
		assertNoSecrets(t, err, tok.RefreshToken, tok.AccessToken, client.Secret)
	})
	t.Run("unreachable_with_the_token_in_the_query", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		c, err := appfile.LoadFS(fstest.MapFS{"rv.yaml": {Data: []byte(fmt.Sprintf(revokeYAML, spec))}},
			catalog.WithOverrides(map[string]catalog.Override{"rv": {RevokeURL: closed.URL + "/revoke"}}))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Revoke(t.Context(), oauth.Request{App: app(t, c, "rv"), Client: client}, tok)
		var oe *oauth.Error
		if !errors.As(err, &oe) || oe.Kind != oauth.KindUnavailable {
			t.Fatalf("Revoke = %v, want an unavailable *oauth.Error", err)
		}
		assertNoSecrets(t, err, tok.RefreshToken, client.Secret)
	})
	t.Run("no_revocation_endpoint", func(t *testing.T) {
		err := f.Revoke(t.Context(), oauth.Request{App: revokeApp(t, nil, ""), Client: client}, tok)
		if !errors.Is(err, oauth.ErrNoRevocation) {
			t.Errorf("Revoke = %v, want ErrNoRevocation", err)
		}
	})
	t.Run("nothing_to_revoke", func(t *testing.T) {
		e := newRevokeEndpoint(t)
		if err := f.Revoke(t.Context(), oauth.Request{App: revokeApp(t, e, spec), Client: client}, &oauth.Token{}); err != nil {
			t.Errorf("Revoke of an empty token = %v, want nil", err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if got := len(e.got); got != 0 {
			t.Errorf("requests = %d, want 0", got)
		}
	})
}
