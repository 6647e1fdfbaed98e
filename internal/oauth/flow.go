package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// MinStateKeyBytes is the minimum length of the HMAC key that derives PKCE
// verifiers from states.
const MinStateKeyBytes = 32

// stateBytes is the randomness of a state: 256 bits.
const stateBytes = 32

// verifierLabel separates the PKCE derivation from any other use of the
// state key.
const verifierLabel = "wiresk/oauth/pkce-verifier/v1\x00"

// NewState returns a fresh random state: 256 bits, base64url without
// padding (43 characters), safe in a URL as it is.
func NewState() string {
	b := make([]byte, stateBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verifier derives the PKCE code verifier of an authorization from its
// state: base64url(HMAC-SHA256(stateKey, label || state)), 43 characters of
// the RFC 7636 alphabet carrying 256 bits. The state travels through the
// browser; the key never leaves the server, so whoever sees a state (or a
// code) cannot compute its verifier, and no verifier is stored anywhere.
// stateKey should be at least MinStateKeyBytes random bytes.
func Verifier(stateKey []byte, state string) string {
	m := hmac.New(sha256.New, stateKey)
	m.Write([]byte(verifierLabel))
	m.Write([]byte(state))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FlowConfig configures a Flow.
type FlowConfig struct {
	// StateKey is the HMAC key that derives PKCE verifiers from states, at
	// least MinStateKeyBytes random bytes, the same in every process that
	// authorizes or exchanges (the connections and oauthcallback
	// functions). Changing it fails the authorizations under way.
	StateKey []byte
	// HTTPClient calls the providers; a client with a 30 s timeout when
	// nil.
	HTTPClient *http.Client
	// Now is the clock that turns expires_in into an expiry; time.Now when
	// nil.
	Now func() time.Time
}

// Flow runs the authorization-code flow and revocations. It is safe for
// concurrent use.
type Flow struct {
	stateKey []byte
	hc       *http.Client
	now      func() time.Time
}

// NewFlow returns a Flow. It refuses a state key shorter than
// MinStateKeyBytes.
func NewFlow(cfg FlowConfig) (*Flow, error) {
	if len(cfg.StateKey) < MinStateKeyBytes {
		return nil, errors.New("oauth: the state key must be at least 32 bytes")
	}
	f := &Flow{stateKey: append([]byte(nil), cfg.StateKey...), hc: cfg.HTTPClient, now: cfg.Now}
	if f.hc == nil {
		f.hc = defaultHTTPClient
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f, nil
}

// Authorization is the start of an authorization: where to send the user,
// and the state to keep (single use, short-lived) until the callback.
type Authorization struct {
	// URL is the provider's authorization URL.
	URL string
	// State is the fresh random state the URL carries. It is all the
	// caller persists: the PKCE verifier is derived from it.
	State string
}

// Authorize returns the authorization URL of req with a fresh state: the
// client id, the redirect URI, the scopes (joined with the app's separator,
// in the app's scope parameter), the app's extra parameters (like Google's
// access_type=offline and prompt=consent) and, when the app uses PKCE, the
// S256 challenge of Verifier(stateKey, state). Errors in req are
// *wiresk.Error validation errors.
func (f *Flow) Authorize(req Request) (Authorization, error) {
	o, err := checkRequest(req, true)
	if err != nil {
		return Authorization{}, err
	}
	authURL, err := req.App.AuthorizeURL(req.Config)
	if err != nil {
		return Authorization{}, err
	}
	params, err := req.App.AuthorizeParams(req.Config)
	if err != nil {
		return Authorization{}, err
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = o.Scopes.Default
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return Authorization{}, wiresk.FieldError("scopes", "%q is not a valid scope (no blanks or commas)", s)
		}
	}
	conf := &oauth2.Config{ClientID: req.Client.ID, RedirectURL: req.RedirectURI, Endpoint: oauth2.Endpoint{AuthURL: authURL}}
	var opts []oauth2.AuthCodeOption
	for k, v := range params {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if len(scopes) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam(o.ScopeParam, o.JoinScopes(scopes)))
	}
	state := NewState()
	if o.PKCE == "S256" {
		opts = append(opts, oauth2.S256ChallengeOption(Verifier(f.stateKey, state)))
	}
	return Authorization{URL: conf.AuthCodeURL(state, opts...), State: state}, nil
}

// Exchange trades the code of a callback for a token, with the PKCE
// verifier derived from the state when the app uses PKCE. The caller has
// already checked the state (known, unused, unexpired) and looked up req
// from its record. A refused code or verifier is an *Error of kind
// KindInvalidGrant.
func (f *Flow) Exchange(ctx context.Context, req Request, code, state string) (*Token, error) {
	o, err := checkRequest(req, true)
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, wiresk.FieldError("code", "is required")
	}
	if state == "" {
		return nil, wiresk.FieldError("state", "is required")
	}
	tokenURL, err := req.App.TokenURL(req.Config)
	if err != nil {
		return nil, err
	}
	conf := oauthConfig(o, req.Client, tokenURL)
	conf.RedirectURL = req.RedirectURI
	verifier := ""
	var opts []oauth2.AuthCodeOption
	if o.PKCE == "S256" {
		verifier = Verifier(f.stateKey, state)
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	t, err := conf.Exchange(tokenContext(ctx, f.hc, req.App), code, opts...)
	if err != nil {
		return nil, providerError("exchange", hostOf(tokenURL), err, nil, req.Client.Secret, code, verifier, state)
	}
	return tokenFrom(t, f.now()), nil
}

// ParseCallback reads the query of the redirect to the callback: the state,
// and the code or the provider's error (like access_denied when the user
// declined, an *Error of kind KindAccessDenied). The state is returned
// whenever present, so that the caller can consume its record even when
// the authorization failed.
func ParseCallback(q url.Values) (code, state string, err error) {
	state = q.Get("state")
	if e := q.Get("error"); e != "" {
		code := scrub(e)
		if len(code) > maxCode {
			code = code[:maxCode]
		}
		return "", state, &Error{Op: "authorize", Kind: kindOf(code, 0, nil), Code: code,
			Description: scrub(q.Get("error_description"), q.Get("code"))}
	}
	if state == "" {
		return "", "", &Error{Op: "authorize", Kind: KindInvalidResponse, Description: "the callback carries no state"}
	}
	code = q.Get("code")
	if code == "" {
		return "", state, &Error{Op: "authorize", Kind: KindInvalidResponse, Description: "the callback carries no code"}
	}
	return code, state, nil
}

// checkRequest checks what every operation needs of req (and the redirect
// URI when needRedirect) and returns the app's OAuth description.
func checkRequest(req Request, needRedirect bool) (*catalog.OAuth, error) {
	if req.App == nil {
		return nil, wiresk.FieldError("app", "is required")
	}
	o := req.App.OAuth
	if o == nil {
		return nil, wiresk.FieldError("auth", "%s does not use OAuth", req.App.Name)
	}
	if req.Client.ID == "" {
		return nil, wiresk.FieldError("client_id", "is required")
	}
	if needRedirect && req.RedirectURI == "" {
		return nil, wiresk.FieldError("redirect_uri", "is required")
	}
	if req.RedirectURI != "" {
		u, err := url.Parse(req.RedirectURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			return nil, wiresk.FieldError("redirect_uri", "must be an absolute http or https URL without a fragment")
		}
	}
	return o, nil
}

// oauthConfig returns the x/oauth2 config of a token endpoint: the client,
// and how it authenticates there (token_auth body or basic).
func oauthConfig(o *catalog.OAuth, c Client, tokenURL string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if o.TokenAuth == "basic" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: style},
	}
}
