package catalog

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// compiled holds the parsed templates of an App.
type compiled struct {
	authorize, token, revoke, base *tmpl
	authorizeParams                map[string]*tmpl
	revokeHeaders                  map[string]*tmpl
	headers                        map[string]*tmpl
	credName, credPrefix           *tmpl
	test                           compiledTest
	methods                        map[string]*compiledMethod
	rules                          []*tref // per Errors.Rules; nil is the whole body
	override                       Override
}

type compiledTest struct {
	path, url *tmpl
	headers   map[string]*tmpl
	body      any
	identity  []*tmpl
	expect    []*tref // nil is the whole body
}

type compiledMethod struct {
	path           *tmpl
	query, headers map[string]*tmpl
	body           any
	hasBody        bool
	outputs        map[string]*tmpl
}

// httpMethods are the methods a request may use.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// reservedAuthorizeParams are set by the OAuth flow itself.
var reservedAuthorizeParams = []string{"client_id", "redirect_uri", "state", "response_type", "scope", "code_challenge", "code_challenge_method"}

// Finish gives app, decoded from the app file name (like "gmail.yaml"),
// its id (the file's name), validates it and compiles its templates. Every
// error is prefixed with name and names the field at fault
// ("gmail.yaml: oauth.token_url: ..."). Package appfile decodes the YAML
// files; Load decodes their JSON snapshot.
func Finish(name string, app *App) (*App, error) {
	id, err := appID(name)
	if err != nil {
		return nil, err
	}
	app.ID = id
	if err := app.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return app, nil
}

// fieldErr is an error naming a field of an app file.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// validate checks the app and compiles its templates.
func (a *App) validate() error {
	if strings.TrimSpace(a.Name) == "" {
		return fieldErr("name", "is required")
	}
	if a.Docs != "" {
		if err := checkURL(a.Docs, true); err != nil {
			return fieldErr("docs", "%v", err)
		}
	}
	if err := a.validateAuth(); err != nil {
		return err
	}
	if err := a.validateConfig(); err != nil {
		return err
	}
	if err := a.validateOAuth(); err != nil {
		return err
	}
	if err := a.validateCredential(); err != nil {
		return err
	}
	if err := a.validateBase(); err != nil {
		return err
	}
	if err := a.validateTest(); err != nil {
		return err
	}
	if err := a.validateErrors(); err != nil {
		return err
	}
	if err := a.validateMethods(); err != nil {
		return err
	}
	return a.checkRenderedURLs()
}

func (a *App) validateAuth() error {
	if len(a.Auth) == 0 {
		return fieldErr("auth", "is required: list the auth types the app offers (%s)", joinAuth(authTypes))
	}
	seen := map[AuthType]bool{}
	for i, t := range a.Auth {
		if !slices.Contains(authTypes, t) {
			return fieldErr(fmt.Sprintf("auth[%d]", i), "unknown auth type %q (known: %s)", t, joinAuth(authTypes))
		}
		if seen[t] {
			return fieldErr(fmt.Sprintf("auth[%d]", i), "%q is listed twice", t)
		}
		seen[t] = true
	}
	return nil
}

func joinAuth(ts []AuthType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func (a *App) validateConfig() error {
	seen := map[string]string{} // names of fields and vars -> what declared them
	for i := range a.Config {
		f := &a.Config[i]
		where := fmt.Sprintf("config[%d]", i)
		if !isName(f.Name) {
			return fieldErr(where+".name", "%q must be lower-case letters, digits and underscores, starting with a letter", f.Name)
		}
		where = "config." + f.Name
		if prev, ok := seen[f.Name]; ok {
			return fieldErr(where, "is declared twice (also %s)", prev)
		}
		seen[f.Name] = "config field " + f.Name
		if f.Type == "" {
			f.Type = ConfigString
		}
		if !slices.Contains([]string{ConfigString, ConfigURL, ConfigHeaderName}, f.Type) {
			return fieldErr(where+".type", "unknown type %q (known: string, url, header_name)", f.Type)
		}
		if strings.TrimSpace(f.Label) == "" {
			return fieldErr(where+".label", "is required")
		}
		var varNames []string
		values := map[string]bool{}
		for j, v := range f.Values {
			vw := fmt.Sprintf("%s.values[%d]", where, j)
			if v.Value == "" {
				return fieldErr(vw+".value", "is required")
			}
			if values[v.Value] {
				return fieldErr(vw+".value", "%q is listed twice", v.Value)
			}
			values[v.Value] = true
			if err := checkConfigText(f, v.Value); err != nil {
				return fieldErr(vw+".value", "%v", err)
			}
			names := slices.Sorted(maps.Keys(v.Vars))
			if j == 0 {
				varNames = names
			} else if !slices.Equal(names, varNames) {
				return fieldErr(vw+".vars", "defines %v; every value of the field must define the same vars (%v)", names, varNames)
			}
			for _, n := range names {
				if !isName(n) {
					return fieldErr(vw+".vars."+n, "var names are lower-case letters, digits and underscores, starting with a letter")
				}
				if err := checkPlainText(v.Vars[n]); err != nil {
					return fieldErr(vw+".vars."+n, "%v", err)
				}
			}
		}
		for _, n := range varNames {
			if prev, ok := seen[n]; ok {
				return fieldErr(where+".values[0].vars."+n, "clashes with %s", prev)
			}
			seen[n] = "var " + n + " of config field " + f.Name
		}
		if f.Default != "" {
			if len(f.Values) > 0 && !values[f.Default] {
				return fieldErr(where+".default", "%q is not one of the allowed values (%s)", f.Default, strings.Join(f.valueList(), ", "))
			}
			if err := f.check(f.Default); err != nil {
				return fieldErr(where+".default", "%v", err)
			}
		}
	}
	return nil
}

// configNames returns the names usable as {{ config.<name> }}: fields and
// the vars of enumerated fields.
func (a *App) configNames() map[string]*ConfigField {
	m := map[string]*ConfigField{}
	for i := range a.Config {
		f := &a.Config[i]
		m[f.Name] = f
		if len(f.Values) > 0 {
			for n := range f.Values[0].Vars {
				m[n] = f
			}
		}
	}
	return m
}

// configTemplate parses a template over config. In URL templates (url
// true), config values could change the destination: only enumerated
// fields and their vars may appear, and a url field only at the start.
func (a *App) configTemplate(field, s string, url bool) (*tmpl, error) {
	t, err := parseTemplate(s, scopeConfig)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	names := a.configNames()
	for i, p := range t.parts {
		r := p.ref
		if r == nil {
			continue
		}
		if len(r.path) != 1 || r.path[0].index >= 0 {
			return nil, fieldErr(field, "{{ %s }}: config values are flat; use config.<name>", r.src)
		}
		n := r.path[0].key
		f, ok := names[n]
		if !ok {
			return nil, fieldErr(field, "{{ %s }}: the app declares no config field or var %q", r.src, n)
		}
		if !url {
			continue
		}
		switch {
		case len(f.Values) > 0:
		case f.Type == ConfigURL && f.Name == n && i == 0:
		case f.Type == ConfigURL && f.Name == n:
			return nil, fieldErr(field, "{{ %s }}: a url config field may only start a URL template", r.src)
		default:
			return nil, fieldErr(field, "{{ %s }}: only config fields with allowed values (or url fields) may appear in a URL", r.src)
		}
	}
	return t, nil
}

// configHeaders parses header templates over config.
func (a *App) configHeaders(field string, h map[string]string) (map[string]*tmpl, error) {
	out := make(map[string]*tmpl, len(h))
	for _, k := range sortedKeys(h) {
		if !validHeaderName(k) {
			return nil, fieldErr(field+"."+k, "is not a valid header name")
		}
		t, err := a.configTemplate(field+"."+k, h[k], false)
		if err != nil {
			return nil, err
		}
		out[k] = t
	}
	return out, nil
}

func (a *App) validateOAuth() error {
	wantOAuth := slices.ContainsFunc(a.Auth, AuthType.IsOAuth)
	o := a.OAuth
	switch {
	case wantOAuth && o == nil:
		return fieldErr("oauth", "is required when auth offers oauth2 or oauth2_advanced")
	case !wantOAuth && o != nil:
		return fieldErr("oauth", "is only allowed when auth offers oauth2 or oauth2_advanced")
	case o == nil:
		return nil
	}
	var err error
	if o.AuthorizeURL == "" {
		return fieldErr("oauth.authorize_url", "is required")
	}
	if a.c.authorize, err = a.configTemplate("oauth.authorize_url", o.AuthorizeURL, true); err != nil {
		return err
	}
	if o.TokenURL == "" {
		return fieldErr("oauth.token_url", "is required")
	}
	if a.c.token, err = a.configTemplate("oauth.token_url", o.TokenURL, true); err != nil {
		return err
	}
	if o.ScopeSeparator == "" {
		o.ScopeSeparator = " "
	}
	if o.ScopeSeparator != " " && o.ScopeSeparator != "," {
		return fieldErr("oauth.scope_separator", `must be " " or ","`)
	}
	if o.ScopeParam == "" {
		o.ScopeParam = "scope"
	}
	if !isParamName(o.ScopeParam) {
		return fieldErr("oauth.scope_param", "%q is not a valid parameter name", o.ScopeParam)
	}
	seen := map[string]bool{}
	for _, l := range []struct {
		field  string
		scopes []string
	}{{"oauth.scopes.default", o.Scopes.Default}, {"oauth.scopes.optional", o.Scopes.Optional}} {
		for i, s := range l.scopes {
			where := fmt.Sprintf("%s[%d]", l.field, i)
			if s == "" || strings.ContainsAny(s, " \t\r\n,") || strings.ContainsAny(s, `"\`) {
				return fieldErr(where, "%q is not a valid scope (no blanks or commas)", s)
			}
			if seen[s] {
				return fieldErr(where, "%q is listed twice", s)
			}
			seen[s] = true
		}
	}
	a.c.authorizeParams = map[string]*tmpl{}
	for _, k := range sortedKeys(o.AuthorizeParams) {
		where := "oauth.authorize_params." + k
		if !isParamName(k) {
			return fieldErr(where, "is not a valid parameter name")
		}
		if slices.Contains(reservedAuthorizeParams, k) || k == o.ScopeParam {
			return fieldErr(where, "is set by the OAuth flow itself and may not be fixed here")
		}
		if a.c.authorizeParams[k], err = a.configTemplate(where, o.AuthorizeParams[k], false); err != nil {
			return err
		}
	}
	switch o.PKCE {
	case "", "S256":
	default:
		return fieldErr("oauth.pkce", `must be "S256" or left out (plain is not supported)`)
	}
	switch o.TokenAuth {
	case "body", "basic":
	case "":
		return fieldErr("oauth.token_auth", `is required: "body" or "basic"`)
	default:
		return fieldErr("oauth.token_auth", `must be "body" or "basic", not %q`, o.TokenAuth)
	}
	if o.TokenBody == "" {
		o.TokenBody = "form"
	}
	if o.TokenBody != "form" && o.TokenBody != "json" {
		return fieldErr("oauth.token_body", `must be "form" or "json", not %q`, o.TokenBody)
	}
	switch o.RefreshTokens {
	case RefreshNone, RefreshReusable, RefreshRotating:
	case "":
		return fieldErr("oauth.refresh_tokens", `is required: "none", "reusable" or "rotating"`)
	default:
		return fieldErr("oauth.refresh_tokens", `must be "none", "reusable" or "rotating", not %q`, o.RefreshTokens)
	}
	if r := o.Revoke; r != nil {
		if r.URL == "" {
			return fieldErr("oauth.revoke.url", "is required")
		}
		if a.c.revoke, err = a.configTemplate("oauth.revoke.url", r.URL, true); err != nil {
			return err
		}
		if r.Method == "" {
			r.Method = "POST"
		}
		if !slices.Contains(httpMethods, r.Method) {
			return fieldErr("oauth.revoke.method", "must be one of %s", strings.Join(httpMethods, ", "))
		}
		if r.Token != "access_token" && r.Token != "refresh_token" {
			return fieldErr("oauth.revoke.token", `must be "access_token" or "refresh_token"`)
		}
		if !slices.Contains([]string{"form", "query", "json", "bearer"}, r.In) {
			return fieldErr("oauth.revoke.in", `must be "form", "query", "json" or "bearer"`)
		}
		if r.Param == "" && r.In != "bearer" {
			r.Param = "token"
		}
		if r.In == "bearer" && r.Param != "" {
			return fieldErr("oauth.revoke.param", "has no use when the token is sent as bearer")
		}
		if r.Param != "" && !isParamName(r.Param) {
			return fieldErr("oauth.revoke.param", "%q is not a valid parameter name", r.Param)
		}
		if r.ClientAuth == "" {
			r.ClientAuth = "none"
		}
		if !slices.Contains([]string{"none", "body", "basic"}, r.ClientAuth) {
			return fieldErr("oauth.revoke.client_auth", `must be "none", "body" or "basic"`)
		}
		if a.c.revokeHeaders, err = a.configHeaders("oauth.revoke.headers", r.Headers); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) validateCredential() error {
	need := slices.ContainsFunc(a.Auth, func(t AuthType) bool { return t.IsOAuth() || t == AuthAPIKey })
	c := a.Credential
	switch {
	case need && c == nil:
		return fieldErr("credential", "is required when auth offers oauth2, oauth2_advanced or api_key")
	case !need && c != nil:
		return fieldErr("credential", "has no use: auth offers neither OAuth nor api_key")
	case c == nil:
		return nil
	}
	var err error
	switch c.Type {
	case CredentialBearer, CredentialBasic:
		if c.Name != "" || c.Prefix != "" {
			return fieldErr("credential", "a %s credential takes no name or prefix", c.Type)
		}
	case CredentialHeader, CredentialQuery, CredentialBodyField:
		if c.Name == "" {
			return fieldErr("credential.name", "is required for a %s credential", c.Type)
		}
		if c.Prefix != "" && c.Type != CredentialHeader {
			return fieldErr("credential.prefix", "is only used by header credentials")
		}
	case "":
		return fieldErr("credential.type", "is required: bearer, header, query, body_field or basic")
	default:
		return fieldErr("credential.type", "unknown type %q (known: bearer, header, query, body_field, basic)", c.Type)
	}
	if c.Name != "" {
		if a.c.credName, err = a.configTemplate("credential.name", c.Name, false); err != nil {
			return err
		}
		if a.c.credName.literal() {
			if c.Type == CredentialHeader && !validHeaderName(c.Name) || c.Type != CredentialHeader && !isParamName(c.Name) {
				return fieldErr("credential.name", "%q is not a valid %s name", c.Name, c.Type)
			}
		}
	}
	if c.Prefix != "" {
		if a.c.credPrefix, err = a.configTemplate("credential.prefix", c.Prefix, false); err != nil {
			return err
		}
	}
	if c.Type == CredentialBodyField {
		if slices.ContainsFunc(a.Methods, func(m Method) bool { return m.Request != nil && m.Request.Method == "GET" }) ||
			a.Test != nil && a.Test.Method == "GET" {
			return fieldErr("credential.type", "a body_field credential cannot authenticate GET requests")
		}
	}
	return nil
}

func (a *App) validateBase() error {
	var err error
	if a.BaseURLTemplate != "" {
		if a.c.base, err = a.configTemplate("base_url", a.BaseURLTemplate, true); err != nil {
			return err
		}
	}
	a.c.headers, err = a.configHeaders("headers", a.Headers)
	return err
}

func (a *App) validateTest() error {
	t := a.Test
	if t == nil {
		return fieldErr("test", "is required: the cheap authenticated request that Test makes")
	}
	if t.Method == "" {
		return fieldErr("test.method", "is required")
	}
	if !slices.Contains(httpMethods, t.Method) {
		return fieldErr("test.method", "must be one of %s", strings.Join(httpMethods, ", "))
	}
	var err error
	switch {
	case t.Path != "" && t.URL != "":
		return fieldErr("test", "give path or url, not both")
	case t.Path != "":
		if !strings.HasPrefix(t.Path, "/") {
			return fieldErr("test.path", "must start with / (it is relative to base_url)")
		}
		if a.BaseURLTemplate == "" {
			return fieldErr("test.path", "needs a base_url")
		}
		if a.c.test.path, err = a.configTemplate("test.path", t.Path, false); err != nil {
			return err
		}
	case t.URL != "":
		if a.c.test.url, err = a.configTemplate("test.url", t.URL, true); err != nil {
			return err
		}
	default:
		return fieldErr("test.path", "is required (or url)")
	}
	if t.Optional && t.URL == "" {
		return fieldErr("test.optional", "only a test url over optional config can be optional")
	}
	if a.c.test.headers, err = a.configHeaders("test.headers", t.Headers); err != nil {
		return err
	}
	if t.Body != nil {
		if t.Method == "GET" || t.Method == "DELETE" {
			return fieldErr("test.body", "a %s request has no body", t.Method)
		}
		if a.c.test.body, err = compileValue(t.Body, "test.body", scopeConfig); err != nil {
			return err
		}
		for _, r := range valueRefs(a.c.test.body) {
			if _, ok := a.configNames()[r.path[0].key]; !ok || len(r.path) != 1 {
				return fieldErr("test.body", "{{ %s }}: the app declares no config field or var %q", r.src, r.path[0].key)
			}
		}
	}
	if len(t.Identity) == 0 {
		return fieldErr("test.identity", `is required: templates over the response naming the account, or a fixed text like "API key"`)
	}
	for i, s := range t.Identity {
		where := fmt.Sprintf("test.identity[%d]", i)
		if strings.TrimSpace(s) == "" {
			return fieldErr(where, "is empty")
		}
		it, err := parseTemplate(s, scopeResponse)
		if err != nil {
			return fieldErr(where, "%v", err)
		}
		a.c.test.identity = append(a.c.test.identity, it)
	}
	for i, e := range t.Expect {
		r, err := responsePath(e.Path)
		if err != nil {
			return fieldErr(fmt.Sprintf("test.expect[%d].path", i), "%v", err)
		}
		a.c.test.expect = append(a.c.test.expect, r)
	}
	return nil
}

// responsePath parses a path into a JSON response; "" is the whole body.
func responsePath(p string) (*tref, error) {
	if p == "" {
		return nil, nil
	}
	if strings.HasPrefix(p, "[") {
		// An index first: the answer is a JSON array (Mailchimp
		// Transactional's messages/send).
		return parseRef(scopeResponse+p, []string{scopeResponse})
	}
	return parseRef(scopeResponse+"."+p, []string{scopeResponse})
}

// maxRateLimitWait caps errors.rate_limit_wait: a step waits within one
// run of a worker, so a documented wait longer than this is no wait to
// make in place.
const maxRateLimitWait = 15 * time.Minute

func (a *App) validateErrors() error {
	e := &a.Errors
	if len(e.AuthStatuses) == 0 {
		e.AuthStatuses = []int{401}
	}
	if len(e.RateLimitStatuses) == 0 {
		e.RateLimitStatuses = []int{429}
	}
	if e.RetryAfterHeader == "" {
		e.RetryAfterHeader = "Retry-After"
	}
	if !validHeaderName(e.RetryAfterHeader) {
		return fieldErr("errors.retry_after_header", "%q is not a valid header name", e.RetryAfterHeader)
	}
	if e.RateLimitWait < 0 || e.RateLimitWait > maxRateLimitWait || e.RateLimitWait%time.Second != 0 {
		return fieldErr("errors.rate_limit_wait", "%v must be whole seconds, from 1s to %v", e.RateLimitWait, maxRateLimitWait)
	}
	for _, l := range []struct {
		field string
		codes []int
	}{{"errors.auth_statuses", e.AuthStatuses}, {"errors.rate_limit_statuses", e.RateLimitStatuses}} {
		for i, s := range l.codes {
			if s < 400 || s > 599 {
				return fieldErr(fmt.Sprintf("%s[%d]", l.field, i), "%d is not an HTTP error status", s)
			}
		}
	}
	for i, r := range e.Rules {
		where := fmt.Sprintf("errors.rules[%d]", i)
		for j, s := range r.Status {
			if s < 100 || s > 599 {
				return fieldErr(fmt.Sprintf("%s.status[%d]", where, j), "%d is not an HTTP status", s)
			}
		}
		if r.Path == "" {
			return fieldErr(where+".path", "is required")
		}
		ref, err := responsePath(r.Path)
		if err != nil {
			return fieldErr(where+".path", "%v", err)
		}
		if len(r.In) == 0 {
			return fieldErr(where+".in", "is required: the values that match")
		}
		switch r.Kind {
		case KindAuth, KindRateLimit, KindPermanent, KindTransient:
		default:
			return fieldErr(where+".kind", `must be "auth", "rate_limit", "permanent" or "transient", not %q`, r.Kind)
		}
		a.c.rules = append(a.c.rules, ref)
	}
	return nil
}

func (a *App) validateMethods() error {
	a.c.methods = map[string]*compiledMethod{}
	for i := range a.Methods {
		m := &a.Methods[i]
		if !isName(m.Name) {
			return fieldErr(fmt.Sprintf("methods[%d].name", i), "%q must be lower-case letters, digits and underscores, starting with a letter", m.Name)
		}
		where := "methods." + m.Name
		if _, dup := a.c.methods[m.Name]; dup {
			return fieldErr(where, "is declared twice")
		}
		if strings.TrimSpace(m.Label) == "" {
			return fieldErr(where+".label", "is required")
		}
		inputs := map[string]*Input{}
		for j := range m.Inputs {
			in := &m.Inputs[j]
			if !isName(in.Name) {
				return fieldErr(fmt.Sprintf("%s.inputs[%d].name", where, j), "%q must be lower-case letters, digits and underscores, starting with a letter", in.Name)
			}
			iw := where + ".inputs." + in.Name
			if inputs[in.Name] != nil {
				return fieldErr(iw, "is declared twice")
			}
			inputs[in.Name] = in
			if !slices.Contains(inputTypes, in.Type) {
				return fieldErr(iw+".type", "unknown type %q (known: %s)", in.Type, strings.Join(inputTypes, ", "))
			}
			if in.Default != nil {
				if in.Required {
					return fieldErr(iw+".default", "a required input has no use for a default")
				}
				if err := checkInputType(in, in.Default); err != nil {
					return fieldErr(iw+".default", "%v", err)
				}
			}
		}
		if m.Builder != "" && !slices.Contains(builders, m.Builder) {
			return fieldErr(where+".builder", "unknown builder %q (known: %s)", m.Builder, strings.Join(builders, ", "))
		}
		cm := &compiledMethod{outputs: map[string]*tmpl{}}
		a.c.methods[m.Name] = cm
		for j := range m.Outputs {
			o := &m.Outputs[j]
			ow := fmt.Sprintf("%s.outputs[%d]", where, j)
			if !isName(o.Name) || o.Name == "body" {
				return fieldErr(ow+".name", "%q must be lower-case letters, digits and underscores, starting with a letter, and not body (the whole answer)", o.Name)
			}
			if cm.outputs[o.Name] != nil {
				return fieldErr(ow+".name", "%q is declared twice", o.Name)
			}
			if !slices.Contains(inputTypes, o.Type) {
				return fieldErr(ow+".type", "unknown type %q (known: %s)", o.Type, strings.Join(inputTypes, ", "))
			}
			t, err := parseTemplate(o.Value, scopeResponse)
			if err != nil {
				return fieldErr(ow+".value", "%v", err)
			}
			if _, ok := t.single(); !ok {
				return fieldErr(ow+".value", "must be one placeholder, like {{ response.id }}")
			}
			cm.outputs[o.Name] = t
		}
		r := m.Request
		if r == nil {
			if m.Builder == "" {
				return fieldErr(where+".request", "is required unless a builder makes the request")
			}
			continue
		}
		if !slices.Contains(httpMethods, r.Method) {
			return fieldErr(where+".request.method", "must be one of %s", strings.Join(httpMethods, ", "))
		}
		if !strings.HasPrefix(r.Path, "/") {
			return fieldErr(where+".request.path", "is required and must start with / (it is relative to base_url)")
		}
		if a.BaseURLTemplate == "" {
			return fieldErr(where+".request.path", "needs a base_url")
		}
		var err error
		checkRefs := func(field string, refs []*tref) error {
			for _, ref := range refs {
				if inputs[ref.path[0].key] == nil {
					return fieldErr(field, "{{ %s }}: the method declares no input %q", ref.src, ref.path[0].key)
				}
			}
			return nil
		}
		if cm.path, err = parseTemplate(r.Path, scopeInput); err != nil {
			return fieldErr(where+".request.path", "%v", err)
		}
		if err := checkRefs(where+".request.path", cm.path.refs()); err != nil {
			return err
		}
		if q, _, ok := strings.Cut(r.Path, "?"); ok && strings.Contains(strings.TrimPrefix(r.Path, q), "{{") {
			return fieldErr(where+".request.path", "put input values in query, not in the path's query string")
		}
		for _, ref := range cm.path.refs() {
			if in := inputs[ref.path[0].key]; !in.Required && in.Default == nil {
				return fieldErr(where+".request.path", "{{ %s }}: an input in the path must be required (or have a default)", ref.src)
			}
		}
		cm.query = map[string]*tmpl{}
		for _, k := range sortedKeys(r.Query) {
			qw := where + ".request.query." + k
			if k == "" {
				return fieldErr(qw, "empty parameter name")
			}
			if cm.query[k], err = parseTemplate(r.Query[k], scopeInput); err != nil {
				return fieldErr(qw, "%v", err)
			}
			if err := checkRefs(qw, cm.query[k].refs()); err != nil {
				return err
			}
		}
		cm.headers = map[string]*tmpl{}
		for _, k := range sortedKeys(r.Headers) {
			hw := where + ".request.headers." + k
			if !validHeaderName(k) {
				return fieldErr(hw, "is not a valid header name")
			}
			if cm.headers[k], err = parseTemplate(r.Headers[k], scopeInput); err != nil {
				return fieldErr(hw, "%v", err)
			}
			if err := checkRefs(hw, cm.headers[k].refs()); err != nil {
				return err
			}
		}
		if r.Body != nil {
			if r.Method == "GET" || r.Method == "DELETE" {
				return fieldErr(where+".request.body", "a %s request has no body", r.Method)
			}
			if cm.body, err = compileValue(r.Body, where+".request.body", scopeInput); err != nil {
				return err
			}
			if err := checkRefs(where+".request.body", valueRefs(cm.body)); err != nil {
				return err
			}
			cm.hasBody = true
		}
	}
	return nil
}

// checkRenderedURLs renders the app's URL templates with the default
// config, and with each allowed value of every enumerated field, and checks
// that each is an absolute https URL.
func (a *App) checkRenderedURLs() error {
	configs := []map[string]string{{}}
	for _, f := range a.Config {
		for _, v := range f.Values {
			configs = append(configs, map[string]string{f.Name: v.Value})
		}
	}
	for _, cfg := range configs {
		data, err := a.templateData(cfg)
		if err != nil {
			if len(cfg) == 0 {
				// Required config without a default: URLs can only be
				// checked with values, which the enumerations cover.
				continue
			}
			return fieldErr("config", "%v", err)
		}
		for _, u := range []struct {
			field string
			t     *tmpl
		}{
			{"oauth.authorize_url", a.c.authorize}, {"oauth.token_url", a.c.token},
			{"oauth.revoke.url", a.c.revoke}, {"base_url", a.c.base}, {"test.url", a.c.test.url},
		} {
			if u.t == nil {
				continue
			}
			s, err := u.t.render(data, nil)
			var miss *errMissing
			if errors.As(err, &miss) {
				continue // a user-supplied URL; checked when given
			}
			if err != nil {
				return fieldErr(u.field, "%v", err)
			}
			if err := checkURL(s, true); err != nil {
				return fieldErr(u.field, "renders %q with config %v: %v", s, cfg, err)
			}
			if u.field == "base_url" && (strings.Contains(s, "?") || strings.HasSuffix(s, "/")) {
				return fieldErr(u.field, "renders %q: a base URL has no query and no trailing slash", s)
			}
		}
	}
	return nil
}

// checkURL checks that s is an absolute https URL (or http too, when
// httpsOnly is false) without user info or fragment.
func checkURL(s string, httpsOnly bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && !httpsOnly:
	case httpsOnly:
		return fmt.Errorf("%q is not an absolute https URL", s)
	default:
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry user info", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q must not have a fragment", s)
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
}

// isParamName reports whether s is a plain parameter name.
func isParamName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CheckType checks that v, a rendered value, suits the input's type.
func (in *Input) CheckType(v any) error {
	if _, ok := numberText(in, v); ok {
		return nil // sent as its decimal text (CheckInput)
	}
	return checkInputType(in, v)
}

// checkInputType checks that v suits the input's type.
func checkInputType(in *Input, v any) error {
	ok := false
	switch in.Type {
	case "any":
		ok = true
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "number":
		ok = isNumber(v)
	case "integer":
		ok = isInteger(v)
	}
	if !ok {
		return fmt.Errorf("must be %s, not %s", article(in.Type), kindOf(v))
	}
	return nil
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
