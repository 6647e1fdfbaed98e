// Package wiresk holds what every other package shares: the error codes of the
// product and the identifiers of its records.
package wiresk

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are stable: clients match on them, so never rename one.
// The HTTP status of each code is decided in one place, internal/httpapi.
const (
	EInvalid          = "invalid_request"      // malformed input
	EInvalidJSON      = "invalid_json"         // body is not the JSON expected
	EValidation       = "validation_failed"    // well-formed but invalid; Field names what
	EUnauthenticated  = "unauthenticated"      // no or bad management token
	ETokenExpired     = "token_expired"        // management token expired
	EMissingAPIKey    = "missing_api_key"      // webhook without an API key
	EInvalidAPIKey    = "invalid_api_key"      // malformed, mistyped or unknown API key
	EAPIKeyRevoked    = "api_key_revoked"      // the key was revoked
	EAPIKeyExpired    = "api_key_expired"      // the key expired (or its rotation grace ended)
	EForbidden        = "forbidden"            // caller's role may not do this
	EInvalidSignature = "invalid_signature"    // a webhook whose sender's signature is missing, stale or wrong
	EKeyNotAccepted   = "api_key_not_accepted" // valid key, but this trigger does not accept it
	ENotFound         = "not_found"            // no such record (or not visible to the caller)
	ERouteNotFound    = "route_not_found"      // unknown routing key or disabled Flow
	EMethodNotAllowed = "method_not_allowed"
	EConflict         = "conflict"          // the record exists or is in use
	ETooLarge         = "payload_too_large" // request body over the limit
	EBodyTooDeep      = "body_too_deep"     // JSON nested deeper than run.MaxBodyDepth
	ELoopDetected     = "loop_detected"     // a webhook sent by a Flow chain past run.MaxHops
	ERateLimited      = "rate_limited"      // the Group started too many Runs; retry after Retry-After
	EProviderError    = "provider_error"    // an app's or OAuth provider's server failed the exchange
	EUnavailable      = "unavailable"       // a dependency (queue, store) is down; retry
	EInternal         = "internal"          // anything else; never echoed to clients
)

// Error is a domain error: a stable Code, a Message safe to show to the
// caller, and for validation errors the Field at fault.
type Error struct {
	Code    string
	Message string
	Field   string
	// RetryAfter, when positive, is how long the caller should wait before
	// retrying (answered as the Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns a validation error naming field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EValidation, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is the sentinel adapters wrap when a record does not exist:
// fmt.Errorf("get flow %s: %w", id, wiresk.ErrNotFound).
var ErrNotFound = &Error{Code: ENotFound, Message: "not found"}

// ErrConflict is the sentinel adapters wrap when a write would break a
// uniqueness or state invariant.
var ErrConflict = &Error{Code: EConflict, Message: "conflict"}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, and a
// generic text for any other error so that internal details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorRetryAfter returns the RetryAfter of the first *Error in err's
// chain, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorField returns the field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
