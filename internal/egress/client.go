package egress

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRedirects caps the redirects a request follows.
const maxRedirects = 5

// NewClient returns the HTTP client of every outbound request: it connects
// only where guard allows, checked when each connection is dialed, uses no
// proxy (a proxy would connect on its behalf, out of the guard's sight),
// and follows at most 5 redirects, to http or https URLs only, and only on
// the request's own host when the request carries a credential (see
// Request.Pinned).
func NewClient(guard *Guard) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   guard.control,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{Transport: transport, CheckRedirect: checkRedirect}
}

// RedirectError is the error of a redirect the policy refuses: retrying
// cannot change the answer, so the request fails permanently.
type RedirectError struct{ Reason string }

// Error says why the redirect was refused.
func (e *RedirectError) Error() string { return e.Reason }

// pinKey marks the context of a Pinned request, for the redirect policy.
type pinKey struct{}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return &RedirectError{fmt.Sprintf("stopped after following %d redirects", maxRedirects)}
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return &RedirectError{"refused a redirect to a URL that is not http or https"}
	}
	if pin, _ := req.Context().Value(pinKey{}).(bool); pin && !sameHost(via[0].URL, req.URL) {
		// The request carries a credential, maybe in a header net/http
		// would forward, in its query or its body: it stays with the host
		// it was meant for.
		return &RedirectError{"refused a redirect to another host, which would receive the credential"}
	}
	return nil
}

// sameHost reports whether a redirect from a to b stays on a's host: the
// same scheme, host name and port, or the upgrade from http to https on
// the default ports.
func sameHost(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	if a.Scheme == b.Scheme {
		return a.Port() == b.Port()
	}
	return a.Scheme == "http" && (a.Port() == "" || a.Port() == "80") &&
		b.Scheme == "https" && (b.Port() == "" || b.Port() == "443")
}
