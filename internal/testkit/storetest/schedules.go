package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

func runSchedules(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Schedules", func(t *testing.T) { testSchedules(t, newStore(t)) })
	t.Run("ScheduleFires", func(t *testing.T) { testScheduleFires(t, newStore(t)) })
	t.Run("ScheduleFiresConcurrent", func(t *testing.T) { testScheduleFiresConcurrent(t, newStore(t)) })
	t.Run("ScheduleDeletedWithFlow", func(t *testing.T) { testScheduleDeletedWithFlow(t, newStore(t)) })
	t.Run("AppTriggerCursor", func(t *testing.T) { testAppTriggerCursor(t, newStore(t)) })
}

// NewSchedule returns an enabled schedule trigger of Flow flowID.
func NewSchedule(groupID, flowID, id string) trigger.Schedule {
	return trigger.Schedule{ID: id, GroupID: groupID, FlowID: flowID, Description: "every weekday",
		Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris", Enabled: true, CreatedAt: t0, EnabledAt: t0}
}

func scheduleIDs(ts []trigger.Schedule) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.GroupID + "/" + t.ID
	}
	slices.Sort(out)
	return out
}

func testSchedules(t *testing.T, s Store) {
	ctx := t.Context()
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_2", true)))
	must(t, s.CreateFlow(ctx, newFlow("grp_b", "flw_1", true)))
	// An HTTP trigger beside them must not show up as a schedule (nor the
	// other way round).
	must(t, s.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_http", GroupID: "grp_a", FlowID: "flw_1",
		RoutingKey: "rk1-rk1-rk1-rk1-rk1-rk1-rk1-rk1-", APIKeyIDs: []string{"key_1"}, CreatedAt: t0}))

	a := NewSchedule("grp_a", "flw_1", "trg_a")
	wantErr(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_missing", "trg_x")), wiresk.ErrNotFound)
	must(t, s.CreateSchedule(ctx, a))
	wantErr(t, s.CreateSchedule(ctx, a), wiresk.ErrConflict)
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_2", "trg_b")))
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_b", "flw_1", "trg_c")))

	got, err := s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("GetSchedule = %+v, want %+v", got, a)
	}
	_, err = s.GetSchedule(ctx, "grp_b", "flw_1", "trg_a")
	wantErr(t, err, wiresk.ErrNotFound)

	list, err := s.ListSchedules(ctx, "grp_a", "flw_1")
	must(t, err)
	if got, want := scheduleIDs(list), []string{"grp_a/trg_a"}; !slices.Equal(got, want) {
		t.Fatalf("ListSchedules(flw_1) = %v, want %v", got, want)
	}
	list, err = s.ListSchedules(ctx, "grp_a", "")
	must(t, err)
	if got, want := scheduleIDs(list), []string{"grp_a/trg_a", "grp_a/trg_b"}; !slices.Equal(got, want) {
		t.Fatalf("ListSchedules(group) = %v, want %v", got, want)
	}
	hs, err := s.ListTriggers(ctx, "grp_a", "")
	must(t, err)
	if len(hs) != 1 || hs[0].ID != "trg_http" {
		t.Fatalf("ListTriggers(group) = %+v, want the HTTP trigger only", hs)
	}
	all := waitAllSchedules(t, s, 3)
	if got, want := scheduleIDs(all), []string{"grp_a/trg_a", "grp_a/trg_b", "grp_b/trg_c"}; !slices.Equal(got, want) {
		t.Fatalf("AllSchedules = %v, want %v", got, want)
	}

	// An update changes the definition and keeps the last fire.
	fired := t0.Add(time.Hour)
	_, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: fired, RunID: "run_1"})
	must(t, err)
	upd := a
	upd.Expression, upd.Timezone, upd.Enabled, upd.Description = "rate(5 minutes)", "UTC", false, "often"
	must(t, s.UpdateSchedule(ctx, upd))
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if got.Expression != "rate(5 minutes)" || got.Timezone != "UTC" || got.Enabled || got.Description != "often" {
		t.Fatalf("after update: %+v", got)
	}
	if got.LastFireAt == nil || !got.LastFireAt.Equal(fired) || got.LastRunID != "run_1" {
		t.Fatalf("update lost the last fire: %+v", got)
	}
	missing := upd
	missing.ID = "trg_missing"
	wantErr(t, s.UpdateSchedule(ctx, missing), wiresk.ErrNotFound)

	must(t, s.DeleteSchedule(ctx, "grp_a", "flw_1", "trg_a"))
	wantErr(t, s.DeleteSchedule(ctx, "grp_a", "flw_1", "trg_a"), wiresk.ErrNotFound)
	_, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	wantErr(t, err, wiresk.ErrNotFound)

	// A Flow holds at most trigger.MaxSchedulesPerFlow.
	for i := range trigger.MaxSchedulesPerFlow - 1 {
		must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_2", fmt.Sprintf("trg_n%02d", i))))
	}
	wantErr(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_2", "trg_over")), wiresk.ErrConflict)
}

// waitAllSchedules reads AllSchedules until it holds n (a store may read
// it from an eventually consistent index).
func waitAllSchedules(t *testing.T, s Store, n int) []trigger.Schedule {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		all, err := s.AllSchedules(t.Context())
		must(t, err)
		if len(all) == n || time.Now().After(deadline) {
			return all
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testScheduleFires(t *testing.T, s Store) {
	ctx := t.Context()
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_1", "trg_a")))
	_, err := s.RecordFire(ctx, "grp_a", "flw_1", "trg_missing", trigger.Fire{At: t0})
	wantErr(t, err, wiresk.ErrNotFound)

	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	got, err := s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t2, RunID: "run_2"})
	must(t, err)
	if got.LastFireAt == nil || !got.LastFireAt.Equal(t2) || got.LastRunID != "run_2" {
		t.Fatalf("RecordFire returned %+v", got)
	}
	// An older fire arriving late changes nothing.
	got, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t1, RunID: "run_1"})
	must(t, err)
	if !got.LastFireAt.Equal(t2) || got.LastRunID != "run_2" {
		t.Fatalf("an older fire replaced the last one: %+v", got)
	}
	// The same fire again (the worker after the scheduler) has the last word.
	_, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t2, Error: "the Flow is disabled"})
	must(t, err)
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if !got.LastFireAt.Equal(t2) || got.LastRunID != "" || got.LastError != "the Flow is disabled" {
		t.Fatalf("after a refused fire: %+v", got)
	}
	if !got.Last().Equal(t2) {
		t.Fatalf("Last() = %v, want %v", got.Last(), t2)
	}
	// The scheduler's record of sending that fire, arriving after the
	// worker's, keeps what the worker recorded.
	_, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t2, RunID: "run_2", Sent: true})
	must(t, err)
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if got.LastError != "the Flow is disabled" || got.LastRunID != "" {
		t.Fatalf("the scheduler's late record replaced the worker's: %+v", got)
	}
}

func testScheduleFiresConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_1", "trg_a")))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			_, err := s.RecordFire(context.WithoutCancel(ctx), "grp_a", "flw_1", "trg_a", trigger.Fire{At: at, RunID: fmt.Sprintf("run_%d", i+1)})
			errs <- err
		})
	}
	// A definition change racing the fires keeps the latest fire too.
	upd := NewSchedule("grp_a", "flw_1", "trg_a")
	upd.Description = "changed"
	must(t, s.UpdateSchedule(ctx, upd))
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if want := t0.Add(8 * time.Minute); got.LastFireAt == nil || !got.LastFireAt.Equal(want) || got.LastRunID != "run_8" {
		t.Fatalf("after 8 concurrent fires: last fire %v %q, want %v run_8", got.LastFireAt, got.LastRunID, want)
	}
	if got.Description != "changed" {
		t.Fatalf("the update was lost: %+v", got)
	}
}

func testScheduleDeletedWithFlow(t *testing.T, s Store) {
	ctx := t.Context()
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_10", true))) // an id with flw_1 as its prefix
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_1", "trg_a")))
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_10", "trg_b")))
	must(t, s.DeleteFlow(ctx, "grp_a", "flw_1"))
	_, err := s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	wantErr(t, err, wiresk.ErrNotFound)
	if _, err := s.GetSchedule(ctx, "grp_a", "flw_10", "trg_b"); err != nil {
		t.Fatalf("deleting flw_1 touched flw_10's schedule: %v", err)
	}
	all := waitAllSchedules(t, s, 1)
	if got, want := scheduleIDs(all), []string{"grp_a/trg_b"}; !slices.Equal(got, want) {
		t.Fatalf("AllSchedules after DeleteFlow = %v, want %v", got, want)
	}
}

// NewAppTrigger returns an enabled app trigger of Flow flowID watching
// HubSpot's new contacts.
func NewAppTrigger(groupID, flowID, id string) trigger.Schedule {
	t := NewSchedule(groupID, flowID, id)
	t.Expression, t.Timezone = "rate(5 minutes)", "UTC"
	t.Poll = &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1", Params: map[string]string{"properties": "email,firstname"}}
	return t
}

func testAppTriggerCursor(t *testing.T, s Store) {
	ctx := t.Context()
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	a := NewAppTrigger("grp_a", "flw_1", "trg_a")
	must(t, s.CreateSchedule(ctx, a))
	got, err := s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if !reflect.DeepEqual(got, a) || got.Kind() != "app" {
		t.Fatalf("GetSchedule = %+v, want %+v", got, a)
	}
	_, err = s.AdvanceCursor(ctx, "grp_a", "flw_1", "trg_missing", "", "c1")
	wantErr(t, err, wiresk.ErrNotFound)

	// Two polls from the same cursor: one moves it.
	var wg sync.WaitGroup
	moved := make(chan bool, 2)
	for _, to := range []string{"c1", "c1b"} {
		wg.Go(func() {
			ok, err := s.AdvanceCursor(context.WithoutCancel(ctx), "grp_a", "flw_1", "trg_a", "", to)
			if err != nil {
				t.Error(err)
			}
			moved <- ok
		})
	}
	wg.Wait()
	close(moved)
	n := 0
	for ok := range moved {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of two polls from the same cursor moved it, want 1", n)
	}
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	from := got.Poll.Cursor
	if from != "c1" && from != "c1b" {
		t.Fatalf("cursor = %q", from)
	}
	ok, err := s.AdvanceCursor(ctx, "grp_a", "flw_1", "trg_a", from, "c2")
	must(t, err)
	if !ok {
		t.Fatal("AdvanceCursor from the stored cursor did not move it")
	}

	// A fire records the poll's outcome; a change of params keeps the cursor.
	_, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t0.Add(time.Minute), Error: "paused: broken", Paused: true})
	must(t, err)
	upd := a
	upd.Poll = &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_2", Params: map[string]string{"properties": "email"}}
	must(t, s.UpdateSchedule(ctx, upd))
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if got.Poll.Cursor != "c2" || got.Poll.ConnectionID != "con_2" || got.Poll.Params["properties"] != "email" || !got.Poll.Paused || got.LastError != "paused: broken" {
		t.Fatalf("after an update: %+v", got.Poll)
	}
	_, err = s.RecordFire(ctx, "grp_a", "flw_1", "trg_a", trigger.Fire{At: t0.Add(2 * time.Minute), RunID: "run_9", Started: 3})
	must(t, err)
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_a")
	must(t, err)
	if got.Poll.Paused || got.Poll.LastStarted != 3 || got.LastError != "" || got.LastRunID != "run_9" {
		t.Fatalf("after a poll that started 3 Runs: %+v %+v", got, got.Poll)
	}
	// An instant trigger's hook: its subscription is recorded, and kept
	// by a change of the definition.
	inst := NewAppTrigger("grp_a", "flw_1", "trg_i")
	inst.Poll.Instant, inst.Poll.Hook = true, &trigger.Hook{Token: "tok-tok-tok-tok-tok-tok-tok-tok-"}
	must(t, s.CreateSchedule(ctx, inst))
	exp := t0.Add(7 * 24 * time.Hour)
	if ok, err := s.SetHook(ctx, "grp_a", "flw_1", "trg_i", "", "ach1", &exp); err != nil || !ok {
		t.Fatalf("SetHook = %v, %v", ok, err)
	}
	// A second poll that subscribed at the same time comes second.
	if ok, err := s.SetHook(ctx, "grp_a", "flw_1", "trg_i", "", "ach2", &exp); err != nil || ok {
		t.Fatalf("a second SetHook from none = %v, %v; want false", ok, err)
	}
	upd = inst
	upd.Description = "changed"
	upd.Poll = &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1", Instant: true}
	must(t, s.UpdateSchedule(ctx, upd))
	got, err = s.GetSchedule(ctx, "grp_a", "flw_1", "trg_i")
	must(t, err)
	if h := got.Poll.Hook; h == nil || h.Token != inst.Poll.Hook.Token || h.SubscriptionID != "ach1" || h.ExpiresAt == nil || !h.ExpiresAt.Equal(exp) || !got.Poll.Instant {
		t.Fatalf("hook after SetHook and an update = %+v", got.Poll.Hook)
	}
	if ok, err := s.SetHook(ctx, "grp_a", "flw_1", "trg_a", "", "x", nil); err != nil || ok {
		t.Fatalf("SetHook of a trigger without a hook = %v, %v; want false", ok, err)
	}
	_, err = s.SetHook(ctx, "grp_a", "flw_1", "trg_missing", "", "x", nil)
	wantErr(t, err, wiresk.ErrNotFound)
	// A schedule trigger has no cursor to move.
	must(t, s.CreateSchedule(ctx, NewSchedule("grp_a", "flw_1", "trg_s")))
	if ok, err := s.AdvanceCursor(ctx, "grp_a", "flw_1", "trg_s", "", "x"); err != nil || ok {
		t.Fatalf("AdvanceCursor of a schedule trigger = %v, %v; want false", ok, err)
	}
}
