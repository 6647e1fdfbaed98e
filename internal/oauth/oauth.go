// Package oauth is the OAuth 2.0 client side of Connections: the
// authorization URL with state and PKCE, the exchange of the code the
// provider sends back, a refreshing token source that concurrent workers
// share safely, and token revocation. It drives golang.org/x/oauth2 with what
// the app catalog says about each provider (endpoints, scopes and their
// separator, extra authorization parameters, PKCE, client authentication,
// refresh-token behaviour, revocation).
//
// No PKCE verifier is stored anywhere: Verifier derives it from the state
// with an HMAC key, so the only record of a pending authorization is the
// state's (single use, short-lived), kept by the caller.
//
// Nothing this package returns as an error text contains a client secret,
// an authorization code, a PKCE verifier, an access token or a refresh token:
// provider descriptions are scrubbed of them, and transport errors lose the
// request URL (a revocation may carry the token in its query).
//
// The package depends on no store: it declares the small ports it needs
// (TokenStore, Leaser, Vault) where it uses them.
package oauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
	"wiresk/internal/egress"
)

// Client is the OAuth client a Connection authenticates as: the platform's
// registered app for the provider (oauth2), or the app the user registered
// (oauth2_advanced).
type Client struct {
	// ID is the client id.
	ID string
	// Secret is the client secret; empty for a public client.
	Secret string
}

// String describes c without its secret.
func (c Client) String() string {
	if c.Secret == "" {
		return fmt.Sprintf("oauth.Client{ID: %q}", c.ID)
	}
	return fmt.Sprintf("oauth.Client{ID: %q, Secret: [redacted]}", c.ID)
}

// GoString is String, so that %#v does not print the secret either.
func (c Client) GoString() string { return c.String() }

// Request says which provider, client and redirect URI an authorization, a
// code exchange or a revocation is for.
type Request struct {
	// App is the catalog app; it must offer OAuth.
	App *catalog.App
	// Config is the connection config (like Zoho's data centre), which the
	// app's OAuth URLs may depend on. Defaults are applied.
	Config map[string]string
	// Client is the OAuth client.
	Client Client
	// Scopes are the scopes to request. Nil requests the app's default
	// scopes; an empty, non-nil slice requests none.
	Scopes []string
	// RedirectURI is the callback URL, like
	// https://api.example.com/v1/oauth/callback. Authorize and Exchange must
	// be given the same one.
	RedirectURI string
}

// Token is an OAuth token as the vault keeps it. Its JSON form is the
// credential blob's token fields (see VaultStore). Printing a Token with
// the fmt package or log/slog never shows its tokens.
type Token struct {
	// AccessToken authorizes API requests.
	AccessToken string `json:"access_token"`
	// TokenType is the type the provider gave, usually "Bearer".
	TokenType string `json:"token_type,omitempty"`
	// RefreshToken obtains new access tokens; empty when the provider
	// issued none.
	RefreshToken string `json:"refresh_token,omitempty"`
	// Expiry is when the access token expires; zero when it does not.
	Expiry time.Time `json:"expiry,omitzero"`
	// Scope is the scope the provider says it granted, if it said.
	Scope string `json:"scope,omitempty"`
}

// String describes t without its tokens.
func (t Token) String() string {
	var b strings.Builder
	b.WriteString("oauth.Token{")
	fmt.Fprintf(&b, "TokenType: %q", t.TokenType)
	if t.AccessToken != "" {
		b.WriteString(", AccessToken: [redacted]")
	}
	if t.RefreshToken != "" {
		b.WriteString(", RefreshToken: [redacted]")
	}
	if !t.Expiry.IsZero() {
		fmt.Fprintf(&b, ", Expiry: %s", t.Expiry.UTC().Format(time.RFC3339))
	}
	if t.Scope != "" {
		fmt.Fprintf(&b, ", Scope: %q", t.Scope)
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so that %#v does not print the tokens either.
func (t Token) GoString() string { return t.String() }

// LogValue is String, for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// OAuth2 returns t as an x/oauth2 token, without its refresh token: the
// refresh token never leaves the Source.
func (t *Token) OAuth2() *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry}
}

// tokenFrom converts a token the provider returned. The expiry is computed
// from expires_in with the caller's clock when the provider sent it.
func tokenFrom(t *oauth2.Token, now time.Time) *Token {
	out := &Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
	if t.ExpiresIn > 0 {
		out.Expiry = now.Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scope = s
	}
	return out
}

// ErrorKind classifies a failed OAuth request.
type ErrorKind string

// Error kinds.
const (
	// KindInvalidGrant: the provider refused the authorization code (used,
	// expired, issued for another redirect URI, or a PKCE verifier that does
	// not match its challenge; RFC 7636 §4.6 reports all of them as
	// invalid_grant) or the refresh token (revoked, expired, rotated away).
	KindInvalidGrant ErrorKind = "invalid_grant"
	// KindInvalidClient: client authentication failed (wrong client id or
	// secret, or the client was deleted).
	KindInvalidClient ErrorKind = "invalid_client"
	// KindAccessDenied: the user declined at the provider's consent page.
	KindAccessDenied ErrorKind = "access_denied"
	// KindProvider: another error the provider reported.
	KindProvider ErrorKind = "provider_error"
	// KindUnavailable: the provider could not be reached, or answered 429
	// or 5xx; retrying later may succeed.
	KindUnavailable ErrorKind = "unavailable"
	// KindInvalidResponse: the provider's answer is not what OAuth 2.0
	// says (no access token, unparsable), or the callback lacks the state or
	// the code.
	KindInvalidResponse ErrorKind = "invalid_response"
)

// Error is a failed OAuth request. Its text holds the operation, the
// provider's host, its error code and its description scrubbed of every
// secret of the request; never a secret, a code or a token.
type Error struct {
	// Op is "authorize" (the callback), "exchange", "refresh" or "revoke".
	Op string
	// Kind classifies the failure.
	Kind ErrorKind
	// Code is the provider's error code, like "invalid_grant"; "" when it
	// gave none.
	Code string
	// Description is the provider's error description, scrubbed of the
	// request's secrets, without control characters and truncated.
	Description string
	// Status is the HTTP status of the answer; 0 when there was none.
	Status int
	// Host is the provider's host.
	Host string

	err error // the cause, already free of secrets and URLs
}

// Error describes the failure without any secret.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth %s", e.Op)
	if e.Host != "" {
		fmt.Fprintf(&b, " at %s", e.Host)
	}
	b.WriteString(": ")
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
	default:
		b.WriteString(string(e.Kind))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	}
	if e.err != nil {
		fmt.Fprintf(&b, ": %v", e.err)
	}
	return b.String()
}

// Unwrap returns the cause (a network or context error), if any.
func (e *Error) Unwrap() error { return e.err }

// Temporary reports whether retrying later may succeed.
func (e *Error) Temporary() bool { return e.Kind == KindUnavailable }

// ErrBroken is what every *BrokenError matches with errors.Is: the
// Connection cannot work until the user reconnects it.
var ErrBroken = errors.New("oauth: connection broken")

// BrokenError says why a Connection is broken: the provider refused its
// refresh token for good (confirmed after re-reading the stored token), or
// its access token expired or was rejected and there is no refresh token.
// Callers mark the Connection broken and report the Flows that use it.
type BrokenError struct {
	// Reason is a sentence for the user, free of secrets.
	Reason string
	// Err is the provider's answer (an *Error), if any.
	Err error
}

// Error says that the connection is broken, and why.
func (e *BrokenError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v: %s: %v", ErrBroken, e.Reason, e.Err)
	}
	return fmt.Sprintf("%v: %s", ErrBroken, e.Reason)
}

// Unwrap returns the provider's answer, if any.
func (e *BrokenError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBroken.
func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// maxDescription bounds the provider description kept in an Error.
const maxDescription = 300

// scrub makes a provider text safe to show: every secret is replaced, control
// characters become spaces, and the text is truncated.
func scrub(s string, secrets ...string) string {
	s = egress.Scrub(s, secrets...)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	// A secret cut by the truncation could survive in part only if it were
	// longer than the text kept; scrub again on the final text for safety.
	return egress.Scrub(s, secrets...)
}

// kindOf classifies a provider answer by its error code and HTTP status.
// Codes in grant are the provider's ways of saying invalid_grant.
func kindOf(code string, status int, grant []string) ErrorKind {
	for _, g := range grant {
		if code == g {
			return KindInvalidGrant
		}
	}
	switch code {
	case "invalid_grant":
		return KindInvalidGrant
	case "invalid_client", "unauthorized_client":
		return KindInvalidClient
	case "access_denied":
		return KindAccessDenied
	case "temporarily_unavailable", "server_error":
		return KindUnavailable
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		return KindUnavailable
	}
	return KindProvider
}
