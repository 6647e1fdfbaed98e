// Package ebscheduler is the Amazon EventBridge Scheduler adapter of the
// management API's Scheduler port: each schedule trigger is one schedule,
// named by the trigger's id in the stack's schedule group, whose target is
// the run queue. A fire sends run.ScheduleJobInput to the queue, with the
// scheduled time filled in by Scheduler, through the role Scheduler
// assumes (RoleARN), which may send to that queue (and the dead-letter
// queue) only. In AWS the SAM template creates the group and the role.
//
// PutSchedule calls UpdateSchedule first, and CreateSchedule when the
// schedule does not exist (ResourceNotFoundException): the management API
// puts a trigger's schedule once on creation and again on every change
// (expression, zone, enabled), so a change costs one call and a creation
// two. A CreateSchedule that meets a schedule created meanwhile
// (ConflictException) updates it instead.
//
// The target's input is run.ScheduleJobInput, whose placeholder Scheduler
// fills in with the scheduled time.
//
// Every schedule has no flexible time window (each fire at its time), no
// end, and ActionAfterCompletion NONE, so an at() schedule stays after its
// fire until its trigger is deleted. A fire Scheduler cannot deliver is
// retried for up to MaxEventAge, at most MaxRetryAttempts times, then sent
// to the dead-letter queue (Config.DeadLetterARN) if there is one. The Run
// a fire starts is derived from its scheduled time, so a retried or
// redelivered fire starts no second Run.
package ebscheduler

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/manage"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// The retry policy of every schedule's target.
const (
	// MaxEventAge is how long Scheduler keeps retrying a fire it could
	// not send to the queue: a fire an hour late is still worth running,
	// one later than that is dropped (or dead-lettered) rather than run.
	MaxEventAge = time.Hour
	// MaxRetryAttempts is how many times Scheduler retries such a fire.
	MaxRetryAttempts = 10
)

// maxDescription is the longest Description Scheduler accepts, in
// characters; a longer trigger description is cut.
const maxDescription = 512

// putAttempts bounds PutSchedule's update-then-create rounds, should the
// schedule be deleted and created concurrently between them.
const putAttempts = 3

// nameRE is the pattern and length of a schedule name.
var nameRE = regexp.MustCompile(`^[0-9a-zA-Z\-_.]{1,64}$`)

// API is the part of the EventBridge Scheduler client the adapter uses:
// *scheduler.Client implements it, and a test may wrap it.
type API interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

var _ API = (*scheduler.Client)(nil)

// The port this adapter implements, as its consumer declares it.
var _ manage.Scheduler = (*Scheduler)(nil)

// Config says where the schedules live and what they fire.
type Config struct {
	// Group is the schedule group of every schedule (required).
	Group string
	// QueueARN is the run queue, every schedule's target (required).
	QueueARN string
	// RoleARN is the IAM role Scheduler assumes to send to the queue
	// (required).
	RoleARN string
	// DeadLetterARN is the SQS queue that receives the fires Scheduler
	// could not deliver; empty: they are dropped.
	DeadLetterARN string
}

// Scheduler puts schedule triggers' schedules on EventBridge Scheduler. It
// is safe for concurrent use.
type Scheduler struct {
	api API
	cfg Config
}

// New returns the Scheduler that puts schedules through api as cfg says.
// It fails for a nil api or a Config without Group, QueueARN or RoleARN,
// or with an ARN that is not one. It makes no call to Scheduler.
func New(api API, cfg Config) (*Scheduler, error) {
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("nil EventBridge Scheduler client"))
	}
	if !nameRE.MatchString(cfg.Group) {
		errs = append(errs, fmt.Errorf("schedule group %q: want 1 to 64 letters, digits, dashes, underscores or dots", cfg.Group))
	}
	for name, arn := range map[string]string{"run queue": cfg.QueueARN, "scheduler role": cfg.RoleARN} {
		if !strings.HasPrefix(arn, "arn:") {
			errs = append(errs, fmt.Errorf("%s ARN %q: want an ARN", name, arn))
		}
	}
	if cfg.DeadLetterARN != "" && !strings.HasPrefix(cfg.DeadLetterARN, "arn:") {
		errs = append(errs, fmt.Errorf("dead-letter queue ARN %q: want an ARN, or nothing", cfg.DeadLetterARN))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ebscheduler: %w", err)
	}
	return &Scheduler{api: api, cfg: cfg}, nil
}

// NewFromConfig returns the Scheduler of cfg with an EventBridge Scheduler
// client made from awsCfg: what a Lambda function's main builds.
func NewFromConfig(awsCfg aws.Config, cfg Config) (*Scheduler, error) {
	return New(scheduler.NewFromConfig(awsCfg), cfg)
}

// PutSchedule creates, or replaces, t's schedule: its expression, time
// zone, enabled state and description. An expression or zone Scheduler
// refuses is a *wiresk.Error of code wiresk.EValidation carrying
// Scheduler's message (Field "timezone" or "expression"); any other
// failure is another error.
func (s *Scheduler) PutSchedule(ctx context.Context, t trigger.Schedule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !nameRE.MatchString(t.ID) {
		return fmt.Errorf("put schedule %q: the trigger id is not a schedule name", t.ID)
	}
	var err error
	for range putAttempts {
		_, err = s.api.UpdateSchedule(ctx, s.updateInput(t))
		if err == nil || !isCode[*types.ResourceNotFoundException](err) {
			break
		}
		_, err = s.api.CreateSchedule(ctx, s.createInput(t))
		if err == nil || !isCode[*types.ConflictException](err) {
			break
		}
		// Created meanwhile: update it.
	}
	if err != nil {
		return s.fail("put", t.ID, err)
	}
	return nil
}

// DeleteSchedule removes t's schedule; one already gone is no error.
func (s *Scheduler) DeleteSchedule(ctx context.Context, t trigger.Schedule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !nameRE.MatchString(t.ID) {
		return fmt.Errorf("delete schedule %q: the trigger id is not a schedule name", t.ID)
	}
	_, err := s.api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{
		Name:      aws.String(t.ID),
		GroupName: aws.String(s.cfg.Group),
	})
	if err != nil && !isCode[*types.ResourceNotFoundException](err) {
		return s.fail("delete", t.ID, err)
	}
	return nil
}

// createInput is the CreateSchedule of t.
func (s *Scheduler) createInput(t trigger.Schedule) *scheduler.CreateScheduleInput {
	u := s.updateInput(t)
	return &scheduler.CreateScheduleInput{
		Name:                       u.Name,
		GroupName:                  u.GroupName,
		ScheduleExpression:         u.ScheduleExpression,
		ScheduleExpressionTimezone: u.ScheduleExpressionTimezone,
		FlexibleTimeWindow:         u.FlexibleTimeWindow,
		State:                      u.State,
		Description:                u.Description,
		ActionAfterCompletion:      u.ActionAfterCompletion,
		Target:                     u.Target,
	}
}

// updateInput is the UpdateSchedule of t: every member, as an update
// replaces the whole schedule.
func (s *Scheduler) updateInput(t trigger.Schedule) *scheduler.UpdateScheduleInput {
	state := types.ScheduleStateDisabled
	if t.Enabled {
		state = types.ScheduleStateEnabled
	}
	target := &types.Target{
		Arn:     aws.String(s.cfg.QueueARN),
		RoleArn: aws.String(s.cfg.RoleARN),
		Input:   aws.String(run.ScheduleJobInput(t.GroupID, t.FlowID, t.ID)),
		RetryPolicy: &types.RetryPolicy{
			MaximumEventAgeInSeconds: aws.Int32(int32(MaxEventAge / time.Second)),
			MaximumRetryAttempts:     aws.Int32(MaxRetryAttempts),
		},
	}
	if s.cfg.DeadLetterARN != "" {
		target.DeadLetterConfig = &types.DeadLetterConfig{Arn: aws.String(s.cfg.DeadLetterARN)}
	}
	in := &scheduler.UpdateScheduleInput{
		Name:                  aws.String(t.ID),
		GroupName:             aws.String(s.cfg.Group),
		ScheduleExpression:    aws.String(t.Expression),
		FlexibleTimeWindow:    &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		State:                 state,
		ActionAfterCompletion: types.ActionAfterCompletionNone,
		Target:                target,
	}
	if t.Timezone != "" {
		in.ScheduleExpressionTimezone = aws.String(t.Timezone)
	}
	if t.Description != "" {
		in.Description = aws.String(cut(t.Description, maxDescription))
	}
	return in
}

// fail returns the error of the operation op on the schedule id. A
// ValidationException about the expression or the zone is the caller's
// (wiresk.EValidation, with Scheduler's message, which quotes only what
// was sent: no secret); one about the target or its role is the stack's
// configuration, and a failure like any other. Other errors keep
// Scheduler's code and message and the context's error, and a malformed
// response is not quoted.
func (s *Scheduler) fail(op, id string, err error) error {
	var verr *types.ValidationException
	if errors.As(err, &verr) {
		msg := verr.ErrorMessage()
		if field, ok := invalidField(msg); ok {
			return fmt.Errorf("%s schedule %s: %w", op, id,
				wiresk.FieldError(field, "EventBridge Scheduler refused it: %s", msg))
		}
	}
	var apiErr smithy.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s schedule %s: %w", op, id, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%s schedule %s: eventbridge scheduler: %w", op, id, apiErr)
	default:
		var derr *smithy.DeserializationError
		if errors.As(err, &derr) {
			return fmt.Errorf("%s schedule %s: eventbridge scheduler: malformed response", op, id)
		}
		return fmt.Errorf("%s schedule %s: eventbridge scheduler: %w", op, id, err)
	}
}

// invalidField returns the member of the trigger a ValidationException's
// message is about: "timezone" or "expression"; false when it is about the
// target, its role, its dead-letter queue or the group, which the stack
// configures.
func invalidField(msg string) (string, bool) {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "target"), strings.Contains(m, "role"), strings.Contains(m, "group"),
		strings.Contains(m, "deadletter"), strings.Contains(m, "dead letter"), strings.Contains(m, "dead-letter"):
		return "", false
	case strings.Contains(m, "timezone"), strings.Contains(m, "time zone"):
		return "timezone", true
	default:
		return "expression", true
	}
}

// isCode reports whether err is, or wraps, the Scheduler error E.
func isCode[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

// cut returns s cut to at most n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
