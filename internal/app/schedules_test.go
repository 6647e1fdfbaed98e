package app_test

import (
	"encoding/json"
	"testing"
	"time"

	"wiresk/internal/app"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/trigger"
)

// clock is a fake schedule.Clock: Now is set by the test; After never
// fires (the tests call Pass themselves).
type clock struct{ now time.Time }

func (c *clock) Now() time.Time                       { return c.now }
func (c *clock) After(time.Duration) <-chan time.Time { return nil }

// TestTheLocalSchedulerFiresEachTimeOnceAcrossRestarts fires a Paris
// schedule through the local runner's scheduler on the embedded adapters:
// each due time is sent to the run queue once, a restarted scheduler sends
// nothing again, and after downtime only the latest missed time is sent.
func TestTheLocalSchedulerFiresEachTimeOnceAcrossRestarts(t *testing.T) {
	db, store := embedded.MustStore(t)
	q := embedded.MustQueue(t, db, 5)
	ctx := t.Context()
	if err := store.CreateFlow(ctx, flow.Flow{ID: "flw_1", GroupID: "grp_a", Name: "digest", Enabled: true, Version: 1,
		Steps: []flow.Step{{ID: "a", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com"}}}}); err != nil {
		t.Fatal(err)
	}
	// Created on Friday 2026-12-04 at 07:00 UTC (08:00 in Paris).
	created := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	tr := trigger.Schedule{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris",
		Enabled: true, CreatedAt: created, EnabledAt: created}
	if err := store.CreateSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	a := app.Build(app.Config{}, app.Deps{Store: store, Queue: q})
	c := &clock{}
	pass := func(now time.Time) []run.Job {
		t.Helper()
		c.now = now
		s := a.LocalScheduler(1, nil) // a new one each time: a restarted runner
		s.Clock = c
		if _, err := s.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 10, time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		var jobs []run.Job
		for _, m := range msgs {
			var j run.Job
			if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, j)
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
		return jobs
	}
	fri9 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC) // 09:00 in Paris
	if jobs := pass(fri9.Add(-time.Minute)); len(jobs) != 0 {
		t.Fatalf("before 9:00 the scheduler sent %+v", jobs)
	}
	jobs := pass(fri9.Add(30 * time.Second))
	if len(jobs) != 1 || jobs[0].Mode != run.ModeSchedule || jobs[0].TriggerID != "trg_1" || jobs[0].ScheduledAt == nil || !jobs[0].ScheduledAt.Equal(fri9) {
		t.Fatalf("at 9:00 the scheduler sent %+v, want one fire of trg_1 at %v", jobs, fri9)
	}
	if jobs := pass(fri9.Add(time.Minute)); len(jobs) != 0 {
		t.Fatalf("after a restart the scheduler sent the 9:00 fire again: %+v", jobs)
	}
	// Down from Friday until Wednesday 10:00: Monday's and Tuesday's 9:00
	// are skipped, Wednesday's is fired once.
	wed9 := time.Date(2026, 12, 9, 8, 0, 0, 0, time.UTC)
	jobs = pass(wed9.Add(time.Hour))
	if len(jobs) != 1 || !jobs[0].ScheduledAt.Equal(wed9) {
		t.Fatalf("after downtime the scheduler sent %+v, want Wednesday's 9:00 only", jobs)
	}
	got, err := store.GetSchedule(ctx, "grp_a", "flw_1", "trg_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.LastFireAt == nil || !got.LastFireAt.Equal(wed9) || got.LastRunID != run.ScheduledID("trg_1", wed9) {
		t.Fatalf("the trigger's last fire = %v %q, want %v", got.LastFireAt, got.LastRunID, wed9)
	}
	// A disabled trigger is not fired.
	got.Enabled = false
	if err := store.UpdateSchedule(ctx, got); err != nil {
		t.Fatal(err)
	}
	if jobs := pass(wed9.Add(48 * time.Hour)); len(jobs) != 0 {
		t.Fatalf("a disabled trigger was fired: %+v", jobs)
	}
}
