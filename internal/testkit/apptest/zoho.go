package apptest

import (
	"net/http"
	"strings"
)

// zohoError writes Zoho CRM's JSON error answer: {"code", "details",
// "message", "status": "error"}.
func zohoError(w http.ResponseWriter, status int, code, message string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(w, status, map[string]any{"code": code, "details": details, "message": message, "status": "error"})
}

// zohoFailure is the failure answer of the Zoho CRM fake.
func zohoFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		zohoError(w, status, "TOO_MANY_REQUESTS", "The number of API requests has exceeded the limit.", nil)
	case http.StatusNotFound:
		zohoError(w, status, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
	case http.StatusMethodNotAllowed:
		zohoError(w, status, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
	default:
		zohoError(w, status, "INTERNAL_ERROR", "Internal Server Error", nil)
	}
}

// newZoho plays Zoho CRM's users API
// (https://www.zoho.com/crm/developer/docs/api/v8/get-users.html): GET
// /crm/v8/users?type=CurrentUser with "Authorization: Zoho-oauthtoken
// <token>" (not Bearer) answers 200 {"users": [{"full_name", "email",
// "id", "role", "profile", "status", ...}], "info": {...}}. The type
// parameter is required (400 REQUIRED_PARAM_MISSING). A missing
// Authorization header or another scheme answers 401 {"code":
// "AUTHENTICATION_FAILURE", ...}; an invalid or Expired token 401
// {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth
// token", "status": "error"}. Rate limiting is 429 TOO_MANY_REQUESTS.
func newZoho() (*Fake, *spec) {
	f := &Fake{
		Token:   "1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf",
		Tokens:  map[string]string{Expired: "1000.b49947a410a0323ec63c8f85bd60af5e.a40efb432d615595c28dc8d30f221a7e"},
		Account: "p.boyle@zylker.com",
		Config:  map[string]string{"domain": "eu"},
	}
	return f, &spec{
		failure: zohoFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/crm/v8/users", zohoFailure) {
				return
			}
			scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			switch {
			case !ok || scheme != "Zoho-oauthtoken":
				zohoError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILURE", "Authentication failed", nil)
				return
			case token != f.Token:
				zohoError(w, http.StatusUnauthorized, "INVALID_TOKEN", "invalid oauth token", nil)
				return
			}
			if r.URL.Query().Get("type") == "" {
				zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "type"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"users": []any{map[string]any{
					"country":    "US",
					"role":       map[string]any{"name": "CEO", "id": "4150868000000026005"},
					"language":   "en_US",
					"locale":     "en_US",
					"first_name": "Patricia",
					"last_name":  "Boyle",
					"full_name":  "Patricia Boyle",
					"email":      "p.boyle@zylker.com",
					"profile":    map[string]any{"name": "Administrator", "id": "4150868000000026011"},
					"id":         "4150868000000225013",
					"status":     "active",
					"confirm":    true,
				}},
				"info": map[string]any{"per_page": 200, "count": 1, "page": 1, "more_records": false},
			})
		},
	}
}
