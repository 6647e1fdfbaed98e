package apptest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Addresses the Mailchimp Transactional fake knows: mail from
// MailchimpSendingDomain (verified, DKIM signed) is sent; mail from
// another domain is rejected as "unsigned". MailchimpBounced is on the
// account's rejection list after a hard bounce, MailchimpUnsubscribed
// after an unsubscribe.
const (
	MailchimpSendingDomain = "example.com"
	MailchimpBounced       = "bounced@example.net"
	MailchimpUnsubscribed  = "unsubscribed@example.net"
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

// mandrillKey checks the "key" of a Mailchimp Transactional call body and
// answers HTTP 500 Invalid_Key (or ValidationError for a body that is not
// JSON) otherwise.
func mandrillKey(f *Fake, w http.ResponseWriter, body []byte) bool {
	var args struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &args); err != nil {
		mandrillError(w, http.StatusInternalServerError, -2, "ValidationError", "You must specify a key value")
		return false
	}
	if args.Key == "" {
		mandrillError(w, http.StatusInternalServerError, -1, "Invalid_Key", "You must specify a key value")
		return false
	}
	if args.Key != f.Token {
		mandrillError(w, http.StatusInternalServerError, -1, "Invalid_Key", "Invalid API key")
		return false
	}
	return true
}

// mandrillValidation writes Mailchimp Transactional's ValidationError,
// whose message quotes the failures as JSON.
func mandrillValidation(w http.ResponseWriter, failures any) {
	b, _ := json.Marshal(failures)
	mandrillError(w, http.StatusInternalServerError, -2, "ValidationError", "Validation error: "+string(b))
}

// mandrillSend answers POST /api/1.0/messages/send.
func mandrillSend(f *Fake, w http.ResponseWriter, _ *http.Request, body []byte) {
	if !mandrillKey(f, w, body) {
		return
	}
	var args struct {
		Message *struct {
			FromEmail string `json:"from_email"`
			To        []struct {
				Email string `json:"email"`
				Name  string `json:"name"`
				Type  string `json:"type"`
			} `json:"to"`
		} `json:"message"`
		SendAt     string `json:"send_at"`
		Subaccount string `json:"subaccount"`
	}
	if err := json.Unmarshal(body, &args); err != nil || args.Message == nil {
		mandrillValidation(w, map[string]any{"message": "Please enter an array"})
		return
	}
	m := args.Message
	switch {
	case len(m.To) == 0:
		mandrillValidation(w, map[string]any{"message": map[string]any{"to": "Please enter an array"}})
		return
	case strings.Count(m.FromEmail, "@") != 1:
		mandrillValidation(w, map[string]any{"message": map[string]any{"from_email": "An email address must contain a single @"}})
		return
	case args.Subaccount != "":
		mandrillError(w, http.StatusInternalServerError, 12, "Unknown_Subaccount", "No subaccount exists with the id '"+args.Subaccount+"'")
		return
	}
	for i, to := range m.To {
		if to.Type != "" && !slices.Contains([]string{"to", "cc", "bcc"}, to.Type) {
			mandrillValidation(w, map[string]any{"message": map[string]any{"to": map[string]any{"type": map[string]any{strconv.Itoa(i): "Please select a valid option"}}}})
			return
		}
	}
	signed := strings.EqualFold(m.FromEmail[strings.Index(m.FromEmail, "@")+1:], MailchimpSendingDomain)
	out := []any{}
	for _, to := range m.To {
		sum := sha256.Sum256([]byte(to.Email + string(body)))
		res := map[string]any{"email": to.Email, "status": "sent", "reject_reason": nil, "_id": hex.EncodeToString(sum[:16])}
		switch {
		case strings.Count(to.Email, "@") != 1:
			res["status"] = "invalid"
		case strings.EqualFold(to.Email, MailchimpBounced):
			res["status"], res["reject_reason"] = "rejected", "hard-bounce"
		case strings.EqualFold(to.Email, MailchimpUnsubscribed):
			res["status"], res["reject_reason"] = "rejected", "unsub"
		case !signed:
			res["status"], res["reject_reason"] = "rejected", "unsigned"
		case args.SendAt != "":
			res["status"] = "scheduled"
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, out)
}

// newMailchimp plays Mailchimp Transactional's (Mandrill's) API, where
// every call is a POST whose JSON body carries the API key as "key", not
// a header:
//
//   - users/ping (https://mailchimp.com/developer/transactional/api/users/ping/):
//     POST /api/1.0/users/ping {"key"} answers 200 with the JSON string
//     "PONG!".
//   - messages/send
//     (https://mailchimp.com/developer/transactional/api/messages/send-new-message/):
//     POST /api/1.0/messages/send {"key", "message": {"html", "text",
//     "subject", "from_email", "from_name", "to": [{"email", "name",
//     "type": "to"|"cc"|"bcc"}], "headers", "tags", "metadata", ...},
//     "send_at"?} answers HTTP 200 with one {"email", "status",
//     "reject_reason", "_id"} per recipient, status "sent" ("scheduled"
//     with send_at), "rejected" with a reject_reason (MailchimpBounced:
//     "hard-bounce", MailchimpUnsubscribed: "unsub", mail from a domain
//     other than MailchimpSendingDomain: "unsigned") or "invalid" (an
//     address without a single @)
//     (https://mailchimp.com/developer/transactional/docs/outbound-email/).
//     A message without recipients or with a bad from_email answers
//     ValidationError ("Validation error: {...}"), an unknown subaccount
//     Unknown_Subaccount.
//
// Errors are HTTP 500 {"status": "error", "code", "name", "message"}: a
// missing or invalid key is {"code": -1, "name": "Invalid_Key",
// "message": "Invalid API key"}, a server status for a credential failure
// that only the catalog's rule on "name" tells apart from a server error.
func newMailchimp() (*Fake, *spec) {
	f := &Fake{
		Token:   "md-0123456789abcdefABCDEF",
		Account: "API key",
	}
	return f, &spec{
		failure: mandrillFailure,
		methods: map[string]Handler{"POST /api/1.0/messages/send": mandrillSend},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
			if !route(w, r, http.MethodPost, "/api/1.0/users/ping", mandrillFailure) || !mandrillKey(f, w, body) {
				return
			}
			writeJSON(w, http.StatusOK, "PONG!")
		},
	}
}
