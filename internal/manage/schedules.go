package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/schedule"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Scheduler is where schedule triggers fire from: EventBridge Scheduler on
// AWS (one schedule per trigger, its target the run queue); locally
// nothing, as the runner's scheduler reads the store. Errors: a refused
// expression or zone is a *wiresk.Error with code validation_failed
// (wiresk.FieldError); anything else is a failure of the scheduler itself.
type Scheduler interface {
	// PutSchedule creates, or replaces, t's schedule: its expression,
	// time zone and enabled state.
	PutSchedule(ctx context.Context, t trigger.Schedule) error
	// DeleteSchedule removes t's schedule; one already gone is no error.
	DeleteSchedule(ctx context.Context, t trigger.Schedule) error
}

// ScheduleStore is what the schedule-trigger use cases need of the store
// port. Errors: a missing record wraps wiresk.ErrNotFound; an id taken, or
// a Flow at trigger.MaxSchedulesPerFlow, wraps wiresk.ErrConflict.
type ScheduleStore interface {
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	CreateSchedule(ctx context.Context, t trigger.Schedule) error
	GetSchedule(ctx context.Context, groupID, flowID, id string) (trigger.Schedule, error)
	// ListSchedules lists a Flow's schedule triggers, or the Group's when
	// flowID is "".
	ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error)
	// UpdateSchedule replaces the definition (description, expression,
	// zone, enabled state and EnabledAt); the last fire stays as stored.
	UpdateSchedule(ctx context.Context, t trigger.Schedule) error
	DeleteSchedule(ctx context.Context, groupID, flowID, id string) error
	// GetConnection reads the Connection an app trigger polls with.
	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
}

// Schedules are the use cases of a Flow's schedule triggers. Each change
// is written to the store first and then to the Scheduler; when the
// Scheduler refuses or fails, the store is put back as it was, so the two
// never disagree for longer than a request.
type Schedules struct {
	Store  ScheduleStore
	Access Access
	// Scheduler is told of every change; nil when the store is all there
	// is (the local runner's scheduler reads it).
	Scheduler Scheduler
	// Queue gets the fires asked for now (FireNow).
	Queue  run.Enqueuer
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ScheduleInput is a new schedule trigger.
type ScheduleInput struct {
	Description string `json:"description"`
	// Expression is rate(...), cron(...) or at(...), as EventBridge
	// Scheduler reads them.
	Expression string `json:"expression"`
	// Timezone is an IANA zone name; empty is UTC.
	Timezone string `json:"timezone"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
}

// SchedulePatch changes a schedule trigger: only the fields given.
type SchedulePatch struct {
	Description *string `json:"description"`
	Expression  *string `json:"expression"`
	Timezone    *string `json:"timezone"`
	Enabled     *bool   `json:"enabled"`
}

// checkSchedule refuses an expression or zone EventBridge Scheduler would
// refuse, naming the field.
// With requireNext, an enabled trigger must fire after now (a new one, or
// one whose times or enabled state change): an at() in the past is refused.
func checkSchedule(t trigger.Schedule, now time.Time, requireNext bool) error {
	if err := checkDescription(t.Description); err != nil {
		return err
	}
	if len(t.Timezone) > 64 {
		return wiresk.FieldError("timezone", "is longer than 64 characters: an IANA zone name such as Europe/Paris")
	}
	if t.Expression == "" {
		return wiresk.FieldError("expression", "is required: rate(5 minutes), cron(0 9 ? * MON-FRI *) or at(2027-01-01T09:00:00)")
	}
	if len(t.Expression) > 256 {
		return wiresk.FieldError("expression", "is longer than 256 characters")
	}
	sch, err := t.Parsed()
	if err != nil {
		field := "expression"
		if strings.Contains(err.Error(), "time zone") {
			field = "timezone"
		}
		return wiresk.FieldError(field, "%s", strings.TrimPrefix(err.Error(), schedule.ErrInvalid.Error()+": "))
	}
	if _, ok := sch.Next(now); requireNext && t.Enabled && !ok {
		return wiresk.FieldError("expression", "%s does not fire after now (%s in %s)", t.Expression, now.In(sch.Location()).Format("2006-01-02T15:04:05"), t.Timezone)
	}
	return nil
}

// CreateSchedule adds a schedule trigger to a Flow.
func (s *Schedules) CreateSchedule(ctx context.Context, who auth.Identity, groupID, flowID string, in ScheduleInput) (trigger.Schedule, error) {
	t := trigger.Schedule{Description: in.Description, Expression: strings.TrimSpace(in.Expression), Timezone: in.Timezone, Enabled: in.Enabled == nil || *in.Enabled}
	return s.create(ctx, who, groupID, flowID, t)
}

// create checks and stores t as a new trigger of the Flow, then puts its
// schedule (undoing the store write if that fails).
func (s *Schedules) create(ctx context.Context, who auth.Identity, groupID, flowID string, t trigger.Schedule) (trigger.Schedule, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.Schedule{}, err
	}
	now := now(s.Now)
	t.ID, t.GroupID, t.FlowID, t.CreatedAt, t.EnabledAt = wiresk.NewIDAt("trg", now), groupID, flowID, now, now
	if t.Timezone == "" {
		t.Timezone = "UTC"
	}
	if err := s.check(ctx, t, true); err != nil {
		return trigger.Schedule{}, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return trigger.Schedule{}, notFound(err, "flow", flowID)
	}
	if err := s.Store.CreateSchedule(ctx, t); err != nil {
		if errors.Is(err, wiresk.ErrConflict) {
			return trigger.Schedule{}, wiresk.Errorf(wiresk.EConflict, "flow %q has %d schedule and app triggers, the most a Flow may have", flowID, trigger.MaxSchedulesPerFlow)
		}
		return trigger.Schedule{}, notFound(err, "flow", flowID)
	}
	if s.Scheduler != nil {
		if err := s.Scheduler.PutSchedule(ctx, t); err != nil {
			if uerr := s.Store.DeleteSchedule(context.WithoutCancel(ctx), groupID, flowID, t.ID); uerr != nil {
				return trigger.Schedule{}, errors.Join(fmt.Errorf("put schedule %s: %w", t.ID, err), fmt.Errorf("undo create: %w", uerr))
			}
			return trigger.Schedule{}, schedulerError(t.ID, err)
		}
	}
	return t, nil
}

// check refuses a trigger EventBridge Scheduler would refuse, one that
// would never fire (requireNext: see checkSchedule), or an app trigger
// whose event, params or Connection does not fit.
func (s *Schedules) check(ctx context.Context, t trigger.Schedule, requireNext bool) error {
	if err := checkSchedule(t, now(s.Now), requireNext); err != nil {
		return err
	}
	if t.Poll != nil {
		return s.checkPoll(ctx, t.GroupID, *t.Poll)
	}
	return nil
}

// schedulerError passes a refusal of the Scheduler's (a validation error)
// on as it is and wraps any other failure.
func schedulerError(id string, err error) error {
	var we *wiresk.Error
	if errors.As(err, &we) {
		return err
	}
	return fmt.Errorf("put schedule %s: %w", id, err)
}

// get returns the trigger of the kind asked for; one of the other kind is
// not found, as it is not at that address.
func (s *Schedules) get(ctx context.Context, who auth.Identity, groupID, flowID, id, kind string) (trigger.Schedule, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.Schedule{}, err
	}
	t, err := s.Store.GetSchedule(ctx, groupID, flowID, id)
	if err == nil && t.Kind() != kind {
		err = fmt.Errorf("trigger %s is an %s trigger: %w", id, t.Kind(), wiresk.ErrNotFound)
	}
	return t, notFound(err, "trigger", id)
}

// list returns the Flow's triggers of kind.
func (s *Schedules) list(ctx context.Context, who auth.Identity, groupID, flowID, kind string) ([]trigger.Schedule, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return nil, notFound(err, "flow", flowID)
	}
	all, err := s.Store.ListSchedules(ctx, groupID, flowID)
	if err != nil {
		return nil, err
	}
	out := make([]trigger.Schedule, 0, len(all))
	for _, t := range all {
		if t.Kind() == kind {
			out = append(out, t)
		}
	}
	return out, nil
}

// update applies change to the trigger of kind, checks it, stores it and
// puts its schedule (putting the store back if that fails). Enabling a
// disabled trigger counts its fires from now.
func (s *Schedules) update(ctx context.Context, who auth.Identity, groupID, flowID, id, kind string, enabled *bool, change func(*trigger.Schedule)) (trigger.Schedule, error) {
	old, err := s.get(ctx, who, groupID, flowID, id, kind)
	if err != nil {
		return trigger.Schedule{}, err
	}
	t := old
	if old.Poll != nil {
		p := *old.Poll
		t.Poll = &p
	}
	change(&t)
	if t.Timezone == "" {
		t.Timezone = "UTC"
	}
	if enabled != nil {
		if *enabled && !old.Enabled {
			t.EnabledAt = now(s.Now)
		}
		t.Enabled = *enabled
	}
	retimed := t.Expression != old.Expression || t.Timezone != old.Timezone || t.Enabled && !old.Enabled
	if err := s.check(ctx, t, retimed); err != nil {
		return trigger.Schedule{}, err
	}
	if err := s.Store.UpdateSchedule(ctx, t); err != nil {
		return trigger.Schedule{}, notFound(err, "trigger", id)
	}
	if s.Scheduler != nil {
		if err := s.Scheduler.PutSchedule(ctx, t); err != nil {
			if uerr := s.Store.UpdateSchedule(context.WithoutCancel(ctx), old); uerr != nil {
				return trigger.Schedule{}, errors.Join(fmt.Errorf("put schedule %s: %w", id, err), fmt.Errorf("undo update: %w", uerr))
			}
			return trigger.Schedule{}, schedulerError(id, err)
		}
	}
	return t, nil
}

// remove deletes the trigger of kind: from the Scheduler first, so that
// it fires no more, then from the store.
func (s *Schedules) remove(ctx context.Context, who auth.Identity, groupID, flowID, id, kind string) error {
	t, err := s.get(ctx, who, groupID, flowID, id, kind)
	if err != nil {
		return err
	}
	if s.Scheduler != nil {
		if err := s.Scheduler.DeleteSchedule(ctx, t); err != nil {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
	}
	if err := unsubscribeLater(ctx, s.Queue, t); err != nil {
		return err
	}
	return notFound(s.Store.DeleteSchedule(ctx, groupID, flowID, id), "trigger", id)
}

// GetSchedule returns one schedule trigger.
func (s *Schedules) GetSchedule(ctx context.Context, who auth.Identity, groupID, flowID, id string) (trigger.Schedule, error) {
	return s.get(ctx, who, groupID, flowID, id, "schedule")
}

// ListSchedules lists a Flow's schedule triggers.
func (s *Schedules) ListSchedules(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.Schedule, error) {
	return s.list(ctx, who, groupID, flowID, "schedule")
}

// UpdateSchedule changes a schedule trigger. Enabling a disabled one
// counts its fires from now: the times it was off are not missed fires.
func (s *Schedules) UpdateSchedule(ctx context.Context, who auth.Identity, groupID, flowID, id string, in SchedulePatch) (trigger.Schedule, error) {
	return s.update(ctx, who, groupID, flowID, id, "schedule", in.Enabled, func(t *trigger.Schedule) {
		if in.Description != nil {
			t.Description = *in.Description
		}
		if in.Expression != nil {
			t.Expression = strings.TrimSpace(*in.Expression)
		}
		if in.Timezone != nil {
			t.Timezone = *in.Timezone
		}
	})
}

// DeleteSchedule removes a schedule trigger.
func (s *Schedules) DeleteSchedule(ctx context.Context, who auth.Identity, groupID, flowID, id string) error {
	return s.remove(ctx, who, groupID, flowID, id, "schedule")
}

// unschedule removes the Scheduler's schedules of a Flow's schedule and app
// triggers, and has the worker delete instant triggers' subscriptions
// (before the Flow and its triggers are deleted from the store).
func unschedule(ctx context.Context, sch Scheduler, q run.Enqueuer, ts []trigger.Schedule) error {
	for _, t := range ts {
		if sch != nil {
			if err := sch.DeleteSchedule(ctx, t); err != nil {
				return fmt.Errorf("delete schedule %s: %w", t.ID, err)
			}
		}
		if err := unsubscribeLater(ctx, q, t); err != nil {
			return err
		}
	}
	return nil
}

// FireNow fires a trigger of kind at once, as its schedule would: an app
// trigger polls (its first poll only seeds its cursor), a schedule trigger
// starts a Run. It returns the fire's time once the fire is queued. A
// disabled trigger is refused (conflict): its fires are dropped.
func (s *Schedules) FireNow(ctx context.Context, who auth.Identity, groupID, flowID, id, kind string) (time.Time, error) {
	t, err := s.get(ctx, who, groupID, flowID, id, kind)
	if err != nil {
		return time.Time{}, err
	}
	if !t.Enabled {
		return time.Time{}, wiresk.Errorf(wiresk.EConflict, "trigger %q is disabled: enable it first", id)
	}
	return s.queueFire(ctx, t)
}

// queueFire sends the run queue a fire of t now, as its schedule would.
func (s *Schedules) queueFire(ctx context.Context, t trigger.Schedule) (time.Time, error) {
	if s.Queue == nil {
		return time.Time{}, errors.New("no run queue to fire into")
	}
	at := now(s.Now).Truncate(time.Millisecond)
	body, err := json.Marshal(run.Job{GroupID: t.GroupID, FlowID: t.FlowID, TriggerID: t.ID, Mode: run.ModeSchedule, ScheduledAt: &at})
	if err != nil {
		return time.Time{}, err
	}
	if _, err := s.Queue.Send(ctx, body, map[string]string{"runId": run.ScheduledID(t.ID, at), "groupId": t.GroupID}); err != nil {
		if s.Logger != nil {
			s.Logger.ErrorContext(ctx, "fire now: enqueue failed", "trigger", t.ID, "err", err)
		}
		return time.Time{}, wiresk.Errorf(wiresk.EUnavailable, "the run queue is unavailable; nothing was fired, retry later")
	}
	return at, nil
}
