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
	// (last) Run it started; LastError says why it started none (the Flow
	// was disabled, the app refused the poll) or, for an app trigger,
	// which items it skipped.
	LastFireAt *time.Time `json:"lastFireAt,omitempty"`
	LastRunID  string     `json:"lastRunId,omitempty"`
	LastError  string     `json:"lastError,omitempty"`
	// Poll makes this an app trigger: each fire polls an app event
	// through a Connection and starts one Run per new item, instead of
	// one Run.
	Poll *Poll `json:"poll,omitempty"`
}

// Poll is what an app trigger watches, and where it is.
type Poll struct {
	// App and Event name the event ("hubspot", "new_contact").
	App          string            `json:"app"`
	Event        string            `json:"event"`
	ConnectionID string            `json:"connectionId"`
	Params       map[string]string `json:"params,omitempty"`
	// Cursor is where the next poll goes on, in the event's own terms;
	// "" until the first poll.
	Cursor string `json:"cursor,omitempty"`
	// Paused says the last fire could not poll because the Connection
	// is broken (LastError says which); the next fire tries again.
	Paused bool `json:"paused,omitempty"`
	// LastStarted counts the Runs the last poll started.
	LastStarted int `json:"lastStarted"`
	// Instant asks the app to notify Wiresk of new items (where its event
	// can: poll.Subscriber), so that a notification starts a poll at once;
	// the schedule still polls, as a fallback.
	Instant bool `json:"instant,omitempty"`
	// Hook is an instant trigger's notification address and subscription.
	Hook *Hook `json:"hook,omitempty"`
}

// Hook is where an instant app trigger's notifications come to, and the
// app's subscription that sends them. Its secret is in the vault, under
// HookSecretName.
type Hook struct {
	// Token is the last part of the notification URL: 192 random bits,
	// so that only the app, which was given the URL, can reach it.
	Token string `json:"token"`
	// SubscriptionID is the app's id of the subscription; "" until the
	// first poll made it.
	SubscriptionID string     `json:"subscriptionId,omitempty"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
}

// HookSecretName is the vault name of an instant trigger's notification
// secret.
func HookSecretName(triggerID string) string { return "hooks/" + triggerID }

// HookPath is the path an instant trigger's notifications are sent to.
func HookPath(t Schedule) string {
	if t.Poll == nil || t.Poll.Hook == nil {
		return ""
	}
	return "/v1/app-hooks/" + t.GroupID + "/" + t.FlowID + "/" + t.ID + "/" + t.Poll.Hook.Token
}

// Kind is "app" for an app trigger, "schedule" for a schedule trigger.
func (s Schedule) Kind() string {
	if s.Poll != nil {
		return "app"
	}
	return "schedule"
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
	// Started counts the Runs an app trigger's poll started; Paused says
	// it could not poll (a broken Connection).
	Started int
	Paused  bool
	// Sent marks the record of the scheduler that sent the fire (the
	// local runner's): it does not replace a record of the same fire,
	// which the worker may have written first, with what the fire did.
	Sent bool
}

// RecordFire applies f as s's last fire, and reports false (changing
// nothing) when a later fire is recorded already: stores call it inside
// their write, so a late older fire never replaces a newer one.
func (s *Schedule) RecordFire(f Fire) bool {
	if s.LastFireAt != nil && (s.LastFireAt.After(f.At) || f.Sent && s.LastFireAt.Equal(f.At)) {
		return false
	}
	at := f.At.UTC()
	s.LastFireAt, s.LastRunID, s.LastError = &at, f.RunID, f.Error
	if s.Poll != nil {
		s.Poll.Paused, s.Poll.LastStarted = f.Paused, f.Started
	}
	return true
}

// Redefine replaces s's definition (description, expression, zone, enabled
// state, what an app trigger watches) by def's, keeping what its fires
// recorded: its last fire and an app trigger's cursor.
func (s *Schedule) Redefine(def Schedule) {
	s.Description, s.Expression, s.Timezone, s.Enabled, s.EnabledAt = def.Description, def.Expression, def.Timezone, def.Enabled, def.EnabledAt
	if def.Poll == nil || s.Poll == nil {
		s.Poll = def.Poll
		return
	}
	p := *def.Poll
	p.Cursor, p.Paused, p.LastStarted = s.Poll.Cursor, s.Poll.Paused, s.Poll.LastStarted
	if p.Hook == nil {
		p.Hook = s.Poll.Hook
	}
	s.Poll = &p
}

// AdvanceCursor moves an app trigger's cursor from from to to, and reports
// false (changing nothing) when the cursor is no longer from: another poll
// moved it first.
func (s *Schedule) AdvanceCursor(from, to string) bool {
	if s.Poll == nil || s.Poll.Cursor != from {
		return false
	}
	s.Poll.Cursor = to
	return true
}

// SetHook records an instant trigger's subscription in place of prev (""
// for none), and reports false, changing nothing, when the trigger has no
// hook or its subscription is no longer prev: another poll subscribed
// first.
func (s *Schedule) SetHook(prev, subscriptionID string, expiresAt *time.Time) bool {
	if s.Poll == nil || s.Poll.Hook == nil || s.Poll.Hook.SubscriptionID != prev {
		return false
	}
	s.Poll.Hook.SubscriptionID, s.Poll.Hook.ExpiresAt = subscriptionID, expiresAt
	return true
}
