package httpapi

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"wiresk/internal/connect"
)

// OAuthCallbackPath is the path of the OAuth callback: the redirect URI
// that providers send the user back to.
const OAuthCallbackPath = "/v1/oauth/callback"

// callbackCSP is the Content-Security-Policy of the callback page: nothing
// may load (no script, image, font or frame), inline styles aside, and the
// page may not be framed, change its base URL or submit a form.
const callbackCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// callbackPage is the page the callback shows when no return URL is
// configured: self-contained (no external resource), with the outcome in
// text, not in colour alone. It is parsed on first use, so that the
// functions that never show it (all but oauthcallback) do not link
// html/template's parser. (sync.OnceValue would store the template in an
// interface, which keeps all its methods in every binary: larger, not
// smaller.)
func callbackPage() *template.Template {
	callbackOnce.Do(func() { callbackTmpl = template.Must(template.New("callback").Parse(callbackHTML)) })
	return callbackTmpl
}

var (
	callbackOnce sync.Once
	callbackTmpl *template.Template
)

const callbackHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · Wiresk</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1b1f24}
main{max-width:32rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:8px;border-top:6px solid {{if .OK}}#1a7f37{{else}}#cf222e{{end}};box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:0 0 1rem}
p{margin:0 0 1rem}
.hint{color:#57606a;font-size:.9rem;margin:0}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}main{background:#161b22}.hint{color:#8d96a0}}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Code}}<p class="hint">Error code: {{.Code}}</p>
{{end}}<p class="hint">You can close this window and go back to Wiresk.</p>
</main>
</body>
</html>
`

// OAuthCallback serves GET /v1/oauth/callback, where an OAuth provider
// sends the user back after consent. It needs no JWT: the single-use state
// the provider returns, and the browser's binding cookie set by
// GET /v1/oauth/start for that state, are the checks, and
// connect.Authorizations.Callback makes them.
type OAuthCallback struct {
	svc *connect.Authorizations
	log *slog.Logger
}

// NewOAuthCallback returns the handler of GET /v1/oauth/callback (see
// OAuthCallbackPath). It completes the authorization with svc.Callback and
// either redirects (303) to the return URL the service answers, or shows a
// small HTML page saying what happened. The page never shows the code or
// the state, and its answer is neither cached nor sent on as a referrer,
// since the URL carries the code.
func NewOAuthCallback(svc *connect.Authorizations, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &OAuthCallback{svc: svc, log: log}
}

// ServeHTTP implements http.Handler.
func (h *OAuthCallback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !browserGET(w, r, h.log, OAuthCallbackPath, "the OAuth callback") {
		return
	}
	q := r.URL.Query()
	res := h.svc.Callback(r.Context(), q, r.Cookies())
	if res.ClearCookie != nil {
		http.SetCookie(w, res.ClearCookie)
	}
	if res.Redirect != "" {
		http.Redirect(w, r, res.Redirect, http.StatusSeeOther)
		return
	}
	title := res.Title
	if title == "" {
		title = "Connection failed"
		if res.OK {
			title = "Connected"
		}
	}
	writePage(w, r, h.log, callbackStatus(res), oauthPage{OK: res.OK, Title: scrubCallback(title, q),
		Message: scrubCallback(res.Message, q), Code: res.Reason})
}

// oauthPage is what the callback and start pages say: the outcome, a
// headline, a sentence, and the stable code of a failure.
type oauthPage struct {
	OK                   bool
	Title, Message, Code string
}

// writePage answers status with the OAuth page p (the caller has set the
// caching and referrer headers).
func writePage(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, p oauthPage) {
	var buf bytes.Buffer
	if err := callbackPage().Execute(&buf, p); err != nil {
		log.ErrorContext(r.Context(), "render the OAuth page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", callbackCSP)
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// callbackStatus returns the status of the callback page: 200 when
// connected, else the status of the failure's code in the one error table
// (500 for a failure without a code).
func callbackStatus(res connect.CallbackResult) int {
	if res.OK {
		return http.StatusOK
	}
	return StatusOf(res.Code)
}

// minScrubbed is the length from which a query value is scrubbed out of
// the page; shorter values would scrub ordinary words.
const minScrubbed = 8

// scrubCallback removes from s the callback's code and state, in case a
// message quoted one: the page must never show them.
func scrubCallback(s string, q url.Values) string {
	for _, name := range []string{"code", "state"} {
		for _, v := range q[name] {
			if len(v) >= minScrubbed {
				s = strings.ReplaceAll(s, v, "[redacted]")
			}
		}
	}
	return s
}
