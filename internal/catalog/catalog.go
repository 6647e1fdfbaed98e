// Package catalog is the app catalog: what Wiresk knows about each external
// app a Connection can link to and a step can act in. The catalog is data,
// not code: one declarative YAML file per app under apps/ (embedded in the
// binary decoded, as apps.json: see make catalog), in the spirit of Nango's
// providers.yaml. Each file says which auth
// types the app offers, its OAuth endpoints and scopes, how the credential
// is sent, the connection config fields (like Zoho's data-centre domain),
// the API's base URL, the cheap authenticated request that "Test" makes and
// how to read the account identity from its answer, how to recognise
// expired credentials and rate limiting, and the app's step methods with
// their inputs and HTTP request templates.
//
// Load parses and validates every file at start-up, so a broken file stops
// the process with an error naming the file and the field. The catalog
// holds no secret: the client ids and secrets of the platform's registered
// OAuth apps live in Secrets Manager, never here.
//
// Templates in the files are strings with {{ scope.path }} placeholders and
// nothing else: {{ config.domain }} in URLs, {{ input.text }} in method
// requests, {{ response.user.email }} in identity templates. See the YAML
// schema in apps/README.md.
package catalog

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// AuthType is a way a Connection authenticates to an app.
type AuthType string

// Auth types.
const (
	// AuthOAuth2 uses the platform's registered OAuth app for the provider.
	AuthOAuth2 AuthType = "oauth2"
	// AuthOAuth2Advanced uses an OAuth app the user registered, with the
	// client id, client secret and optional scopes the user supplies.
	AuthOAuth2Advanced AuthType = "oauth2_advanced"
	// AuthAPIKey uses a key or token the user pastes.
	AuthAPIKey AuthType = "api_key"
	// AuthBasic uses a user name and password, sent as HTTP Basic.
	AuthBasic AuthType = "basic"
	// AuthNone sends no credential.
	AuthNone AuthType = "none"
)

// authTypes are the known auth types, in their canonical order.
var authTypes = []AuthType{AuthOAuth2, AuthOAuth2Advanced, AuthAPIKey, AuthBasic, AuthNone}

// IsOAuth reports whether t is one of the OAuth 2.0 auth types.
func (t AuthType) IsOAuth() bool { return t == AuthOAuth2 || t == AuthOAuth2Advanced }

// App is one app of the catalog, as declared in its YAML file. An App
// returned by a Catalog is shared and must not be modified.
type App struct {
	// ID is the app's identifier, the name of its file without .yaml, like
	// "zoho_crm". Steps and Connections refer to apps by ID.
	ID string `yaml:"-"`
	// Name is the display name, like "Zoho CRM".
	Name string `yaml:"name"`
	// Description is a sentence for the app picker.
	Description string `yaml:"description"`
	// Docs links the provider's API documentation.
	Docs string `yaml:"docs"`
	// Auth lists the auth types a Connection to the app may use.
	Auth []AuthType `yaml:"auth"`
	// OAuth describes the provider's OAuth 2.0 endpoints. It is present
	// exactly when Auth offers oauth2 or oauth2_advanced.
	OAuth *OAuth `yaml:"oauth"`
	// Credential says how the OAuth access token or the API key is sent.
	// It is present when Auth offers an OAuth type or api_key. The basic
	// auth type always sends HTTP Basic, and none sends nothing.
	Credential *Credential `yaml:"credential"`
	// Config lists the connection config fields.
	Config []ConfigField `yaml:"config"`
	// BaseURLTemplate is the default API base URL, possibly a template over
	// config, like https://www.zohoapis.{{ config.domain }}. Method and test
	// paths are relative to it. Use BaseURL to render it.
	BaseURLTemplate string `yaml:"base_url"`
	// Headers are fixed extra headers sent with every API request (methods
	// and test), like Notion-Version. Values may be templates over config;
	// a header whose template references an absent config value is left
	// out.
	Headers map[string]string `yaml:"headers"`
	// Test is the cheap authenticated request that "Test" makes.
	Test *TestRequest `yaml:"test"`
	// Errors says how to recognise credential and rate-limit failures.
	Errors Errors `yaml:"errors"`
	// Methods are the app's step methods.
	Methods []Method `yaml:"methods"`

	c compiled
}

// OAuth describes an app's OAuth 2.0 authorization-code flow.
type OAuth struct {
	// AuthorizeURL is the authorization endpoint, possibly a template over
	// config. Use App.AuthorizeURL to render it.
	AuthorizeURL string `yaml:"authorize_url"`
	// TokenURL is the token endpoint, possibly a template over config. Use
	// App.TokenURL to render it.
	TokenURL string `yaml:"token_url"`
	// Revoke describes the token revocation endpoint, when the provider
	// documents one.
	Revoke *Revoke `yaml:"revoke"`
	// Scopes are the scopes the platform requests and those a user may add.
	Scopes Scopes `yaml:"scopes"`
	// ScopeSeparator joins scopes in the authorization request: " " (the
	// default, as RFC 6749 says) or "," for providers like Zoho and Slack.
	ScopeSeparator string `yaml:"scope_separator"`
	// ScopeParam is the name of the authorization request parameter that
	// carries the scopes; "scope" by default.
	ScopeParam string `yaml:"scope_param"`
	// AuthorizeParams are extra authorization request parameters, like
	// Google's access_type=offline and prompt=consent. Values may be
	// templates over config.
	AuthorizeParams map[string]string `yaml:"authorize_params"`
	// PKCE is the PKCE code challenge method the provider supports: "S256"
	// or "" when PKCE is not used.
	PKCE string `yaml:"pkce"`
	// TokenAuth says how the client authenticates to the token endpoint:
	// "body" (client_id and client_secret as form parameters) or "basic"
	// (HTTP Basic header).
	TokenAuth string `yaml:"token_auth"`
	// TokenBody is the encoding of the token request: "form" (the default)
	// or "json" (Notion).
	TokenBody string `yaml:"token_body"`
	// RefreshTokens says what the provider does with refresh tokens:
	// "none" (it issues none; access tokens do not expire), "reusable" (a
	// refresh token stays valid across refreshes) or "rotating" (each
	// refresh returns a new refresh token and may invalidate the old one,
	// so the new one must be written back before anyone refreshes again).
	RefreshTokens string `yaml:"refresh_tokens"`
	// Notes are remarks for implementers and users, like Slack's bot and
	// user scopes.
	Notes string `yaml:"notes"`
}

// Refresh token behaviours.
const (
	RefreshNone     = "none"
	RefreshReusable = "reusable"
	RefreshRotating = "rotating"
)

// Scopes are an app's OAuth scopes.
type Scopes struct {
	// Default are requested by the platform's registered app.
	Default []string `yaml:"default"`
	// Optional may be added by the user (oauth2_advanced).
	Optional []string `yaml:"optional"`
}

// Revoke describes how to revoke a token at the provider.
type Revoke struct {
	// URL is the revocation endpoint, possibly a template over config. Use
	// App.RevokeURL to render it.
	URL string `yaml:"url"`
	// Method is the HTTP method; POST by default.
	Method string `yaml:"method"`
	// Token says which token to revoke: "access_token" or "refresh_token".
	Token string `yaml:"token"`
	// In says where the token goes: "form" (form body), "query", "json"
	// (JSON body) or "bearer" (Authorization header: the request revokes
	// the token it is authenticated with, like Slack's auth.revoke).
	In string `yaml:"in"`
	// Param is the name of the form, query or JSON field; "token" by
	// default.
	Param string `yaml:"param"`
	// ClientAuth says how the client authenticates: "none" (the default),
	// "body" (client_id and client_secret next to the token) or "basic".
	ClientAuth string `yaml:"client_auth"`
	// Headers are extra headers of the revocation request.
	Headers map[string]string `yaml:"headers"`
}

// Credential says how an access token or API key is sent to the app.
type Credential struct {
	// Type is "bearer" (Authorization: Bearer <token>), "header" (header
	// Name, with the optional Prefix before the token), "query" (query
	// parameter Name), "body_field" (field Name of the JSON request body,
	// like Mailchimp Transactional's "key") or "basic" (HTTP Basic with the
	// key as the user name and an empty password).
	Type string `yaml:"type"`
	// Name is the header, query parameter or body field; a template over
	// config (the generic HTTP app takes it from its config).
	Name string `yaml:"name"`
	// Prefix is put before the token in a header, like "Zoho-oauthtoken ";
	// a template over config.
	Prefix string `yaml:"prefix"`
}

// Credential types.
const (
	CredentialBearer    = "bearer"
	CredentialHeader    = "header"
	CredentialQuery     = "query"
	CredentialBodyField = "body_field"
	CredentialBasic     = "basic"
)

// ConfigField is a connection config field.
type ConfigField struct {
	// Name is the field's key in the connection config, like "domain".
	Name string `yaml:"name"`
	// Label is its display name.
	Label string `yaml:"label"`
	// Description helps the user fill it in.
	Description string `yaml:"description"`
	// Type is "string" (the default), "url" (an absolute http or https URL)
	// or "header_name" (an HTTP header field name).
	Type string `yaml:"type"`
	// Required fields must be given unless they have a Default.
	Required bool `yaml:"required"`
	// Default is used when the field is not given.
	Default string `yaml:"default"`
	// Values, when present, are the only values allowed.
	Values []ConfigValue `yaml:"values"`
}

// Config field types.
const (
	ConfigString     = "string"
	ConfigURL        = "url"
	ConfigHeaderName = "header_name"
)

// ConfigValue is an allowed value of a config field.
type ConfigValue struct {
	// Value is the value itself, like "eu".
	Value string `yaml:"value"`
	// Label is its display name, like "Europe (zoho.eu)".
	Label string `yaml:"label"`
	// Vars are template variables the value implies, usable as
	// {{ config.<var> }}: Zoho's Canadian data centre is "ca" but its
	// accounts server is accounts.zohocloud.ca, not accounts.zoho.ca.
	// Every value of a field defines the same vars.
	Vars map[string]string `yaml:"vars"`
}

// TestRequest is the cheap authenticated request "Test" makes, and how to
// read the account identity from its JSON answer.
type TestRequest struct {
	// Method is the HTTP method.
	Method string `yaml:"method"`
	// Path is relative to the app's base URL, possibly a template over
	// config, and may carry a query string.
	Path string `yaml:"path"`
	// URL replaces Path for apps without a fixed base URL: a template over
	// config that renders an absolute URL (the generic HTTP app's test_url).
	URL string `yaml:"url"`
	// Optional tests are skipped (ErrNoTest) when their URL references an
	// absent config value.
	Optional bool `yaml:"optional"`
	// Headers are extra headers of the request; templates over config.
	Headers map[string]string `yaml:"headers"`
	// Body is the JSON body, if any; its strings are templates over config.
	Body any `yaml:"body"`
	// Identity are templates over the JSON response, like
	// "{{ response.emailAddress }}", tried in order: the first whose
	// placeholders all have non-empty text values names the account. A
	// template without placeholders (like "API key") always succeeds.
	Identity []string `yaml:"identity"`
	// Expect are checks a successful answer must pass, like Mailchimp
	// Transactional's ping answering "PONG!".
	Expect []Expectation `yaml:"expect"`
}

// Expectation checks one value of a JSON response.
type Expectation struct {
	// Path is a path into the response, like "ok" or "users[0].email"; ""
	// is the whole response.
	Path string `yaml:"path"`
	// Equals is the text the value must have (numbers and booleans are
	// compared by their JSON text).
	Equals string `yaml:"equals"`
}

// Errors says how an app signals credential and rate-limit failures.
type Errors struct {
	// AuthStatuses mean the credential is expired, revoked or invalid;
	// [401] by default.
	AuthStatuses []int `yaml:"auth_statuses"`
	// RateLimitStatuses mean rate limiting; [429] by default.
	RateLimitStatuses []int `yaml:"rate_limit_statuses"`
	// RetryAfterHeader is the response header that says how long to wait;
	// "Retry-After" by default.
	RetryAfterHeader string `yaml:"retry_after_header"`
	// RateLimitWait is how long the app documents a client must wait
	// after a rate-limit answer that has no RetryAfterHeader (Airtable:
	// 30 seconds before any request succeeds again); 0 leaves the wait to
	// the retrier's backoff. Like a Retry-After, it is capped by the
	// retrier's maximum delay.
	RateLimitWait time.Duration `yaml:"rate_limit_wait"`
	// Rules recognise failures from the response body, checked in order
	// before the statuses: Slack answers 200 {"ok": false, "error":
	// "token_expired"}.
	Rules []ErrorRule `yaml:"rules"`
}

// ErrorRule recognises a failure from a JSON response body.
type ErrorRule struct {
	// Status restricts the rule to these HTTP statuses; any when empty.
	Status []int `yaml:"status"`
	// Path is the path of the value to look at, like "error".
	Path string `yaml:"path"`
	// In are the texts that match (numbers and booleans by their JSON
	// text).
	In []string `yaml:"in"`
	// Kind is what a match means.
	Kind ErrorKind `yaml:"kind"`
}

// ErrorKind classifies a failed answer.
type ErrorKind string

// Error kinds.
const (
	// KindNone: nothing recognised; the caller judges by the status.
	KindNone ErrorKind = ""
	// KindAuth: the credential is expired, revoked or invalid; treat like a
	// 401 (refresh once, then mark the Connection broken).
	KindAuth ErrorKind = "auth"
	// KindRateLimit: rate limited; retry after the delay the app asks for.
	KindRateLimit ErrorKind = "rate_limit"
	// KindPermanent: a failure retrying cannot fix, like an exhausted quota.
	KindPermanent ErrorKind = "permanent"
	// KindTransient: a failure the app says to retry, whatever its status
	// (Slack's internal_error inside HTTP 200, Notion's 409
	// conflict_error); retried with backoff like a 5xx.
	KindTransient ErrorKind = "transient"
)

// Method is one of an app's step methods.
type Method struct {
	// Name identifies the method within its app, like "create_contact".
	Name string `yaml:"name"`
	// Label is its display name.
	Label string `yaml:"label"`
	// Description says what it does.
	Description string `yaml:"description"`
	// Inputs are the step inputs the method takes.
	Inputs []Input `yaml:"inputs"`
	// Builder names Go code that builds (part of) the request where a
	// template cannot, like "gmail_raw" (the base64url RFC 2822 message of
	// Gmail's messages.send). The request template then gives what the
	// builder does not.
	Builder string `yaml:"builder"`
	// Request is the HTTP request template. A method has a Request, a
	// Builder or both.
	Request *RequestTemplate `yaml:"request"`
	// Outputs are the fields a step of the method outputs beside "body"
	// (the app's whole JSON answer), each picked from the answer.
	Outputs []Output `yaml:"outputs"`
}

// Output is a field of the output of a method's step, picked from the
// app's answer.
type Output struct {
	// Name is the field's key in the step's output, like "contact_id".
	Name string `yaml:"name"`
	// Type is the field's type, as for Input ("string", "object", ...).
	Type string `yaml:"type"`
	// Description says what it holds.
	Description string `yaml:"description"`
	// Value is a template over response (the answer's JSON body), like
	// "{{ response.results[0].id }}"; a field whose value is absent is
	// left out of the output.
	Value string `yaml:"value"`
}

// builders are the names of the Go request builders a method may use.
var builders = []string{"gmail_raw", "drive_multipart", "drive_query", "http_request"}

// Builders returns the names of the Go request builders a method may name:
// "gmail_raw" (Gmail's raw RFC 2822 message), "drive_multipart" (Drive's
// multipart upload), "drive_query" (Drive's q search expression, quoted)
// and "http_request" (the generic HTTP step). Code that
// executes steps must provide each of them.
func Builders() []string { return slices.Clone(builders) }

// Input is a step input of a method.
type Input struct {
	// Name is the input's key, like "email".
	Name string `yaml:"name"`
	// Label is its display name.
	Label string `yaml:"label"`
	// Type is "string", "number", "integer", "boolean", "object", "array"
	// or "any".
	Type string `yaml:"type"`
	// Required inputs must be given.
	Required bool `yaml:"required"`
	// Description helps the user fill it in.
	Description string `yaml:"description"`
	// Default is used when the input is not given.
	Default any `yaml:"default"`
}

// inputTypes are the known input types.
var inputTypes = []string{"string", "number", "integer", "boolean", "object", "array", "any"}

// RequestTemplate is the HTTP request of a method; its strings are
// templates over input.
type RequestTemplate struct {
	// Method is the HTTP method.
	Method string `yaml:"method"`
	// Path is relative to the app's base URL and may carry a fixed query
	// string. Input values in it are path-escaped.
	Path string `yaml:"path"`
	// Query are query parameters; one whose template references an absent
	// input is left out.
	Query map[string]string `yaml:"query"`
	// Headers are request headers; one whose template references an absent
	// input is left out.
	Headers map[string]string `yaml:"headers"`
	// Body is the JSON body. A string made of one placeholder becomes the
	// input value itself, of any JSON type; entries referencing absent
	// inputs are left out (see renderValue).
	Body any `yaml:"body"`
}

// Catalog is the set of apps. It is immutable and safe for concurrent use.
type Catalog struct {
	apps   map[string]*App
	sorted []*App
}

// snapshot is the app files of apps/ decoded, as JSON by file name
// (apps.json, written by `make catalog` and checked current by a test):
// decoding it at start-up takes a fraction of what the YAML parser does,
// and Lambda cold starts pay for it. Load validates it as Parse would.
//
//go:embed apps.json
var snapshot []byte

// Load validates the app files of apps/ (from their decoded snapshot)
// and applies the options.
func Load(opts ...Option) (*Catalog, error) {
	var files map[string]*App
	if err := json.Unmarshal(snapshot, &files); err != nil {
		return nil, fmt.Errorf("catalog: apps.json: %w (run make catalog)", err)
	}
	return FromFiles(files, opts...)
}

// MustLoad is Load for main packages: it panics on error.
func MustLoad(opts ...Option) *Catalog {
	c, err := Load(opts...)
	if err != nil {
		panic(err)
	}
	return c
}

// FromFiles is the catalog of the decoded app files, by file name: each is
// validated (Finish), every broken one is reported, and the options are
// applied.
func FromFiles(files map[string]*App, opts ...Option) (*Catalog, error) {
	apps := make([]*App, 0, len(files))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(files)) {
		app, err := Finish(name, files[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		apps = append(apps, app)
	}
	return newCatalog(apps, errs, opts)
}

// newCatalog builds the catalog of apps, failing with errs when there are
// any, and applies the options.
func newCatalog(apps []*App, errs []error, opts []Option) (*Catalog, error) {
	c := &Catalog{apps: make(map[string]*App, len(apps))}
	for _, app := range apps {
		c.apps[app.ID] = app
		c.sorted = append(c.sorted, app)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	slices.SortFunc(c.sorted, func(a, b *App) int { return strings.Compare(a.ID, b.ID) })
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.apply(c); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

// App returns the app with the given id.
func (c *Catalog) App(id string) (*App, bool) {
	a, ok := c.apps[id]
	return a, ok
}

// Apps returns the apps sorted by id.
func (c *Catalog) Apps() []*App { return slices.Clone(c.sorted) }

// Method returns the app's method with the given name.
func (a *App) Method(name string) (*Method, bool) {
	for i := range a.Methods {
		if a.Methods[i].Name == name {
			return &a.Methods[i], true
		}
	}
	return nil, false
}

// Offers reports whether the app offers auth type t.
func (a *App) Offers(t AuthType) bool { return slices.Contains(a.Auth, t) }

// ConfigField returns the app's config field with the given name.
func (a *App) ConfigField(name string) (*ConfigField, bool) {
	for i := range a.Config {
		if a.Config[i].Name == name {
			return &a.Config[i], true
		}
	}
	return nil, false
}

// JoinScopes joins scopes with the app's scope separator, for the
// authorization request.
func (o *OAuth) JoinScopes(scopes []string) string {
	return strings.Join(scopes, o.ScopeSeparator)
}

// Option changes the catalog Load returns.
type Option func(*options)

type options struct {
	overrides map[string]Override
}

// Override replaces an app's URLs, for tests and local stand-ins (an
// httptest server playing the app, an OAuth server started by a test).
// Empty fields keep the catalog's URL. Overrides are absolute http or https
// URLs, not templates; config is still validated when they are used.
//
// BaseURL does not reach a test request whose test.url is an absolute URL
// of another host (Gmail tests with Google's OpenID Connect userinfo
// endpoint): TestURL replaces that one.
type Override struct {
	// BaseURL replaces the API base URL.
	BaseURL string `json:"baseUrl,omitempty"`
	// TestURL replaces the whole URL of the test request (test.url, or
	// base_url and test.path), query included; BuildTest uses it as is.
	TestURL string `json:"testUrl,omitempty"`
	// AuthorizeURL replaces the OAuth authorization endpoint.
	AuthorizeURL string `json:"authorizeUrl,omitempty"`
	// TokenURL replaces the OAuth token endpoint.
	TokenURL string `json:"tokenUrl,omitempty"`
	// RevokeURL replaces the OAuth revocation endpoint.
	RevokeURL string `json:"revokeUrl,omitempty"`
}

// WithOverrides overrides the URLs of the named apps. Load fails if an app
// is unknown, a URL is not an absolute http or https URL, or an OAuth URL
// is given for an app without OAuth.
func WithOverrides(m map[string]Override) Option {
	return func(o *options) {
		if o.overrides == nil {
			o.overrides = map[string]Override{}
		}
		for id, ov := range m {
			cur := o.overrides[id]
			cur.BaseURL = cmpOr(ov.BaseURL, cur.BaseURL)
			cur.TestURL = cmpOr(ov.TestURL, cur.TestURL)
			cur.AuthorizeURL = cmpOr(ov.AuthorizeURL, cur.AuthorizeURL)
			cur.TokenURL = cmpOr(ov.TokenURL, cur.TokenURL)
			cur.RevokeURL = cmpOr(ov.RevokeURL, cur.RevokeURL)
			o.overrides[id] = cur
		}
	}
}

// WithBaseURLs overrides the API base URLs of the named apps, by app id.
func WithBaseURLs(m map[string]string) Option {
	ov := make(map[string]Override, len(m))
	for id, u := range m {
		ov[id] = Override{BaseURL: u}
	}
	return WithOverrides(ov)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (o *options) apply(c *Catalog) error {
	var errs []error
	for _, id := range sortedKeys(o.overrides) {
		ov := o.overrides[id]
		app, ok := c.apps[id]
		if !ok {
			errs = append(errs, fmt.Errorf("override of unknown app %q", id))
			continue
		}
		for _, f := range []struct{ name, url string }{
			{"base URL", ov.BaseURL}, {"test URL", ov.TestURL}, {"authorize URL", ov.AuthorizeURL},
			{"token URL", ov.TokenURL}, {"revoke URL", ov.RevokeURL},
		} {
			if f.url == "" {
				continue
			}
			if err := checkURL(f.url, false); err != nil {
				errs = append(errs, fmt.Errorf("override of %s %s: %w", id, f.name, err))
			}
		}
		if app.OAuth == nil && (ov.AuthorizeURL != "" || ov.TokenURL != "" || ov.RevokeURL != "") {
			errs = append(errs, fmt.Errorf("override of %s: the app has no OAuth endpoints", id))
		}
		ov.BaseURL = strings.TrimRight(ov.BaseURL, "/")
		app.c.override = ov
	}
	return errors.Join(errs...)
}

// appID returns the id of the app file name, or an error.
func appID(name string) (string, error) {
	base := path.Base(name)
	id, ok := strings.CutSuffix(base, ".yaml")
	if !ok {
		return "", fmt.Errorf("%s: app files are named <id>.yaml", name)
	}
	if !isName(id) {
		return "", fmt.Errorf("%s: the app id %q must be lower-case letters, digits and underscores, starting with a letter", name, id)
	}
	return id, nil
}

// isName reports whether s is a lower-case identifier: [a-z][a-z0-9_]*.
func isName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
