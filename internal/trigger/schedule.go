package trigger

import (
	"time"

	"wiresk/internal/schedule"
)

// MaxSchedulesPerFlow caps a Flow's schedule triggers, so that deleting a
// Flow removes them all in one store transaction.
const MaxSchedulesPerFlow = 10

// Schedule is a schedule trigger: it starts its Flow at the times of
// Expression (EventBridge Scheduler's rate(), cron() or at()) read in
// Timezone. On AWS, EventBridge Scheduler fires it; locally, the runner's
// scheduler does.
type Schedule struct {
	ID          string `json:"id"`
	GroupID     string `json:"groupId"`
	FlowID      string `json:"flowId"`
	Description string `json:"description,omitempty"`
	Expression  string `json:"expression"`
	// Timezone is an IANA zone name; "UTC" when none was given.
	Timezone  string    `json:"timezone"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"createdAt"`
	// EnabledAt is when the trigger was created or last enabled: the
	// times before it are not fires it missed.
	EnabledAt time.Time `json:"enabledAt"`
	// LastFireAt is the scheduled time of the last fire, LastRunID the
	// Run it started; LastError says why it started none (the Flow was
	// disabled, say).
	LastFireAt *time.Time `json:"lastFireAt,omitempty"`
	LastRunID  string     `json:"lastRunId,omitempty"`
	LastError  string     `json:"lastError,omitempty"`
}

// Parsed returns the trigger's schedule; a rate counts from CreatedAt. The
// error wraps schedule.ErrInvalid.
func (s Schedule) Parsed() (*schedule.Schedule, error) {
	return schedule.Parse(s.Expression, s.Timezone, s.CreatedAt)
}

// Last returns the time a scheduler counts s's due fires from: its last
// fire, or when it was enabled if it has not fired since.
func (s Schedule) Last() time.Time {
	if s.LastFireAt != nil && s.LastFireAt.After(s.EnabledAt) {
		return *s.LastFireAt
	}
	return s.EnabledAt
}

// Fire is one fire of a schedule trigger as its store records it.
type Fire struct {
	// At is the scheduled time (not when the fire arrived).
	At time.Time
	// RunID is the Run the fire started; empty when it started none.
	RunID string
	// Error says why it started none.
	Error string
}
