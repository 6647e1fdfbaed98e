package manage_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/manage"
	"wiresk/internal/run"
	"wiresk/internal/testkit/storetest"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// fakeScheduler is a manage.Scheduler of function fields; nil fields
// succeed. It records the schedules put and deleted.
type fakeScheduler struct {
	put, del     func(trigger.Schedule) error
	puts, delets []trigger.Schedule
}

func (s *fakeScheduler) PutSchedule(_ context.Context, t trigger.Schedule) error {
	s.puts = append(s.puts, t)
	if s.put != nil {
		return s.put(t)
	}
	return nil
}

func (s *fakeScheduler) DeleteSchedule(_ context.Context, t trigger.Schedule) error {
	s.delets = append(s.delets, t)
	if s.del != nil {
		return s.del(t)
	}
	return nil
}

func mustScheduleFixture(t *testing.T) (*fixture, *fakeScheduler, *manage.Schedules, *manage.Flows, string) {
	t.Helper()
	f := mustFixture(t)
	sch := &fakeScheduler{}
	schedules := &manage.Schedules{Store: f.store, Access: f.svc.Access, Scheduler: sch, Now: func() time.Time { return noon }}
	flows := &manage.Flows{Store: f.store, Access: f.svc.Access, Kinds: f.svc.Flows.Kinds, Scheduler: sch, Now: func() time.Time { return noon }}
	fl, err := flows.CreateFlow(t.Context(), f.bob, f.groupID, manage.FlowInput{Name: "Digest",
		Steps: []flow.Step{{ID: "a", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f, sch, schedules, flows, fl.ID
}

func TestScheduleInputIsCheckedField(t *testing.T) {
	f, sch, s, _, flowID := mustScheduleFixture(t)
	tests := []struct {
		name, expr, zone, field string
	}{
		{"no expression", "", "", "expression"},
		{"not an expression", "every day", "", "expression"},
		{"rate under a minute", "rate(30 seconds)", "", "expression"},
		{"both day fields", "cron(0 9 1 * MON *)", "", "expression"},
		{"never fires", "cron(0 0 30 2 ? *)", "", "expression"},
		{"unknown zone", "rate(5 minutes)", "Mars/Olympus", "timezone"},
		{"the process's zone", "rate(5 minutes)", "Local", "timezone"},
		{"a zone name too long", "rate(5 minutes)", strings.Repeat("Europe/", 100), "timezone"},
		{"an at() in the past", "at(2020-01-01T09:00:00)", "Europe/Paris", "expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateSchedule(t.Context(), f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: tt.expr, Timezone: tt.zone})
			wantCode(t, "create", err, wiresk.EValidation)
			if got := wiresk.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
	if len(sch.puts) != 0 {
		t.Errorf("refused inputs reached the scheduler: %+v", sch.puts)
	}
	list, err := f.store.ListSchedules(t.Context(), f.groupID, flowID)
	if err != nil || len(list) != 0 {
		t.Errorf("refused inputs were stored: %+v %v", list, err)
	}
}

func TestSchedulesAreTheGroupsOwn(t *testing.T) {
	f, _, s, _, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	in := manage.ScheduleInput{Expression: "rate(5 minutes)"}
	_, err := s.CreateSchedule(ctx, f.eve, f.groupID, flowID, in)
	wantCode(t, "an outsider creates", err, wiresk.ENotFound)
	_, err = s.CreateSchedule(ctx, f.bob, f.groupID, "flw_missing", in)
	wantCode(t, "on a missing Flow", err, wiresk.ENotFound)
	tr, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, in)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Timezone != "UTC" || !tr.Enabled || !tr.EnabledAt.Equal(noon) {
		t.Errorf("defaults: %+v, want UTC, enabled, enabled at creation", tr)
	}
	_, err = s.GetSchedule(ctx, f.eve, f.groupID, flowID, tr.ID)
	wantCode(t, "an outsider reads", err, wiresk.ENotFound)
	_, err = s.UpdateSchedule(ctx, f.eve, f.groupID, flowID, tr.ID, manage.SchedulePatch{})
	wantCode(t, "an outsider updates", err, wiresk.ENotFound)
	wantCode(t, "an outsider deletes", s.DeleteSchedule(ctx, f.eve, f.groupID, flowID, tr.ID), wiresk.ENotFound)
	_, err = s.GetSchedule(ctx, f.bob, f.groupID, "flw_other", tr.ID)
	wantCode(t, "through another Flow", err, wiresk.ENotFound)
}

func TestASchedulerFailureLeavesTheStoreAsItWas(t *testing.T) {
	f, sch, s, _, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	down := errors.New("scheduler unavailable")
	sch.put = func(trigger.Schedule) error { return down }
	if _, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(5 minutes)"}); !errors.Is(err, down) {
		t.Fatalf("create with the scheduler down: %v, want its error", err)
	}
	if list, _ := f.store.ListSchedules(ctx, f.groupID, flowID); len(list) != 0 {
		t.Fatalf("a trigger the scheduler never got was kept: %+v", list)
	}
	// The scheduler's own refusal reaches the caller as it is.
	sch.put = func(trigger.Schedule) error { return wiresk.FieldError("expression", "refused by the scheduler") }
	_, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(5 minutes)"})
	wantCode(t, "refused by the scheduler", err, wiresk.EValidation)

	sch.put = nil
	tr, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(5 minutes)"})
	if err != nil {
		t.Fatal(err)
	}
	sch.put = func(trigger.Schedule) error { return down }
	expr := "rate(1 hour)"
	if _, err := s.UpdateSchedule(ctx, f.bob, f.groupID, flowID, tr.ID, manage.SchedulePatch{Expression: &expr}); !errors.Is(err, down) {
		t.Fatalf("update with the scheduler down: %v, want its error", err)
	}
	got, err := f.store.GetSchedule(ctx, f.groupID, flowID, tr.ID)
	if err != nil || got.Expression != "rate(5 minutes)" {
		t.Fatalf("after a failed update the store has %+v %v, want the old expression", got, err)
	}
	sch.del = func(trigger.Schedule) error { return down }
	if err := s.DeleteSchedule(ctx, f.bob, f.groupID, flowID, tr.ID); !errors.Is(err, down) {
		t.Fatalf("delete with the scheduler down: %v, want its error", err)
	}
	if _, err := f.store.GetSchedule(ctx, f.groupID, flowID, tr.ID); err != nil {
		t.Fatalf("a trigger still scheduled was deleted from the store: %v", err)
	}
}

func TestEnablingCountsFiresFromNow(t *testing.T) {
	f, sch, s, _, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	tr, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(5 minutes)", Enabled: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled || sch.puts[0].Enabled {
		t.Fatalf("created disabled: %+v, scheduler got %+v", tr, sch.puts[0])
	}
	later := noon.Add(3 * time.Hour)
	s.Now = func() time.Time { return later }
	tr, err = s.UpdateSchedule(ctx, f.bob, f.groupID, flowID, tr.ID, manage.SchedulePatch{Enabled: new(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled || !tr.EnabledAt.Equal(later) || !tr.Last().Equal(later) {
		t.Fatalf("enabled: %+v, want EnabledAt %v", tr, later)
	}
	if last := sch.puts[len(sch.puts)-1]; !last.Enabled || last.ID != tr.ID {
		t.Fatalf("the scheduler was last given %+v, want the trigger enabled", last)
	}
}

func TestDeletingAFlowUnschedulesItsTriggers(t *testing.T) {
	f, sch, s, flows, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	var ids []string
	for range 2 {
		tr, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tr.ID)
	}
	if err := flows.DeleteFlow(ctx, f.bob, f.groupID, flowID); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range sch.delets {
		deleted = append(deleted, d.ID)
	}
	slices.Sort(deleted)
	slices.Sort(ids)
	if !slices.Equal(deleted, ids) {
		t.Fatalf("the scheduler deleted %v, want the Flow's triggers %v", deleted, ids)
	}
	if all, _ := f.store.AllSchedules(ctx); len(all) != 0 {
		t.Fatalf("the store kept %+v", all)
	}
}

func TestAFlowHoldsTenSchedules(t *testing.T) {
	f, _, s, _, flowID := mustScheduleFixture(t)
	for range trigger.MaxSchedulesPerFlow {
		if _, err := s.CreateSchedule(t.Context(), f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(1 hour)"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CreateSchedule(t.Context(), f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "rate(1 hour)"})
	wantCode(t, "the eleventh", err, wiresk.EConflict)
}

func TestFireNowQueuesAFireOfAnEnabledTrigger(t *testing.T) {
	f, _, s, _, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	s.Queue = f.queue
	tr, err := s.CreateSchedule(ctx, f.bob, f.groupID, flowID, manage.ScheduleInput{Expression: "cron(0 9 ? * MON-FRI *)", Enabled: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.FireNow(ctx, f.bob, f.groupID, flowID, tr.ID, "schedule")
	wantCode(t, "a disabled trigger", err, wiresk.EConflict)
	_, err = s.FireNow(ctx, f.eve, f.groupID, flowID, tr.ID, "schedule")
	wantCode(t, "an outsider", err, wiresk.ENotFound)
	_, err = s.FireNow(ctx, f.bob, f.groupID, flowID, tr.ID, "app")
	wantCode(t, "as an app trigger", err, wiresk.ENotFound)
	if _, err := s.UpdateSchedule(ctx, f.bob, f.groupID, flowID, tr.ID, manage.SchedulePatch{Enabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	at, err := s.FireNow(ctx, f.bob, f.groupID, flowID, tr.ID, "schedule")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.queue.Receive(ctx, 10, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued, want the one fire", len(msgs))
	}
	var j run.Job
	if err := json.Unmarshal([]byte(msgs[0].Body), &j); err != nil {
		t.Fatal(err)
	}
	if j.Mode != run.ModeSchedule || j.TriggerID != tr.ID || j.ScheduledAt == nil || !j.ScheduledAt.Equal(at) {
		t.Fatalf("queued %+v, want a fire of %s at %v", j, tr.ID, at)
	}
}

func TestAppTriggersPollWithTheGroupsConnectionOfTheirApp(t *testing.T) {
	f, sch, s, _, flowID := mustScheduleFixture(t)
	ctx := t.Context()
	hub := storetest.NewConnection(f.groupID, "con_hub")
	hub.App, hub.Name, hub.Scopes = "hubspot", "HubSpot", []string{"oauth", "crm.objects.contacts.read"}
	deals := storetest.NewConnection(f.groupID, "con_deals")
	deals.App, deals.Scopes = "hubspot", []string{"oauth", "crm.objects.deals.read"}
	zoho := storetest.NewConnection(f.groupID, "con_zoho")
	other := storetest.NewConnection("grp_other", "con_theirs")
	other.App = "hubspot"
	for _, c := range []connection.Connection{hub, deals, zoho, other} {
		if err := f.store.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ok := manage.AppTriggerInput{App: "hubspot", Event: "new_contact", ConnectionID: "con_hub", Params: map[string]string{"properties": "email"}}
	tests := []struct {
		name  string
		in    func(manage.AppTriggerInput) manage.AppTriggerInput
		field string
	}{
		{"unknown event", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.Event = "new_planet"; return in }, "event"},
		{"no Connection", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.ConnectionID = ""; return in }, "connectionId"},
		{"another app's Connection", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.ConnectionID = "con_zoho"; return in }, "connectionId"},
		{"another Group's Connection", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.ConnectionID = "con_theirs"; return in }, "connectionId"},
		{"a Connection without the read scope", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.ConnectionID = "con_deals"; return in }, "connectionId"},
		{"unknown param", func(in manage.AppTriggerInput) manage.AppTriggerInput {
			in.Params = map[string]string{"nope": "x"}
			return in
		}, "params.nope"},
		{"interval too short", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.IntervalMinutes = -1; return in }, "intervalMinutes"},
		{"interval too long", func(in manage.AppTriggerInput) manage.AppTriggerInput { in.IntervalMinutes = 1441; return in }, "intervalMinutes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAppTrigger(ctx, f.bob, f.groupID, flowID, tt.in(ok))
			wantCode(t, "create", err, wiresk.EValidation)
			if got := wiresk.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
	tr, err := s.CreateAppTrigger(ctx, f.bob, f.groupID, flowID, ok)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind() != "app" || tr.Expression != "rate(5 minutes)" || tr.Poll.Cursor != "" || len(sch.puts) != 1 {
		t.Fatalf("created %+v (poll %+v), want an app trigger polling every 5 minutes, put on the scheduler", tr, tr.Poll)
	}
	// It is not a schedule trigger, at that address or in that list.
	_, err = s.GetSchedule(ctx, f.bob, f.groupID, flowID, tr.ID)
	wantCode(t, "read as a schedule", err, wiresk.ENotFound)
	if list, _ := s.ListSchedules(ctx, f.bob, f.groupID, flowID); len(list) != 0 {
		t.Errorf("ListSchedules lists the app trigger: %+v", list)
	}
	// A change keeps the cursor.
	if _, err := f.store.AdvanceCursor(ctx, f.groupID, flowID, tr.ID, "", "1796371200000"); err != nil {
		t.Fatal(err)
	}
	one := 1
	got, err := s.UpdateAppTrigger(ctx, f.bob, f.groupID, flowID, tr.ID, manage.AppTriggerPatch{IntervalMinutes: &one})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.store.GetSchedule(ctx, f.groupID, flowID, tr.ID)
	if got.Expression != "rate(1 minute)" || stored.Poll.Cursor != "1796371200000" {
		t.Fatalf("after the change: %q, cursor %q", got.Expression, stored.Poll.Cursor)
	}
	zohoID := "con_zoho"
	_, err = s.UpdateAppTrigger(ctx, f.bob, f.groupID, flowID, tr.ID, manage.AppTriggerPatch{ConnectionID: &zohoID})
	wantCode(t, "switch to another app's Connection", err, wiresk.EValidation)
}
