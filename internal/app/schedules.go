package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"wiresk/internal/manage"
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
//
// Passing wake (see Wake) makes schedule changes take effect at once.
func (a *App) LocalScheduler(catchUp int, wake *Wake) *schedule.Scheduler {
	byID := map[string]trigger.Schedule{}
	var ch <-chan struct{}
	if wake != nil {
		ch = wake.ch
	}
	return &schedule.Scheduler{
		CatchUp: catchUp,
		Wake:    ch,
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
			fire := trigger.Fire{At: at, RunID: runID, Sent: true}
			if t.Poll != nil {
				// An app trigger's fire starts no Run of its own: the
				// worker records what its poll started.
				fire.RunID = ""
			}
			_, err = a.d.Store.RecordFire(ctx, t.GroupID, t.FlowID, t.ID, fire)
			return err
		},
	}
}

// Wake is the manage.Scheduler of the local runner: the store holds the
// schedules, so a change only wakes the LocalScheduler to read them again.
type Wake struct{ ch chan struct{} }

var _ manage.Scheduler = (*Wake)(nil)

// NewWake returns a Wake for Deps.Scheduler and LocalScheduler.
func NewWake() *Wake { return &Wake{ch: make(chan struct{}, 1)} }

func (w *Wake) wake() {
	select {
	case w.ch <- struct{}{}:
	default: // a wake is pending already
	}
}

// PutSchedule wakes the scheduler.
func (w *Wake) PutSchedule(context.Context, trigger.Schedule) error { w.wake(); return nil }

// DeleteSchedule wakes the scheduler.
func (w *Wake) DeleteSchedule(context.Context, trigger.Schedule) error { w.wake(); return nil }
