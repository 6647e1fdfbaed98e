package apptest

import "net/http"

// airtableFailure is the failure answer of the Airtable fake: 429 is
// {"errors": [{"error": "RATE_LIMIT_REACHED", "message"}]}, other failures
// {"error": {"type", "message"}}.
func airtableFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeJSON(w, status, map[string]any{"errors": []any{map[string]any{
			"error":   "RATE_LIMIT_REACHED",
			"message": "Rate limit exceeded. Please try again later",
		}}})
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "NOT_FOUND"})
	case http.StatusServiceUnavailable:
		writeJSON(w, status, map[string]any{"error": map[string]any{"type": "SERVICE_UNAVAILABLE", "message": "Service unavailable"}})
	default:
		writeJSON(w, status, map[string]any{"error": map[string]any{"type": "SERVER_ERROR", "message": "Server error"}})
	}
}

// newAirtable plays Airtable's "Get user info"
// (https://airtable.com/developers/web/api/get-user-id-scopes): GET
// /v0/meta/whoami with "Authorization: Bearer <token>" (an OAuth access
// token or a personal access token) answers 200 {"id": "usr...",
// "scopes": [...], "email"}, where email is present only with the
// user.email:read scope (the Internal token lacks it). A missing, invalid
// or Expired token answers 401 {"error": {"type":
// "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}. Rate
// limiting is 429 RATE_LIMIT_REACHED; Airtable documents a 30 second wait
// rather than a Retry-After header (Throttle adds one when asked).
func newAirtable() (*Fake, *spec) {
	f := &Fake{
		Token:   "patAbCdEfGhIjKlMn.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Tokens:  map[string]string{Expired: "oaaExpiredAccessToken.v1.expired", Internal: "patNoEmailScope.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		Account: "ada@example.com",
	}
	return f, &spec{
		failure: airtableFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/v0/meta/whoami", airtableFailure) {
				return
			}
			token, ok := bearer(r)
			if !ok || (token != f.Token && token != f.Tokens[Internal]) {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
					"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required",
				}})
				return
			}
			out := map[string]any{
				"id":     "usrL2PNC5o3H4lBEi",
				"scopes": []string{"data.records:read", "data.records:write", "schema.bases:read"},
			}
			if token == f.Token {
				out["scopes"] = append(out["scopes"].([]string), "user.email:read")
				out["email"] = "ada@example.com"
			}
			writeJSON(w, http.StatusOK, out)
		},
	}
}
