package apptest

import "net/http"

// hubspotCorrelationID is the correlationId of the HubSpot fake's errors.
const hubspotCorrelationID = "c033cdaa-2c40-4a64-ae48-b4cec88dad24"

// hubspotError writes HubSpot's JSON error answer: {"status": "error",
// "message", "correlationId", "category"}.
func hubspotError(w http.ResponseWriter, status int, category, message string) {
	writeJSON(w, status, map[string]any{
		"status":        "error",
		"message":       message,
		"correlationId": hubspotCorrelationID,
		"category":      category,
	})
}

// hubspotFailure is the failure answer of the HubSpot fake. Rate limiting
// is HubSpot's documented 429 {"status": "error", "message": "You have
// reached your secondly limit.", "errorType": "RATE_LIMIT",
// "policyName": "SECONDLY", ...}.
func hubspotFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeJSON(w, status, map[string]any{
			"status":        "error",
			"message":       "You have reached your secondly limit.",
			"errorType":     "RATE_LIMIT",
			"correlationId": hubspotCorrelationID,
			"policyName":    "SECONDLY",
			"requestId":     "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
		})
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		hubspotError(w, status, "OBJECT_NOT_FOUND", "Resource not found")
	default:
		hubspotError(w, status, "INTERNAL_ERROR", "internal error")
	}
}

// newHubSpot plays HubSpot's account information API
// (https://developers.hubspot.com/docs/api-reference/latest/account/account-information/guide):
// GET /account-info/v3/details (the legacy path the catalog uses) or
// /account-info/2026-03/details (the date-versioned one) with
// "Authorization: Bearer <token>" (an OAuth access token or a private app
// token) answers 200 {"portalId", "accountType", "timeZone",
// "companyCurrency", "additionalCurrencies", "utcOffset",
// "utcOffsetMilliseconds", "uiDomain", "dataHostingLocation"}. A missing
// or bad token answers 401 {"status": "error", "message":
// "Authentication credentials not found...", "category":
// "INVALID_AUTHENTICATION"}; an Expired token 401 with category
// EXPIRED_AUTHENTICATION. Rate limiting is 429 with errorType RATE_LIMIT
// (HubSpot documents no Retry-After; Throttle adds one when asked).
func newHubSpot() (*Fake, *spec) {
	f := &Fake{
		Token:   "pat-na1-11111111-2222-3333-4444-555555555555",
		Tokens:  map[string]string{Expired: "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4"},
		Account: "62515",
	}
	return f, &spec{
		failure: hubspotFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			path := "/account-info/v3/details"
			if r.URL.Path == "/account-info/2026-03/details" {
				path = r.URL.Path
			}
			if !route(w, r, http.MethodGet, path, hubspotFailure) {
				return
			}
			token, ok := bearer(r)
			switch {
			case !ok:
				hubspotError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
					"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
				return
			case token == f.Tokens[Expired]:
				hubspotError(w, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION",
					"The OAuth token used to make this call expired 2 hour(s) ago.")
				return
			case token != f.Token:
				hubspotError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
					"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"portalId":              62515,
				"accountType":           "STANDARD",
				"timeZone":              "US/Eastern",
				"companyCurrency":       "USD",
				"additionalCurrencies":  []string{"EUR"},
				"utcOffset":             "-05:00",
				"utcOffsetMilliseconds": -18000000,
				"uiDomain":              "app.hubspot.com",
				"dataHostingLocation":   "na1",
			})
		},
	}
}
