package appcall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wiresk/internal/catalog"
	"wiresk/internal/egress"
)

// ErrorKind classifies a failed request.
type ErrorKind string

// Error kinds.
const (
	// KindUnauthorized: the app refused the credential (401, 403, or a
	// catalog auth rule, even inside a 200 answer). Refresh an OAuth token
	// once; if it is refused again, mark the Connection broken.
	KindUnauthorized ErrorKind = "unauthorized"
	// KindRateLimited: the app still rate limited the request after the
	// retries. RetryAfter says how long it asked to wait, when it did.
	KindRateLimited ErrorKind = "rate_limited"
	// KindTransient: a network error, a timeout, 408 or 5xx after the
	// retries; trying again later may succeed.
	KindTransient ErrorKind = "transient"
	// KindPermanent: retrying the same request cannot help: another 4xx,
	// a catalog rule for a permanent failure (an exhausted quota), an
	// answer a test does not expect, a destination the SSRF guard refuses,
	// or a request or credential that cannot be sent.
	KindPermanent ErrorKind = "permanent"
)

// retryable reports whether a failure of kind k is worth another try.
func (k ErrorKind) retryable() bool { return k == KindRateLimited || k == KindTransient }

// Sentinels matched by errors.Is against an *Error of the same kind.
var (
	// ErrUnauthorized matches errors of KindUnauthorized.
	ErrUnauthorized = errors.New("appcall: the app refused the credential")
	// ErrRateLimited matches errors of KindRateLimited.
	ErrRateLimited = errors.New("appcall: rate limited by the app")
	// ErrTransient matches errors of KindTransient.
	ErrTransient = errors.New("appcall: transient failure")
	// ErrPermanent matches errors of KindPermanent.
	ErrPermanent = errors.New("appcall: permanent failure")
)

// Error is the error of a failed request. Its Message never holds the
// credential, the request's headers or the query string of its URL.
type Error struct {
	// Kind classifies the failure.
	Kind ErrorKind
	// App is the catalog id of the app.
	App string
	// Status is the HTTP status of the last answer, 0 when none came.
	Status int
	// Attempts counts the tries, retries included.
	Attempts int
	// RetryAfter is the wait the app last asked for, for KindRateLimited:
	// its Retry-After, or else the wait its catalog documents
	// (errors.rate_limit_wait); 0 when neither says.
	RetryAfter time.Duration
	// Message describes the failure in a short, secret-free sentence.
	Message string

	err error // the cause, for errors.Is and errors.As
}

// Error returns the Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause of the error, if any: context.Canceled when the
// request was cancelled, a *egress.RefusedError when the SSRF guard refused
// the destination, a *wiresk.Error for an invalid connection config.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Kind == KindUnauthorized
	case ErrRateLimited:
		return e.Kind == KindRateLimited
	case ErrTransient:
		return e.Kind == KindTransient
	case ErrPermanent:
		return e.Kind == KindPermanent
	}
	return false
}

// KindOf returns the Kind of the first *Error in err's chain, and "" when
// there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// maxDetail caps the app's own words quoted in a message, in runes.
const maxDetail = 160

// answerMessage describes a failed answer: the app, the status, the
// request (without query), the app's machine code for the failure and,
// unless the credential was refused, the start of the app's explanation.
// Where the credential was refused the explanation is left out: some apps
// quote part of the key they refused ("Incorrect API key provided:
// sk-abc***wxyz"). A 403 keeps it: the app accepted the credential and
// says which permission or scope is missing, which the user needs to know.
func answerMessage(app *catalog.App, p *prepared, kind ErrorKind, resp *egress.Response) string {
	status := resp.Status
	code, detail := explain(resp.Body)
	var b strings.Builder
	b.WriteString(app.ID)
	b.WriteString(": ")
	switch kind {
	case KindUnauthorized:
		if status == http.StatusForbidden {
			fmt.Fprintf(&b, "%s denied the request: ", app.Name)
		} else {
			fmt.Fprintf(&b, "%s refused the credential: ", app.Name)
		}
	case KindRateLimited:
		b.WriteString("rate limited: ")
	}
	fmt.Fprintf(&b, "HTTP %d", status)
	if t := http.StatusText(status); t != "" {
		b.WriteString(" " + t)
	}
	b.WriteString(" from " + p.where)
	if code != "" {
		b.WriteString(" (" + code + ")")
	}
	if status == http.StatusForbidden && !strings.Contains(detail, "needs scope") && !strings.Contains(detail, "needs one of the scopes") {
		// RFC 6750 §3: a 403 insufficient_scope challenge lists the
		// scopes the resource accepts (Google puts them only there).
		if m := challengeScope.FindStringSubmatch(resp.Header.Get("WWW-Authenticate")); m != nil {
			need := "needs scope "
			if scopes := strings.Fields(m[1]); len(scopes) > 1 {
				need = "needs one of the scopes "
			}
			detail = strings.TrimPrefix(detail+"; "+need+strings.Join(strings.Fields(m[1]), ", "), "; ")
		}
	}
	if detail != "" && (kind != KindUnauthorized || status == http.StatusForbidden) {
		b.WriteString(": " + detail)
	}
	if kind == KindRateLimited {
		if d := egress.RetryAfter(resp.Header.Get(app.Errors.RetryAfterHeader), time.Now()); d >= 0 {
			fmt.Fprintf(&b, "; it asked to retry after %v", d.Round(time.Second))
		} else if w := app.Errors.RateLimitWait; w > 0 {
			fmt.Fprintf(&b, "; %s documents a wait of %v before it answers again", app.Name, w)
		}
	}
	return scrub(b.String(), p.cred)
}

// challengeScope finds the scope parameter of a Bearer challenge
// (WWW-Authenticate: Bearer error="insufficient_scope", scope="a b").
var challengeScope = regexp.MustCompile(`(?i)\bscope="([^"]{1,512})"`)

// codePaths and detailPaths are where apps put the machine code and the
// explanation of a failure in their JSON answers: Google
// (error.errors[0].reason, error.message), OpenAI (error.code), Airtable
// (error.type, errors[0].error), Slack (error), Zoho and Notion (code),
// HubSpot (errorType, category, message), Mailchimp Transactional (name;
// and, for a message its first recipient refused, [0].reject_reason or
// [0].status of the per-recipient answer), Zoho's per-record failures
// (data[0].code, data[0].message).
var (
	codePaths   = [][]string{{"error", "errors", "0", "reason"}, {"error", "code"}, {"error", "type"}, {"error"}, {"errors", "0", "error"}, {"code"}, {"errorType"}, {"category"}, {"name"}, {"error", "status"}, {"data", "0", "code"}, {"0", "reject_reason"}, {"0", "status"}}
	detailPaths = [][]string{{"error", "message"}, {"error_description"}, {"message"}, {"errors", "0", "message"}, {"data", "0", "message"}}
)

// explain returns the machine code and the explanation of a failure from
// a JSON answer, "" for what it does not hold.
func explain(body []byte) (code, detail string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", ""
	}
	for _, p := range codePaths {
		if s, ok := dig(v, p).(string); ok && isCode(s) {
			code = s
			break
		}
	}
	for _, p := range detailPaths {
		if s, ok := dig(v, p).(string); ok && strings.TrimSpace(s) != "" {
			detail = shorten(s)
			break
		}
	}
	// Zoho names the field a record failure is about, and for
	// DUPLICATE_DATA the record that already has the value.
	if field, ok := dig(v, []string{"data", "0", "details", "api_name"}).(string); ok && detail != "" && isCode(field) {
		detail += " (field " + field + ")"
		if dup, ok := dig(v, []string{"data", "0", "details", "duplicate_record", "id"}).(string); ok && isCode(dup) {
			detail += "; duplicate of record " + dup
		}
	}
	// Slack names the scope a token lacks in "needed" (missing_scope),
	// HubSpot in errors[0].context.requiredGranularScopes
	// (MISSING_SCOPES).
	needed, _ := dig(v, []string{"needed"}).(string)
	if list, ok := dig(v, []string{"errors", "0", "context", "requiredGranularScopes"}).([]any); ok {
		var names []string
		for _, s := range list {
			if s, ok := s.(string); ok {
				names = append(names, s)
			}
		}
		needed = strings.Join(names, ",")
	}
	if needed != "" && isCode(strings.ReplaceAll(needed, ",", "")) {
		detail = strings.TrimPrefix(detail+"; needs scope "+needed, "; ")
	}
	return code, detail
}

// dig returns the value at path in a decoded JSON value, nil when absent.
func dig(v any, path []string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// isCode reports whether s looks like a machine code (invalid_auth,
// INVALID_TOKEN, rateLimitExceeded), not a sentence.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shorten collapses blanks and caps s at maxDetail runes.
func shorten(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if utf8.RuneCountInString(s) > maxDetail {
		s = string([]rune(s)[:maxDetail]) + "…"
	}
	return s
}

// scrub replaces the credential's secrets in s.
func scrub(s string, cred Credential) string {
	return egress.Scrub(s, cred.Secrets()...)
}
