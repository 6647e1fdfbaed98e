package httpapi

import (
	"context"
	"net/http"

	"wiresk/internal/logctx"
	"wiresk/internal/metrics"
)

// hookOutcome is what became of a webhook, noted by writeError (refused,
// with the code answered) or by Hooks (accepted), with the context of the
// moment, whose ids the metric carries.
type hookOutcome struct {
	ctx      context.Context
	accepted bool
	code     string
}

type hookOutcomeKey struct{}

// count returns r with a place for its outcome, and the function that
// counts it once the webhook is answered: WebhooksAccepted, or
// WebhooksRefused by the error code answered. A handshake answered (Slack's
// or Meta's challenge) is neither.
func (h *Hooks) count(r *http.Request) (*http.Request, func()) {
	if h.Metrics == nil {
		return r, func() {}
	}
	o := &hookOutcome{}
	r = r.WithContext(context.WithValue(r.Context(), hookOutcomeKey{}, o))
	return r, func() {
		switch {
		case o.accepted:
			h.Metrics.Count(o.ctx, metrics.WebhooksAccepted)
		case o.code != "":
			h.Metrics.Count(o.ctx, metrics.WebhooksRefused, o.code)
		}
	}
}

// accepted notes that the webhook r was accepted as Run runID.
func accepted(r *http.Request, runID string) {
	if o, ok := r.Context().Value(hookOutcomeKey{}).(*hookOutcome); ok {
		o.accepted, o.ctx = true, logctx.IDs(r.Context(), logctx.RunID, runID)
	}
}

// refused notes that r was answered with the error code, if r is a
// webhook.
func refused(r *http.Request, code string) {
	if o, ok := r.Context().Value(hookOutcomeKey{}).(*hookOutcome); ok {
		o.code, o.ctx = code, r.Context()
	}
}
