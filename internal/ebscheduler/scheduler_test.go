package ebscheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"wiresk/internal/ebscheduler"
	"wiresk/internal/run"
	"wiresk/internal/testkit/schedtest"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

const (
	group    = "wiresk-test"
	queueARN = "arn:aws:sqs:us-east-1:123456789012:wiresk-runs"
	roleARN  = "arn:aws:iam::123456789012:role/wiresk-scheduler"
	dlqARN   = "arn:aws:sqs:us-east-1:123456789012:wiresk-dlq"
)

var config = ebscheduler.Config{Group: group, QueueARN: queueARN, RoleARN: roleARN, DeadLetterARN: dlqARN}

// newScheduler returns a Scheduler on a new server that knows the group.
func newScheduler(t *testing.T, cfg ebscheduler.Config) (*ebscheduler.Scheduler, *schedtest.Server) {
	t.Helper()
	srv := schedtest.NewServer(t)
	srv.AddGroup(group)
	s, err := ebscheduler.New(srv.Client(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, srv
}

func sample() trigger.Schedule {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	return trigger.Schedule{
		ID:          "trg_01JDQ3V7X9K2M4N6P8R0S2T4VW",
		GroupID:     "grp_01JDQ3V7X9K2M4N6P8R0S2T4AB",
		FlowID:      "flw_01JDQ3V7X9K2M4N6P8R0S2T4CD",
		Description: "weekday digest",
		Expression:  "cron(0 9 ? * MON-FRI *)",
		Timezone:    "Europe/Paris",
		Enabled:     true,
		CreatedAt:   now,
		EnabledAt:   now,
	}
}

// stored returns the schedule of tr on srv, failing the test if it is
// missing.
func stored(t *testing.T, srv *schedtest.Server, tr trigger.Schedule) schedtest.Schedule {
	t.Helper()
	sc, ok := srv.Schedule(group, tr.ID)
	if !ok {
		t.Fatalf("schedule %s/%s: missing", group, tr.ID)
	}
	return sc
}

func TestPutCreates(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatalf("PutSchedule: %v", err)
	}
	sc := stored(t, srv, tr)
	if sc.ScheduleExpression != tr.Expression || sc.ScheduleExpressionTimezone != "Europe/Paris" {
		t.Errorf("expression: got %q in %q, want %q in Europe/Paris", sc.ScheduleExpression, sc.ScheduleExpressionTimezone, tr.Expression)
	}
	if sc.State != "ENABLED" || sc.FlexibleTimeWindow.Mode != "OFF" || sc.ActionAfterCompletion != "NONE" || sc.Description != tr.Description {
		t.Errorf("got state %s, window %s, after completion %s, description %q; want ENABLED, OFF, NONE, %q",
			sc.State, sc.FlexibleTimeWindow.Mode, sc.ActionAfterCompletion, sc.Description, tr.Description)
	}
	if sc.Target.Arn != queueARN || sc.Target.RoleArn != roleARN {
		t.Errorf("target: got %s as %s, want %s as %s", sc.Target.Arn, sc.Target.RoleArn, queueARN, roleARN)
	}
	if d := sc.Target.DeadLetterConfig; d == nil || d.Arn != dlqARN {
		t.Errorf("dead-letter config: got %+v, want %s", d, dlqARN)
	}
	if p := sc.Target.RetryPolicy; p == nil || p.MaximumEventAgeInSeconds == nil || *p.MaximumEventAgeInSeconds != 3600 ||
		p.MaximumRetryAttempts == nil || *p.MaximumRetryAttempts != ebscheduler.MaxRetryAttempts {
		t.Errorf("retry policy: got %+v, want 3600 s and %d attempts", p, ebscheduler.MaxRetryAttempts)
	}
	// The input is the Job a fire sends: the ids, and the placeholder
	// Scheduler replaces with the scheduled time.
	var in, want map[string]any
	if err := json.Unmarshal([]byte(sc.Target.Input), &in); err != nil {
		t.Fatalf("input is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(run.ScheduleJobInput(tr.GroupID, tr.FlowID, tr.ID)), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("input: got %s, want the value of run.ScheduleJobInput %v", sc.Target.Input, want)
	}
	for k, want := range map[string]string{"groupId": tr.GroupID, "flowId": tr.FlowID, "triggerId": tr.ID, "scheduledAt": run.ScheduledTimePlaceholder} {
		if in[k] != want {
			t.Errorf("input %s: got %v, want %s", k, in[k], want)
		}
	}
	// Scheduler fills in the placeholder only where it is written
	// literally, not as JSON escapes (\u003c...).
	if !strings.Contains(sc.Target.Input, `"<aws.scheduler.scheduled-time>"`) {
		t.Errorf("input %s lacks the literal scheduled-time placeholder", sc.Target.Input)
	}
	if got := srv.Calls("UpdateSchedule") + srv.Calls("CreateSchedule"); got != 2 {
		t.Errorf("calls: got %d, want 2 (an update that finds none, then the create)", got)
	}
}

func TestPutUpdates(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	created := stored(t, srv, tr).CreationDate
	tr.Expression, tr.Timezone, tr.Enabled, tr.Description = "rate(5 minutes)", "UTC", false, ""
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatalf("PutSchedule: %v", err)
	}
	sc := stored(t, srv, tr)
	if sc.ScheduleExpression != "rate(5 minutes)" || sc.ScheduleExpressionTimezone != "UTC" || sc.State != "DISABLED" || sc.Description != "" {
		t.Errorf("got %q in %q, %s, description %q; want rate(5 minutes) in UTC, DISABLED, none", sc.ScheduleExpression, sc.ScheduleExpressionTimezone, sc.State, sc.Description)
	}
	if !sc.CreationDate.Equal(created) {
		t.Errorf("creation date: got %v, want %v (updated, not created again)", sc.CreationDate, created)
	}
	if got, want := srv.Calls("CreateSchedule"), 1; got != want {
		t.Errorf("CreateSchedule calls: got %d, want %d", got, want)
	}
	if srv.Len() != 1 {
		t.Errorf("schedules: got %d, want 1", srv.Len())
	}
}

func TestPutWithoutDeadLetterQueueOrZone(t *testing.T) {
	cfg := config
	cfg.DeadLetterARN = ""
	s, srv := newScheduler(t, cfg)
	tr := sample()
	tr.Timezone = ""
	tr.Description = strings.Repeat("é", 600)
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatalf("PutSchedule: %v", err)
	}
	sc := stored(t, srv, tr)
	if sc.Target.DeadLetterConfig != nil {
		t.Errorf("dead-letter config: got %+v, want none", sc.Target.DeadLetterConfig)
	}
	if sc.ScheduleExpressionTimezone != "" {
		t.Errorf("zone: got %q, want none sent (Scheduler's default, UTC)", sc.ScheduleExpressionTimezone)
	}
	if got := len([]rune(sc.Description)); got != 512 {
		t.Errorf("description: got %d characters, want it cut to 512", got)
	}
}

// TestPutCreatedMeanwhile: the update finds no schedule, the create finds
// one (another call created it in between): PutSchedule updates it.
func TestPutCreatedMeanwhile(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	srv.InjectError("UpdateSchedule", http.StatusNotFound, "ResourceNotFoundException", "Schedule "+tr.ID+" does not exist.")
	srv.InjectError("CreateSchedule", http.StatusConflict, "ConflictException", "Schedule "+tr.ID+" already exists.")
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatalf("PutSchedule: %v", err)
	}
	if got, want := srv.Calls("UpdateSchedule"), 2; got != want {
		t.Errorf("UpdateSchedule calls: got %d, want %d", got, want)
	}
	if got, want := srv.Calls("CreateSchedule"), 2; got != want {
		t.Errorf("CreateSchedule calls: got %d, want %d", got, want)
	}
	stored(t, srv, tr)
}

func TestDelete(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	if err := s.PutSchedule(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSchedule(t.Context(), tr); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	if _, ok := srv.Schedule(group, tr.ID); ok {
		t.Errorf("schedule still stored after DeleteSchedule")
	}
	// One already gone is no error.
	if err := s.DeleteSchedule(t.Context(), tr); err != nil {
		t.Errorf("DeleteSchedule of a missing schedule: %v, want nil", err)
	}
	if got, want := srv.Calls("DeleteSchedule"), 2; got != want {
		t.Errorf("DeleteSchedule calls: got %d, want %d", got, want)
	}
}

func TestRefusedExpressionIsValidation(t *testing.T) {
	for _, tc := range []struct {
		name, expr, zone, field string
	}{
		{"expression", "every 5 minutes", "UTC", "expression"},
		{"zone", "rate(5 minutes)", "Mars/Olympus_Mons", "timezone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newScheduler(t, config)
			tr := sample()
			tr.Expression, tr.Timezone = tc.expr, tc.zone
			err := s.PutSchedule(t.Context(), tr)
			if got := wiresk.ErrorCode(err); got != wiresk.EValidation {
				t.Fatalf("PutSchedule: got %v (code %q), want a %s error", err, got, wiresk.EValidation)
			}
			if got := wiresk.ErrorField(err); got != tc.field {
				t.Errorf("field: got %q, want %q", got, tc.field)
			}
			// The caller sees Scheduler's message, which names what it refused.
			if msg := wiresk.ErrorMessage(err); !strings.Contains(msg, "EventBridge Scheduler refused it") || !strings.Contains(msg, tc.zone) && !strings.Contains(msg, tc.expr) {
				t.Errorf("message: got %q, want Scheduler's, quoting what it refused", msg)
			}
			if srv.Len() != 0 {
				t.Errorf("schedules: got %d, want none stored", srv.Len())
			}
		})
	}
}

// TestRefusedTargetIsFailure: a ValidationException about the target or
// its role is the stack's misconfiguration, not the caller's input.
func TestRefusedTargetIsFailure(t *testing.T) {
	cfg := config
	cfg.RoleARN = "arn:aws:iam::123456789012:user/not-a-role"
	s, _ := newScheduler(t, cfg)
	err := s.PutSchedule(t.Context(), sample())
	if err == nil {
		t.Fatal("PutSchedule with a user as the role: nil error")
	}
	if code := wiresk.ErrorCode(err); code != wiresk.EInternal {
		t.Errorf("got %v (code %q), want a failure (code %q)", err, code, wiresk.EInternal)
	}
	if !strings.Contains(err.Error(), "ValidationException") {
		t.Errorf("error %q: want Scheduler's code kept", err)
	}
}

func TestServiceErrorIsFailure(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	srv.InjectError("UpdateSchedule", http.StatusInternalServerError, "InternalServerException", "Unexpected error.")
	err := s.PutSchedule(t.Context(), tr)
	if err == nil {
		t.Fatal("PutSchedule on a 500: nil error")
	}
	if code := wiresk.ErrorCode(err); code == wiresk.EValidation {
		t.Errorf("got %v, a validation error; want a failure", err)
	}
	if !strings.Contains(err.Error(), tr.ID) || !strings.Contains(err.Error(), "InternalServerException") {
		t.Errorf("error %q: want the schedule and Scheduler's code", err)
	}
	if srv.Calls("CreateSchedule") != 0 {
		t.Errorf("CreateSchedule was called after a failed update")
	}
	srv.InjectError("DeleteSchedule", http.StatusInternalServerError, "InternalServerException", "Unexpected error.")
	if err := s.DeleteSchedule(t.Context(), tr); err == nil || wiresk.ErrorCode(err) == wiresk.EValidation {
		t.Errorf("DeleteSchedule on a 500: got %v, want a failure", err)
	}
}

func TestMissingGroupIsFailure(t *testing.T) {
	srv := schedtest.NewServer(t) // without the group
	s, err := ebscheduler.New(srv.Client(), config)
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutSchedule(t.Context(), sample())
	if err == nil || wiresk.ErrorCode(err) == wiresk.EValidation || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("PutSchedule without the group: got %v, want a ResourceNotFoundException failure", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s, srv := newScheduler(t, config)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutSchedule(ctx, sample()); !errors.Is(err, context.Canceled) {
		t.Errorf("PutSchedule: got %v, want context.Canceled", err)
	}
	if err := s.DeleteSchedule(ctx, sample()); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteSchedule: got %v, want context.Canceled", err)
	}
	if n := srv.Calls("UpdateSchedule") + srv.Calls("DeleteSchedule"); n != 0 {
		t.Errorf("calls: got %d, want none", n)
	}
}

func TestBadTriggerID(t *testing.T) {
	s, srv := newScheduler(t, config)
	tr := sample()
	tr.ID = "trg/../other"
	if err := s.PutSchedule(t.Context(), tr); err == nil || wiresk.ErrorCode(err) == wiresk.EValidation {
		t.Errorf("PutSchedule: got %v, want a failure (a bad id is a bug, not the caller's input)", err)
	}
	if err := s.DeleteSchedule(t.Context(), tr); err == nil {
		t.Errorf("DeleteSchedule: nil error for a bad id")
	}
	if n := srv.Calls("UpdateSchedule") + srv.Calls("DeleteSchedule"); n != 0 {
		t.Errorf("calls: got %d, want none", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	client := schedtest.NewServer(t).Client()
	for _, tc := range []struct {
		name string
		edit func(*ebscheduler.Config)
		want string
	}{
		{"no group", func(c *ebscheduler.Config) { c.Group = "" }, "schedule group"},
		{"bad group", func(c *ebscheduler.Config) { c.Group = "a/b" }, "schedule group"},
		{"no queue", func(c *ebscheduler.Config) { c.QueueARN = "" }, "run queue"},
		{"no role", func(c *ebscheduler.Config) { c.RoleARN = "" }, "scheduler role"},
		{"bad dead-letter queue", func(c *ebscheduler.Config) { c.DeadLetterARN = "dlq" }, "dead-letter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config
			tc.edit(&cfg)
			if _, err := ebscheduler.New(client, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error about the %s", err, tc.want)
			}
		})
	}
	if _, err := ebscheduler.New(nil, config); err == nil {
		t.Errorf("New with a nil client: nil error")
	}
}
