package apptest

import "net/http"

// notionError writes Notion's JSON error answer: {"object": "error",
// "status", "code", "message", "request_id"}.
func notionError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{
		"object":     "error",
		"status":     status,
		"code":       code,
		"message":    message,
		"request_id": "1f0b3a5c-8d1e-4a3f-9f7e-2c6d9b1a0e42",
	})
}

// notionFailure is the failure answer of the Notion fake, with the codes
// of Notion's status codes page.
func notionFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		notionError(w, status, "rate_limited", "You have been rate limited. Please try again in a few minutes.")
	case http.StatusServiceUnavailable:
		notionError(w, status, "service_unavailable", "Notion is unavailable, try again later.")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		notionError(w, http.StatusBadRequest, "invalid_request_url", "Invalid request URL.")
	default:
		notionError(w, status, "internal_server_error", "Unexpected error occurred.")
	}
}

// newNotion plays Notion's "Retrieve your token's bot user"
// (https://developers.notion.com/reference/get-self): GET /v1/users/me
// with "Authorization: Bearer <token>" and the required Notion-Version
// header answers 200 with a bot user {"object": "user", "id", "name",
// "type": "bot", "bot": {"owner": {"type": "user", "user": {...,
// "name"}}, "workspace_name"}}; an Internal integration's bot is owned by
// the workspace ({"type": "workspace", "workspace": true}). Without
// Notion-Version the answer is 400 {"code": "missing_version"}; a missing,
// invalid or Expired token answers 401 {"object": "error", "status": 401,
// "code": "unauthorized", "message": "API token is invalid."}. Rate
// limiting is 429 {"code": "rate_limited"} with Retry-After in seconds
// (https://developers.notion.com/reference/request-limits).
func newNotion() (*Fake, *spec) {
	f := &Fake{
		Token:   "ntn_4518xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		Tokens:  map[string]string{Expired: "ntn_expired0000000000000000000000000000000000", Internal: "ntn_internal000000000000000000000000000000000"},
		Account: "Ada Lovelace (Ada's Workspace)",
	}
	return f, &spec{
		failure: notionFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/v1/users/me", notionFailure) {
				return
			}
			token, ok := bearer(r)
			if !ok || (token != f.Token && token != f.Tokens[Internal]) {
				notionError(w, http.StatusUnauthorized, "unauthorized", "API token is invalid.")
				return
			}
			if r.Header.Get("Notion-Version") == "" {
				notionError(w, http.StatusBadRequest, "missing_version",
					"Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.")
				return
			}
			owner := map[string]any{"type": "workspace", "workspace": true}
			if token == f.Token {
				owner = map[string]any{"type": "user", "user": map[string]any{
					"object":     "user",
					"id":         "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
					"name":       "Ada Lovelace",
					"avatar_url": nil,
					"type":       "person",
					"person":     map[string]any{"email": "ada@example.com"},
				}}
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"object":     "user",
				"id":         "16d84278-ab0e-484c-9bdd-b35da3bd8905",
				"name":       "Wiresk",
				"avatar_url": nil,
				"type":       "bot",
				"bot":        map[string]any{"owner": owner, "workspace_name": "Ada's Workspace"},
				"request_id": "9a6e2f4c-1b3d-4e5f-8a7b-0c1d2e3f4a5b",
			})
		},
	}
}
