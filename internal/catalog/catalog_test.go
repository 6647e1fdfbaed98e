package catalog_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// load loads the embedded catalog or fails the test.
func load(t *testing.T, opts ...catalog.Option) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// app returns an app of c or fails the test.
func app(t *testing.T, c *catalog.Catalog, id string) *catalog.App {
	t.Helper()
	a, ok := c.App(id)
	if !ok {
		t.Fatalf("app %q is missing", id)
	}
	return a
}

func TestLoadHasEveryApp(t *testing.T) {
	c := load(t)
	oauthAndKey := []catalog.AuthType{catalog.AuthOAuth2, catalog.AuthOAuth2Advanced, catalog.AuthAPIKey}
	oauth := []catalog.AuthType{catalog.AuthOAuth2, catalog.AuthOAuth2Advanced}
	want := map[string]struct {
		name    string
		auth    []catalog.AuthType
		methods []string
	}{
		"gmail":                   {"Gmail", oauth, []string{"send_email", "find_emails"}},
		"google_drive":            {"Google Drive", oauth, []string{"upload_file", "create_folder", "find_file"}},
		"hubspot":                 {"HubSpot", oauthAndKey, []string{"create_contact", "update_contact", "find_contact"}},
		"zoho_crm":                {"Zoho CRM", oauth, []string{"create_record"}},
		"notion":                  {"Notion", oauthAndKey, []string{"create_page"}},
		"airtable":                {"Airtable", oauthAndKey, []string{"create_record"}},
		"slack":                   {"Slack", oauth, []string{"post_message"}},
		"openai":                  {"OpenAI", []catalog.AuthType{catalog.AuthAPIKey}, []string{"chat_completion"}},
		"mailchimp_transactional": {"Mailchimp Transactional", []catalog.AuthType{catalog.AuthAPIKey}, []string{"send"}},
		"http":                    {"HTTP", []catalog.AuthType{catalog.AuthNone, catalog.AuthAPIKey, catalog.AuthBasic}, []string{"request"}},
	}
	var ids []string
	for _, a := range c.Apps() {
		ids = append(ids, a.ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("Apps() not sorted: %v", ids)
	}
	if len(ids) != len(want) {
		t.Errorf("apps = %v, want %d apps", ids, len(want))
	}
	for id, w := range want {
		a := app(t, c, id)
		if a.Name != w.name {
			t.Errorf("%s: name %q, want %q", id, a.Name, w.name)
		}
		if !slices.Equal(a.Auth, w.auth) {
			t.Errorf("%s: auth %v, want %v", id, a.Auth, w.auth)
		}
		for _, m := range w.methods {
			if _, ok := a.Method(m); !ok {
				t.Errorf("%s: method %s missing", id, m)
			}
		}
		if (a.OAuth != nil) != slices.ContainsFunc(a.Auth, catalog.AuthType.IsOAuth) {
			t.Errorf("%s: oauth block does not match auth types", id)
		}
		if a.Test == nil {
			t.Errorf("%s: no test request", id)
		}
		for _, m := range a.Methods {
			if m.Builder != "" && !slices.Contains(catalog.Builders(), m.Builder) {
				t.Errorf("%s.%s: builder %q is not in Builders()", id, m.Name, m.Builder)
			}
		}
	}
	if _, ok := c.App("nope"); ok {
		t.Error("App(nope) found something")
	}
}

func TestMustLoad(t *testing.T) {
	if c := catalog.MustLoad(); len(c.Apps()) == 0 {
		t.Fatal("MustLoad returned an empty catalog")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustLoad with a bad option did not panic")
		}
	}()
	catalog.MustLoad(catalog.WithBaseURLs(map[string]string{"nope": "https://example.com"}))
}

func TestOAuthDetails(t *testing.T) {
	c := load(t)
	gmail := app(t, c, "gmail")
	params, err := gmail.AuthorizeParams(nil)
	if err != nil {
		t.Fatal(err)
	}
	if params["access_type"] != "offline" || params["prompt"] != "consent" {
		t.Errorf("gmail authorize params = %v, want access_type=offline and prompt=consent", params)
	}
	if gmail.OAuth.PKCE != "S256" || gmail.OAuth.TokenAuth != "body" {
		t.Errorf("gmail: pkce %q, token auth %q", gmail.OAuth.PKCE, gmail.OAuth.TokenAuth)
	}
	revoke, err := gmail.RevokeURL(nil)
	if err != nil || revoke != "https://oauth2.googleapis.com/revoke" {
		t.Errorf("gmail revoke URL = %q, %v", revoke, err)
	}
	if r := gmail.OAuth.Revoke; r.In != "form" || r.Token != "refresh_token" || r.Param != "token" {
		t.Errorf("gmail revoke = %+v", r)
	}

	notion := app(t, c, "notion")
	if o := notion.OAuth; o.TokenAuth != "basic" || o.TokenBody != "json" || o.AuthorizeParams["owner"] != "user" {
		t.Errorf("notion oauth = %+v", o)
	}
	airtable := app(t, c, "airtable")
	if o := airtable.OAuth; o.PKCE != "S256" || o.RefreshTokens != catalog.RefreshRotating {
		t.Errorf("airtable oauth = %+v", o)
	}
	if u, err := airtable.RevokeURL(nil); err != nil || u != "" {
		t.Errorf("airtable revoke URL = %q, %v; want none", u, err)
	}
	slack := app(t, c, "slack")
	if o := slack.OAuth; o.ScopeSeparator != "," || o.Revoke.In != "bearer" || o.TokenAuth != "basic" {
		t.Errorf("slack oauth = %+v", o)
	}
	zoho := app(t, c, "zoho_crm")
	if got := zoho.OAuth.JoinScopes(zoho.OAuth.Scopes.Default); got != "ZohoCRM.modules.ALL,ZohoCRM.users.READ" {
		t.Errorf("zoho scopes = %q", got)
	}
	if got := gmail.OAuth.JoinScopes([]string{"a", "b"}); got != "a b" {
		t.Errorf("gmail joins scopes as %q", got)
	}

	openai := app(t, c, "openai")
	if _, err := openai.AuthorizeURL(nil); wiresk.ErrorField(err) != "auth" {
		t.Errorf("openai AuthorizeURL error = %v, want a field error on auth", err)
	}
}

func TestZohoDomains(t *testing.T) {
	zoho := app(t, load(t), "zoho_crm")
	for _, tc := range []struct {
		domain, accounts, api string
	}{
		{"", "https://accounts.zoho.com", "https://www.zohoapis.com"},
		{"com", "https://accounts.zoho.com", "https://www.zohoapis.com"},
		{"eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"},
		{"in", "https://accounts.zoho.in", "https://www.zohoapis.in"},
		{"com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"},
		{"com.cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"},
		{"jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"},
		{"ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"},
	} {
		t.Run("domain="+tc.domain, func(t *testing.T) {
			cfg := map[string]string{"domain": tc.domain}
			if tc.domain == "" {
				cfg = nil
			}
			check := func(what string, f func(map[string]string) (string, error), want string) {
				t.Helper()
				got, err := f(cfg)
				if err != nil || got != want {
					t.Errorf("%s = %q, %v; want %q", what, got, err, want)
				}
			}
			check("AuthorizeURL", zoho.AuthorizeURL, tc.accounts+"/oauth/v2/auth")
			check("TokenURL", zoho.TokenURL, tc.accounts+"/oauth/v2/token")
			check("RevokeURL", zoho.RevokeURL, tc.accounts+"/oauth/v2/token/revoke")
			check("BaseURL", zoho.BaseURL, tc.api)
			req, err := zoho.BuildTest(cfg)
			if err != nil || req.URL != tc.api+"/crm/v8/users?type=CurrentUser" {
				t.Errorf("BuildTest = %+v, %v", req, err)
			}
		})
	}
	for _, tc := range []struct {
		cfg   map[string]string
		field string
	}{
		{map[string]string{"domain": "uk"}, "config.domain"},
		{map[string]string{"domain": "com/evil"}, "config.domain"},
		{map[string]string{"domain": "eu", "region": "eu"}, "config.region"},
	} {
		for what, f := range map[string]func(map[string]string) (string, error){
			"AuthorizeURL": zoho.AuthorizeURL, "TokenURL": zoho.TokenURL, "BaseURL": zoho.BaseURL,
		} {
			got, err := f(tc.cfg)
			if err == nil {
				t.Errorf("%s(%v) = %q, want an error", what, tc.cfg, got)
				continue
			}
			if wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != tc.field {
				t.Errorf("%s(%v) error = %v, want a validation error on %s", what, tc.cfg, err, tc.field)
			}
		}
	}
	cfg, err := zoho.ValidateConfig(nil)
	if err != nil || cfg["domain"] != "com" {
		t.Errorf("ValidateConfig(nil) = %v, %v; want the default domain", cfg, err)
	}
	// The Public view offers the same domains.
	var values []string
	for _, v := range zoho.Public().Config[0].Values {
		values = append(values, v.Value)
	}
	for _, d := range []string{"com", "eu", "in", "com.au", "com.cn", "jp", "ca"} {
		if !slices.Contains(values, d) {
			t.Errorf("public config values %v lack %s", values, d)
		}
	}
}

func TestOverrides(t *testing.T) {
	c := load(t,
		catalog.WithBaseURLs(map[string]string{"hubspot": "http://127.0.0.1:8080/", "zoho_crm": "http://127.0.0.1:9090"}),
		catalog.WithOverrides(map[string]catalog.Override{
			"zoho_crm": {TokenURL: "http://127.0.0.1:7070/token", AuthorizeURL: "http://127.0.0.1:7070/auth", RevokeURL: "http://127.0.0.1:7070/revoke"},
		}),
	)
	hubspot := app(t, c, "hubspot")
	if u, err := hubspot.BaseURL(nil); err != nil || u != "http://127.0.0.1:8080" {
		t.Errorf("hubspot BaseURL = %q, %v", u, err)
	}
	req, err := hubspot.BuildTest(nil)
	if err != nil || req.URL != "http://127.0.0.1:8080/account-info/v3/details" {
		t.Errorf("hubspot BuildTest = %+v, %v", req, err)
	}
	if u, _ := hubspot.TokenURL(nil); u != "https://api.hubapi.com/oauth/2026-03/token" {
		t.Errorf("hubspot TokenURL = %q, want the catalog's", u)
	}
	zoho := app(t, c, "zoho_crm")
	for what, f := range map[string]func(map[string]string) (string, error){
		"http://127.0.0.1:9090":        zoho.BaseURL,
		"http://127.0.0.1:7070/token":  zoho.TokenURL,
		"http://127.0.0.1:7070/auth":   zoho.AuthorizeURL,
		"http://127.0.0.1:7070/revoke": zoho.RevokeURL,
	} {
		if got, err := f(map[string]string{"domain": "eu"}); err != nil || got != what {
			t.Errorf("override: got %q, %v; want %q", got, err, what)
		}
		// Config is still validated.
		if _, err := f(map[string]string{"domain": "xx"}); wiresk.ErrorField(err) != "config.domain" {
			t.Errorf("override with a bad domain: error %v", err)
		}
	}
	req, err = zoho.BuildRequest("create_record", map[string]string{"domain": "eu"}, map[string]any{"module": "Leads", "record": map[string]any{"Last_Name": "Lovelace"}})
	if err != nil || req.URL != "http://127.0.0.1:9090/crm/v8/Leads" {
		t.Errorf("zoho BuildRequest = %+v, %v", req, err)
	}

	// TestURL replaces the whole test URL: Gmail's test.url is on another
	// host than its base URL, which still applies to the methods.
	c2 := load(t, catalog.WithOverrides(map[string]catalog.Override{
		"gmail":   {BaseURL: "http://127.0.0.1:8081", TestURL: "http://127.0.0.1:8081/v1/userinfo"},
		"hubspot": {TestURL: "http://127.0.0.1:8082/details?x=1"},
	}))
	gmail := app(t, c2, "gmail")
	if req, err := gmail.BuildTest(nil); err != nil || req.URL != "http://127.0.0.1:8081/v1/userinfo" || req.Method != "GET" {
		t.Errorf("gmail BuildTest with a TestURL override = %+v, %v", req, err)
	}
	if req, err := gmail.BuildRequest("send_email", nil, map[string]any{"to": "ada@example.com", "subject": "Hi", "text": "Hello"}); err != nil || req.URL != "http://127.0.0.1:8081/gmail/v1/users/me/messages/send" {
		t.Errorf("gmail BuildRequest with a BaseURL override = %+v, %v", req, err)
	}
	if req, err := app(t, c2, "hubspot").BuildTest(nil); err != nil || req.URL != "http://127.0.0.1:8082/details?x=1" {
		t.Errorf("hubspot BuildTest with a TestURL override = %+v, %v", req, err)
	}
	if req, err := app(t, load(t, catalog.WithBaseURLs(map[string]string{"gmail": "http://127.0.0.1:8081"})), "gmail").BuildTest(nil); err != nil || req.URL != "https://openidconnect.googleapis.com/v1/userinfo" {
		t.Errorf("gmail BuildTest with only a BaseURL override = %+v, %v; want the catalog's test URL", req, err)
	}

	// Another Load is not affected.
	if u, _ := app(t, load(t), "hubspot").BaseURL(nil); u != "https://api.hubapi.com" {
		t.Errorf("a fresh catalog's hubspot BaseURL = %q", u)
	}

	for name, opt := range map[string]catalog.Option{
		"unknown app":       catalog.WithBaseURLs(map[string]string{"nope": "https://example.com"}),
		"relative URL":      catalog.WithBaseURLs(map[string]string{"slack": "/api"}),
		"ftp URL":           catalog.WithBaseURLs(map[string]string{"slack": "ftp://example.com"}),
		"relative test URL": catalog.WithOverrides(map[string]catalog.Override{"gmail": {TestURL: "/v1/userinfo"}}),
		"ftp test URL":      catalog.WithOverrides(map[string]catalog.Override{"gmail": {TestURL: "ftp://example.com/v1/userinfo"}}),
		"oauth of api_key":  catalog.WithOverrides(map[string]catalog.Override{"openai": {TokenURL: "https://example.com/token"}}),
	} {
		if _, err := catalog.Load(opt); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

func TestPublicHasNoSecrets(t *testing.T) {
	c := load(t)
	pub := c.Public()
	if len(pub) != len(c.Apps()) {
		t.Fatalf("Public has %d apps, want %d", len(pub), len(c.Apps()))
	}
	data, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				lk := strings.ToLower(k)
				for _, bad := range []string{"secret", "token", "password", "credential"} {
					if strings.Contains(lk, bad) {
						t.Errorf("public field %s.%s looks secret", path, k)
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			if strings.Contains(x, "{{") {
				t.Errorf("public value at %s is a template: %q", path, x)
			}
		}
	}
	walk("apps", v)

	var gmail catalog.PublicApp
	for _, p := range pub {
		if p.ID == "gmail" {
			gmail = p
		}
	}
	if gmail.Scopes == nil || len(gmail.Scopes.Default) == 0 || len(gmail.Methods) == 0 {
		t.Errorf("gmail public view lacks scopes or methods: %+v", gmail)
	}
	for _, name := range []string{"send_email", "find_emails"} {
		i := slices.IndexFunc(gmail.Methods, func(m catalog.PublicMethod) bool { return m.Name == name })
		if i < 0 || len(gmail.Methods[i].Inputs) == 0 {
			t.Errorf("gmail public view lacks method %s or its inputs: %+v", name, gmail.Methods)
		}
	}
	// gmail.send and userinfo.email (for the test), not the restricted
	// gmail.compose.
	if want := []string{"https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/userinfo.email"}; gmail.Scopes != nil && !slices.Equal(gmail.Scopes.Default, want) {
		t.Errorf("gmail default scopes = %q, want %q", gmail.Scopes.Default, want)
	}
	if !gmail.Testable {
		t.Error("gmail is not testable")
	}
	for _, p := range pub {
		for _, m := range p.Methods {
			if len(m.Outputs) == 0 || m.Outputs[0].Name != "body" {
				t.Errorf("%s.%s: outputs %+v, want body first", p.ID, m.Name, m.Outputs)
			}
		}
	}
	for _, p := range pub {
		if p.ID == "http" && p.Testable {
			t.Error("http is testable without a test URL")
		}
	}
	if !strings.Contains(string(data), `"auth":["oauth2","oauth2_advanced"]`) {
		t.Errorf("auth types are not plain strings in %s", data[:200])
	}
}

func TestCredentialTarget(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		app          string
		cfg          map[string]string
		name, prefix string
	}{
		{"gmail", nil, "", ""},
		{"zoho_crm", nil, "Authorization", "Zoho-oauthtoken "},
		{"mailchimp_transactional", nil, "key", ""},
		{"http", nil, "Authorization", "Bearer "},
		{"http", map[string]string{"header_name": "X-API-Key", "header_prefix": ""}, "X-API-Key", ""},
		{"http", map[string]string{"header_prefix": "Token "}, "Authorization", "Token "},
	} {
		a := app(t, c, tc.app)
		name, prefix, err := a.CredentialTarget(tc.cfg)
		if err != nil || name != tc.name || prefix != tc.prefix {
			t.Errorf("%s %v: CredentialTarget = %q, %q, %v; want %q, %q", tc.app, tc.cfg, name, prefix, err, tc.name, tc.prefix)
		}
	}
	if ty := app(t, c, "mailchimp_transactional").Credential.Type; ty != catalog.CredentialBodyField {
		t.Errorf("mailchimp credential type %q", ty)
	}
	http := app(t, c, "http")
	for _, cfg := range []map[string]string{
		{"header_name": "X API Key"},
		{"header_prefix": "Bearer\r\nX-Evil: 1"},
		{"base_url": "file:///etc/passwd"},
		{"test_url": "https://user:pw@example.com/me"},
	} {
		if _, err := http.ValidateConfig(cfg); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("http config %q accepted (err %v)", cfg, err)
		}
	}
}

func TestTestRequests(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		app      string
		cfg      map[string]string
		method   string
		url      string
		header   map[string]string
		body     string // JSON, "" for none
		response string
		identity string
	}{
		{app: "gmail", method: "GET", url: "https://openidconnect.googleapis.com/v1/userinfo",
			response: `{"sub": "110169484474386276334", "email": "ada@example.com", "email_verified": true}`, identity: "ada@example.com"},
		{app: "google_drive", method: "GET", url: "https://www.googleapis.com/drive/v3/about?fields=user",
			response: `{"user": {"displayName": "Ada", "emailAddress": "ada@example.com"}}`, identity: "ada@example.com"},
		{app: "google_drive", method: "GET", url: "https://www.googleapis.com/drive/v3/about?fields=user",
			response: `{"user": {"displayName": "Ada"}}`, identity: "Ada"},
		{app: "hubspot", method: "GET", url: "https://api.hubapi.com/account-info/v3/details",
			response: `{"portalId": 12345678901234567, "accountType": "STANDARD"}`, identity: "12345678901234567"},
		{app: "zoho_crm", cfg: map[string]string{"domain": "eu"}, method: "GET", url: "https://www.zohoapis.eu/crm/v8/users?type=CurrentUser",
			response: `{"users": [{"email": "ada@example.com", "full_name": "Ada Lovelace"}]}`, identity: "ada@example.com"},
		{app: "notion", method: "GET", url: "https://api.notion.com/v1/users/me", header: map[string]string{"Notion-Version": "2022-06-28"},
			response: `{"object": "user", "type": "bot", "name": "Wiresk", "bot": {"owner": {"type": "user", "user": {"name": "Ada"}}, "workspace_name": "Acme"}}`,
			identity: "Ada (Acme)"},
		{app: "notion", method: "GET", url: "https://api.notion.com/v1/users/me",
			response: `{"object": "user", "type": "bot", "name": "Wiresk", "bot": {"owner": {"type": "workspace", "workspace": true}, "workspace_name": "Acme"}}`,
			identity: "Acme"},
		{app: "notion", method: "GET", url: "https://api.notion.com/v1/users/me",
			response: `{"object": "user", "type": "bot", "name": "Wiresk", "bot": {}}`, identity: "Wiresk"},
		{app: "airtable", method: "GET", url: "https://api.airtable.com/v0/meta/whoami",
			response: `{"id": "usrX", "email": "ada@example.com", "scopes": []}`, identity: "ada@example.com"},
		{app: "airtable", method: "GET", url: "https://api.airtable.com/v0/meta/whoami",
			response: `{"id": "usrX", "email": ""}`, identity: "usrX"},
		{app: "slack", method: "POST", url: "https://slack.com/api/auth.test",
			response: `{"ok": true, "url": "https://acme.slack.com/", "team": "Acme", "user": "wiresk", "team_id": "T1", "user_id": "U1"}`,
			identity: "wiresk @ Acme"},
		{app: "openai", method: "GET", url: "https://api.openai.com/v1/models",
			response: `{"object": "list", "data": []}`, identity: "API key"},
		{app: "mailchimp_transactional", method: "POST", url: "https://mandrillapp.com/api/1.0/users/ping", body: `{}`,
			response: `"PONG!"`, identity: "API key"},
		{app: "http", cfg: map[string]string{"test_url": "https://api.example.com/me"}, method: "GET", url: "https://api.example.com/me",
			response: `{}`, identity: "Test URL answered"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			a := app(t, c, tc.app)
			req, err := a.BuildTest(tc.cfg)
			if err != nil {
				t.Fatalf("BuildTest: %v", err)
			}
			if req.Method != tc.method || req.URL != tc.url {
				t.Errorf("test request %s %s, want %s %s", req.Method, req.URL, tc.method, tc.url)
			}
			for k, v := range tc.header {
				if got := req.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if got := jsonText(t, req.Body); got != tc.body {
				t.Errorf("body %s, want %s", got, tc.body)
			}
			id, err := a.Identity([]byte(tc.response))
			if err != nil || id != tc.identity {
				t.Errorf("Identity = %q, %v; want %q", id, err, tc.identity)
			}
		})
	}

	// Answers that identify nothing, or fail an expectation.
	for _, tc := range []struct{ app, response string }{
		{"gmail", `{"sub": "110169484474386276334"}`},
		{"gmail", `{"emailAddress": "ada@example.com"}`},
		{"gmail", `{"email": {"nested": true}}`},
		{"gmail", `not json`},
		{"mailchimp_transactional", `"PING?"`},
		{"mailchimp_transactional", `{"status": "error"}`},
		{"slack", `{"ok": true}`},
	} {
		if id, err := app(t, c, tc.app).Identity([]byte(tc.response)); err == nil {
			t.Errorf("%s: Identity(%s) = %q, want an error", tc.app, tc.response, id)
		}
	}

	// A fixed identity needs no JSON: a test URL may answer 204, nothing or text.
	for _, body := range []string{"", "OK", "<html></html>"} {
		if id, err := app(t, c, "http").Identity([]byte(body)); err != nil || id != "Test URL answered" {
			t.Errorf("http: Identity(%q) = %q, %v; want the fixed identity", body, id, err)
		}
	}

	if _, err := app(t, c, "http").BuildTest(nil); !errors.Is(err, catalog.ErrNoTest) {
		t.Errorf("http BuildTest without a test URL: %v, want ErrNoTest", err)
	}
}

// jsonText marshals v, or returns "" for nil.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
