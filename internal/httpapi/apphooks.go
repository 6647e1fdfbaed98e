package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// AppHooksPattern is the route of instant app triggers' notifications.
const AppHooksPattern = "POST /v1/app-hooks/{g}/{f}/{t}/{token}"

// maxNotification bounds a notification's body: apps send small ones
// (Airtable's names a base and a webhook), the items are polled.
const maxNotification = 64 << 10

// AppHookStore is what the notification route reads: the trigger. Errors:
// a missing one wraps wiresk.ErrNotFound.
type AppHookStore interface {
	GetSchedule(ctx context.Context, groupID, flowID, id string) (trigger.Schedule, error)
}

// AppHooks receives apps' notifications to instant app triggers. The URL's
// token (192 random bits, given only to the app) is checked here; the
// notification's signature, with the subscription's secret in the vault,
// by the worker, which then polls: the poll, not the notification, says
// what is new. A notification is answered 200 once queued.
type AppHooks struct {
	Store  AppHookStore
	Queue  run.Enqueuer
	Now    func() time.Time
	Logger *slog.Logger
}

// Routes lists the route AppHooks serves.
func (h *AppHooks) Routes() []string { return []string{AppHooksPattern} }

// ServeHTTP implements http.Handler on a mux that matched AppHooksPattern.
func (h *AppHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	g, f, id, token := r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), r.PathValue("token")
	gone := wiresk.Errorf(wiresk.ENotFound, "no instant trigger at this address")
	if len(g) > 64 || len(f) > 64 || len(id) > 64 || len(token) != trigger.RoutingKeyLen {
		writeError(w, r, log, gone)
		return
	}
	t, err := h.Store.GetSchedule(r.Context(), g, f, id)
	if errors.Is(err, wiresk.ErrNotFound) || err == nil && (t.Poll == nil || !t.Poll.Instant || t.Poll.Hook == nil ||
		subtle.ConstantTimeCompare([]byte(t.Poll.Hook.Token), []byte(token)) != 1) {
		writeError(w, r, log, gone)
		return
	}
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotification))
	if err != nil {
		writeError(w, r, log, errTooLarge)
		return
	}
	if t.Enabled {
		now := time.Now
		if h.Now != nil {
			now = h.Now
		}
		job, err := json.Marshal(run.Job{GroupID: g, FlowID: f, TriggerID: id, Mode: run.ModeAppHook,
			Request: run.CaptureRequest(r.Method, r.Header, r.URL.Query()), Body: body, ReceivedAt: now().UTC()})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if _, err := h.Queue.Send(r.Context(), job, map[string]string{"groupId": g}); err != nil {
			log.ErrorContext(r.Context(), "app notification: enqueue failed", "trigger", id, "err", err)
			writeError(w, r, log, wiresk.Errorf(wiresk.EUnavailable, "the run queue is unavailable; send the notification again"))
			return
		}
	}
	// A disabled trigger's notification is taken and dropped: nothing
	// would poll.
	writeJSON(w, http.StatusOK, map[string]any{})
}
