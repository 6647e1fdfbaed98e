package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"wiresk/internal/run"
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
