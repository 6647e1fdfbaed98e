package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"wiresk/internal/apikey"
	"wiresk/internal/logctx"
	"wiresk/internal/metrics"
	"wiresk/internal/run"
	"wiresk/internal/signature"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// DefaultMaxBody is the default limit of a webhook body: 6 MiB, Lambda's
// payload limit (API Gateway takes 10 MB). Bodies over run.InlineBodyMax
// are stored by reference (ingest.Bodies) rather than sent in the Job.
const DefaultMaxBody = 6 << 20

// Ingest is the webhook use case the Hooks handler serves (ingest.Service).
type Ingest interface {
	// Check validates the presented API key and routing key; errors carry
	// the refusal's code.
	Check(ctx context.Context, presentedKey, routingKey string) (trigger.Route, *apikey.Key, error)
	// Enqueue durably enqueues the Job and returns its Run id; an error
	// means nothing was enqueued.
	Enqueue(ctx context.Context, route trigger.Route, key *apikey.Key, req run.Request, body []byte, idempotencyKey string) (string, error)
	// Verify checks the sender's signature when the route's trigger asks
	// for one; errors carry the refusal's code.
	Verify(ctx context.Context, route trigger.Route, req signature.Request) error
	// MetaChallenge answers Meta's GET handshake to a routing key with the
	// challenge to echo; errors carry the refusal's code.
	MetaChallenge(ctx context.Context, routingKey, mode, challenge, token string) (string, error)
}

// Hooks serves POST /v1/hooks/{routingKey}.
type Hooks struct {
	Ingest Ingest
	// MaxBody caps the body in bytes (default DefaultMaxBody).
	MaxBody int64
	// PublicURL returns the scheme and host senders address, such as
	// https://hooks.example.com, for the URL signatures sign (Twilio,
	// HubSpot); nil: the request's own, http or https by X-Forwarded-Proto.
	PublicURL func(*http.Request) string
	Logger    *slog.Logger
	// Metrics counts the webhooks accepted and refused; nil: none.
	Metrics *metrics.Emitter
}

// maxIdempotencyKey caps the Idempotency-Key header.
const maxIdempotencyKey = 255

// HooksPrefix is the path prefix the Hooks handler serves.
const HooksPrefix = "/v1/hooks/"

var errTooLarge = wiresk.Errorf(wiresk.ETooLarge, "the request body is over the limit")

var errTooDeep = wiresk.Errorf(wiresk.EBodyTooDeep, "the request body nests arrays and objects more than %d levels deep; nothing was accepted", run.MaxBodyDepth)

// ServeHTTP accepts a webhook: 202 {"runId"} only once the Job is durably
// enqueued.
func (h *Hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, counted := h.count(r)
	defer counted()
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	rk, ok := strings.CutPrefix(r.URL.Path, HooksPrefix)
	if !ok || rk == "" || strings.Contains(rk, "/") {
		writeError(w, r, log, wiresk.Errorf(wiresk.ERouteNotFound, "no enabled trigger has this routing key"))
		return
	}
	if r.Method == http.MethodGet && r.URL.Query().Has("hub.mode") {
		h.metaChallenge(w, r, log, rk)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, r, log, wiresk.Errorf(wiresk.EMethodNotAllowed, "webhooks are POST requests"))
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		writeError(w, r, log, errTooLarge)
		return
	}
	route, key, err := h.Ingest.Check(r.Context(), presentedKey(r), rk)
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	r = r.WithContext(logctx.IDs(r.Context(), logctx.GroupID, route.GroupID, logctx.FlowID, route.FlowID, logctx.TriggerID, route.TriggerID))
	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > maxIdempotencyKey {
		writeError(w, r, log, wiresk.Errorf(wiresk.EInvalid, "the Idempotency-Key header is longer than %d characters", maxIdempotencyKey))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, log, errTooLarge)
			return
		}
		writeError(w, r, log, wiresk.Errorf(wiresk.EInvalid, "the request body could not be read"))
		return
	}
	if route.Auth.NeedsSignature() {
		if err := h.Ingest.Verify(r.Context(), route, signature.Request{Method: r.Method, URL: h.addressed(r), Header: r.Header, Body: body}); err != nil {
			writeError(w, r, log, err)
			return
		}
	}
	if route.Challenge == trigger.ChallengeSlack {
		if c, ok := trigger.SlackChallenge(body); ok {
			writeText(w, c)
			return
		}
	}
	if run.WebhookTooDeep(body) {
		writeError(w, r, log, errTooDeep)
		return
	}
	req := run.CaptureRequest(r.Method, r.Header, r.URL.Query())
	runID, err := h.Ingest.Enqueue(r.Context(), route, key, req, body, idem)
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	accepted(r, runID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"runId":`+strconv.Quote(runID)+"}\n")
}

// metaChallenge answers Meta's subscription handshake.
func (h *Hooks) metaChallenge(w http.ResponseWriter, r *http.Request, log *slog.Logger, rk string) {
	q := r.URL.Query()
	c, err := h.Ingest.MetaChallenge(r.Context(), rk, q.Get("hub.mode"), q.Get("hub.challenge"), q.Get("hub.verify_token"))
	if err != nil {
		if wiresk.ErrorCode(err) == wiresk.EMethodNotAllowed {
			w.Header().Set("Allow", "POST")
		}
		writeError(w, r, log, err)
		return
	}
	writeText(w, c)
}

// writeText answers 200 with a handshake's challenge as plain text, the
// form both Slack and Meta accept.
func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, s)
}

// addressed returns the URL the sender addressed: the public scheme and
// host, and the path and query as sent.
func (h *Hooks) addressed(r *http.Request) string {
	var base string
	if h.PublicURL != nil {
		base = strings.TrimRight(h.PublicURL(r), "/")
	} else {
		scheme := "http"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	u := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// Routes lists the routes Hooks serves (mount it on HooksPrefix): the
// webhook, and the GET of Meta's handshake.
func (h *Hooks) Routes() []string {
	return []string{http.MethodPost + " " + HooksPrefix + "{routingKey}", http.MethodGet + " " + HooksPrefix + "{routingKey}"}
}

// presentedKey returns the key from X-API-Key or Authorization: Bearer.
func presentedKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return ""
}
