package apptest

import (
	"net/http"
	"net/url"
	"strings"
)

// slackFailure is the failure answer of the Slack fake: Slack's
// {"ok": false, "error": ...} envelope, with HTTP 429 and the error
// ratelimited for rate limiting.
func slackFailure(w http.ResponseWriter, status int) {
	code := "internal_error"
	switch status {
	case http.StatusTooManyRequests:
		code = "ratelimited"
	case http.StatusServiceUnavailable:
		code = "service_unavailable"
	case http.StatusNotFound:
		code = "unknown_method"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": code})
}

// newSlack plays Slack's auth.test
// (https://docs.slack.dev/reference/methods/auth.test): POST
// /api/auth.test with the token "as an HTTP Authorization header or
// alternatively, as a POST parameter" (token in a form body) answers
// HTTP 200 {"ok": true, "url", "team", "user", "team_id", "user_id",
// "bot_id"}. Failures also answer HTTP 200, with {"ok": false, "error":
// ...}: not_authed without a token, invalid_auth for a bad one,
// token_expired for an Expired one, token_revoked for a Revoked one. Rate
// limiting is HTTP 429 with Retry-After (seconds) and {"ok": false,
// "error": "ratelimited"} (https://docs.slack.dev/apis/web-api/rate-limits).
func newSlack() (*Fake, *spec) {
	f := &Fake{
		Token:   "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
		Tokens:  map[string]string{Expired: "xoxe.xoxb-1-expired-token", Revoked: "xoxb-17653672481-19874698323-revokedrevoked"},
		Account: "grace @ Subarachnoid Workspace",
	}
	return f, &spec{
		failure: slackFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
			if !route(w, r, http.MethodPost, "/api/auth.test", slackFailure) {
				return
			}
			token, ok := bearer(r)
			if !ok && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				if form, err := url.ParseQuery(string(body)); err == nil {
					token, ok = form.Get("token"), form.Has("token")
				}
			}
			fail := ""
			switch {
			case !ok || token == "":
				fail = "not_authed"
			case token == f.Tokens[Expired]:
				fail = "token_expired"
			case token == f.Tokens[Revoked]:
				fail = "token_revoked"
			case token != f.Token:
				fail = "invalid_auth"
			}
			if fail != "" {
				writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": fail})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"ok":      true,
				"url":     "https://subarachnoid.slack.com/",
				"team":    "Subarachnoid Workspace",
				"user":    "grace",
				"team_id": "T12345678",
				"user_id": "W12345678",
				"bot_id":  "B12345678",
			})
		},
	}
}
