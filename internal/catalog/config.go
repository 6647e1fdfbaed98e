package catalog

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"wiresk/internal/wiresk"
)

// Limits of config values.
const (
	maxConfigValueBytes = 1024
	maxURLBytes         = 2048
)

// valueList returns the allowed values of f.
func (f *ConfigField) valueList() []string {
	out := make([]string, len(f.Values))
	for i, v := range f.Values {
		out[i] = v.Value
	}
	return out
}

// value returns the allowed value v of f.
func (f *ConfigField) value(v string) (*ConfigValue, bool) {
	for i := range f.Values {
		if f.Values[i].Value == v {
			return &f.Values[i], true
		}
	}
	return nil, false
}

// check checks a value of f: one of its allowed values, and of its type.
func (f *ConfigField) check(v string) error {
	if len(f.Values) > 0 {
		if _, ok := f.value(v); !ok {
			return fmt.Errorf("%q is not allowed (allowed: %s)", v, strings.Join(f.valueList(), ", "))
		}
	}
	return checkConfigText(f, v)
}

// checkConfigText checks that v suits the type of f.
func checkConfigText(f *ConfigField, v string) error {
	switch f.Type {
	case ConfigURL:
		if len(v) > maxURLBytes {
			return fmt.Errorf("is %d bytes long; the limit is %d", len(v), maxURLBytes)
		}
		if err := checkPlainText(v); err != nil {
			return err
		}
		return checkURL(v, false)
	case ConfigHeaderName:
		if !validHeaderName(v) {
			return fmt.Errorf("%q is not a valid HTTP header name", v)
		}
		return nil
	default:
		return checkPlainText(v)
	}
}

// checkPlainText refuses long values, invalid UTF-8 and control characters
// (which could split a header or a URL).
func checkPlainText(v string) error {
	if len(v) > maxConfigValueBytes {
		return fmt.Errorf("is %d bytes long; the limit is %d", len(v), maxConfigValueBytes)
	}
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8")
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return errors.New("must not contain control characters")
	}
	return nil
}

// ValidateConfig checks a connection config against the app's config
// fields and returns it with defaults applied: unknown fields, missing
// required fields and values that are not allowed are refused with a
// *wiresk.Error whose Field is "config.<name>". An empty value of a url,
// header_name or enumerated field counts as not given; an empty value of a
// free-text field is kept (the generic HTTP app's header_prefix may be
// empty).
func (a *App) ValidateConfig(config map[string]string) (map[string]string, error) {
	for _, k := range sortedKeys(config) {
		if _, ok := a.ConfigField(k); !ok {
			if len(a.Config) == 0 {
				return nil, wiresk.FieldError("config."+k, "is not a config field: %s takes no config", a.Name)
			}
			names := make([]string, len(a.Config))
			for i, f := range a.Config {
				names[i] = f.Name
			}
			return nil, wiresk.FieldError("config."+k, "is not a config field of %s (fields: %s)", a.Name, strings.Join(names, ", "))
		}
	}
	out := make(map[string]string, len(a.Config))
	for i := range a.Config {
		f := &a.Config[i]
		v, ok := config[f.Name]
		if ok && v == "" && (f.Type != ConfigString || len(f.Values) > 0) {
			ok = false
		}
		if !ok {
			switch {
			case f.Default != "":
				out[f.Name] = f.Default
			case f.Required:
				return nil, wiresk.FieldError("config."+f.Name, "is required")
			}
			continue
		}
		if err := f.check(v); err != nil {
			return nil, wiresk.FieldError("config."+f.Name, "%v", err)
		}
		out[f.Name] = v
	}
	return out, nil
}

// templateData validates config and returns the data templates over config
// render with: the fields (defaults applied) and the vars of the chosen
// values.
func (a *App) templateData(config map[string]string) (map[string]any, error) {
	cfg, err := a.ValidateConfig(config)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(cfg))
	for k, v := range cfg {
		m[k] = v
	}
	for i := range a.Config {
		f := &a.Config[i]
		if v, ok := f.value(cfg[f.Name]); ok {
			for k, x := range v.Vars {
				m[k] = x
			}
		}
	}
	return map[string]any{scopeConfig: m}, nil
}

// renderConfigURL renders a URL template over config. A reference to an
// absent config value is refused when required, and gives "" otherwise.
func (a *App) renderConfigURL(t *tmpl, data map[string]any, what string, required bool) (string, error) {
	s, err := t.render(data, nil)
	var miss *errMissing
	if errors.As(err, &miss) {
		if !required {
			return "", nil
		}
		return "", wiresk.FieldError("config."+miss.ref.path[0].key, "is required for the %s", what)
	}
	if err != nil {
		return "", err
	}
	return s, nil
}

// AuthorizeURL returns the OAuth authorization endpoint for a connection
// config (defaults applied), or the override. Config errors are
// *wiresk.Error naming the field, like "config.domain".
func (a *App) AuthorizeURL(config map[string]string) (string, error) {
	return a.oauthURL(config, a.c.authorize, a.c.override.AuthorizeURL, "authorization endpoint")
}

// TokenURL returns the OAuth token endpoint for a connection config, or
// the override.
func (a *App) TokenURL(config map[string]string) (string, error) {
	return a.oauthURL(config, a.c.token, a.c.override.TokenURL, "token endpoint")
}

// RevokeURL returns the OAuth revocation endpoint for a connection config,
// or the override; "" when the app documents none.
func (a *App) RevokeURL(config map[string]string) (string, error) {
	if a.OAuth != nil && a.c.revoke == nil && a.c.override.RevokeURL == "" {
		return "", nil
	}
	return a.oauthURL(config, a.c.revoke, a.c.override.RevokeURL, "revocation endpoint")
}

func (a *App) oauthURL(config map[string]string, t *tmpl, override, what string) (string, error) {
	if a.OAuth == nil {
		return "", wiresk.FieldError("auth", "%s does not use OAuth", a.Name)
	}
	data, err := a.templateData(config)
	if err != nil {
		return "", err
	}
	if override != "" {
		return override, nil
	}
	return a.renderConfigURL(t, data, what, true)
}

// AuthorizeParams returns the extra authorization request parameters for a
// connection config.
func (a *App) AuthorizeParams(config map[string]string) (map[string]string, error) {
	if a.OAuth == nil {
		return nil, wiresk.FieldError("auth", "%s does not use OAuth", a.Name)
	}
	data, err := a.templateData(config)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(a.c.authorizeParams))
	for k, t := range a.c.authorizeParams {
		s, err := t.render(data, nil)
		var miss *errMissing
		if errors.As(err, &miss) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// BaseURL returns the API base URL for a connection config (without a
// trailing slash), or the override. It is "" when the app's base URL comes
// from an optional config field that is not given (the generic HTTP app).
func (a *App) BaseURL(config map[string]string) (string, error) {
	data, err := a.templateData(config)
	if err != nil {
		return "", err
	}
	if a.c.override.BaseURL != "" {
		return a.c.override.BaseURL, nil
	}
	if a.c.base == nil {
		return "", nil
	}
	s, err := a.renderConfigURL(a.c.base, data, "base URL", false)
	return strings.TrimRight(s, "/"), err
}

// CredentialTarget returns where the credential goes for a connection
// config: the header, query parameter or body field name, and the header
// prefix. Both are "" for bearer and basic credentials.
func (a *App) CredentialTarget(config map[string]string) (name, prefix string, err error) {
	if a.Credential == nil {
		return "", "", nil
	}
	data, err := a.templateData(config)
	if err != nil {
		return "", "", err
	}
	if a.c.credName != nil {
		if name, err = a.c.credName.render(data, nil); err != nil {
			return "", "", fmt.Errorf("credential name: %w", err)
		}
		c := a.Credential
		if c.Type == CredentialHeader && !validHeaderName(name) || c.Type != CredentialHeader && !isParamName(name) {
			return "", "", fmt.Errorf("credential name %q is not a valid %s name", name, c.Type)
		}
	}
	if a.c.credPrefix != nil {
		prefix, err = a.c.credPrefix.render(data, nil)
		var miss *errMissing
		if errors.As(err, &miss) {
			prefix, err = "", nil
		}
		if err != nil {
			return "", "", fmt.Errorf("credential prefix: %w", err)
		}
	}
	return name, prefix, nil
}
