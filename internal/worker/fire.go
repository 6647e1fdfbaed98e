package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"wiresk/internal/run"
	"wiresk/internal/signature"
	"wiresk/internal/step"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Schedules is what the worker needs of the store to start the Runs of
// schedule triggers. Errors: a trigger that is gone wraps
// wiresk.ErrNotFound.
type Schedules interface {
	GetSchedule(ctx context.Context, groupID, flowID, id string) (trigger.Schedule, error)
	// RecordFire records f as the trigger's last fire unless a later one
	// is recorded already.
	RecordFire(ctx context.Context, groupID, flowID, id string, f trigger.Fire) (trigger.Schedule, error)
}

// Polls runs app triggers' polls (poll.Poller).
type Polls interface {
	// Poll polls t's event through conn for its fire at at, starting one
	// Run per new item; an error means the fire should come again.
	Poll(ctx context.Context, t trigger.Schedule, at time.Time, conn step.Connection) error
	// Verify checks a notification to instant trigger t (an error says
	// why it is refused).
	Verify(ctx context.Context, t trigger.Schedule, req signature.Request, now time.Time) error
	// Unsubscribe deletes instant trigger t's subscription at the app; an
	// error means it should be tried again.
	Unsubscribe(ctx context.Context, t trigger.Schedule, conn step.Connection) error
}

// notified verifies an app's notification to an instant trigger and, when
// it holds, turns it into a fire now: the trigger polls at once. A
// notification that does not verify, or to a trigger gone or disabled,
// is dropped (and logged).
func (w *Worker) notified(ctx context.Context, job *run.Job) (bool, error) {
	if w.Polls == nil || w.Schedules == nil {
		return false, nil
	}
	t, err := w.Schedules.GetSchedule(ctx, job.GroupID, job.FlowID, job.TriggerID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get schedule %s: %w", job.TriggerID, err)
	}
	h := make(http.Header, len(job.Request.Headers))
	for k, v := range job.Request.Headers {
		h.Set(k, v)
	}
	now := w.now()
	if err := w.Polls.Verify(ctx, t, signature.Request{Method: job.Request.Method, Header: h, Body: job.Body}, now); err != nil {
		if wiresk.ErrorCode(err) == wiresk.EInternal && !errors.Is(err, wiresk.ErrNotFound) {
			return false, err // the vault: try again
		}
		w.logger().WarnContext(ctx, "app notification refused", "trigger", t.ID, "reason", wiresk.ErrorMessage(err))
		return false, nil
	}
	at := now.UTC().Truncate(time.Millisecond)
	job.Mode, job.ScheduledAt, job.Body, job.Request = run.ModeSchedule, &at, nil, run.Request{}
	return true, nil
}

// unsubscribe deletes a deleted instant trigger's subscription at its app,
// with its Connection. A Connection that cannot be used leaves the
// subscription to expire (logged).
func (w *Worker) unsubscribe(ctx context.Context, job run.Job) error {
	var t trigger.Schedule
	if err := json.Unmarshal(job.Body, &t); err != nil || t.Poll == nil {
		return fmt.Errorf("unsubscribe job of %s holds no app trigger: %v", job.TriggerID, err)
	}
	if w.Polls == nil || w.Connections == nil {
		return nil
	}
	conn, _, err := w.Connections.Bind(ctx, t.GroupID, t.Poll.ConnectionID)
	if code := wiresk.ErrorCode(err); code == wiresk.EConflict || code == wiresk.ENotFound {
		w.logger().WarnContext(ctx, "cannot unsubscribe a deleted instant trigger: its Connection cannot be used; the subscription expires on its own", "trigger", t.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind connection %s: %w", t.Poll.ConnectionID, err)
	}
	return w.Polls.Unsubscribe(ctx, t, conn)
}

// pollFire polls an app trigger's event with its Connection. A Connection
// that cannot be used until someone acts (broken, deleted) pauses the
// trigger: the fire is recorded as paused, with the reason, and the next
// fire tries again, so reconnecting resumes it.
func (w *Worker) pollFire(ctx context.Context, t trigger.Schedule, at time.Time) error {
	if w.Polls == nil || w.Connections == nil {
		w.logger().ErrorContext(ctx, "app trigger fire dropped: this worker cannot poll", "trigger", t.ID)
		return nil
	}
	conn, _, err := w.Connections.Bind(ctx, t.GroupID, t.Poll.ConnectionID)
	if code := wiresk.ErrorCode(err); code == wiresk.EConflict || code == wiresk.ENotFound {
		reason := fmt.Sprintf("paused: Connection %s cannot be used (%s); reconnect it and the trigger resumes", t.Poll.ConnectionID, wiresk.ErrorMessage(err))
		if _, err := w.Schedules.RecordFire(ctx, t.GroupID, t.FlowID, t.ID, trigger.Fire{At: at, Error: reason, Paused: true}); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
			return fmt.Errorf("record fire of %s: %w", t.ID, err)
		}
		w.logger().InfoContext(ctx, "app trigger paused", "trigger", t.ID, "connection", t.Poll.ConnectionID, "reason", wiresk.ErrorMessage(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind connection %s: %w", t.Poll.ConnectionID, err)
	}
	return w.Polls.Poll(ctx, t, at, conn)
}

// admitFire turns the Job of a schedule trigger's fire into the Job of its
// Run: the Run id derived from the fire time (so a fire delivered twice
// starts one Run), and the request the Flow sees, {scheduledAt, localTime,
// timezone, expression, triggerId}. It reports false, with the fire
// recorded as starting no Run, when the trigger is gone or disabled or its
// Flow is gone or disabled; an error means the fire should come again.
func (w *Worker) admitFire(ctx context.Context, job *run.Job) (bool, error) {
	if job.TriggerID == "" || job.ScheduledAt == nil || job.ScheduledAt.IsZero() {
		return false, fmt.Errorf("schedule job without triggerId or scheduledAt")
	}
	if w.Schedules == nil {
		w.logger().ErrorContext(ctx, "schedule fire dropped: this worker has no schedule store", "trigger", job.TriggerID)
		return false, nil
	}
	at := job.ScheduledAt.UTC()
	t, err := w.Schedules.GetSchedule(ctx, job.GroupID, job.FlowID, job.TriggerID)
	if errors.Is(err, wiresk.ErrNotFound) {
		w.logger().InfoContext(ctx, "schedule fire dropped: the trigger was deleted", "trigger", job.TriggerID, "at", at)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get schedule %s: %w", job.TriggerID, err)
	}
	if !t.Enabled {
		w.logger().InfoContext(ctx, "schedule fire dropped: the trigger is disabled", "trigger", job.TriggerID, "at", at)
		return false, nil
	}
	refused := ""
	switch f, err := w.Store.GetFlow(ctx, job.GroupID, job.FlowID); {
	case errors.Is(err, wiresk.ErrNotFound):
		refused = "the Flow no longer exists"
	case err != nil:
		return false, fmt.Errorf("get flow: %w", err)
	case !f.Enabled:
		refused = "the Flow is disabled, so the fire started no Run"
	}
	if refused == "" && t.Poll != nil {
		return false, w.pollFire(ctx, t, at)
	}
	fire := trigger.Fire{At: at, Error: refused}
	if refused == "" {
		fire.RunID = run.ScheduledID(t.ID, at)
	}
	if _, err := w.Schedules.RecordFire(ctx, job.GroupID, job.FlowID, job.TriggerID, fire); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
		return false, fmt.Errorf("record fire of %s: %w", job.TriggerID, err)
	}
	if refused != "" {
		w.logger().InfoContext(ctx, "schedule fire started no Run", "trigger", job.TriggerID, "at", at, "reason", refused)
		return false, nil
	}
	loc := time.UTC
	if s, err := t.Parsed(); err == nil {
		loc = s.Location()
	}
	body, err := json.Marshal(map[string]string{
		"scheduledAt": at.Format(time.RFC3339), "localTime": at.In(loc).Format(time.RFC3339),
		"timezone": t.Timezone, "expression": t.Expression, "triggerId": t.ID,
	})
	if err != nil {
		return false, err
	}
	job.RunID, job.Body = fire.RunID, body
	job.Request = run.Request{Headers: map[string]string{"content-type": "application/json"}, Query: map[string]string{}}
	if job.ReceivedAt.IsZero() {
		job.ReceivedAt = at
	}
	return true, nil
}
