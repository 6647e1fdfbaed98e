package appstep_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/testkit/apptest"
)

// gmailSent returns the raw message the Gmail fake received in its one
// messages.send request, decoded from base64url, and the request's JSON.
func gmailSent(t *testing.T, f *apptest.Fake) ([]byte, map[string]any) {
	t.Helper()
	body := mustJSON(t, mustOne(t, f, "POST /gmail/v1/users/me/messages/send").Body)
	s, _ := body["raw"].(string)
	if strings.ContainsAny(s, "+/") {
		t.Errorf("raw has + or /: it is not base64url")
	}
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("raw is not base64url: %v", err)
	}
	return raw, body
}

// gmailGetRaw reads a message back from the Gmail fake
// (users.messages.get format=raw), beyond the first MiB the fake records.
func gmailGetRaw(t *testing.T, f *apptest.Fake, id string) []byte {
	t.Helper()
	status, data := f.Get(t, "/gmail/v1/users/me/messages/"+id+"?format=raw")
	var m struct {
		Raw string `json:"raw"`
	}
	if err := json.Unmarshal(data, &m); err != nil || status != http.StatusOK {
		t.Fatalf("messages.get %s: HTTP %d, %v", id, status, err)
	}
	raw, err := base64.URLEncoding.DecodeString(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// gmailParse parses raw as the Gmail fake does, failing the test when the
// fake would refuse it.
func gmailParse(t *testing.T, raw []byte) *apptest.Email {
	t.Helper()
	e, err := apptest.ParseEmail(raw)
	if err != nil {
		t.Fatalf("the message is invalid (%v):\n%s", err, raw)
	}
	return e
}

// gmailAddrs returns the addresses of a header as "Name <addr>" strings.
func gmailAddrs(list []*mail.Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Name + " <" + a.Address + ">"
	}
	return out
}

func TestGmailSendEmailWithAttachments(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	every := make([]byte, 512)
	for i := range every {
		every[i] = byte(i)
	}
	pdf := []byte("%PDF-1.7\n\x00\xff\xfe binary \r\n\x80 tail")
	subject := "Réunion 📅 – ordre du jour, with a subject long enough to need more than one encoded word"
	text := "Bonjour à tous,\nVoici l'ordre du jour.\n"
	html := "<p>Bonjour à <b>tous</b></p>"
	before := time.Now().Add(-time.Second)
	out, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "send_email", map[string]any{
		"to":         "Ada Lovelace <ada@example.com>, bob@example.com",
		"cc":         "Grace Hopper <grace@example.com>",
		"bcc":        "eve@example.com",
		"subject":    subject,
		"text":       text,
		"html":       html,
		"from_email": "ada@example.com",
		"from_name":  "Ada Lovelace-Byron ⚙",
		"reply_to":   "support@example.com",
		"attachments": []any{
			map[string]any{"filename": "données.bin", "content": base64.StdEncoding.EncodeToString(every)},
			map[string]any{"filename": "report.pdf", "content": base64.RawURLEncoding.EncodeToString(pdf), "mime_type": "application/pdf"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, body := gmailSent(t, f)
	if len(body) != 1 {
		t.Errorf("request body keys = %v, want raw only (no threadId)", body)
	}
	req := mustOne(t, f, "POST /gmail/v1/users/me/messages/send")
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}

	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	for name, want := range map[string][]string{
		"From":     {"Ada Lovelace-Byron ⚙ <ada@example.com>"},
		"To":       {"Ada Lovelace <ada@example.com>", " <bob@example.com>"},
		"Cc":       {"Grace Hopper <grace@example.com>"},
		"Bcc":      {" <eve@example.com>"}, // Gmail sends to the Bcc of the raw message
		"Reply-To": {" <support@example.com>"},
	} {
		list, err := m.Header.AddressList(name)
		if got := gmailAddrs(list); err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
	if got := m.Header.Get("Subject"); !strings.HasPrefix(got, "=?utf-8?q?") {
		t.Errorf("raw Subject = %q, want RFC 2047 Q-encoded words", got)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || got != subject {
		t.Errorf("decoded Subject = %q (%v), want %q", got, err, subject)
	}
	if d, err := m.Header.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %v (%v), want now", d, err)
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || !strings.Contains(id, "@") {
		t.Errorf("Message-ID = %q, want <id@domain>", id)
	}
	if got := m.Header.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", got)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d characters, want at most 998", len(line))
		}
	}

	e := gmailParse(t, raw)
	if got, want := e.Structure, "multipart/mixed[multipart/alternative[text/plain text/html] application/octet-stream application/pdf]"; got != want {
		t.Errorf("structure = %s, want %s", got, want)
	}
	if got := strings.ReplaceAll(e.Text, "\r\n", "\n"); got != text {
		t.Errorf("text = %q, want %q", got, text)
	}
	if e.HTML != html {
		t.Errorf("html = %q, want %q", e.HTML, html)
	}
	if len(e.Attachments) != 2 {
		t.Fatalf("attachments = %d, want 2", len(e.Attachments))
	}
	for i, want := range []apptest.EmailAttachment{
		{Filename: "données.bin", MIMEType: "application/octet-stream", Data: every},
		{Filename: "report.pdf", MIMEType: "application/pdf", Data: pdf},
	} {
		got := e.Attachments[i]
		if got.Filename != want.Filename || got.MIMEType != want.MIMEType || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("attachment %d = %s %s %d bytes, want %s %s with its %d bytes intact", i, got.Filename, got.MIMEType, len(got.Data), want.Filename, want.MIMEType, len(want.Data))
		}
	}

	id, _ := out["message_id"].(string)
	if id == "" || out["thread_id"] != id {
		t.Errorf("output = %v, want message_id and thread_id (a new thread)", out)
	}
	if got := gmailGetRaw(t, f, id); !bytes.Equal(got, raw) {
		t.Errorf("the fake keeps another message than the one sent")
	}
}

func TestGmailSendEmailSimpleBodies(t *testing.T) {
	for _, tc := range []struct {
		name, text, html, structure, cte string
	}{
		{"ascii text", "Hello,\nsee you.\n", "", "text/plain", "7bit"},
		{"non-ascii text", "Grüße\n", "", "text/plain", "quoted-printable"},
		{"html", "", "<p>Hi</p>", "text/html", "7bit"},
		{"both", "Hi", "<p>Hi</p>", "multipart/alternative[text/plain text/html]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, f := mustApp(t, "gmail")
			input := map[string]any{"to": "ada@example.com", "subject": "Plain subject"}
			if tc.text != "" {
				input["text"] = tc.text
			}
			if tc.html != "" {
				input["html"] = tc.html
			}
			if _, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "send_email", input); err != nil {
				t.Fatal(err)
			}
			raw, _ := gmailSent(t, f)
			e := gmailParse(t, raw)
			if e.Structure != tc.structure {
				t.Errorf("structure = %s, want %s", e.Structure, tc.structure)
			}
			if got := e.Header.Get("Content-Transfer-Encoding"); got != tc.cte {
				t.Errorf("Content-Transfer-Encoding = %q, want %q", got, tc.cte)
			}
			if got := e.Header.Get("Subject"); got != "Plain subject" {
				t.Errorf("Subject = %q, want it as it is", got)
			}
			if got, want := strings.ReplaceAll(e.Text, "\r\n", "\n"), tc.text; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
			if e.HTML != tc.html {
				t.Errorf("html = %q, want %q", e.HTML, tc.html)
			}
			if e.Header.Get("From") != "" {
				t.Errorf("From = %q, want none (Gmail writes the mailbox's address)", e.Header.Get("From"))
			}
		})
	}
}

func TestGmailSendEmailLargeBinaryAttachment(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	data := make([]byte, 3<<20)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	out, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "send_email", map[string]any{
		"to": "ada@example.com", "subject": "Photo", "text": "Attached.",
		"attachments": []any{map[string]any{"filename": "photo.jpg", "content": base64.URLEncoding.EncodeToString(data), "mime_type": "image/jpeg"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := gmailGetRaw(t, f, out["message_id"].(string))
	base64Lines := 0
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 0 && strings.Trim(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == "" {
			base64Lines++
			if len(line) > 76 {
				t.Fatalf("a base64 line of %d characters, want them wrapped at 76", len(line))
			}
		}
	}
	if base64Lines < len(data)/57 {
		t.Errorf("%d base64 lines, want the attachment wrapped in lines of 76", base64Lines)
	}
	e := gmailParse(t, raw)
	if len(e.Attachments) != 1 || !bytes.Equal(e.Attachments[0].Data, data) {
		t.Errorf("the attachment's %d bytes did not arrive intact", len(data))
	}
}

func TestGmailSendEmailRefusesBadInput(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	conn := connectionTo(f, appcall.CredentialBearer)
	ok := map[string]any{"to": "ada@example.com", "subject": "Hi", "text": "Hello"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	att := func(a map[string]any) []any { return []any{a} }
	huge := base64.StdEncoding.EncodeToString(make([]byte, 26<<20))
	for _, tc := range []struct {
		name  string
		input map[string]any
		field string
	}{
		{"subject injects a header", with("subject", "Hi\r\nBcc: mallory@example.com"), "input.subject"},
		{"subject with a bare LF", with("subject", "Hi\nBcc: mallory@example.com"), "input.subject"},
		{"to injects a header", with("to", "ada@example.com\r\nBcc: mallory@example.com"), "input.to"},
		{"from_name injects a header", with("from_name", "Ada\r\nBcc: mallory@example.com"), "input.from_name"},
		{"filename injects a header", with("attachments", att(map[string]any{"filename": "a.txt\r\nBcc: m@example.com", "content": "aGk="})), "input.attachments[0].filename"},
		{"mime type injects a header", with("attachments", att(map[string]any{"filename": "a.txt", "content": "aGk=", "mime_type": "text/plain\r\nBcc: m@example.com"})), "input.attachments[0].mime_type"},
		{"bad to", with("to", "not an address"), "input.to"},
		{"bad cc", with("cc", "ada@example.com, @@"), "input.cc"},
		{"bad reply-to", with("reply_to", "nobody"), "input.reply_to"},
		{"empty to", with("to", " "), "input.to"},
		{"no body", with("text", nil), "input.text"},
		{"name without address", with("from_name", "Ada"), "input.from_name"},
		{"bad from", with("from_email", "Ada <ada@example.com>"), "input.from_email"},
		{"attachment not base64", with("attachments", att(map[string]any{"filename": "a.bin", "content": "not base64!"})), "input.attachments[0].content"},
		{"attachment without name", with("attachments", att(map[string]any{"content": "aGk="})), "input.attachments[0].filename"},
		{"attachment not an object", with("attachments", []any{"aGk="}), "input.attachments[0]"},
		{"attachment with an unknown field", with("attachments", att(map[string]any{"filename": "a", "content": "aGk=", "size": 2})), "input.attachments[0].size"},
		{"bad mime type", with("attachments", att(map[string]any{"filename": "a", "content": "aGk=", "mime_type": "pdf"})), "input.attachments[0].mime_type"},
		{"bad in_reply_to", with("in_reply_to", "not a message id"), "input.in_reply_to"},
		{"message over the cap", with("attachments", att(map[string]any{"filename": "big.bin", "content": huge})), "input.attachments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Received(""))
			_, _, err := execute(t, reg, conn, "send_email", tc.input)
			se := mustStepError(t, err)
			if !se.Permanent || !strings.HasPrefix(se.Message, tc.field+":") {
				t.Errorf("err = %q (permanent %v), want a permanent error naming %s", se.Message, se.Permanent, tc.field)
			}
			if got := len(f.Received("")); got != before {
				t.Errorf("the fake received %d requests, want none", got-before)
			}
		})
	}
	_, _, err := execute(t, reg, conn, "send_email", with("attachments", att(map[string]any{"filename": "big.bin", "content": huge})))
	if msg := mustStepError(t, err).Message; !strings.Contains(msg, "35 MB") || !strings.Contains(msg, "25.0 MB") {
		t.Errorf("size error %q, want Gmail's 35 MB limit and the 25 MB cap", msg)
	}
}

func TestGmailSendEmailInAThread(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "send_email", map[string]any{
		"to": "grace@example.com", "subject": "Re: Invoice 42", "text": "Paid.",
		"thread_id": apptest.GmailInboxThreadID, "in_reply_to": "invoice42@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, body := gmailSent(t, f)
	if body["threadId"] != apptest.GmailInboxThreadID {
		t.Errorf("threadId = %v, want %s", body["threadId"], apptest.GmailInboxThreadID)
	}
	e := gmailParse(t, raw)
	for _, h := range []string{"In-Reply-To", "References"} {
		if got, want := e.Header.Get(h), "<invoice42@example.com>"; got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if out["thread_id"] != apptest.GmailInboxThreadID || out["message_id"] == apptest.GmailInboxThreadID {
		t.Errorf("output = %v, want the new message in thread %s", out, apptest.GmailInboxThreadID)
	}

	// A thread the mailbox does not have: Gmail's 404 is permanent.
	_, _, err = execute(t, reg, conn, "send_email", map[string]any{"to": "grace@example.com", "subject": "Hi", "text": "x", "thread_id": "ffffffffffffffff"})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusNotFound || !strings.Contains(se.Message, "Requested entity was not found.") {
		t.Errorf("unknown thread: %q (permanent %v, status %d), want a permanent 404 quoting Gmail", se.Message, se.Permanent, se.Status)
	}
}

func TestGmailFakeRefusesInvalidMessages(t *testing.T) {
	_, f := mustApp(t, "gmail")
	for _, tc := range []struct{ name, raw, want string }{
		{"no recipient", "Subject: Hi\r\n\r\nHello\r\n", "Recipient address required"},
		{"bad To", "To: @@\r\nSubject: Hi\r\n\r\nHello\r\n", "Invalid To header"},
		{"no boundary", "To: ada@example.com\r\nContent-Type: multipart/mixed\r\n\r\nHello\r\n", "Invalid MIME multipart: no boundary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"raw": base64.URLEncoding.EncodeToString([]byte(tc.raw))})
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL()+"/gmail/v1/users/me/messages/send", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+f.Token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var got struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
					Errors  []struct {
						Reason string `json:"reason"`
					} `json:"errors"`
				} `json:"error"`
			}
			if err := json.Unmarshal(data, &got); err != nil || resp.StatusCode != 400 || got.Error.Code != 400 || got.Error.Message != tc.want ||
				got.Error.Status != "INVALID_ARGUMENT" || len(got.Error.Errors) != 1 || got.Error.Errors[0].Reason != "invalidArgument" {
				t.Errorf("HTTP %d %s, want Gmail's 400 INVALID_ARGUMENT %q", resp.StatusCode, data, tc.want)
			}
		})
	}
}

func TestGmailFindEmails(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "find_emails", map[string]any{"query": "from:grace@example.com invoice"})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "GET /gmail/v1/users/me/messages")
	if got, want := req.Query.Encode(), "maxResults=10&q=from%3Agrace%40example.com+invoice"; got != want {
		t.Errorf("query = %s, want %s", got, want)
	}
	msgs, _ := out["messages"].([]any)
	if len(msgs) != 1 || out["message_id"] != apptest.GmailInboxThreadID || out["thread_id"] != apptest.GmailInboxThreadID || !sameJSON(t, out["estimate"], 1) {
		t.Errorf("output = %v, want the one message from Grace", out)
	}
	if _, ok := out["next_page_token"]; ok {
		t.Errorf("next_page_token = %v on the only page", out["next_page_token"])
	}

	// Pages: one message a page, newest first.
	out, _, err = execute(t, reg, conn, "find_emails", map[string]any{"query": "in:inbox", "max_results": 1})
	if err != nil {
		t.Fatal(err)
	}
	token, _ := out["next_page_token"].(string)
	if token == "" || !sameJSON(t, out["estimate"], 2) || out["message_id"] == apptest.GmailInboxThreadID {
		t.Fatalf("first page = %v, want the newest inbox message and a next page", out)
	}
	out, _, err = execute(t, reg, conn, "find_emails", map[string]any{"query": "in:inbox", "max_results": 1, "page_token": token})
	if err != nil || out["message_id"] != apptest.GmailInboxThreadID {
		t.Errorf("second page = %v, %v; want the older message", out, err)
	}

	// No match: Gmail answers {"resultSizeEstimate": 0} without messages.
	out, _, err = execute(t, reg, conn, "find_emails", map[string]any{"query": "from:nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["messages"]; ok || !sameJSON(t, out["estimate"], 0) || out["message_id"] != nil {
		t.Errorf("no match: output = %v, want estimate 0 and no messages", out)
	}
	if !sameJSON(t, out["body"], map[string]any{"resultSizeEstimate": 0}) {
		t.Errorf("no match: body = %v", out["body"])
	}
}

func TestGmailFailures(t *testing.T) {
	reg, f := mustApp(t, "gmail")
	send := map[string]any{"to": "ada@example.com", "subject": "Hi", "text": "Hello"}

	// An expired token: Unauthorized, so the worker re-tests the
	// Connection; the token is not in the message.
	expired := connectionTo(f, appcall.CredentialBearer)
	expired.Credential.Token = f.Tokens[apptest.Expired]
	_, _, err := execute(t, reg, expired, "send_email", send)
	if se := mustStepError(t, err); !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || strings.Contains(se.Message, expired.Credential.Token) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v, status %d), want an Unauthorized retryable 401 without the token", se.Message, se.Unauthorized, se.Permanent, se.Status)
	}

	// The default scopes (gmail.send) cannot search: Google's 403 is a
	// permanent permission failure, and the Connection stays good.
	sendOnly := connectionTo(f, appcall.CredentialBearer)
	sendOnly.Credential.Token = f.Tokens[apptest.GmailSendOnly]
	if _, _, err := execute(t, reg, sendOnly, "send_email", send); err != nil {
		t.Fatalf("send with gmail.send: %v", err)
	}
	_, _, err = execute(t, reg, sendOnly, "find_emails", map[string]any{"query": "is:unread"})
	se := mustStepError(t, err)
	if !se.Permanent || se.Unauthorized || se.Status != http.StatusForbidden ||
		!strings.Contains(se.Message, "insufficientPermissions") || !strings.Contains(se.Message, "Request had insufficient authentication scopes.") ||
		!strings.Contains(se.Message, "needs one of the scopes ") || !strings.Contains(se.Message, "https://www.googleapis.com/auth/gmail.readonly") || strings.Contains(se.Message, sendOnly.Credential.Token) {
		t.Errorf("missing scope: %q (permanent %v, unauthorized %v, status %d), want a permanent 403 quoting Google", se.Message, se.Permanent, se.Unauthorized, se.Status)
	}

	// Rate limiting and an unavailable service are retried.
	for _, tc := range []struct {
		name   string
		fail   func()
		method string
		input  map[string]any
	}{
		{"429", func() { f.Throttle(2, "1") }, "find_emails", map[string]any{"query": "in:inbox"}},
		{"503", func() { f.Fail(2, http.StatusServiceUnavailable, "") }, "send_email", send},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fail()
			out, attempts, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), tc.method, tc.input)
			if err != nil || attempts != 3 || out["body"] == nil {
				t.Errorf("attempts %d, err %v, want the answer after 3 attempts", attempts, err)
			}
		})
	}
	f.Fail(-1, http.StatusServiceUnavailable, "")
	_, attempts, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "find_emails", map[string]any{})
	if se := mustStepError(t, err); se.Permanent || se.Status != http.StatusServiceUnavailable || attempts < 2 {
		t.Errorf("always 503: %q (permanent %v, status %d) after %d attempts, want a transient failure after retries", se.Message, se.Permanent, se.Status, attempts)
	}
}
