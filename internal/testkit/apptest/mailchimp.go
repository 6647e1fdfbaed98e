package apptest

import (
	"encoding/json"
	"net/http"
)

// mandrillError writes Mailchimp Transactional's JSON error answer:
// {"status": "error", "code", "name", "message"}.
func mandrillError(w http.ResponseWriter, status, code int, name, message string) {
	writeJSON(w, status, map[string]any{"status": "error", "code": code, "name": name, "message": message})
}

// mandrillFailure is the failure answer of the Mailchimp Transactional
// fake. Mailchimp Transactional documents no rate-limit answer of its
// own; the fake's 429 uses its error envelope with the GeneralError name.
func mandrillFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		mandrillError(w, status, -1, "GeneralError", "Too many requests")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		mandrillError(w, http.StatusNotFound, -1, "GeneralError", "Unknown method")
	default:
		mandrillError(w, status, -1, "GeneralError", "An unexpected error occurred processing the request")
	}
}

// newMailchimp plays Mailchimp Transactional's (Mandrill's) users/ping
// (https://mailchimp.com/developer/transactional/api/users/ping/): every
// call is a POST whose JSON body carries the API key as "key", not a
// header. POST /api/1.0/users/ping with {"key": <key>} answers 200 with
// the JSON string "PONG!". A missing or invalid key answers HTTP 500
// {"status": "error", "code": -1, "name": "Invalid_Key", "message":
// "Invalid API key"}, a server status for a credential failure that only
// the catalog's rule on "name" tells apart from a server error.
func newMailchimp() (*Fake, *spec) {
	f := &Fake{
		Token:   "md-0123456789abcdefABCDEF",
		Account: "API key",
	}
	return f, &spec{
		failure: mandrillFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
			if !route(w, r, http.MethodPost, "/api/1.0/users/ping", mandrillFailure) {
				return
			}
			var args struct {
				Key string `json:"key"`
			}
			if err := json.Unmarshal(body, &args); err != nil {
				mandrillError(w, http.StatusInternalServerError, -2, "ValidationError", "You must specify a key value")
				return
			}
			if args.Key == "" {
				mandrillError(w, http.StatusInternalServerError, -1, "Invalid_Key", "You must specify a key value")
				return
			}
			if args.Key != f.Token {
				mandrillError(w, http.StatusInternalServerError, -1, "Invalid_Key", "Invalid API key")
				return
			}
			writeJSON(w, http.StatusOK, "PONG!")
		},
	}
}
