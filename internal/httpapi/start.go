package httpapi

import (
	"log/slog"
	"net/http"

	"wiresk/internal/connect"
	"wiresk/internal/wiresk"
)

// OAuthStartPath is the path of the start of an OAuth authorization in the
// user's browser: the authorizeUrl that creating or reconnecting an OAuth
// Connection answers points there.
const OAuthStartPath = "/v1/oauth/start"

// OAuthStart serves GET /v1/oauth/start. It needs no JWT: the link's HMAC
// under the state key is the check (connect.Authorizations.Start). It sets the
// cookie that binds this browser to the authorization, the one
// GET /v1/oauth/callback requires, and redirects (302) to the provider.
type OAuthStart struct {
	svc *connect.Authorizations
	log *slog.Logger
}

// NewOAuthStart returns the handler of GET /v1/oauth/start (see
// OAuthStartPath). A link Wiresk did not sign, or one past its expiry, gets
// a small HTML page with status 400 and the error code, like the
// callback's. Nothing is cached, and no referrer is sent on to the
// provider.
func NewOAuthStart(svc *connect.Authorizations, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &OAuthStart{svc: svc, log: log}
}

// ServeHTTP implements http.Handler.
func (h *OAuthStart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !browserGET(w, r, h.log, OAuthStartPath, "the OAuth start") {
		return
	}
	res := h.svc.Start(r.Context(), r.URL.Query())
	if res.Redirect != "" {
		http.SetCookie(w, res.Cookie)
		http.Redirect(w, r, res.Redirect, http.StatusFound)
		return
	}
	writePage(w, r, h.log, StatusOf(res.Code), oauthPage{Title: res.Title, Message: res.Message, Code: res.Reason})
}

// OAuthBrowser serves the two OAuth routes a browser opens, without a JWT:
// GET /v1/oauth/start (OAuthStart) and GET /v1/oauth/callback
// (OAuthCallback). Any other path answers the callback's 404.
type OAuthBrowser struct {
	start, callback http.Handler
}

// NewOAuthBrowser returns the handler of the OAuth start and callback over
// svc.
func NewOAuthBrowser(svc *connect.Authorizations, log *slog.Logger) *OAuthBrowser {
	return &OAuthBrowser{start: NewOAuthStart(svc, log), callback: NewOAuthCallback(svc, log)}
}

// Routes returns the routes h serves, as "METHOD /path" patterns.
func (h *OAuthBrowser) Routes() []string {
	return []string{http.MethodGet + " " + OAuthStartPath, http.MethodGet + " " + OAuthCallbackPath}
}

// ServeHTTP implements http.Handler.
func (h *OAuthBrowser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == OAuthStartPath {
		h.start.ServeHTTP(w, r)
		return
	}
	h.callback.ServeHTTP(w, r)
}

// browserGET sets the headers of a page a browser is sent to during an
// authorization (never cached, no referrer sent on, no sniffing) and
// answers 404 for another path and 405 for another method than GET; it
// reports whether the request is to be served.
func browserGET(w http.ResponseWriter, r *http.Request, log *slog.Logger, path, what string) bool {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path != path {
		writeError(w, r, log, wiresk.Errorf(wiresk.ENotFound, "no route %s %s", r.Method, r.URL.Path))
		return false
	}
	if r.Method != http.MethodGet {
		hd.Set("Allow", http.MethodGet)
		writeError(w, r, log, wiresk.Errorf(wiresk.EMethodNotAllowed, "%s is a GET request", what))
		return false
	}
	return true
}
