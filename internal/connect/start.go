package connect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"wiresk/internal/connection"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// An authorization goes through the browser in two steps. The authorizeUrl
// that Create and Reconnect answer is a start link, StartURL with the
// provider's authorization URL, its expiry and an HMAC of both under the
// state key: the link cannot be pointed anywhere else. Start, behind GET
// on that link, sets a cookie bound to the authorization's state and sends
// the browser on to the provider. The callback completes the authorization
// only for a browser that presents that cookie, so a provider URL or a
// callback URL taken from one browser cannot be completed in another.

// Labels that keep the state key's HMACs apart from each other and from
// the PKCE verifier (oauth.Verifier).
const (
	startLinkLabel = "wiresk/oauth/start-link/v1\x00"
	bindingLabel   = "wiresk/oauth/browser-binding/v1\x00"
)

// BindingCookiePrefix starts the name of the cookie that binds a browser to
// an authorization; the rest of the name identifies the authorization, so
// that several may run in one browser at once.
const BindingCookiePrefix = "wiresk_oauth_"

// ReasonBrowserMismatch is the reason code of a callback refused because
// the browser does not present the cookie of the authorization's start:
// the link was opened in another browser, or was not Wiresk's.
const ReasonBrowserMismatch = "browser_mismatch"

// Reason codes of a refused start.
const (
	reasonInvalidLink = "invalid_link"
)

// StartResult is what GET on a start link does: set Cookie and redirect to
// Redirect, or, when Redirect is empty, refuse with the error code Code (the
// HTTP layer maps it to a status) and the page of Title and Message (plain
// text, never a secret) and the stable Reason.
type StartResult struct {
	Redirect string
	Cookie   *http.Cookie
	Code     string
	Title    string
	Message  string
	Reason   string
}

// startLink returns the start link of the provider authorization URL
// authURL, valid until expires.
func (s *Authorizations) startLink(authURL string, expires time.Time) (string, error) {
	u, err := url.Parse(s.startURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return "", wiresk.Errorf(wiresk.EUnavailable, "OAuth connections are not available: the deployment's OAuth start URL is not an absolute http or https URL")
	}
	exp := strconv.FormatInt(expires.Unix(), 10)
	u.RawQuery = url.Values{"to": {authURL}, "exp": {exp}, "sig": {s.mac(startLinkLabel, exp+"\x00"+authURL)}}.Encode()
	return u.String(), nil
}

// Start checks a start link's query and returns the redirect to the
// provider with the cookie that binds this browser to the authorization
// (HttpOnly, SameSite=Lax, Secure when StartURL is https, for the path of
// the start and callback URLs, living as long as the state). A link that
// Wiresk did not sign, or one past its expiry, is refused with 400.
func (s *Authorizations) Start(ctx context.Context, query url.Values) StartResult {
	to, exp, sig := query.Get("to"), query.Get("exp"), query.Get("sig")
	refused := func(code, title, msg, reason string) StartResult {
		return StartResult{Code: code, Title: title, Message: msg, Reason: reason}
	}
	if len(s.stateKey) < oauth.MinStateKeyBytes {
		s.log().ErrorContext(ctx, "oauth start: the OAuth state key is missing or too short")
		return refused(wiresk.EUnavailable, "Authorization not started",
			"Wiresk could not start the authorization because of a problem on its side."+startAgain, reasonNotConfigured)
	}
	if to == "" || exp == "" || !hmac.Equal([]byte(sig), []byte(s.mac(startLinkLabel, exp+"\x00"+to))) {
		s.log().InfoContext(ctx, "oauth start with a link Wiresk did not sign")
		return refused(wiresk.EInvalid, "Authorization link not valid",
			"This authorization link is incomplete or was not made by Wiresk."+startAgain, reasonInvalidLink)
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	left := time.Unix(unix, 0).Sub(s.now())
	if err != nil || left <= 0 {
		return refused(wiresk.EInvalid, "Authorization link expired",
			"This authorization link expired: links are valid for "+strconv.Itoa(int(connection.StateTTL/time.Minute))+" minutes."+startAgain, reasonExpiredState)
	}
	var state string
	if pu, err := url.Parse(to); err == nil {
		state = pu.Query().Get("state")
	}
	if state == "" { // Wiresk signs only URLs with a state
		return refused(wiresk.EInvalid, "Authorization link not valid",
			"This authorization link carries no state."+startAgain, reasonInvalidLink)
	}
	c := s.bindingCookie(state)
	c.Value = s.mac(bindingLabel, state)
	// Rounded up, so that a fresh link's cookie says the state's 10 minutes.
	c.MaxAge = int((min(left, connection.StateTTL) + time.Second - 1) / time.Second)
	return StartResult{Redirect: to, Cookie: c}
}

// bindingCookie returns state's binding cookie without its value: its name,
// and the attributes Start sets it with and the callback clears it with.
func (s *Authorizations) bindingCookie(state string) *http.Cookie {
	c := &http.Cookie{Name: bindingCookieName(state), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if u, err := url.Parse(s.startURL); err == nil {
		c.Path, c.Secure = path.Dir(u.Path), u.Scheme == "https"
	}
	return c
}

// bound reports whether cookies hold the binding cookie of state with the
// right value, and returns the cookie that clears it when one of its name
// was presented.
func (s *Authorizations) bound(state string, cookies []*http.Cookie) (ok bool, clear *http.Cookie) {
	name := bindingCookieName(state)
	want := []byte(s.mac(bindingLabel, state))
	for _, c := range cookies {
		if c == nil || c.Name != name {
			continue
		}
		if clear == nil {
			clear = s.bindingCookie(state)
			clear.MaxAge = -1
		}
		ok = ok || hmac.Equal([]byte(c.Value), want)
	}
	return ok, clear
}

// bindingCookieName is the name of state's binding cookie: the prefix and
// the first 16 hex digits of the state's id.
func bindingCookieName(state string) string {
	return BindingCookiePrefix + connection.StateID(state)[:16]
}

// mac is the base64url HMAC-SHA256 of label and msg under the state key.
func (s *Authorizations) mac(label, msg string) string {
	h := hmac.New(sha256.New, s.stateKey)
	h.Write([]byte(label))
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
