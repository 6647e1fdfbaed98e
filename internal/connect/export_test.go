package connect

import "net/http"

// BindingCookie returns the cookie Start would set for state, so that the
// tests can reach the callback's later checks with states Start never saw.
func (s *Authorizations) BindingCookie(state string) *http.Cookie {
	return &http.Cookie{Name: bindingCookieName(state), Value: s.mac(bindingLabel, state)}
}
