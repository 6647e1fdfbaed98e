package catalog_test

import (
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

func TestBuildRequest(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		name    string
		app     string
		method  string
		cfg     map[string]string
		input   map[string]any
		verb    string
		url     string
		header  map[string]string
		body    string
		builder string
	}{
		{
			name: "hubspot create", app: "hubspot", method: "create_contact",
			input: map[string]any{"properties": map[string]any{"email": "ada@example.com", "firstname": "Ada"}},
			verb:  "POST", url: "https://api.hubapi.com/crm/v3/objects/contacts",
			body: `{"properties":{"email":"ada@example.com","firstname":"Ada"}}`,
		},
		{
			name: "hubspot update by email", app: "hubspot", method: "update_contact",
			input: map[string]any{"contact_id": "ada@example.com", "id_property": "email", "properties": map[string]any{"lastname": "Lovelace"}},
			verb:  "PATCH", url: "https://api.hubapi.com/crm/v3/objects/contacts/ada@example.com?idProperty=email",
			body: `{"properties":{"lastname":"Lovelace"}}`,
		},
		{
			name: "hubspot update by id", app: "hubspot", method: "update_contact",
			input: map[string]any{"contact_id": "51", "properties": map[string]any{"lastname": "Lovelace"}},
			verb:  "PATCH", url: "https://api.hubapi.com/crm/v3/objects/contacts/51",
			body: `{"properties":{"lastname":"Lovelace"}}`,
		},
		{
			// An input stays one path segment and one query value.
			name: "hubspot update escapes path and query inputs", app: "hubspot", method: "update_contact",
			input: map[string]any{"contact_id": "../admin", "id_property": "email&admin=1", "properties": map[string]any{"lastname": "Lovelace"}},
			verb:  "PATCH", url: "https://api.hubapi.com/crm/v3/objects/contacts/..%2Fadmin?idProperty=email%26admin%3D1",
			body: `{"properties":{"lastname":"Lovelace"}}`,
		},
		{
			name: "hubspot find", app: "hubspot", method: "find_contact",
			input: map[string]any{"email": "ada@example.com"},
			verb:  "POST", url: "https://api.hubapi.com/crm/v3/objects/contacts/search",
			body: `{"filterGroups":[{"filters":[{"operator":"EQ","propertyName":"email","value":"ada@example.com"}]}],"limit":1}`,
		},
		{
			name: "slack post, absent inputs left out", app: "slack", method: "post_message",
			input: map[string]any{"channel": "#sales", "text": "New lead ada@example.com", "unfurl_links": false},
			verb:  "POST", url: "https://slack.com/api/chat.postMessage",
			header: map[string]string{"Content-Type": "application/json; charset=utf-8"},
			body:   `{"channel":"#sales","text":"New lead ada@example.com","unfurl_links":false}`,
		},
		{
			name: "notion page under a page", app: "notion", method: "create_page",
			input: map[string]any{"page_id": "abc", "properties": map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": "Hi"}}}}},
			verb:  "POST", url: "https://api.notion.com/v1/pages",
			header: map[string]string{"Notion-Version": "2022-06-28"},
			body:   `{"parent":{"page_id":"abc"},"properties":{"title":[{"text":{"content":"Hi"}}]}}`,
		},
		{
			name: "zoho record in Canada", app: "zoho_crm", method: "create_record", cfg: map[string]string{"domain": "ca"},
			input: map[string]any{"module": "Leads", "record": map[string]any{"Last_Name": "Lovelace"}, "trigger": []any{"workflow"}},
			verb:  "POST", url: "https://www.zohoapis.ca/crm/v8/Leads",
			body: `{"data":[{"Last_Name":"Lovelace"}],"trigger":["workflow"]}`,
		},
		{
			name: "airtable escapes the table name", app: "airtable", method: "create_record",
			input: map[string]any{"base_id": "appX", "table": "Leads/2026 Q1", "fields": map[string]any{"Name": "Ada"}},
			verb:  "POST", url: "https://api.airtable.com/v0/appX/Leads%2F2026%20Q1",
			body: `{"fields":{"Name":"Ada"}}`,
		},
		{
			name: "openai with organization header", app: "openai", method: "chat_completion", cfg: map[string]string{"organization": "org-1"},
			input: map[string]any{"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": "Hi"}}, "temperature": 0.2},
			verb:  "POST", url: "https://api.openai.com/v1/chat/completions",
			header: map[string]string{"OpenAI-Organization": "org-1", "OpenAI-Project": ""},
			body:   `{"messages":[{"content":"Hi","role":"user"}],"model":"gpt-4o-mini","temperature":0.2}`,
		},
		{
			name: "mailchimp send", app: "mailchimp_transactional", method: "send",
			input: map[string]any{"to": []any{map[string]any{"email": "ada@example.com"}}, "from_email": "hi@example.com", "subject": "Hi", "text": "Hello"},
			verb:  "POST", url: "https://mandrillapp.com/api/1.0/messages/send",
			body: `{"message":{"from_email":"hi@example.com","subject":"Hi","text":"Hello","to":[{"email":"ada@example.com"}]}}`,
		},
		{
			name: "drive folder at the root", app: "google_drive", method: "create_folder",
			input: map[string]any{"name": "Invoices"},
			verb:  "POST", url: "https://www.googleapis.com/drive/v3/files?supportsAllDrives=true&fields=id,name,mimeType,parents,webViewLink",
			body: `{"mimeType":"application/vnd.google-apps.folder","name":"Invoices"}`,
		},
		{
			name: "drive upload metadata", app: "google_drive", method: "upload_file",
			input: map[string]any{"name": "a.csv", "content": "x,y", "folder_id": "F1", "mime_type": "text/csv"},
			verb:  "POST", url: "https://www.googleapis.com/upload/drive/v3/files?uploadType=multipart&supportsAllDrives=true&fields=id,name,mimeType,parents,webViewLink",
			body: `{"mimeType":"text/csv","name":"a.csv","parents":["F1"]}`, builder: "drive_multipart",
		},
		{
			name: "gmail send leaves raw to the builder", app: "gmail", method: "send_email",
			input: map[string]any{"to": "ada@example.com", "subject": "Hi", "text": "Hello"},
			verb:  "POST", url: "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
			body: `{}`, builder: "gmail_raw",
		},
		{
			name: "http request is all builder", app: "http", method: "request",
			input:   map[string]any{"url": "https://api.example.com/x"},
			builder: "http_request",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := app(t, c, tc.app).BuildRequest(tc.method, tc.cfg, tc.input)
			if err != nil {
				t.Fatalf("BuildRequest: %v", err)
			}
			if req.Method != tc.verb || req.URL != tc.url {
				t.Errorf("request %s %s, want %s %s", req.Method, req.URL, tc.verb, tc.url)
			}
			for k, v := range tc.header {
				if got := req.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if got := jsonText(t, req.Body); got != tc.body {
				t.Errorf("body\n got %s\nwant %s", got, tc.body)
			}
			if req.Builder != tc.builder {
				t.Errorf("builder %q, want %q", req.Builder, tc.builder)
			}
		})
	}
}

func TestBuildRequestRefuses(t *testing.T) {
	c := load(t)
	fields := map[string]any{"Name": "Ada"}
	for _, tc := range []struct {
		name   string
		app    string
		method string
		cfg    map[string]string
		input  map[string]any
		field  string
	}{
		{"unknown method", "slack", "delete_channel", nil, nil, "method"},
		{"missing required", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "fields": fields}, "input.table"},
		{"null required", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "table": nil, "fields": fields}, "input.table"},
		{"unknown input", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "table": "T", "fields": fields, "view": "v"}, "input.view"},
		{"wrong type", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "table": "T", "fields": "Name=Ada"}, "input.fields"},
		{"wrong boolean", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "table": "T", "fields": fields, "typecast": "yes"}, "input.typecast"},
		{"path traversal", "airtable", "create_record", nil, map[string]any{"base_id": "appX", "table": "..", "fields": fields}, "input.table"},
		{"empty path segment", "airtable", "create_record", nil, map[string]any{"base_id": "", "table": "T", "fields": fields}, "input.base_id"},
		{"object in path", "airtable", "create_record", nil, map[string]any{"base_id": map[string]any{}, "table": "T", "fields": fields}, "input.base_id"},
		{"bad config", "zoho_crm", "create_record", map[string]string{"domain": "uk"}, map[string]any{"module": "Leads", "record": fields}, "config.domain"},
		{"header injection through config", "openai", "chat_completion", map[string]string{"organization": "org\r\nX: y"}, map[string]any{"model": "m", "messages": []any{}}, "config.organization"},
		{"non-integer", "openai", "chat_completion", nil, map[string]any{"model": "m", "messages": []any{}, "max_completion_tokens": 1.5}, "input.max_completion_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := app(t, c, tc.app).BuildRequest(tc.method, tc.cfg, tc.input)
			if err == nil {
				t.Fatalf("BuildRequest = %+v; want an error on %s", req, tc.field)
			}
			if wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != tc.field {
				t.Errorf("error %v; want a validation error on %s", err, tc.field)
			}
		})
	}

	// Defaults apply.
	m, _ := app(t, c, "google_drive").Method("upload_file")
	in, err := m.CheckInput(map[string]any{"name": "a", "content": "b"})
	if err != nil || in["encoding"] != "text" {
		t.Errorf("CheckInput = %v, %v; want the default encoding", in, err)
	}
}

func TestClassify(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		app    string
		status int
		body   string
		want   catalog.ErrorKind
	}{
		{"slack", 200, `{"ok": true, "channel": "C1"}`, catalog.KindNone},
		{"slack", 200, `{"ok": false, "error": "invalid_auth"}`, catalog.KindAuth},
		{"slack", 200, `{"ok": false, "error": "token_expired"}`, catalog.KindAuth},
		{"slack", 200, `{"ok": false, "error": "token_revoked"}`, catalog.KindAuth},
		{"slack", 200, `{"ok": false, "error": "account_inactive"}`, catalog.KindAuth},
		{"slack", 200, `{"ok": false, "error": "ratelimited"}`, catalog.KindRateLimit},
		{"slack", 200, `{"ok": false, "error": "channel_not_found"}`, catalog.KindPermanent},
		{"slack", 429, ``, catalog.KindRateLimit},
		{"gmail", 401, `{"error": {"code": 401}}`, catalog.KindAuth},
		{"gmail", 403, `{"error": {"errors": [{"reason": "userRateLimitExceeded"}]}}`, catalog.KindRateLimit},
		{"gmail", 403, `{"error": {"errors": [{"reason": "insufficientPermissions"}]}}`, catalog.KindNone},
		{"gmail", 500, `<html>oops</html>`, catalog.KindNone},
		{"mailchimp_transactional", 500, `{"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key"}`, catalog.KindAuth},
		{"mailchimp_transactional", 500, `{"status": "error", "code": -2, "name": "ValidationError"}`, catalog.KindPermanent},
		{"mailchimp_transactional", 500, `{"status": "error", "code": -1, "name": "GeneralError"}`, catalog.KindNone},
		{"mailchimp_transactional", 200, `[{"email": "a@example.com", "status": "rejected", "reject_reason": "hard-bounce"}]`, catalog.KindPermanent},
		{"mailchimp_transactional", 200, `[{"email": "a@example.com", "status": "sent"}, {"email": "b@example.com", "status": "rejected"}]`, catalog.KindNone},
		{"openai", 429, `{"error": {"code": "insufficient_quota"}}`, catalog.KindPermanent},
		{"openai", 429, `{"error": {"code": "rate_limit_exceeded"}}`, catalog.KindRateLimit},
		{"openai", 401, `{"error": {"code": "invalid_api_key"}}`, catalog.KindAuth},
		{"hubspot", 429, `{"status": "error", "errorType": "RATE_LIMIT"}`, catalog.KindRateLimit},
		{"zoho_crm", 401, `{"code": "INVALID_TOKEN"}`, catalog.KindAuth},
		{"notion", 200, `{"object": "page"}`, catalog.KindNone},
	} {
		if got := app(t, c, tc.app).Classify(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%s: Classify(%d, %s) = %q, want %q", tc.app, tc.status, tc.body, got, tc.want)
		}
	}
	if h := app(t, c, "notion").Errors.RetryAfterHeader; h != "Retry-After" {
		t.Errorf("notion retry header %q", h)
	}
}
