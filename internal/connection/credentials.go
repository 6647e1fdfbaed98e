package connection

import (
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Credentials is what the vault holds for a Connection, under
// SecretName(id), JSON-encoded by Encode. Which fields are set depends on
// the auth type: the OAuth tokens (and, for oauth2_advanced, the user's
// client id and secret), an API key, or a user name and password.
//
// The token fields use the names of an OAuth token response (access_token,
// refresh_token, token_type, expiry, scope), the same as the blob
// internal/oauth's vault store reads and rewrites, so both share one secret.
//
// Formatting a Credentials value with the fmt or log/slog packages prints
// no secret; only Encode reveals them.
type Credentials struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
	APIKey       string    `json:"api_key,omitempty"`
	Username     string    `json:"username,omitempty"`
	Password     string    `json:"password,omitempty"`
	// ClientID and ClientSecret are the OAuth app the user registered
	// (oauth2_advanced only).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Extra holds further secret material the provider returned, like an
	// id_token. Every value is treated as secret: a non-secret value
	// belongs in Connection.Config or Connection.Account instead.
	Extra map[string]string `json:"extra,omitempty"`
}

// credentialsJSON is Credentials without its methods, for encoding.
type credentialsJSON Credentials

// Encode returns the JSON form of c that the vault stores.
func (c Credentials) Encode() ([]byte, error) {
	b, err := json.Marshal(credentialsJSON(c))
	if err != nil {
		// Only a failure of encoding/json itself can get here; its message
		// is not repeated, in case it quoted a value.
		return nil, errors.New("connection: cannot encode credentials")
	}
	return b, nil
}

// errBadCredentials is DecodeCredentials' error. It quotes nothing of the
// input, which may hold secrets.
var errBadCredentials = errors.New("connection: the stored credentials are not valid JSON credentials")

// DecodeCredentials decodes what Encode returned. Its error never quotes
// data.
func DecodeCredentials(data []byte) (Credentials, error) {
	var c credentialsJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, errBadCredentials
	}
	return Credentials(c), nil
}

// Secrets returns the secret strings in c, each once, longest first: the
// tokens, the API key, the password, the client secret and the Extra
// values. The user name, client id and token type are not secret and are
// left out. It is what log redaction and secret scanners look for.
func (c Credentials) Secrets() []string {
	out := make([]string, 0, 5+len(c.Extra))
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(c.AccessToken)
	add(c.RefreshToken)
	add(c.APIKey)
	add(c.Password)
	add(c.ClientSecret)
	keys := make([]string, 0, len(c.Extra))
	for k := range c.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(c.Extra[k])
	}
	// Longest first, so that Redact replaces a secret before any shorter
	// one it contains.
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Redacted replaces each secret in text.
const Redacted = "[redacted]"

// Redact returns s with every secret of c replaced by Redacted.
func (c Credentials) Redact(s string) string {
	for _, secret := range c.Secrets() {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	return s
}

// String returns a description of c that names the fields set, without
// their values.
func (c Credentials) String() string {
	var set []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"accessToken", c.AccessToken != ""}, {"refreshToken", c.RefreshToken != ""},
		{"apiKey", c.APIKey != ""}, {"username", c.Username != ""}, {"password", c.Password != ""},
		{"clientId", c.ClientID != ""}, {"clientSecret", c.ClientSecret != ""}, {"extra", len(c.Extra) > 0},
	} {
		if f.ok {
			set = append(set, f.name)
		}
	}
	return "connection.Credentials{" + strings.Join(set, ",") + " " + Redacted + "}"
}

// GoString is String, so that %#v reveals no secret either.
func (c Credentials) GoString() string { return c.String() }

// LogValue makes log/slog log String instead of the fields.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
