// Package logctx carries log attributes in a context: the ids of what a
// line is about (the request, the Run, its Group, Flow and trigger), set
// once where they become known (With) and added to every record logged
// with that context by the Handler that wraps the process's slog handler.
// Only ids go in the context, never a secret: every line of a request or
// a Run can then be found by its id in CloudWatch Logs Insights (or in the
// local runner's output) without a use case passing them to each call.
package logctx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
)

// The keys of the attributes the context carries.
const (
	// RequestID is API Gateway's request id on Lambda (the access log's
	// requestId) or the Lambda invocation's for the worker and the
	// health check; locally, the request's X-Request-Id or a generated one.
	RequestID = "requestId"
	// MessageID is the SQS message id of the Job the worker runs.
	MessageID = "messageId"
	RunID     = "runId"
	GroupID   = "groupId"
	FlowID    = "flowId"
	TriggerID = "triggerId"
)

type attrsKey struct{}

// With returns ctx carrying attrs besides those it already carries; an
// attribute replaces one of the same key, and an empty string value is
// left out (an id not known yet).
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev := Attrs(ctx)
	out := make([]slog.Attr, 0, len(prev)+len(attrs))
	out = append(out, prev...)
	for _, a := range attrs {
		if a.Value.Kind() == slog.KindString && a.Value.String() == "" {
			continue
		}
		if i := slices.IndexFunc(out, func(b slog.Attr) bool { return b.Key == a.Key }); i >= 0 {
			out[i] = a
			continue
		}
		out = append(out, a)
	}
	return context.WithValue(ctx, attrsKey{}, out)
}

// IDs returns ctx carrying the string attributes of kv, pairs of a key
// and a value: With(ctx, slog.String(kv[0], kv[1]), ...).
func IDs(ctx context.Context, kv ...string) context.Context {
	attrs := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, slog.String(kv[i], kv[i+1]))
	}
	return With(ctx, attrs...)
}

// Attrs returns the attributes ctx carries, in the order they were set.
// The slice must not be modified.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	return a
}

// Value returns the value of the attribute key that ctx carries, or "".
func Value(ctx context.Context, key string) string {
	for _, a := range Attrs(ctx) {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

// Handler adds the attributes of a record's context before the record's
// own, leaving out those the record has itself (the record's value wins).
// The context's attributes are part of the logger's open group, if any:
// the project's loggers open none.
type Handler struct{ next slog.Handler }

// NewHandler returns next with the context's attributes added to every
// record.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	attrs := Attrs(ctx)
	if len(attrs) == 0 {
		return h.next.Handle(ctx, r)
	}
	own := make(map[string]bool, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { own[a.Key] = true; return true })
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	for _, a := range attrs {
		if !own[a.Key] {
			nr.AddAttrs(a)
		}
	}
	r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
	return h.next.Handle(ctx, nr)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

// RequestIDHeader is the header a local request's id is read from and
// answered in.
const RequestIDHeader = "X-Request-Id"

// RequestIDs gives each request a request id, unless its context carries
// one already (on Lambda, API Gateway's): the caller's X-Request-Id when it
// is a plausible id (1 to 128 letters, digits, '-', '_', '.' or ':'),
// otherwise a random one. The id is answered in X-Request-Id.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := Value(r.Context(), RequestID)
		if id == "" {
			if id = r.Header.Get(RequestIDHeader); !plausibleID(id) {
				id = NewRequestID()
			}
			r = r.WithContext(IDs(r.Context(), RequestID, id))
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r)
	})
}

// NewRequestID returns a random request id: 32 hexadecimal digits.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func plausibleID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
