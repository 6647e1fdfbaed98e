package apptest

import "net/http"

// openaiError writes OpenAI's JSON error answer: {"error": {"message",
// "type", "param", "code"}}; code is null when "".
func openaiError(w http.ResponseWriter, status int, typ, code, message string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": c}})
}

// openaiFailure is the failure answer of the OpenAI fake.
func openaiFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		openaiError(w, status, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later.")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		openaiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL.")
	case http.StatusServiceUnavailable:
		openaiError(w, status, "server_error", "", "The engine is currently overloaded, please try again later.")
	default:
		openaiError(w, status, "server_error", "", "The server had an error while processing your request.")
	}
}

// maskKey masks an API key the way OpenAI's errors quote it: its first
// three and last four characters around stars.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}

// newOpenAI plays OpenAI's "List models"
// (https://platform.openai.com/docs/api-reference/models/list): GET
// /v1/models with "Authorization: Bearer <key>" (and the optional
// OpenAI-Organization and OpenAI-Project headers) answers 200 {"object":
// "list", "data": [{"id", "object": "model", "created", "owned_by"}]}. A
// missing key answers 401 with code null; a bad one 401 {"error":
// {"message": "Incorrect API key provided: sk-abc*****wxyz...", "type":
// "invalid_request_error", "code": "invalid_api_key"}}, quoting part of
// the key. Rate limiting is 429 rate_limit_exceeded; a QuotaExhausted key
// answers 429 insufficient_quota, which is no rate limit: retrying cannot
// help.
func newOpenAI() (*Fake, *spec) {
	f := &Fake{
		Token:   "sk-proj-valid0123456789abcdefghijklmnopqrstuvwxyzABCD",
		Tokens:  map[string]string{QuotaExhausted: "sk-proj-noquota0123456789abcdefghijklmnopqrstuvwxyz"},
		Account: "API key",
	}
	return f, &spec{
		failure: openaiFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/v1/models", openaiFailure) {
				return
			}
			key, ok := bearer(r)
			switch {
			case !ok || key == "":
				openaiError(w, http.StatusUnauthorized, "invalid_request_error", "",
					"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
				return
			case key == f.Tokens[QuotaExhausted]:
				openaiError(w, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota",
					"You exceeded your current quota, please check your plan and billing details.")
				return
			case key != f.Token:
				openaiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
					"Incorrect API key provided: "+maskKey(key)+". You can find your API key at https://platform.openai.com/account/api-keys.")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"object": "list",
				"data": []any{
					map[string]any{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
					map[string]any{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
				},
			})
		},
	}
}
