// Package apptest provides httptest servers that play the apps of the
// catalog for tests: one Fake per app, answering the app's test endpoint
// the way the app's API documentation says it answers. A fake checks the
// method and path, the credential where the app expects it (an
// Authorization bearer header, Zoho's "Zoho-oauthtoken " prefix, Mailchimp
// Transactional's "key" in the JSON body...) and the headers the app
// requires (Notion-Version); it answers a good credential with the app's
// success body naming the account, a bad one with the app's own error
// answer (Slack's HTTP 200 {"ok": false, "error": "invalid_auth"},
// Mailchimp Transactional's HTTP 500 Invalid_Key...), and can be told to
// answer the next requests with the app's rate-limit answer (429 with an
// optional Retry-After) or another failure.
//
// Each fake's doc comment (see the new* functions) lists the documented
// behaviour it reproduces and the pages it follows.
package apptest

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"wiresk/internal/catalog"
)

// Names of the tokens in Fake.Tokens: credentials that a fake answers with
// a documented failure or a documented variant of its success answer.
const (
	// Expired is an access token the app reports as expired.
	Expired = "expired"
	// Revoked is a token the app reports as revoked (Slack).
	Revoked = "revoked"
	// NoScope is a token without the scope the test endpoint needs
	// (Google Drive: a token without a Drive scope answers 403) or some
	// methods need (HubSpot: the deal endpoints answer 403
	// MISSING_SCOPES).
	NoScope = "no_scope"
	// QuotaExhausted is a key whose account has no quota left (OpenAI
	// answers 429 insufficient_quota, which no retry can fix).
	QuotaExhausted = "quota_exhausted"
	// RateLimitedForbidden is a token whose user the app rate limits with
	// a 403 and a rate-limit reason (Google's userRateLimitExceeded).
	RateLimitedForbidden = "rate_limited_forbidden"
	// Internal is a token whose identity is the fallback one: Notion's
	// internal integration (owned by the workspace, no user), Airtable's
	// token without the user.email:read scope (no email).
	Internal = "internal"
)

// Fake is an httptest server playing one app of the catalog.
type Fake struct {
	// App is the catalog id of the app.
	App string
	// Server is the running server; it is closed when the test ends.
	Server *httptest.Server
	// Token is the credential the fake accepts: the access token or API
	// key.
	Token string
	// Username and Password are the HTTP Basic credentials the fake
	// accepts, for apps that offer basic auth (the generic HTTP app).
	Username string
	Password string
	// Tokens are further credentials with a documented behaviour, by name
	// (Expired, Revoked, NoScope, QuotaExhausted, RateLimitedForbidden,
	// Internal); each fake documents the ones it knows.
	Tokens map[string]string
	// Accept, when set, reports whether the fake takes token as well as
	// Token, as a provider's API takes the access tokens its authorization
	// server issued: set it to an oauthtest.Server's Valid to use the
	// tokens of a real OAuth flow. Each fake documents where it applies.
	Accept func(token string) bool
	// Before, when set, sees each request before the fake records or
	// answers it; when it returns false the request is dropped unanswered
	// and unrecorded, as if the network failed before the app got it
	// (a test kills the caller there).
	Before func(r *http.Request) bool
	// Account is the account identity a Test with Token must report.
	Account string
	// Config is the connection config to test the app with.
	Config map[string]string

	spec *spec
	mux  *http.ServeMux

	mu         sync.Mutex
	requests   int
	failN      int // answers left to fail; -1 for all
	failStatus int
	failRetry  string
	last       Request
	log        []Request
}

// Request is a request a fake received.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Query holds the URL's query parameters.
	Query url.Values
	// Header holds the request headers.
	Header http.Header
	// Body is the request body (at most 1 MiB of it).
	Body []byte
}

// spec is what makes a fake play one app.
type spec struct {
	// serve answers a request that no failure was asked for.
	serve func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte)
	// failure writes the app's answer for status (429 rate limiting, 503,
	// 500...), without Retry-After.
	failure func(w http.ResponseWriter, status int)
	// testPath is, for an app whose catalog test.url is absolute (not
	// under base_url), the path of the fake that plays it; "" otherwise.
	testPath string
	// methods answer the app's method endpoints, by net/http.ServeMux
	// pattern ("POST /crm/v3/objects/contacts/search",
	// "PATCH /crm/v3/objects/contacts/{id}"; r.PathValue works). A request
	// no pattern matches goes to serve.
	methods map[string]Handler
}

// Handler answers one method endpoint of a fake; body is the request
// body, already read.
type Handler func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte)

// bodyKey carries the request body read by ServeHTTP to a method Handler.
type bodyKey struct{}

// makers are the fakes, by catalog app id.
var makers = map[string]func() (*Fake, *spec){
	"airtable":                newAirtable,
	"gmail":                   newGmail,
	"google_drive":            newDrive,
	"http":                    newHTTP,
	"hubspot":                 newHubSpot,
	"mailchimp_transactional": newMailchimp,
	"notion":                  newNotion,
	"openai":                  newOpenAI,
	"slack":                   newSlack,
	"zoho_crm":                newZoho,
}

// Apps returns the catalog ids of the apps that have a fake, sorted.
func Apps() []string { return slices.Sorted(maps.Keys(makers)) }

// New starts the fake of the app with the catalog id app, closed when the
// test ends. ok is false when the app has no fake.
func New(t testing.TB, app string) (f *Fake, ok bool) {
	t.Helper()
	mk, ok := makers[app]
	if !ok {
		return nil, false
	}
	f, s := mk()
	f.App, f.spec = app, s
	if f.Tokens == nil {
		f.Tokens = map[string]string{}
	}
	if len(s.methods) > 0 {
		f.mux = http.NewServeMux()
		for pattern, h := range s.methods {
			f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
				body, _ := r.Context().Value(bodyKey{}).([]byte)
				h(f, w, r, body)
			})
		}
	}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Server.Close)
	if f.Config == nil {
		f.Config = map[string]string{}
	}
	if app == "http" {
		f.Config["test_url"] = f.Server.URL + httpTestPath
	}
	return f, true
}

// NewAll starts a fake of every app that has one, by catalog id.
func NewAll(t testing.TB) map[string]*Fake {
	t.Helper()
	out := make(map[string]*Fake, len(makers))
	for _, id := range Apps() {
		out[id], _ = New(t, id)
	}
	return out
}

// BaseURLs returns the fakes' URLs by app id, for catalog.WithBaseURLs.
// They do not reach a test URL that the catalog gives as an absolute URL
// (Gmail's): use Overrides to point a catalog at the fakes.
func BaseURLs(fakes map[string]*Fake) map[string]string {
	out := make(map[string]string, len(fakes))
	for id, f := range fakes {
		out[id] = f.URL()
	}
	return out
}

// Overrides returns the catalog overrides that point the apps at the
// fakes, by app id, for catalog.WithOverrides: each fake's URL as the base
// URL and, for an app whose test URL is absolute (Gmail's userinfo
// endpoint), the fake's test endpoint as the test URL.
func Overrides(fakes map[string]*Fake) map[string]catalog.Override {
	out := make(map[string]catalog.Override, len(fakes))
	for id, f := range fakes {
		ov := catalog.Override{BaseURL: f.URL()}
		if f.spec != nil && f.spec.testPath != "" {
			ov.TestURL = f.URL() + f.spec.testPath
		}
		out[id] = ov
	}
	return out
}

// URL returns the base URL of the fake, to pass as the app's base-URL
// override to catalog.Load.
func (f *Fake) URL() string { return f.Server.URL }

// Requests returns how many requests the fake received.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// LastRequest returns the last request the fake received.
func (f *Fake) LastRequest() Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.last
	r.Header = r.Header.Clone()
	r.Query = maps.Clone(r.Query)
	r.Body = slices.Clone(r.Body)
	return r
}

// Received returns the requests the fake received, oldest first, whose
// "METHOD /path" is route ("" for all): what a test asserts to check that
// a step reached the app exactly once.
func (f *Fake) Received(route string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.log {
		if route == "" || r.Method+" "+r.Path == route {
			out = append(out, r)
		}
	}
	return out
}

// Throttle makes the fake answer the next n requests (every request from
// now on when n is negative) with the app's rate-limit answer: HTTP 429
// and the app's error body, with a Retry-After header of retryAfter unless
// it is "" (a number of seconds or an HTTP date).
func (f *Fake) Throttle(n int, retryAfter string) { f.Fail(n, http.StatusTooManyRequests, retryAfter) }

// Fail makes the fake answer the next n requests (every request from now
// on when n is negative) with status and the app's error body for it,
// with a Retry-After header of retryAfter unless it is "".
func (f *Fake) Fail(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failStatus, f.failRetry = n, status, retryAfter
}

// ServeHTTP records the request and answers it.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.Before != nil && !f.Before(r) {
		panic(http.ErrAbortHandler)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.requests++
	f.last = Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	f.log = append(f.log, f.last)
	fail := f.failN != 0
	status, retry := f.failStatus, f.failRetry
	if f.failN > 0 {
		f.failN--
	}
	f.mu.Unlock()
	if fail {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		f.spec.failure(w, status)
		return
	}
	if f.mux != nil {
		if _, pattern := f.mux.Handler(r); pattern != "" {
			f.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)))
			return
		}
	}
	f.spec.serve(f, w, r, body)
}

// Get sends GET path to the fake with Token, as a test reads back what
// the app holds (Drive's alt=media, Gmail's format=raw); it is recorded
// like any request. It returns the status and the body.
func (f *Fake) Get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, f.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// accepts reports whether token is Token or one Accept takes.
func (f *Fake) accepts(token string) bool {
	return token != "" && (token == f.Token || f.Accept != nil && f.Accept(token))
}

// writeJSON writes v as a JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearer returns the token of an "Authorization: Bearer" header, and
// whether there was one.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// route reports whether r is method path; otherwise it answers with
// notFound or a 405 and returns false.
func route(w http.ResponseWriter, r *http.Request, method, path string, notFound func(w http.ResponseWriter, status int)) bool {
	if r.URL.Path != path {
		notFound(w, http.StatusNotFound)
		return false
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		notFound(w, http.StatusMethodNotAllowed)
		return false
	}
	return true
}
