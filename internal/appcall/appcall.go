// Package appcall sends authenticated requests to the apps of the catalog:
// the cheap request a Connection's "Test" makes, and (through Do) any
// rendered request of an app method. It puts the credential where the
// app's catalog file says (an Authorization bearer header, a custom header
// with a prefix such as Zoho's "Zoho-oauthtoken ", a query parameter, a
// field of the JSON body such as Mailchimp Transactional's "key", or HTTP
// Basic), retries rate limiting (429, and what the catalog's rules call
// rate limiting) and transient failures (network errors, 408, 5xx) with
// backoff, honouring Retry-After, and classifies the answer with the
// catalog's rules, so that a token that expired, even when the app says so
// inside an HTTP 200 body like Slack's {"ok": false, "error":
// "invalid_auth"}, comes back as an *Error that errors.Is ErrUnauthorized.
//
// The credential is never logged and never copied into an error, a
// Result or a Response: messages name the request by method, host and
// path only, quote machine codes of the app's error answers rather than
// its free text where the credential was refused, and are scrubbed of
// the credential in any case.
package appcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/egress"
)

// userAgent is sent unless the request sets its own User-Agent.
const userAgent = "Wiresk"

// CredentialKind is the kind of a Credential.
type CredentialKind string

// Credential kinds.
const (
	// CredentialBearer is an OAuth 2.0 access token (auth types oauth2 and
	// oauth2_advanced), sent where the app's catalog credential says.
	CredentialBearer CredentialKind = "bearer"
	// CredentialAPIKey is an API key or personal token the user pasted
	// (auth type api_key), sent where the app's catalog credential says.
	CredentialAPIKey CredentialKind = "api_key"
	// CredentialBasic is a user name and password, sent as HTTP Basic
	// (auth type basic).
	CredentialBasic CredentialKind = "basic"
	// CredentialNone sends no credential (auth type none).
	CredentialNone CredentialKind = "none"
)

// Credential is what authenticates a request to an app. It is the part of
// a Connection's secret that a request needs; where it goes is the app's
// business (catalog.App.CredentialTarget).
type Credential struct {
	// Kind says which of the other fields are used.
	Kind CredentialKind
	// Token is the access token (bearer) or the key (api_key).
	Token string
	// Username and Password are the HTTP Basic credentials (basic).
	Username string
	Password string
}

// String describes the credential without revealing it, so that printing
// a Credential by mistake leaks nothing.
func (c Credential) String() string {
	return fmt.Sprintf("appcall.Credential{Kind: %q, redacted}", c.Kind)
}

// GoString is String, for the %#v verb.
func (c Credential) GoString() string { return c.String() }

// Secrets returns the texts that must never appear in a message or a
// recorded value: the token or password, and the forms they take on the
// wire (HTTP Basic's base64, a query parameter's escaping), so that an app
// that echoes what it was sent is scrubbed too.
func (c Credential) Secrets() []string {
	var out []string
	add := func(s string) {
		if len(s) >= egress.MinSecretLen && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range []string{c.Token, c.Password} {
		if len(s) >= egress.MinSecretLen {
			add(s)
			add(url.QueryEscape(s))
		}
	}
	switch {
	case c.Kind == CredentialBasic && (c.Username != "" || c.Password != ""):
		add(basic(c.Username, c.Password))
	case c.Token != "":
		add(basic(c.Token, ""))
	}
	return out
}

// Result is the outcome of a Test, recorded on the Connection. It holds no
// secret.
type Result struct {
	// OK is true when the app accepted the credential and its answer named
	// the account.
	OK bool
	// Account is the account identity the app's answer names, like
	// "ada@example.com" or "grace @ Subarachnoid Workspace"; "" unless OK.
	Account string
	// Status is the HTTP status of the last answer, 0 when none came.
	Status int
	// Attempts counts the tries, retries included.
	Attempts int
	// Message says what happened, in a sentence fit to show the user.
	Message string
}

// Response is the last answer to a request sent by Do.
type Response struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Body is the response body, at most MaxResponseBytes long.
	Body []byte
	// Attempts counts the tries, retries included.
	Attempts int
}

// RawBody is a request body sent as it is rather than as JSON, for the
// requests that Go code builds where a JSON template cannot (a multipart
// upload, for instance). Set it as the Body of a catalog.Request.
type RawBody struct {
	// ContentType is sent as the Content-Type header unless the request
	// sets one.
	ContentType string
	// Data is the body.
	Data []byte
}

// Client sends authenticated requests to apps. The zero value is ready to
// use; a Client must not be copied or changed once in use, and is safe for
// concurrent use.
type Client struct {
	// Engine sends the requests and retries them. Its default client
	// refuses loopback, private and link-local destinations (SSRF); a
	// Client that is set must be built with egress.NewClient. Redirects
	// are followed only within the request's own host, so that a
	// credential in a custom header, the query or the body never reaches
	// another host.
	egress.Engine
}

// Test makes the app's test request with the credential and reports
// whether the app accepts it and which account it names. config is the
// Connection's config (defaults are applied).
//
// The Result is filled in every case. The error is nil exactly when
// Result.OK; otherwise it is an *Error (errors.Is ErrUnauthorized when the
// credential was refused, so that the caller can mark the Connection
// broken; ErrRateLimited when the app still rate limited the request after
// the retries), or an error wrapping catalog.ErrNoTest when the app's
// test is optional and not configured (the generic HTTP app without a test
// URL): then nothing was sent.
func (c *Client) Test(ctx context.Context, app *catalog.App, config map[string]string, cred Credential) (Result, error) {
	req, err := app.BuildTest(config)
	if errors.Is(err, catalog.ErrNoTest) {
		return Result{Message: fmt.Sprintf("%s has no test request configured, so the connection was not checked", app.Name)},
			fmt.Errorf("appcall: %s: %w", app.ID, err)
	}
	if err != nil {
		e := &Error{Kind: KindPermanent, App: app.ID, Message: scrub(fmt.Sprintf("%s test: %v", app.ID, err), cred), err: err}
		return Result{Message: e.Message}, e
	}
	resp, err := c.Do(ctx, app, config, cred, req)
	res := Result{Status: resp.Status, Attempts: resp.Attempts}
	if err != nil {
		res.Message = err.Error()
		return res, err
	}
	account, err := identity(app, resp.Body)
	if err != nil {
		e := &Error{
			Kind:     KindPermanent,
			App:      app.ID,
			Status:   resp.Status,
			Attempts: resp.Attempts,
			Message:  scrub(fmt.Sprintf("%s test: HTTP %d: %v", app.ID, resp.Status, err), cred),
		}
		res.Message = e.Message
		return res, e
	}
	res.OK = true
	res.Account = scrub(account, cred)
	res.Message = fmt.Sprintf("Connected to %s as %s.", app.Name, res.Account)
	return res, nil
}

// identity reads the account identity from a successful test answer. An
// app whose identity templates are all fixed text and that expects nothing
// of the answer (the generic HTTP app) accepts any answer, JSON or not,
// empty included.
func identity(app *catalog.App, body []byte) (string, error) {
	account, err := app.Identity(body)
	if err == nil {
		return account, nil
	}
	t := app.Test
	if len(t.Expect) == 0 && len(t.Identity) > 0 {
		fixed := true
		for _, s := range t.Identity {
			if strings.Contains(s, "{{") {
				fixed = false
				break
			}
		}
		if fixed {
			return strings.TrimSpace(t.Identity[0]), nil
		}
	}
	return "", err
}

// Do sends a rendered request of app (its test, or a method's request
// completed by any Go builder it names) with the credential, retrying and
// classifying as the package documentation says. The request's Body is
// sent as JSON, or as it is when it is a RawBody; req is not modified.
//
// The *Response is never nil: Attempts counts the tries, and Status,
// Header and Body are those of the last answer, if one came. The error is
// nil for a 2xx answer that no catalog rule calls a failure, and an
// *Error otherwise.
func (c *Client) Do(ctx context.Context, app *catalog.App, config map[string]string, cred Credential, req *catalog.Request) (*Response, error) {
	resp := &Response{}
	p, err := c.prepare(app, config, cred, req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Kind: KindPermanent, App: app.ID, Message: scrub(fmt.Sprintf("%s: %v", app.ID, err), cred), err: err}
		}
		return resp, e
	}
	last, attempts, err := c.Engine.Do(ctx, p.req, judge(app, p))
	resp.Attempts = attempts
	if last != nil {
		resp.Status, resp.Header, resp.Body = last.Status, last.Header, last.Body
	}
	if err == nil {
		return resp, nil
	}
	e := appError(app, p, err)
	e.Attempts = attempts
	return resp, e
}

// appError converts an error of egress.Engine.Do to an *Error.
func appError(app *catalog.App, p *prepared, err error) *Error {
	var in *egress.Interrupted
	if errors.As(err, &in) {
		e := appError(app, p, in.Last)
		if in.Stage != egress.NotRetried {
			e.Kind, e.err = KindTransient, err
		}
		e.Message = scrub(in.Describe(e.Message), p.cred)
		return e
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ee *egress.Error
	if errors.As(err, &ee) {
		kind := KindTransient
		if ee.Permanent {
			kind = KindPermanent
		}
		return &Error{Kind: kind, App: app.ID, Message: scrub(app.ID+": "+ee.Message, p.cred), err: ee}
	}
	return &Error{Kind: KindTransient, App: app.ID, Message: scrub(app.ID+": "+err.Error(), p.cred), err: err}
}

// prepared is a request with its credential, ready to be sent any number
// of times.
type prepared struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte // nil for none
	cred   Credential
	where  string // method and URL without query, for messages
	req    *egress.Request
}

// prepare renders the request with its credential in place.
func (c *Client) prepare(app *catalog.App, config map[string]string, cred Credential, req *catalog.Request) (*prepared, error) {
	if req == nil || req.Method == "" || req.URL == "" {
		builder := ""
		if req != nil && req.Builder != "" {
			builder = fmt.Sprintf(" (its builder %q must complete it first)", req.Builder)
		}
		return nil, fmt.Errorf("the request has no method or URL%s", builder)
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the request URL is not an absolute http or https URL")
	}
	p := &prepared{method: req.Method, url: u, header: req.Header.Clone(), cred: cred}
	if p.header == nil {
		p.header = http.Header{}
	}
	p.where = egress.Where(p.method, u)

	body := req.Body
	rawType := ""
	if raw, ok := body.(RawBody); ok {
		body, rawType = nil, raw.ContentType
		p.body = raw.Data
		if p.body == nil {
			p.body = []byte{}
		}
	}
	if err := c.authenticate(app, config, cred, p, &body); err != nil {
		return nil, err
	}
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("the request body cannot be encoded as JSON: %w", err)
		}
		p.body = data
		if p.header.Get("Content-Type") == "" {
			p.header.Set("Content-Type", "application/json")
		}
	} else if rawType != "" && p.header.Get("Content-Type") == "" {
		p.header.Set("Content-Type", rawType)
	}
	if p.header.Get("Accept") == "" {
		p.header.Set("Accept", "application/json")
	}
	if p.header.Get("User-Agent") == "" {
		p.header.Set("User-Agent", userAgent)
	}
	p.req = &egress.Request{
		Method: p.method, URL: p.url, Header: p.header, Body: p.body,
		Pinned: true, RetryAfterHeader: app.Errors.RetryAfterHeader,
		StopBeforeDeadline: true, Secrets: cred.Secrets(),
	}
	return p, nil
}

// authenticate puts the credential where the app expects it: in p's
// header or URL, or in *body.
func (c *Client) authenticate(app *catalog.App, config map[string]string, cred Credential, p *prepared, body *any) error {
	switch cred.Kind {
	case CredentialNone:
		if !app.Offers(catalog.AuthNone) {
			return credError(app, "%s needs a credential", app.Name)
		}
		return nil
	case CredentialBasic:
		if !app.Offers(catalog.AuthBasic) {
			return credError(app, "%s does not take a user name and password", app.Name)
		}
		if !headerSafe(cred.Username) || !headerSafe(cred.Password) || strings.Contains(cred.Username, ":") {
			return credError(app, "the user name or password has characters HTTP Basic cannot carry")
		}
		p.header.Set("Authorization", "Basic "+basic(cred.Username, cred.Password))
		return nil
	case CredentialBearer, CredentialAPIKey:
	default:
		return credError(app, "unknown credential kind %q", cred.Kind)
	}
	if app.Credential == nil {
		return credError(app, "%s takes no token or API key", app.Name)
	}
	if cred.Token == "" {
		return credError(app, "the credential has no token")
	}
	if !headerSafe(cred.Token) {
		return credError(app, "the token has characters a request cannot carry")
	}
	name, prefix, err := app.CredentialTarget(config)
	if err != nil {
		return &Error{Kind: KindPermanent, App: app.ID, Message: scrub(fmt.Sprintf("%s: %v", app.ID, err), cred), err: err}
	}
	switch app.Credential.Type {
	case catalog.CredentialBearer:
		p.header.Set("Authorization", "Bearer "+cred.Token)
	case catalog.CredentialHeader:
		if !headerSafe(prefix) {
			return credError(app, "the credential header prefix has characters a header cannot carry")
		}
		p.header.Set(name, prefix+cred.Token)
	case catalog.CredentialQuery:
		q := url.QueryEscape(name) + "=" + url.QueryEscape(cred.Token)
		if p.url.RawQuery != "" {
			q = p.url.RawQuery + "&" + q
		}
		u := *p.url
		u.RawQuery = q
		p.url = &u
	case catalog.CredentialBodyField:
		if p.body != nil {
			return credError(app, "the credential goes in the JSON body, but the request body is not JSON")
		}
		var m map[string]any
		switch b := (*body).(type) {
		case nil:
			m = map[string]any{}
		case map[string]any:
			m = maps.Clone(b)
		default:
			return credError(app, "the credential goes in the JSON body, but the request body is not a JSON object")
		}
		m[name] = cred.Token
		*body = m
	case catalog.CredentialBasic:
		p.header.Set("Authorization", "Basic "+basic(cred.Token, ""))
	default:
		return credError(app, "unknown credential type %q in the catalog", app.Credential.Type)
	}
	return nil
}

// credError is a permanent error about the credential; it never quotes
// the credential.
func credError(app *catalog.App, format string, args ...any) *Error {
	return &Error{Kind: KindPermanent, App: app.ID, Message: app.ID + ": " + fmt.Sprintf(format, args...)}
}

// headerSafe reports whether s can travel in a header value.
func headerSafe(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// basic returns the base64 user:password of HTTP Basic.
func basic(user, password string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// judge classifies the answers to p with the app's catalog rules: rate
// limiting and transient failures are retried, rate limiting and 503 after
// the wait the app asks for.
func judge(app *catalog.App, p *prepared) egress.Judge {
	return func(r *egress.Response) egress.Verdict {
		kind := classify(app, r.Status, r.Body)
		if kind == kindOK {
			switch {
			case r.ReadErr != nil:
				return egress.Verdict{Retry: true, Err: &Error{Kind: KindTransient, App: app.ID, Status: r.Status,
					Message: scrub(fmt.Sprintf("%s: %s: reading the answer: %v", app.ID, p.where, r.ReadErr), p.cred), err: r.ReadErr}}
			case r.TooLarge:
				return egress.Verdict{Err: &Error{Kind: KindPermanent, App: app.ID, Status: r.Status,
					Message: fmt.Sprintf("%s: %s: the answer is larger than %d bytes", app.ID, p.where, r.Limit)}}
			}
			return egress.Verdict{}
		}
		e := &Error{Kind: kind, App: app.ID, Status: r.Status, Message: answerMessage(app, p, kind, r)}
		v := egress.Verdict{Err: e, Retry: kind.retryable(), HonourRetryAfter: kind == KindRateLimited || r.Status == http.StatusServiceUnavailable}
		if kind == KindRateLimited {
			// Without a Retry-After, the wait the app documents (Airtable
			// refuses every request for 30 s) rather than a backoff that
			// would spend the tries in vain.
			e.RetryAfter = rateLimitWait(app, r.Header)
			v.Wait = app.Errors.RateLimitWait
		}
		return v
	}
}

// rateLimitWait is the wait a rate-limit answer asks for: its
// Retry-After, or else the app's documented errors.rate_limit_wait; 0
// when neither says.
func rateLimitWait(app *catalog.App, h http.Header) time.Duration {
	if d := egress.RetryAfter(h.Get(app.Errors.RetryAfterHeader), time.Now()); d >= 0 {
		return d
	}
	return app.Errors.RateLimitWait
}

// kindOK is the classification of a successful answer.
const kindOK ErrorKind = ""

// classify judges an answer: by the app's catalog rules and statuses
// first, then by the status alone.
func classify(app *catalog.App, status int, body []byte) ErrorKind {
	switch app.Classify(status, body) {
	case catalog.KindAuth:
		return KindUnauthorized
	case catalog.KindRateLimit:
		return KindRateLimited
	case catalog.KindPermanent:
		return KindPermanent
	case catalog.KindTransient:
		return KindTransient
	}
	switch {
	case status >= 200 && status < 300:
		return kindOK
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return KindUnauthorized
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case egress.Retryable(status):
		return KindTransient
	}
	return KindPermanent
}

// Authenticate puts cred where app expects it (for the given connection
// config) on a request a step builds itself: into header, or into u's
// query. A credential that goes in a JSON body is refused here. Errors
// never quote the credential.
func Authenticate(app *catalog.App, config map[string]string, cred Credential, header http.Header, u *url.URL) error {
	if app.Credential != nil && app.Credential.Type == catalog.CredentialBodyField {
		return credError(app, "the credential goes in the JSON body, which this step does not build")
	}
	p := &prepared{header: header, url: u}
	var body any
	if err := (&Client{}).authenticate(app, config, cred, p, &body); err != nil {
		return err
	}
	*u = *p.url
	return nil
}
