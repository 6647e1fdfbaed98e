package apptest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"
)

// googleErrors are the parts of Google's JSON error answers (the
// "error" object with code, message, errors[].reason and status) for the
// statuses the fakes answer.
var googleErrors = map[int]struct{ message, domain, reason, status string }{
	http.StatusBadRequest:          {"Bad Request", "global", "badRequest", "INVALID_ARGUMENT"},
	http.StatusUnauthorized:        {"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "global", "authError", "UNAUTHENTICATED"},
	http.StatusForbidden:           {"Request had insufficient authentication scopes.", "global", "insufficientPermissions", "PERMISSION_DENIED"},
	http.StatusNotFound:            {"Requested entity was not found.", "global", "notFound", "NOT_FOUND"},
	http.StatusMethodNotAllowed:    {"Method not allowed.", "global", "methodNotAllowed", "INVALID_ARGUMENT"},
	http.StatusTooManyRequests:     {"Too many concurrent requests for user.", "global", "rateLimitExceeded", "RESOURCE_EXHAUSTED"},
	http.StatusInternalServerError: {"Internal error encountered.", "global", "backendError", "INTERNAL"},
	http.StatusServiceUnavailable:  {"The service is currently unavailable.", "global", "backendError", "UNAVAILABLE"},
}

// googleError writes Google's JSON error answer for status, with the
// given reason and message when they are not "".
func googleError(w http.ResponseWriter, status int, reason, message string) {
	googleErrorAt(w, status, reason, message, "", "")
}

// googleErrorAt is googleError with the errors[0].location and
// locationType Google adds for a bad parameter ("q", "parameter").
func googleErrorAt(w http.ResponseWriter, status int, reason, message, location, locationType string) {
	e, ok := googleErrors[status]
	if !ok {
		e = googleErrors[http.StatusInternalServerError]
	}
	if reason != "" {
		e.reason = reason
	}
	if message != "" {
		e.message = message
	}
	if reason == "userRateLimitExceeded" || reason == "rateLimitExceeded" {
		e.domain = "usageLimits"
	}
	item := map[string]any{"message": e.message, "domain": e.domain, "reason": e.reason}
	if location != "" {
		item["location"], item["locationType"] = location, locationType
	}
	if status == http.StatusUnauthorized {
		item["location"], item["locationType"] = "Authorization", "header"
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    status,
		"message": e.message,
		"errors":  []any{item},
		"status":  e.status,
	}})
}

// googleScope is what a Google API method answers a token without the
// scope it needs: the service and method its ErrorInfo names, and the
// scopes it accepts, which the WWW-Authenticate header lists.
type googleScope struct {
	service, method string
	scopes          []string
}

// googleInsufficientScope writes Google's 403 for a token without the
// scope the method needs: {"error": {"code": 403, "message": "Request had
// insufficient authentication scopes.", "errors": [{"message":
// "Insufficient Permission", "domain": "global", "reason":
// "insufficientPermissions"}], "status": "PERMISSION_DENIED", "details":
// [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason":
// "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
// "metadata": {"service", "method"}}]}}, with the accepted scopes in
// WWW-Authenticate's scope parameter, not in the body.
func googleInsufficientScope(w http.ResponseWriter, s googleScope) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="`+strings.Join(s.scopes, " ")+`"`)
	writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
		"code":    http.StatusForbidden,
		"message": "Request had insufficient authentication scopes.",
		"errors":  []any{map[string]any{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}},
		"status":  "PERMISSION_DENIED",
		"details": []any{map[string]any{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
			"domain":   "googleapis.com",
			"metadata": map[string]any{"service": s.service, "method": s.method},
		}},
	}})
}

// googleFailure is the failure answer of the Google fakes.
func googleFailure(w http.ResponseWriter, status int) { googleError(w, status, "", "") }

// googleAuth checks the bearer token of a Google API request to the
// method scope describes and answers the documented failures: 401
// authError for a missing, invalid or expired token (Google does not tell
// them apart), 403 insufficientPermissions for a token without the scope
// (NoScope), 403 userRateLimitExceeded (RateLimitedForbidden). A token in
// limited (like GmailSendOnly) is accepted here but refused with the 403
// insufficient-scope answer. It returns true when the request may go on.
func googleAuth(f *Fake, w http.ResponseWriter, r *http.Request, scope googleScope, limited ...string) bool {
	token, ok := bearer(r)
	switch {
	case !ok:
		googleError(w, http.StatusUnauthorized, "required", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return false
	case f.accepts(token):
		return true
	case token == f.Tokens[NoScope]:
		googleInsufficientScope(w, scope)
		return false
	case token == f.Tokens[RateLimitedForbidden]:
		googleError(w, http.StatusForbidden, "userRateLimitExceeded", "User Rate Limit Exceeded")
		return false
	}
	for _, name := range limited {
		if t := f.Tokens[name]; t != "" && token == t {
			googleInsufficientScope(w, scope)
			return false
		}
	}
	for _, name := range []string{GmailSendOnly} {
		if t := f.Tokens[name]; t != "" && token == t {
			return true
		}
	}
	googleError(w, http.StatusUnauthorized, "", "")
	return false
}

// googleBody returns the whole request body: ServeHTTP keeps its first MiB
// (body); the rest is still unread in r.Body.
func googleBody(r *http.Request, body []byte) []byte {
	rest, _ := io.ReadAll(r.Body)
	return append(body, rest...)
}

// gmailTestPath is the path of the Gmail fake's test endpoint, Google's
// OpenID Connect userinfo endpoint
// (https://openidconnect.googleapis.com/v1/userinfo); the catalog's
// test.url is absolute, so Overrides points TestURL at it.
const gmailTestPath = "/v1/userinfo"

// GmailSendOnly names, in the Gmail fake's Tokens, a token granted the
// catalog's default Gmail scopes only (gmail.send and userinfo.email): the
// test endpoint and messages.send accept it, messages.list and
// messages.get answer Google's 403 insufficient-scope error.
const GmailSendOnly = "gmail_send_only"

// Gmail scopes: what messages.send accepts, and what reading accepts.
var (
	gmailSendScope = googleScope{service: "gmail.googleapis.com", method: "caribou.api.proto.MailboxService.SendMessage", scopes: []string{
		"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.compose",
		"https://www.googleapis.com/auth/gmail.addons.current.action.compose", "https://www.googleapis.com/auth/gmail.send"}}
	gmailListScope = googleScope{service: "gmail.googleapis.com", method: "caribou.api.proto.MailboxService.ListMessages", scopes: []string{
		"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.readonly",
		"https://www.googleapis.com/auth/gmail.metadata"}}
	gmailGetScope = googleScope{service: "gmail.googleapis.com", method: "caribou.api.proto.MailboxService.GetMessage", scopes: gmailListScope.scopes}
	userinfoScope = googleScope{service: "openidconnect.googleapis.com", method: "userinfo", scopes: []string{
		"openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile"}}
)

// Email is an RFC 2822 message as the Gmail fake parses it (with net/mail
// and mime/multipart) from the raw of a messages.send request.
type Email struct {
	// Header is the message's header, as sent.
	Header mail.Header
	// Subject is the decoded Subject (RFC 2047 encoded words decoded).
	Subject string
	// Structure is the MIME tree, like
	// "multipart/mixed[multipart/alternative[text/plain text/html] application/pdf]".
	Structure string
	// Text and HTML are the decoded text/plain and text/html bodies.
	Text, HTML string
	// Attachments are the parts with a file name, decoded.
	Attachments []EmailAttachment
}

// EmailAttachment is an attachment of an Email.
type EmailAttachment struct {
	// Filename is the decoded file name (RFC 2231 parameters decoded).
	Filename string
	// MIMEType is the media type of its Content-Type, like
	// "application/pdf".
	MIMEType string
	// Data is the file's bytes, transfer encoding undone.
	Data []byte
}

// Addresses returns the decoded addresses of the header field name (To,
// Cc, Bcc...), nil when it is absent or invalid.
func (e *Email) Addresses(name string) []*mail.Address {
	list, _ := e.Header.AddressList(name)
	return list
}

// ParseEmail parses raw as the Gmail fake does. Its error is the message
// of Gmail's 400 answer: "Invalid To header", "Recipient address
// required"...
func ParseEmail(raw []byte) (*Email, error) {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSuffix(line, []byte("\r"))) > 998 {
			return nil, gmailInvalid("Invalid message: a line is longer than 998 characters")
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, gmailInvalid("Invalid RFC 822 message: " + err.Error())
	}
	e := &Email{Header: m.Header}
	recipients := 0
	for _, name := range []string{"From", "To", "Cc", "Bcc", "Reply-To"} {
		if m.Header.Get(name) == "" {
			continue
		}
		list, err := m.Header.AddressList(name)
		if err != nil {
			return nil, gmailInvalid("Invalid " + name + " header")
		}
		if name == "To" || name == "Cc" || name == "Bcc" {
			recipients += len(list)
		}
	}
	if recipients == 0 {
		return nil, gmailInvalid("Recipient address required")
	}
	if e.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return nil, gmailInvalid("Invalid Subject header")
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, gmailInvalid("Invalid message body")
	}
	structure, err := e.part(textproto.MIMEHeader(m.Header), body, 0)
	if err != nil {
		return nil, err
	}
	e.Structure = structure
	return e, nil
}

// part reads one MIME part (the message's body at depth 0) and returns
// its structure.
func (e *Email) part(h textproto.MIMEHeader, body []byte, depth int) (string, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", gmailInvalid("Invalid Content-Type header: " + ct)
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth > 10 || params["boundary"] == "" {
			return "", gmailInvalid("Invalid MIME multipart: no boundary")
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var kids []string
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", gmailInvalid("Invalid MIME multipart: " + err.Error())
			}
			data, err := io.ReadAll(p)
			if err != nil {
				return "", gmailInvalid("Invalid MIME multipart: " + err.Error())
			}
			kid, err := e.part(p.Header, data, depth+1)
			if err != nil {
				return "", err
			}
			kids = append(kids, kid)
		}
		if len(kids) == 0 {
			return "", gmailInvalid("Invalid MIME multipart: no parts")
		}
		return mt + "[" + strings.Join(kids, " ") + "]", nil
	}
	var r io.Reader = bytes.NewReader(body)
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &crlfStripper{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "", "7bit", "8bit", "binary":
	default:
		return "", gmailInvalid("Invalid Content-Transfer-Encoding: " + cte)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", gmailInvalid("Invalid MIME part body: " + err.Error())
	}
	filename := ""
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		filename = dp["filename"]
	}
	if filename == "" {
		filename = params["name"]
	}
	switch {
	case filename != "":
		e.Attachments = append(e.Attachments, EmailAttachment{Filename: filename, MIMEType: mt, Data: data})
	case mt == "text/plain" && e.Text == "":
		e.Text = string(data)
	case mt == "text/html" && e.HTML == "":
		e.HTML = string(data)
	}
	return mt, nil
}

// gmailInvalid is why Gmail refuses a message, in Gmail's words.
type gmailInvalid string

func (e gmailInvalid) Error() string { return string(e) }

// crlfStripper drops line breaks, which base64 bodies are wrapped with.
type crlfStripper struct{ r io.Reader }

func (c *crlfStripper) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		k := 0
		for _, b := range p[:n] {
			if b != '\r' && b != '\n' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// gmailStored is a message in the Gmail fake's mailbox.
type gmailStored struct {
	id, threadID string
	labels       []string
	raw          []byte
	email        *Email
	internalDate int64
}

// gmailBox is the Gmail fake's mailbox, in the order the messages came.
type gmailBox struct {
	mu       sync.Mutex
	next     uint64
	messages []*gmailStored
	// pageCap, when > 0, caps the messages of a list page
	// (SetGooglePageCap).
	pageCap int
}

// thread reports whether the mailbox has a thread with id.
func (b *gmailBox) thread(id string) bool {
	for _, m := range b.messages {
		if m.threadID == id {
			return true
		}
	}
	return false
}

// add stores raw with labels, in the thread threadID (a new one when ""),
// with an internalDate a minute after the last message's from 1 January
// 2026 on.
func (b *gmailBox) add(raw []byte, e *Email, threadID string, labels ...string) *gmailStored {
	return b.addAt(raw, e, threadID, 1767225600000+int64(b.next+1)*60000, labels...)
}

// addAt is add with the internalDate at (Unix milliseconds).
func (b *gmailBox) addAt(raw []byte, e *Email, threadID string, at int64, labels ...string) *gmailStored {
	b.next++
	id := strconv.FormatUint(0x18c2f0a1b2c30000+b.next, 16)
	if threadID == "" {
		threadID = id
	}
	m := &gmailStored{id: id, threadID: threadID, labels: labels, raw: raw, email: e, internalDate: at}
	b.messages = append(b.messages, m)
	return m
}

// GmailInboxThreadID is the thread of the Gmail fake's first inbox
// message, from Grace Hopper <grace@example.com>, subject "Invoice 42".
const GmailInboxThreadID = "18c2f0a1b2c30001"

// gmailSeed is the Gmail fake's inbox at the start.
var gmailSeed = []string{
	"From: Grace Hopper <grace@example.com>\r\nTo: Ada Lovelace <ada@example.com>\r\nSubject: Invoice 42\r\nDate: Thu, 01 Jan 2026 09:00:00 +0000\r\nMessage-ID: <invoice42@example.com>\r\n\r\nPlease find invoice 42 attached.\r\n",
	"From: Bob <bob@example.com>\r\nTo: ada@example.com\r\nSubject: Lunch?\r\nDate: Thu, 01 Jan 2026 11:00:00 +0000\r\nMessage-ID: <lunch@example.com>\r\n\r\nLunch on Friday?\r\n",
}

// gmailMetadata is the payload of a format=metadata answer: the
// message's top MIME type and the headers named in metadataHeaders
// (any case; all of them, sorted by name, when none is named), each
// {"name", "value"} as Gmail writes them.
func gmailMetadata(m *gmailStored, names []string) map[string]any {
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(m.email.Header))
	}
	headers := []any{}
	for _, name := range names {
		key := textproto.CanonicalMIMEHeaderKey(name)
		for _, v := range m.email.Header[key] {
			headers = append(headers, map[string]any{"name": key, "value": v})
		}
	}
	mt, _, _ := strings.Cut(m.email.Structure, "[")
	return map[string]any{"partId": "", "mimeType": mt, "filename": "", "headers": headers}
}

// googleState is what a test adds to a Gmail or Drive fake besides its
// requests: the fake's mailbox or files.
type googleState struct {
	box   *gmailBox
	drive *driveStore
}

// googleStates maps a Gmail or Drive fake (weakly, so that a finished
// test's fake goes) to its googleState.
var googleStates sync.Map

// setGoogleState records s as f's state, until f is collected.
func setGoogleState(f *Fake, s *googleState) {
	key := weak.Make(f)
	googleStates.Store(key, s)
	runtime.AddCleanup(f, func(key weak.Pointer[Fake]) { googleStates.Delete(key) }, key)
}

// googleStateOf returns the state of the Gmail or Drive fake f; it
// panics for another fake, as a test calling a Google method on it is
// wrong.
func googleStateOf(f *Fake, app string) *googleState {
	v, ok := googleStates.Load(weak.Make(f))
	s, _ := v.(*googleState)
	if !ok || (app == "gmail" && s.box == nil) || (app == "google_drive" && s.drive == nil) {
		panic(fmt.Sprintf("apptest: the %s fake is not a %s fake", f.App, app))
	}
	return s
}

// SetGooglePageCap makes the Gmail or Drive fake f answer at most n
// messages or files a list page whatever maxResults or pageSize asks (0:
// only the API's own limits, 500 for Gmail, 1000 for Drive), as Google's
// lists may answer fewer than asked before their last page: a test can
// force a poll across several pages.
func (f *Fake) SetGooglePageCap(n int) {
	v, _ := googleStates.Load(weak.Make(f))
	s, _ := v.(*googleState)
	switch {
	case s != nil && s.box != nil:
		s.box.mu.Lock()
		s.box.pageCap = n
		s.box.mu.Unlock()
	case s != nil && s.drive != nil:
		s.drive.mu.Lock()
		s.drive.pageCap = n
		s.drive.mu.Unlock()
	default:
		panic("apptest: SetGooglePageCap on the " + f.App + " fake")
	}
}

// AddMessage delivers to the Gmail fake's inbox (labels INBOX and UNREAD)
// a plain-text message from from to the mailbox, with subject, the body
// "Message <subject>." and internalDate at (to the millisecond), as if it
// arrived then; it returns the message's id. from is an address, like
// "Billing <billing@example.com>".
func (f *Fake) AddMessage(from, subject string, at time.Time) string {
	box := googleStateOf(f, "gmail").box
	raw := "From: " + from + "\r\nTo: Ada Lovelace <ada@example.com>\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + at.Format(time.RFC1123Z) + "\r\nMessage-ID: <" + strconv.FormatInt(at.UnixNano(), 36) + "@example.com>\r\n\r\nMessage " + subject + ".\r\n"
	e, err := ParseEmail([]byte(raw))
	if err != nil {
		panic("apptest: AddMessage: " + err.Error())
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	return box.addAt([]byte(raw), e, "", at.UnixMilli(), "INBOX", "UNREAD").id
}

// gmailQuery compiles the Gmail search q into a message filter. The fake
// plays this subset of Gmail's operators
// (https://support.google.com/mail/answer/7190):
//
//   - from:, to:, cc:, bcc: (an address or a part of it; "me" is the
//     mailbox's address), subject:, filename:, label:, in: (a label, like
//     in:inbox), is: (unread, read, or a label such as starred) and
//     has:attachment narrow by field, ignoring case;
//   - after:<epoch seconds> keeps the messages whose internalDate is at
//     or after that second, before:<epoch seconds> those before it (Gmail
//     takes the epoch-seconds form as well as dates; the fake plays only
//     it);
//   - other words and "quoted phrases" match the sender, recipients,
//     subject and body;
//   - terms next to each other are ANDed, OR (upper case) between two
//     terms or groups joins them and binds tighter than the AND, as in
//     Gmail; ( ) group; a leading - negates a term or a group.
//
// A search the fake cannot evaluate (another operator such as
// newer_than: or category:, a date in after:, op:(...) or { } groups,
// unbalanced parentheses) is an error: the list answers Gmail's 400
// invalidArgument rather than a silently wrong result.
func gmailQuery(q string) (func(*gmailStored) bool, error) {
	toks, err := gmailTokens(q)
	if err != nil {
		return nil, err
	}
	p := &gmailParser{toks: toks}
	match, err := p.and()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, errors.New("unbalanced parentheses")
	}
	return match, nil
}

// gmailToken is a token of a Gmail search: a term, or (when op) one of
// "(", ")", "-".
type gmailToken struct {
	text string
	op   bool
}

// gmailTokens splits a Gmail search into terms and operators, keeping
// quoted phrases (quotes dropped) in their term.
func gmailTokens(q string) ([]gmailToken, error) {
	var out []gmailToken
	var cur strings.Builder
	quoted, hadQuote := false, false
	flush := func() {
		if cur.Len() > 0 || hadQuote {
			out = append(out, gmailToken{text: cur.String()})
		}
		cur.Reset()
		hadQuote = false
	}
	rs := []rune(q)
	for i, r := range rs {
		switch {
		case r == '"':
			quoted, hadQuote = !quoted, true
		case quoted:
			cur.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		case r == '{' || r == '}':
			return nil, errors.New("the fake plays no { } groups")
		case r == '(' && strings.HasSuffix(cur.String(), ":"):
			return nil, errors.New("the fake plays no op:(...) groups")
		case r == '(' || r == ')':
			flush()
			out = append(out, gmailToken{text: string(r), op: true})
		case r == '-' && cur.Len() == 0 && !hadQuote && i+1 < len(rs) && rs[i+1] != ' ':
			out = append(out, gmailToken{text: "-", op: true})
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, errors.New("an unterminated quote")
	}
	flush()
	return out, nil
}

// gmailParser parses the tokens of a Gmail search.
type gmailParser struct {
	toks []gmailToken
	i    int
}

// is reports whether the next token is the operator op and consumes it.
func (p *gmailParser) is(op string) bool {
	if p.i < len(p.toks) && p.toks[p.i].op && p.toks[p.i].text == op {
		p.i++
		return true
	}
	return false
}

// word reports whether the next token is the unquoted keyword w and
// consumes it.
func (p *gmailParser) word(w string) bool {
	if p.i < len(p.toks) && !p.toks[p.i].op && p.toks[p.i].text == w {
		p.i++
		return true
	}
	return false
}

// and parses terms up to the end or a ")": all must match (none: every
// message matches).
func (p *gmailParser) and() (func(*gmailStored) bool, error) {
	var all []func(*gmailStored) bool
	for p.i < len(p.toks) && !(p.toks[p.i].op && p.toks[p.i].text == ")") {
		if p.word("AND") {
			continue
		}
		m, err := p.or()
		if err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return func(m *gmailStored) bool {
		for _, f := range all {
			if !f(m) {
				return false
			}
		}
		return true
	}, nil
}

func (p *gmailParser) or() (func(*gmailStored) bool, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.word("OR") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(m *gmailStored) bool { return l(m) || right(m) }
	}
	return left, nil
}

func (p *gmailParser) unary() (func(*gmailStored) bool, error) {
	switch {
	case p.i >= len(p.toks):
		return nil, errors.New("a search that ends with an operator")
	case p.is("-"):
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(s *gmailStored) bool { return !m(s) }, nil
	case p.is("("):
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		if !p.is(")") {
			return nil, errors.New("unbalanced parentheses")
		}
		return m, nil
	case p.toks[p.i].op:
		return nil, fmt.Errorf("an unexpected %q", p.toks[p.i].text)
	}
	p.i++
	return gmailTerm(p.toks[p.i-1].text)
}

// gmailTerm compiles one search term.
func gmailTerm(term string) (func(*gmailStored) bool, error) {
	has := func(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
	hasLabel := func(m *gmailStored, l string) bool { return slices.Contains(m.labels, strings.ToUpper(l)) }
	op, value, ok := strings.Cut(term, ":")
	if ok && op != "" && strings.Trim(strings.ToLower(op), "abcdefghijklmnopqrstuvwxyz_") == "" {
		if value == "" {
			return nil, fmt.Errorf("%s: without a value", op)
		}
		switch op = strings.ToLower(op); op {
		case "from", "to", "cc", "bcc":
			name := map[string]string{"from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc"}[op]
			if strings.EqualFold(value, "me") {
				value = "ada@example.com"
			}
			return func(m *gmailStored) bool { return has(m.email.Header.Get(name), value) }, nil
		case "subject":
			return func(m *gmailStored) bool { return has(m.email.Subject, value) }, nil
		case "filename":
			return func(m *gmailStored) bool {
				return slices.ContainsFunc(m.email.Attachments, func(a EmailAttachment) bool { return has(a.Filename, value) })
			}, nil
		case "label", "in":
			return func(m *gmailStored) bool { return hasLabel(m, value) }, nil
		case "is":
			switch strings.ToLower(value) {
			case "unread":
				return func(m *gmailStored) bool { return hasLabel(m, "UNREAD") }, nil
			case "read":
				return func(m *gmailStored) bool { return !hasLabel(m, "UNREAD") }, nil
			}
			return func(m *gmailStored) bool { return hasLabel(m, value) }, nil
		case "has":
			if !strings.EqualFold(value, "attachment") {
				return nil, fmt.Errorf("the fake plays has:attachment only, not has:%s", value)
			}
			return func(m *gmailStored) bool { return len(m.email.Attachments) > 0 }, nil
		case "after", "before":
			sec, err := strconv.ParseInt(value, 10, 64)
			if err != nil || sec < 0 {
				return nil, fmt.Errorf("the fake plays %s: with epoch seconds only, not %q", op, value)
			}
			if op == "after" {
				return func(m *gmailStored) bool { return m.internalDate >= sec*1000 }, nil
			}
			return func(m *gmailStored) bool { return m.internalDate < sec*1000 }, nil
		}
		return nil, fmt.Errorf("the fake cannot evaluate the operator %s", op)
	}
	return func(m *gmailStored) bool {
		e := m.email
		return has(e.Header.Get("From"), term) || has(e.Header.Get("To"), term) || has(e.Subject, term) || has(e.Text, term) || has(e.HTML, term)
	}, nil
}

// gmailBadRequest writes Gmail's 400 for an invalid argument:
// {"error": {"code": 400, "message", "errors": [{"message", "domain":
// "global", "reason": "invalidArgument"}], "status": "INVALID_ARGUMENT"}}.
func gmailBadRequest(w http.ResponseWriter, message string) {
	googleError(w, http.StatusBadRequest, "invalidArgument", message)
}

// decodeProtoBytes decodes a JSON bytes field as Google's APIs do (the
// proto3 JSON mapping): standard or URL-safe base64, padded or not.
func decodeProtoBytes(s string) ([]byte, error) {
	s = strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(s, "="))
	return base64.RawStdEncoding.DecodeString(s)
}

// newGmail plays the Gmail API's messages endpoints
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages)
// and the endpoint of Gmail's test, Google's OpenID Connect userinfo
// endpoint (https://developers.google.com/identity/openid-connect/reference,
// the discovery document's userinfo_endpoint), all with "Authorization:
// Bearer <token>":
//
//   - GET /v1/userinfo answers 200 with the standard claims the token's
//     scopes allow, with userinfo.email {"sub", "email", "email_verified"}.
//   - POST /gmail/v1/users/me/messages/send {"raw", "threadId"} sends the
//     message "to the recipients in the To, Cc, and Bcc headers"
//     (users.messages.send; Sending email,
//     https://developers.google.com/workspace/gmail/api/guides/sending:
//     an RFC 2822 message, base64url-encoded in raw). The fake decodes raw
//     (standard or URL base64, as Google's JSON bytes fields take),
//     parses it with net/mail and mime/multipart (ParseEmail), and
//     answers 200 {"id", "threadId", "labelIds": ["SENT"]}; an invalid
//     message answers 400 {"error": {"code": 400, "message", "errors":
//     [{"message", "domain": "global", "reason": "invalidArgument"}],
//     "status": "INVALID_ARGUMENT"}} with Gmail's messages ("Recipient
//     address required", "Invalid To header", and "'raw' RFC822 payload
//     message string or uploading message via /upload/* URL required"
//     without raw), as seen in
//     https://github.com/Byron/google-apis-rs/issues/351 and
//     https://github.com/FlowCrypt/flowcrypt-browser/issues/1370. A
//     threadId the mailbox does not have answers 404 NOT_FOUND.
//   - GET /gmail/v1/users/me/messages?q&maxResults&pageToken&includeSpamTrash
//     (users.messages.list) answers {"messages": [{"id", "threadId"}],
//     "nextPageToken", "resultSizeEstimate"}, newest first, maxResults
//     100 by default and at most 500; no match answers
//     {"resultSizeEstimate": 0} without "messages". The search is a
//     subset of Gmail's operators (gmailQuery); a search it cannot
//     evaluate answers 400 invalidArgument "Invalid search query: ...".
//     The page size is also capped by SetGooglePageCap.
//   - GET /gmail/v1/users/me/messages/{id}?format=raw (users.messages.get)
//     answers the message with raw (base64url); format=minimal without
//     it; format=metadata with payload {"partId": "", "mimeType",
//     "filename": "", "headers": [{"name", "value"}]}, the headers named
//     by the repeated metadataHeaders parameter (all when none is). All
//     formats carry id, threadId, labelIds, snippet, sizeEstimate,
//     historyId and internalDate (Unix milliseconds, a string, as
//     Google's JSON writes int64). The fake plays no other format.
//
// The mailbox starts with two inbox messages (GmailInboxThreadID is the
// first's thread) and keeps what is sent; AddMessage delivers more. A missing, invalid or Expired
// token answers 401 with Google's error object (reason authError or
// required, status UNAUTHENTICATED) and a WWW-Authenticate header
// (https://developers.google.com/workspace/gmail/api/guides/handle-errors);
// GmailSendOnly (the default scopes) is refused by the reading endpoints
// with Google's 403 "Request had insufficient authentication scopes."
// (reason insufficientPermissions, status PERMISSION_DENIED, an ErrorInfo
// ACCESS_TOKEN_SCOPE_INSUFFICIENT detail), the accepted scopes being named
// only in WWW-Authenticate's scope parameter;
// RateLimitedForbidden answers 403 userRateLimitExceeded, the shared
// Google API answer the catalog's error rules read. Rate limiting is 429
// rateLimitExceeded (status RESOURCE_EXHAUSTED).
func newGmail() (*Fake, *spec) {
	f := &Fake{
		Token: "ya29.gmail-valid-access-token",
		Tokens: map[string]string{
			Expired:              "ya29.gmail-expired-token",
			RateLimitedForbidden: "ya29.gmail-user-rate-limited",
			GmailSendOnly:        "ya29.gmail-send-only-token",
		},
		Account: "ada@example.com",
	}
	box := &gmailBox{}
	setGoogleState(f, &googleState{box: box})
	for _, raw := range gmailSeed {
		e, err := ParseEmail([]byte(raw))
		if err != nil {
			panic("apptest: Gmail seed: " + err.Error())
		}
		box.add([]byte(raw), e, "", "INBOX", "UNREAD")
	}
	return f, &spec{
		testPath: gmailTestPath,
		failure:  googleFailure,
		methods: map[string]Handler{
			"POST /gmail/v1/users/me/messages/send": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if !googleAuth(f, w, r, gmailSendScope) {
					return
				}
				var req struct {
					Raw      string `json:"raw"`
					ThreadID string `json:"threadId"`
				}
				if err := json.Unmarshal(googleBody(r, body), &req); err != nil {
					googleError(w, http.StatusBadRequest, "invalid", "Invalid JSON payload received.")
					return
				}
				if req.Raw == "" {
					gmailBadRequest(w, "'raw' RFC822 payload message string or uploading message via /upload/* URL required")
					return
				}
				raw, err := decodeProtoBytes(req.Raw)
				if err != nil {
					googleError(w, http.StatusBadRequest, "invalid", "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed")
					return
				}
				e, err := ParseEmail(raw)
				if err != nil {
					gmailBadRequest(w, err.Error())
					return
				}
				box.mu.Lock()
				defer box.mu.Unlock()
				if req.ThreadID != "" && !box.thread(req.ThreadID) {
					googleError(w, http.StatusNotFound, "notFound", "Requested entity was not found.")
					return
				}
				m := box.add(raw, e, req.ThreadID, "SENT")
				writeJSON(w, http.StatusOK, map[string]any{"id": m.id, "threadId": m.threadID, "labelIds": m.labels})
			},
			"GET /gmail/v1/users/me/messages": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if !googleAuth(f, w, r, gmailListScope, GmailSendOnly) {
					return
				}
				q := r.URL.Query()
				size := 100
				if s := q.Get("maxResults"); s != "" {
					n, err := strconv.ParseUint(s, 10, 32)
					if err != nil {
						googleError(w, http.StatusBadRequest, "invalid", "Invalid value at 'max_results' (TYPE_UINT32), \""+s+"\"")
						return
					}
					if n > 0 {
						size = min(int(n), 500)
					}
				}
				offset := 0
				if s := q.Get("pageToken"); s != "" {
					n, err := strconv.Atoi(s)
					if err != nil || n < 0 {
						googleError(w, http.StatusBadRequest, "invalid", "Invalid pageToken")
						return
					}
					offset = n
				}
				match, err := gmailQuery(q.Get("q"))
				if err != nil {
					gmailBadRequest(w, "Invalid search query: "+err.Error())
					return
				}
				spamTrash := q.Get("includeSpamTrash") == "true"
				box.mu.Lock()
				if box.pageCap > 0 {
					size = min(size, box.pageCap)
				}
				var found []*gmailStored
				for _, m := range box.messages {
					if !spamTrash && (slices.Contains(m.labels, "SPAM") || slices.Contains(m.labels, "TRASH")) {
						continue
					}
					if match(m) {
						found = append(found, m)
					}
				}
				box.mu.Unlock()
				// Newest first: by internalDate, the later added first
				// among equals.
				slices.Reverse(found)
				slices.SortStableFunc(found, func(a, b *gmailStored) int { return cmp.Compare(b.internalDate, a.internalDate) })
				out := map[string]any{"resultSizeEstimate": len(found)}
				if offset < len(found) {
					page := found[offset:min(offset+size, len(found))]
					msgs := make([]any, len(page))
					for i, m := range page {
						msgs[i] = map[string]any{"id": m.id, "threadId": m.threadID}
					}
					out["messages"] = msgs
					if offset+size < len(found) {
						out["nextPageToken"] = strconv.Itoa(offset + size)
					}
				}
				writeJSON(w, http.StatusOK, out)
			},
			"GET /gmail/v1/users/me/messages/{id}": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if !googleAuth(f, w, r, gmailGetScope, GmailSendOnly) {
					return
				}
				box.mu.Lock()
				defer box.mu.Unlock()
				i := slices.IndexFunc(box.messages, func(m *gmailStored) bool { return m.id == r.PathValue("id") })
				if i < 0 {
					googleError(w, http.StatusNotFound, "notFound", "Requested entity was not found.")
					return
				}
				m := box.messages[i]
				snippet := strings.Join(strings.Fields(m.email.Text), " ")
				if len(snippet) > 100 {
					snippet = snippet[:100]
				}
				out := map[string]any{
					"id": m.id, "threadId": m.threadID, "labelIds": m.labels, "snippet": snippet,
					"sizeEstimate": len(m.raw), "historyId": "1234", "internalDate": strconv.FormatInt(m.internalDate, 10),
				}
				switch r.URL.Query().Get("format") {
				case "raw":
					out["raw"] = base64.URLEncoding.EncodeToString(m.raw)
				case "metadata":
					out["payload"] = gmailMetadata(m, r.URL.Query()["metadataHeaders"])
				case "minimal":
				default:
					googleError(w, http.StatusBadRequest, "invalidArgument", "the Gmail fake plays format=raw, format=metadata and format=minimal only")
					return
				}
				writeJSON(w, http.StatusOK, out)
			},
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, gmailTestPath, googleFailure) || !googleAuth(f, w, r, userinfoScope) {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"sub":            "110169484474386276334",
				"email":          "ada@example.com",
				"email_verified": true,
			})
		},
	}
}

// Drive fake's fixed files: the user's My Drive root, a folder in it, and
// a file in the folder.
const (
	DriveRootID     = "0AKexampleRootFolderUk9PVA"
	DriveFolderID   = "1FoLdErInvoicesExampleIdAbCdEfGh"
	DriveFolderName = "Invoices"
	DriveFileID     = "1FiLeInvoice42ExampleIdAbCdEfGhIj"
	DriveFileName   = "invoice-42.pdf"
)

// driveFolderType is the MIME type of Drive folders.
const driveFolderType = "application/vnd.google-apps.folder"

// driveFile is a file of the Drive fake.
type driveFile struct {
	id, name, mimeType, description string
	parents                         []string
	trashed                         bool
	data                            []byte
	// created and modified are the createdTime and modifiedTime, to the
	// millisecond as Drive keeps them.
	created, modified time.Time
}

// driveTime writes t as Drive writes times: RFC 3339 in UTC with
// milliseconds, like "2026-01-01T09:00:00.000Z".
func driveTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// resource is the file's Drive file resource.
func (d *driveFile) resource() map[string]any {
	link := "https://drive.google.com/file/d/" + d.id + "/view?usp=drivesdk"
	if d.mimeType == driveFolderType {
		link = "https://drive.google.com/drive/folders/" + d.id
	}
	m := map[string]any{
		"kind": "drive#file", "id": d.id, "name": d.name, "mimeType": d.mimeType,
		"parents": d.parents, "webViewLink": link, "trashed": d.trashed,
		"createdTime": driveTime(d.created), "modifiedTime": driveTime(d.modified),
	}
	if d.description != "" {
		m["description"] = d.description
	}
	if d.mimeType != driveFolderType {
		m["size"] = strconv.Itoa(len(d.data))
	}
	return m
}

// driveStore holds the Drive fake's files, in creation order.
type driveStore struct {
	mu    sync.Mutex
	next  int
	files []*driveFile
	// pageCap, when > 0, caps the files of a list page
	// (SetGooglePageCap).
	pageCap int
}

// add stores a file named name of mimeType in the folder parent ("root"
// is My Drive), created and modified at at, and returns it.
func (s *driveStore) add(name, mimeType, parent string, data []byte, at time.Time) *driveFile {
	if parent == "root" {
		parent = DriveRootID
	}
	if p := s.get(parent); p == nil || p.mimeType != driveFolderType {
		panic("apptest: the Drive fake has no folder " + parent)
	}
	s.next++
	at = at.UTC().Truncate(time.Millisecond)
	d := &driveFile{id: fmt.Sprintf("1AdDeDExampleId%018d", s.next), name: name, mimeType: mimeType,
		parents: []string{parent}, data: data, created: at, modified: at}
	s.files = append(s.files, d)
	return d
}

// AddFile puts in the Drive fake's folder ("root" for My Drive) a file
// named name, created and modified at at (to the millisecond), as if it
// was uploaded then; its MIME type follows the name's extension
// (application/pdf for .pdf, application/octet-stream when the extension
// says nothing). It returns the file's id.
func (f *Fake) AddFile(name, folder string, at time.Time) string {
	store := googleStateOf(f, "google_drive").drive
	mt, _, _ := mime.ParseMediaType(mime.TypeByExtension(path.Ext(name)))
	if mt == "" {
		mt = "application/octet-stream"
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	return store.add(name, mt, folder, []byte("content of "+name), at).id
}

// AddFolder is AddFile for a folder (MIME type
// application/vnd.google-apps.folder) in parent.
func (f *Fake) AddFolder(name, parent string, at time.Time) string {
	store := googleStateOf(f, "google_drive").drive
	store.mu.Lock()
	defer store.mu.Unlock()
	return store.add(name, driveFolderType, parent, nil, at).id
}

// get returns the file with id, nil when there is none.
func (s *driveStore) get(id string) *driveFile {
	for _, d := range s.files {
		if d.id == id {
			return d
		}
	}
	return nil
}

// driveError writes a Drive API error as Drive's guide shows them
// (https://developers.google.com/workspace/drive/api/guides/handle-errors):
// {"error": {"errors": [{"domain": "global", "reason", "message",
// "locationType", "location"}], "code", "message"}}.
func driveError(w http.ResponseWriter, status int, reason, message, location string) {
	item := map[string]any{"domain": "global", "reason": reason, "message": message}
	if location != "" {
		item["location"], item["locationType"] = location, "parameter"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"errors": []any{item}, "code": status, "message": message}})
}

// driveFields splits a fields parameter at its top-level commas: "id,name"
// or "nextPageToken,files(id,name)" gives {"id": "", "name": ""} or
// {"nextPageToken": "", "files": "id,name"}.
func driveFields(s string) (map[string]string, bool) {
	out := map[string]string{}
	depth, startAt := 0, 0
	add := func(item string) bool {
		item = strings.TrimSpace(item)
		name, sub, nested := strings.Cut(item, "(")
		if nested {
			if !strings.HasSuffix(sub, ")") {
				return false
			}
			sub = strings.TrimSuffix(sub, ")")
		}
		if name == "" {
			return false
		}
		out[strings.TrimSpace(name)] = sub
		return true
	}
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				if !add(s[startAt:i]) {
					return nil, false
				}
				startAt = i + 1
			}
		}
	}
	if depth != 0 || !add(s[startAt:]) {
		return nil, false
	}
	return out, true
}

// driveSelect keeps of v the fields of a fields parameter; "*" keeps all,
// "" keeps the method's defaults.
func driveSelect(v map[string]any, fields string, defaults ...string) map[string]any {
	if fields == "*" {
		return v
	}
	sel := map[string]string{}
	if fields == "" {
		for _, k := range defaults {
			sel[k] = ""
		}
	} else {
		sel, _ = driveFields(fields)
	}
	out := map[string]any{}
	for k, sub := range sel {
		x, ok := v[k]
		if !ok {
			continue
		}
		if list, isList := x.([]map[string]any); isList && sub != "" {
			picked := make([]map[string]any, len(list))
			for i, e := range list {
				picked[i] = driveSelect(e, sub)
			}
			x = picked
		}
		out[k] = x
	}
	return out
}

// driveFileDefaults are the fields of a file resource Drive answers
// without a fields parameter.
var driveFileDefaults = []string{"kind", "id", "name", "mimeType"}

// driveMetadata is the file metadata a files.create request may carry.
type driveMetadata struct {
	Name        string   `json:"name"`
	MimeType    string   `json:"mimeType"`
	Description string   `json:"description"`
	Parents     []string `json:"parents"`
}

// newDrive plays the Drive API v3
// (https://developers.google.com/workspace/drive/api/reference/rest/v3),
// all with "Authorization: Bearer <token>":
//
//   - GET /drive/v3/about (about.get): the fields parameter is required:
//     without it the answer is 400 (reason required, location fields);
//     with fields=user (or *) 200 {"user": {"kind": "drive#user",
//     "displayName", "photoLink", "me", "permissionId", "emailAddress"}}.
//   - POST /upload/drive/v3/files?uploadType=multipart (files.create, a
//     multipart upload,
//     https://developers.google.com/workspace/drive/api/guides/manage-uploads#multipart):
//     a multipart/related body (RFC 2387) of two parts, the JSON metadata
//     (Content-Type application/json; charset=UTF-8) first, then the
//     file's bytes with their Content-Type. The fake parses it with
//     mime/multipart, keeps the bytes, and answers 200 with the file
//     resource {"kind": "drive#file", "id", "name", "mimeType",
//     "parents", "webViewLink", ...}, only the fields asked for when
//     fields is given (kind, id, name and mimeType otherwise). Another
//     Content-Type answers 400 badContent "Bad content type. Please use
//     multipart."; a body mime/multipart cannot read answers 400 with the
//     text "Malformed multipart body." (not JSON, as Google's upload
//     server answers, https://github.com/Byron/google-apis-rs/issues/291);
//     metadata that is not a JSON object 400 parseError. The fake plays no
//     other uploadType.
//   - POST /drive/v3/files (files.create, metadata only, like a folder
//     with mimeType application/vnd.google-apps.folder) answers the same.
//   - GET /drive/v3/files?q&fields&pageSize&pageToken&orderBy&spaces
//     (files.list) answers {"kind": "drive#fileList", "incompleteSearch":
//     false, "files": [...], "nextPageToken"}, files(...) picking the
//     files' fields (id, name, mimeType, parents, webViewLink, size,
//     createdTime, modifiedTime, trashed, ...). pageSize is 100 by default
//     and at most 1000 (and SetGooglePageCap's cap). q is Drive's query
//     language
//     (https://developers.google.com/workspace/drive/api/guides/search-files):
//     name, mimeType and fullText with =, != or contains, trashed and
//     starred = true or false, 'id' in parents ('root' is My Drive),
//     createdTime and modifiedTime with =, !=, <, <=, > or >= and an RFC
//     3339 time in quotes (UTC when it has no zone), joined by and, or,
//     not and parentheses; strings in single quotes with ' and \ escaped
//     by a backslash. orderBy takes createdTime, modifiedTime and name,
//     each optionally desc, comma-separated (the files come in creation
//     order without it); another key answers 400 invalid (location
//     orderBy). A query the fake cannot parse answers 400 {"error":
//     {"errors": [{"domain": "global", "reason": "invalid", "message":
//     "Invalid Value", "locationType": "parameter", "location": "q"}],
//     "code": 400, "message": "Invalid Value"}}. Without trashed = false
//     the list includes trashed files, as Drive's does.
//   - GET /drive/v3/files/{fileId} (files.get) answers the resource, or
//     with alt=media the file's bytes; a folder cannot be downloaded (403
//     fileNotDownloadable).
//
// An unknown fileId or parent answers 404 notFound "File not found:
// <id>." (location fileId). The fake starts with DriveRootID (My Drive),
// the folder DriveFolderID in it, the file DriveFileID in the folder and a
// trashed file of the same name, created in December 2025; a file created
// through the API is created now, and a test adds files created when it
// says with AddFile and AddFolder. Auth failures and rate limiting are
// Google's, as for Gmail; a token without a Drive scope (NoScope) answers
// 403 insufficientPermissions.
func newDrive() (*Fake, *spec) {
	f := &Fake{
		Token:   "ya29.drive-valid-access-token",
		Tokens:  map[string]string{Expired: "ya29.drive-expired-token", NoScope: "ya29.drive-no-scope-token", RateLimitedForbidden: "ya29.drive-user-rate-limited"},
		Account: "ada@example.com",
	}
	day := func(d int) time.Time { return time.Date(2025, time.December, d, 9, 0, 0, 0, time.UTC) }
	store := &driveStore{files: []*driveFile{
		{id: DriveRootID, name: "My Drive", mimeType: driveFolderType, created: day(1), modified: day(1)},
		{id: DriveFolderID, name: DriveFolderName, mimeType: driveFolderType, parents: []string{DriveRootID}, created: day(2), modified: day(2)},
		{id: DriveFileID, name: DriveFileName, mimeType: "application/pdf", parents: []string{DriveFolderID}, data: []byte("%PDF-1.7 invoice 42"), created: day(3), modified: day(3)},
		{id: "1FiLeTrashedInvoice42ExampleIdAbC", name: DriveFileName, mimeType: "application/pdf", parents: []string{DriveFolderID}, trashed: true, data: []byte("%PDF-1.7 old"), created: day(4), modified: day(4)},
	}}
	setGoogleState(f, &googleState{drive: store})
	// create stores a file from its metadata and answers its resource.
	create := func(w http.ResponseWriter, r *http.Request, meta driveMetadata, mediaType string, data []byte) {
		store.mu.Lock()
		defer store.mu.Unlock()
		parents := slices.Clone(meta.Parents)
		if len(parents) == 0 {
			parents = []string{DriveRootID}
		}
		for i, p := range parents {
			if p == "root" {
				parents[i] = DriveRootID
			}
		}
		for _, p := range parents {
			if store.get(p) == nil {
				driveError(w, http.StatusNotFound, "notFound", "File not found: "+p+".", "fileId")
				return
			}
		}
		mt := meta.MimeType
		if mt == "" {
			mt = mediaType
		}
		if mt == "" {
			mt = "application/octet-stream"
		}
		name := meta.Name
		if name == "" {
			name = "Untitled"
		}
		store.next++
		now := time.Now().UTC().Truncate(time.Millisecond)
		d := &driveFile{id: fmt.Sprintf("1UpLoAdEdExampleId%015d", store.next), name: name, mimeType: mt,
			description: meta.Description, parents: parents, data: slices.Clone(data), created: now, modified: now}
		store.files = append(store.files, d)
		writeJSON(w, http.StatusOK, driveSelect(d.resource(), r.URL.Query().Get("fields"), driveFileDefaults...))
	}
	// metadata decodes a JSON metadata part or body, answering 400
	// parseError when it is not a metadata object.
	metadata := func(w http.ResponseWriter, data []byte) (driveMetadata, bool) {
		var meta driveMetadata
		if len(bytes.TrimSpace(data)) == 0 {
			return meta, true
		}
		if err := json.Unmarshal(data, &meta); err != nil {
			driveError(w, http.StatusBadRequest, "parseError", "Parse Error", "")
			return meta, false
		}
		return meta, true
	}
	malformed := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "Malformed multipart body.")
	}
	return f, &spec{
		failure: googleFailure,
		methods: map[string]Handler{
			"POST /upload/drive/v3/files": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if !googleAuth(f, w, r, driveCreateScope) {
					return
				}
				body = googleBody(r, body)
				if ut := r.URL.Query().Get("uploadType"); ut != "multipart" {
					driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "uploadType")
					return
				}
				mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
				if err != nil || mt != "multipart/related" || params["boundary"] == "" {
					driveError(w, http.StatusBadRequest, "badContent", "Bad content type. Please use multipart.", "")
					return
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				var parts [][]byte
				var types []string
				for {
					p, err := mr.NextRawPart()
					if err == io.EOF {
						break
					}
					if err != nil {
						malformed(w)
						return
					}
					data, err := io.ReadAll(p)
					if err != nil {
						malformed(w)
						return
					}
					parts, types = append(parts, data), append(types, p.Header.Get("Content-Type"))
				}
				if len(parts) != 2 {
					malformed(w)
					return
				}
				if mt, _, err := mime.ParseMediaType(types[0]); err != nil || mt != "application/json" {
					malformed(w)
					return
				}
				meta, ok := metadata(w, parts[0])
				if !ok {
					return
				}
				mediaType := ""
				if mt, _, err := mime.ParseMediaType(types[1]); err == nil {
					mediaType = types[1]
					if !strings.Contains(mt, "/") {
						mediaType = ""
					}
				}
				create(w, r, meta, mediaType, parts[1])
			},
			"POST /drive/v3/files": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if !googleAuth(f, w, r, driveCreateScope) {
					return
				}
				if meta, ok := metadata(w, body); ok {
					create(w, r, meta, "", nil)
				}
			},
			"GET /drive/v3/files": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if !googleAuth(f, w, r, driveListScope) {
					return
				}
				q := r.URL.Query()
				size := 100
				if s := q.Get("pageSize"); s != "" {
					n, err := strconv.Atoi(s)
					if err != nil || n < 1 {
						driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "pageSize")
						return
					}
					size = min(n, 1000)
				}
				if s := q.Get("spaces"); s != "" && s != "drive" {
					driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "spaces")
					return
				}
				match := func(*driveFile) bool { return true }
				if s := q.Get("q"); s != "" {
					var err error
					if match, err = driveQuery(s); err != nil {
						driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "q")
						return
					}
				}
				order, err := driveOrder(q.Get("orderBy"))
				if err != nil {
					driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "orderBy")
					return
				}
				offset := 0
				if s := q.Get("pageToken"); s != "" {
					n, err := strconv.Atoi(s)
					if err != nil || n < 0 {
						driveError(w, http.StatusBadRequest, "invalid", "Invalid Value", "pageToken")
						return
					}
					offset = n
				}
				store.mu.Lock()
				if store.pageCap > 0 {
					size = min(size, store.pageCap)
				}
				var picked []*driveFile
				for _, d := range store.files {
					if d.id != DriveRootID && match(d) {
						picked = append(picked, d)
					}
				}
				slices.SortStableFunc(picked, order)
				found := make([]map[string]any, len(picked))
				for i, d := range picked {
					found[i] = d.resource()
				}
				store.mu.Unlock()
				out := map[string]any{"kind": "drive#fileList", "incompleteSearch": false, "files": []map[string]any{}}
				if offset < len(found) {
					out["files"] = found[offset:min(offset+size, len(found))]
					if offset+size < len(found) {
						out["nextPageToken"] = strconv.Itoa(offset + size)
					}
				}
				fields := q.Get("fields")
				if fields == "" {
					fields = "kind,incompleteSearch,nextPageToken,files(" + strings.Join(driveFileDefaults, ",") + ")"
				}
				writeJSON(w, http.StatusOK, driveSelect(out, fields))
			},
			"GET /drive/v3/files/{fileId}": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if !googleAuth(f, w, r, driveGetScope) {
					return
				}
				store.mu.Lock()
				defer store.mu.Unlock()
				id := r.PathValue("fileId")
				d := store.get(id)
				if d == nil {
					driveError(w, http.StatusNotFound, "notFound", "File not found: "+id+".", "fileId")
					return
				}
				if r.URL.Query().Get("alt") != "media" {
					writeJSON(w, http.StatusOK, driveSelect(d.resource(), r.URL.Query().Get("fields"), driveFileDefaults...))
					return
				}
				if d.mimeType == driveFolderType {
					driveError(w, http.StatusForbidden, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export with Docs Editors files.", "alt")
					return
				}
				w.Header().Set("Content-Type", d.mimeType)
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(d.data)
			},
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/drive/v3/about", googleFailure) || !googleAuth(f, w, r, driveAboutScope) {
				return
			}
			fields := r.URL.Query().Get("fields")
			if fields == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
					"code":    400,
					"message": "The 'fields' parameter is required for this method.",
					"errors": []any{map[string]any{
						"message": "The 'fields' parameter is required for this method.", "domain": "global",
						"reason": "required", "location": "fields", "locationType": "parameter",
					}},
				}})
				return
			}
			out := map[string]any{}
			if fields == "*" || strings.Contains(fields, "user") {
				out["user"] = map[string]any{
					"kind":         "drive#user",
					"displayName":  "Ada Lovelace",
					"photoLink":    "https://lh3.googleusercontent.com/a/default-user",
					"me":           true,
					"permissionId": "00112233445566778899",
					"emailAddress": "ada@example.com",
				}
			}
			writeJSON(w, http.StatusOK, out)
		},
	}
}

// driveQuery compiles a Drive search query (q) into a file filter.
func driveQuery(q string) (func(*driveFile) bool, error) {
	toks, err := driveTokens(q)
	if err != nil {
		return nil, err
	}
	p := &driveParser{toks: toks}
	match, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].text)
	}
	return match, nil
}

// driveToken is a token of a Drive query: a quoted string (str), or a
// word, an operator or a parenthesis.
type driveToken struct {
	text string
	str  bool
}

// driveTokens splits a Drive query into tokens, undoing the \' and \\
// escapes of its strings.
func driveTokens(q string) ([]driveToken, error) {
	var out []driveToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '=':
			out = append(out, driveToken{text: string(c)})
			i++
		case c == '!' || c == '<' || c == '>':
			op := string(c)
			if i+1 < len(q) && q[i+1] == '=' {
				op += "="
			}
			if op == "!" {
				return nil, errors.New("a lone exclamation mark")
			}
			out = append(out, driveToken{text: op})
			i += len(op)
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, errors.New("unterminated string")
				}
				if q[i] == '\\' {
					if i+1 >= len(q) || (q[i+1] != '\'' && q[i+1] != '\\') {
						return nil, errors.New("bad escape")
					}
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				if q[i] == '\'' {
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			out = append(out, driveToken{text: b.String(), str: true})
		default:
			j := i
			for j < len(q) && strings.IndexByte(" \t\r\n()=!<>'", q[j]) < 0 {
				j++
			}
			out = append(out, driveToken{text: q[i:j]})
			i = j
		}
	}
	return out, nil
}

// driveParser parses the tokens of a Drive query.
type driveParser struct {
	toks []driveToken
	i    int
}

// keyword reports whether the next token is the word w (any case) and
// consumes it.
func (p *driveParser) keyword(w string) bool {
	if p.i < len(p.toks) && !p.toks[p.i].str && strings.EqualFold(p.toks[p.i].text, w) {
		p.i++
		return true
	}
	return false
}

// next returns the next token.
func (p *driveParser) next() (driveToken, error) {
	if p.i >= len(p.toks) {
		return driveToken{}, errors.New("unexpected end")
	}
	p.i++
	return p.toks[p.i-1], nil
}

func (p *driveParser) or() (func(*driveFile) bool, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(d *driveFile) bool { return l(d) || right(d) }
	}
	return left, nil
}

func (p *driveParser) and() (func(*driveFile) bool, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(d *driveFile) bool { return l(d) && right(d) }
	}
	return left, nil
}

func (p *driveParser) unary() (func(*driveFile) bool, error) {
	if p.keyword("not") {
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(d *driveFile) bool { return !m(d) }, nil
	}
	if p.keyword("(") {
		m, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.keyword(")") {
			return nil, errors.New("missing )")
		}
		return m, nil
	}
	return p.cond()
}

// cond parses one term: 'value' in parents, or field operator value.
func (p *driveParser) cond() (func(*driveFile) bool, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.str {
		if !p.keyword("in") || !p.keyword("parents") {
			return nil, errors.New("a string term must be 'id' in parents")
		}
		id := t.text
		if id == "root" {
			id = DriveRootID
		}
		return func(d *driveFile) bool { return slices.Contains(d.parents, id) }, nil
	}
	field := t.text
	op, err := p.next()
	if err != nil || op.str {
		return nil, errors.New("missing operator")
	}
	v, err := p.next()
	if err != nil {
		return nil, err
	}
	switch field {
	case "name", "mimeType", "fullText":
		if !v.str {
			return nil, errors.New("a string value must be quoted")
		}
		get := func(d *driveFile) string {
			switch field {
			case "name":
				return d.name
			case "mimeType":
				return d.mimeType
			}
			return d.name + " " + d.description + " " + string(d.data)
		}
		switch op.text {
		case "=":
			if field != "fullText" {
				return func(d *driveFile) bool { return get(d) == v.text }, nil
			}
		case "!=":
			if field != "fullText" {
				return func(d *driveFile) bool { return get(d) != v.text }, nil
			}
		case "contains":
			return func(d *driveFile) bool { return strings.Contains(strings.ToLower(get(d)), strings.ToLower(v.text)) }, nil
		}
	case "createdTime", "modifiedTime":
		if !v.str {
			return nil, errors.New("a time value must be quoted")
		}
		at, err := driveParseTime(v.text)
		if err != nil {
			return nil, err
		}
		get := func(d *driveFile) time.Time { return d.created }
		if field == "modifiedTime" {
			get = func(d *driveFile) time.Time { return d.modified }
		}
		cmps := map[string]func(int) bool{
			"=": func(c int) bool { return c == 0 }, "!=": func(c int) bool { return c != 0 },
			"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
			">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
		}
		if ok := cmps[op.text]; ok != nil {
			return func(d *driveFile) bool { return ok(get(d).Compare(at)) }, nil
		}
	case "trashed", "starred":
		if v.str || (v.text != "true" && v.text != "false") || (op.text != "=" && op.text != "!=") {
			return nil, errors.New("a boolean term takes = or != and true or false")
		}
		want := (v.text == "true") == (op.text == "=")
		if field == "starred" {
			return func(*driveFile) bool { return !want }, nil
		}
		return func(d *driveFile) bool { return d.trashed == want }, nil
	}
	return nil, fmt.Errorf("%s %s is not a term the fake plays", field, op.text)
}

// driveParseTime parses a time of a Drive query: RFC 3339, with or
// without fractional seconds, the zone UTC when it has none, as Drive's
// search guide says ("Dates use RFC 3339 format, the default time zone is
// UTC").
func driveParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
}

// driveOrder compiles a files.list orderBy ("createdTime", "name,
// modifiedTime desc") into a comparison; the fake plays the keys
// createdTime, modifiedTime and name, each ascending or with desc. Without
// orderBy the files keep the store's order (creation).
func driveOrder(orderBy string) (func(a, b *driveFile) int, error) {
	var keys []func(a, b *driveFile) int
	for item := range strings.SplitSeq(orderBy, ",") {
		fields := strings.Fields(item)
		if len(fields) == 0 && strings.TrimSpace(orderBy) == "" {
			break
		}
		if len(fields) == 0 || len(fields) > 2 || len(fields) == 2 && fields[1] != "desc" {
			return nil, fmt.Errorf("orderBy %q", orderBy)
		}
		var key func(a, b *driveFile) int
		switch fields[0] {
		case "createdTime":
			key = func(a, b *driveFile) int { return a.created.Compare(b.created) }
		case "modifiedTime":
			key = func(a, b *driveFile) int { return a.modified.Compare(b.modified) }
		case "name":
			key = func(a, b *driveFile) int { return strings.Compare(a.name, b.name) }
		default:
			return nil, fmt.Errorf("the fake cannot order by %s", fields[0])
		}
		if len(fields) == 2 {
			asc := key
			key = func(a, b *driveFile) int { return -asc(a, b) }
		}
		keys = append(keys, key)
	}
	return func(a, b *driveFile) int {
		for _, k := range keys {
			if c := k(a, b); c != 0 {
				return c
			}
		}
		return 0
	}, nil
}

// Drive scopes: what files.create, files.list and files.get accept.
var (
	driveCreateScope = googleScope{service: "drive.googleapis.com", method: "google.apps.drive.v3.DriveFiles.Create", scopes: []string{
		"https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.appdata", "https://www.googleapis.com/auth/drive.file"}}
	driveListScope = googleScope{service: "drive.googleapis.com", method: "google.apps.drive.v3.DriveFiles.List", scopes: driveReadScopes}
	driveGetScope  = googleScope{service: "drive.googleapis.com", method: "google.apps.drive.v3.DriveFiles.Get", scopes: driveReadScopes}
)

// driveAboutScope is what about.get accepts.
var driveAboutScope = googleScope{service: "drive.googleapis.com", method: "google.apps.drive.v3.DriveAbout.Get", scopes: driveReadScopes}

// driveReadScopes are the scopes the Drive methods that read accept.
var driveReadScopes = []string{
	"https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.appdata", "https://www.googleapis.com/auth/drive.file",
	"https://www.googleapis.com/auth/drive.metadata", "https://www.googleapis.com/auth/drive.metadata.readonly",
	"https://www.googleapis.com/auth/drive.photos.readonly", "https://www.googleapis.com/auth/drive.readonly",
}
