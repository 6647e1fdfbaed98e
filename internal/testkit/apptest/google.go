package apptest

import (
	"net/http"
	"strings"
)

// googleErrors are the parts of Google's JSON error answers (the
// "error" object with code, message, errors[].reason and status) for the
// statuses the fakes answer.
var googleErrors = map[int]struct{ message, domain, reason, status string }{
	http.StatusBadRequest:          {"Bad Request", "global", "badRequest", "INVALID_ARGUMENT"},
	http.StatusUnauthorized:        {"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "global", "authError", "UNAUTHENTICATED"},
	http.StatusForbidden:           {"Request had insufficient authentication scopes.", "global", "insufficientPermissions", "PERMISSION_DENIED"},
	http.StatusNotFound:            {"Method not found.", "global", "notFound", "NOT_FOUND"},
	http.StatusMethodNotAllowed:    {"Method not allowed.", "global", "methodNotAllowed", "INVALID_ARGUMENT"},
	http.StatusTooManyRequests:     {"Too many concurrent requests for user.", "global", "rateLimitExceeded", "RESOURCE_EXHAUSTED"},
	http.StatusInternalServerError: {"Internal error encountered.", "global", "backendError", "INTERNAL"},
	http.StatusServiceUnavailable:  {"The service is currently unavailable.", "global", "backendError", "UNAVAILABLE"},
}

// googleError writes Google's JSON error answer for status, with the
// given reason and message when they are not "".
func googleError(w http.ResponseWriter, status int, reason, message string) {
	e, ok := googleErrors[status]
	if !ok {
		e = googleErrors[http.StatusInternalServerError]
	}
	if reason != "" {
		e.reason = reason
	}
	if message != "" {
		e.message = message
	}
	if reason == "userRateLimitExceeded" || reason == "rateLimitExceeded" {
		e.domain = "usageLimits"
	}
	item := map[string]any{"message": e.message, "domain": e.domain, "reason": e.reason}
	if status == http.StatusUnauthorized {
		item["location"], item["locationType"] = "Authorization", "header"
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	if status == http.StatusForbidden && e.reason == "insufficientPermissions" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope"`)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    status,
		"message": e.message,
		"errors":  []any{item},
		"status":  e.status,
	}})
}

// googleFailure is the failure answer of the Google fakes.
func googleFailure(w http.ResponseWriter, status int) { googleError(w, status, "", "") }

// googleAuth checks the bearer token of a Google API request and answers
// the documented failures: 401 authError for a missing, invalid or
// expired token (Google does not tell them apart), 403
// insufficientPermissions for a token without the scope (NoScope), 403
// userRateLimitExceeded (RateLimitedForbidden). It returns true when the
// request may go on.
func googleAuth(f *Fake, w http.ResponseWriter, r *http.Request) bool {
	token, ok := bearer(r)
	switch {
	case !ok:
		googleError(w, http.StatusUnauthorized, "required", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return false
	case token == f.Token:
		return true
	case token == f.Tokens[NoScope]:
		googleError(w, http.StatusForbidden, "insufficientPermissions", "")
		return false
	case token == f.Tokens[RateLimitedForbidden]:
		googleError(w, http.StatusForbidden, "userRateLimitExceeded", "User Rate Limit Exceeded")
		return false
	}
	googleError(w, http.StatusUnauthorized, "", "")
	return false
}

// gmailTestPath is the path of the Gmail fake's test endpoint, Google's
// OpenID Connect userinfo endpoint
// (https://openidconnect.googleapis.com/v1/userinfo); the catalog's
// test.url is absolute, so Overrides points TestURL at it.
const gmailTestPath = "/v1/userinfo"

// newGmail plays the endpoint of Gmail's test, Google's OpenID Connect
// userinfo endpoint
// (https://developers.google.com/identity/openid-connect/reference, the
// discovery document's userinfo_endpoint): GET /v1/userinfo with
// "Authorization: Bearer <token>" answers 200 with the standard claims the
// token's scopes allow, with userinfo.email {"sub", "email",
// "email_verified"}. A missing, invalid or Expired token answers 401 with
// Google's error object (reason authError or required, status
// UNAUTHENTICATED) and a WWW-Authenticate header; RateLimitedForbidden
// answers Google's 403 userRateLimitExceeded, the shared Google API answer
// the catalog's error rules read. Rate limiting is 429 rateLimitExceeded
// (status RESOURCE_EXHAUSTED). There is no NoScope token: what the
// endpoint answers a token without userinfo.email is not documented.
func newGmail() (*Fake, *spec) {
	f := &Fake{
		Token:   "ya29.gmail-valid-access-token",
		Tokens:  map[string]string{Expired: "ya29.gmail-expired-token", RateLimitedForbidden: "ya29.gmail-user-rate-limited"},
		Account: "ada@example.com",
	}
	return f, &spec{
		testPath: gmailTestPath,
		failure:  googleFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, gmailTestPath, googleFailure) || !googleAuth(f, w, r) {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"sub":            "110169484474386276334",
				"email":          "ada@example.com",
				"email_verified": true,
			})
		},
	}
}

// newDrive plays the Drive API v3's about.get
// (https://developers.google.com/workspace/drive/api/reference/rest/v3/about/get):
// GET /drive/v3/about with "Authorization: Bearer <token>". The fields
// parameter is required: without it the answer is 400 (reason required,
// location fields); with fields=user (or *) the answer is 200 {"user":
// {"kind": "drive#user", "displayName", "photoLink", "me",
// "permissionId", "emailAddress"}}, and only the fields asked for. Auth
// failures and rate limiting are Google's, as for Gmail; a token without a
// Drive scope (NoScope) answers 403 insufficientPermissions.
func newDrive() (*Fake, *spec) {
	f := &Fake{
		Token:   "ya29.drive-valid-access-token",
		Tokens:  map[string]string{Expired: "ya29.drive-expired-token", NoScope: "ya29.drive-no-scope-token", RateLimitedForbidden: "ya29.drive-user-rate-limited"},
		Account: "ada@example.com",
	}
	return f, &spec{
		failure: googleFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/drive/v3/about", googleFailure) || !googleAuth(f, w, r) {
				return
			}
			fields := r.URL.Query().Get("fields")
			if fields == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
					"code":    400,
					"message": "The 'fields' parameter is required for this method.",
					"errors": []any{map[string]any{
						"message": "The 'fields' parameter is required for this method.", "domain": "global",
						"reason": "required", "location": "fields", "locationType": "parameter",
					}},
				}})
				return
			}
			out := map[string]any{}
			if fields == "*" || strings.Contains(fields, "user") {
				out["user"] = map[string]any{
					"kind":         "drive#user",
					"displayName":  "Ada Lovelace",
					"photoLink":    "https://lh3.googleusercontent.com/a/default-user",
					"me":           true,
					"permissionId": "00112233445566778899",
					"emailAddress": "ada@example.com",
				}
			}
			writeJSON(w, http.StatusOK, out)
		},
	}
}
