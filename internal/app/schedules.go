package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"wiresk/internal/run"
	"wiresk/internal/schedule"
	"wiresk/internal/trigger"
)

// ScheduleLister lists every Group's schedule triggers, for a scheduler
// that keeps them itself (the local runner's).
type ScheduleLister interface {
	AllSchedules(ctx context.Context) ([]trigger.Schedule, error)
}

// LocalScheduler returns the scheduler that fires schedule triggers where
// EventBridge Scheduler does not: the local runner. A fire sends the run
// queue the Job EventBridge Scheduler would send (the worker admits it the
// same way) and records the fire, so the next pass does not send it again;
// a fire sent twice (a crash between the two) still starts one Run, as its
// Run id comes from the fire time. After downtime it fires the latest
// missed time of each schedule and logs how many it skipped (catchUp
// missed times at most; 0 is 1).
func (a *App) LocalScheduler(catchUp int) *schedule.Scheduler {
	byID := map[string]trigger.Schedule{}
	return &schedule.Scheduler{
		CatchUp: catchUp,
		Logger:  a.d.Logger,
		Entries: func(ctx context.Context) ([]schedule.Entry, error) {
			ts, err := a.d.Store.AllSchedules(ctx)
			if err != nil {
				return nil, err
			}
			clear(byID)
			out := make([]schedule.Entry, 0, len(ts))
			for _, t := range ts {
				if !t.Enabled {
					continue
				}
				s, err := t.Parsed()
				if err != nil {
					a.d.Logger.WarnContext(ctx, "schedule trigger cannot be read; not fired", "trigger", t.ID, "err", err)
					continue
				}
				byID[t.ID] = t
				out = append(out, schedule.Entry{ID: t.ID, Schedule: s, Last: t.Last()})
			}
			return out, nil
		},
		Fire: func(ctx context.Context, e schedule.Entry, at time.Time) error {
			t := byID[e.ID]
			body, err := json.Marshal(run.Job{GroupID: t.GroupID, FlowID: t.FlowID, TriggerID: t.ID, Mode: run.ModeSchedule, ScheduledAt: &at})
			if err != nil {
				return err
			}
			runID := run.ScheduledID(t.ID, at)
			if _, err := a.d.Queue.Send(ctx, body, map[string]string{"runId": runID, "groupId": t.GroupID}); err != nil {
				return fmt.Errorf("enqueue fire of %s: %w", t.ID, err)
			}
			_, err = a.d.Store.RecordFire(ctx, t.GroupID, t.FlowID, t.ID, trigger.Fire{At: at, RunID: runID})
			return err
		},
	}
}
