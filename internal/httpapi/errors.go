// Package httpapi provides the HTTP APIs as http.Handlers: the webhook
// ingress (Hooks) and the management API (Management). The same handlers run
// in Lambda behind API Gateway and in the local runner. openapi.json is the
// OpenAPI 3.1 document of every route they serve (OpenAPI serves it; see
// openapi.go).
package httpapi

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"wiresk/internal/wiresk"
)

// statusOf is THE table from error code to HTTP status. A code missing here
// is a bug and answers 500.
var statusOf = map[string]int{
	wiresk.EInvalid:          http.StatusBadRequest,
	wiresk.EInvalidJSON:      http.StatusBadRequest,
	wiresk.EValidation:       http.StatusBadRequest,
	wiresk.EUnauthenticated:  http.StatusUnauthorized,
	wiresk.ETokenExpired:     http.StatusUnauthorized,
	wiresk.EMissingAPIKey:    http.StatusUnauthorized,
	wiresk.EInvalidAPIKey:    http.StatusUnauthorized,
	wiresk.EInvalidSignature: http.StatusUnauthorized,
	wiresk.EAPIKeyRevoked:    http.StatusUnauthorized,
	wiresk.EAPIKeyExpired:    http.StatusUnauthorized,
	wiresk.EForbidden:        http.StatusForbidden,
	wiresk.EKeyNotAccepted:   http.StatusForbidden,
	wiresk.ENotFound:         http.StatusNotFound,
	wiresk.ERouteNotFound:    http.StatusNotFound,
	wiresk.EMethodNotAllowed: http.StatusMethodNotAllowed,
	wiresk.EConflict:         http.StatusConflict,
	wiresk.ETooLarge:         http.StatusRequestEntityTooLarge,
	wiresk.EBodyTooDeep:      http.StatusBadRequest,
	wiresk.ELoopDetected:     http.StatusLoopDetected,
	wiresk.ERateLimited:      http.StatusTooManyRequests,
	wiresk.EProviderError:    http.StatusBadGateway,
	wiresk.EUnavailable:      http.StatusServiceUnavailable,
	wiresk.EInternal:         http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorCodes lists every error code an answer may carry, sorted: the
// codes of the table from code to status.
func ErrorCodes() []string { return slices.Sorted(maps.Keys(statusOf)) }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers err as {"error":{"code","message"[,"field"]}}. An
// error without a code is logged and answered as 500 internal, never echoed.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := wiresk.ErrorCode(err)
	status := StatusOf(code)
	d := errorDetail{Code: code, Message: wiresk.ErrorMessage(err), Field: wiresk.ErrorField(err)}
	if status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		d = errorDetail{Code: wiresk.EInternal, Message: "internal error"}
	}
	refused(r, d.Code)
	if after := wiresk.ErrorRetryAfter(err); after > 0 {
		// Whole seconds, rounded up: a client that waits that long gets in.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
