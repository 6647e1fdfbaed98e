package manage

import (
	"context"

	"wiresk/internal/trigger"
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
