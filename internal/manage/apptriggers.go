package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"wiresk/internal/auth"
	"wiresk/internal/poll"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// App trigger poll intervals, in minutes. A minute is EventBridge
// Scheduler's shortest rate; five is the default, as the apps' API quotas
// are shared with the Connection's other uses.
const (
	MinPollMinutes     = 1
	DefaultPollMinutes = 5
	MaxPollMinutes     = 1440
)

// AppTriggerInput is a new app trigger: a Flow that starts on each new
// item of an app event (poll.Events), polled with a Connection.
type AppTriggerInput struct {
	Description  string            `json:"description"`
	App          string            `json:"app"`
	Event        string            `json:"event"`
	ConnectionID string            `json:"connectionId"`
	Params       map[string]string `json:"params"`
	// IntervalMinutes is how often the app is polled (default 5).
	IntervalMinutes int `json:"intervalMinutes"`
	// Instant asks the app to notify Wiresk of new items, for the events
	// that can (poll.Subscriber): a notification polls at once, and the
	// interval's polls go on as a fallback. Fixed at creation.
	Instant bool `json:"instant"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
}

// AppTriggerPatch changes an app trigger: only the fields given. Its app
// and event stay.
type AppTriggerPatch struct {
	Description     *string            `json:"description"`
	ConnectionID    *string            `json:"connectionId"`
	Params          *map[string]string `json:"params"`
	IntervalMinutes *int               `json:"intervalMinutes"`
	Enabled         *bool              `json:"enabled"`
}

func interval(minutes int) (string, error) {
	if minutes < MinPollMinutes || minutes > MaxPollMinutes {
		return "", wiresk.FieldError("intervalMinutes", "must be %d to %d minutes", MinPollMinutes, MaxPollMinutes)
	}
	if minutes == 1 {
		return "rate(1 minute)", nil
	}
	return fmt.Sprintf("rate(%d minutes)", minutes), nil
}

// checkPoll refuses an unknown event, params its Source refuses, and a
// Connection that is not the Group's or not of the event's app.
func (s *Schedules) checkPoll(ctx context.Context, groupID string, p trigger.Poll) error {
	ev, ok := poll.Lookup(p.App, p.Event)
	if !ok {
		return wiresk.FieldError("event", "%s has no event %q: GET /v1/app-events lists them", p.App, p.Event)
	}
	if err := ev.Source.Check(p.Params); err != nil {
		return err
	}
	if p.ConnectionID == "" {
		return wiresk.FieldError("connectionId", "is required: the %s Connection to poll with", p.App)
	}
	c, err := s.Store.GetConnection(ctx, groupID, p.ConnectionID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return wiresk.FieldError("connectionId", "no Connection %q in this group", p.ConnectionID)
	}
	if err != nil {
		return err
	}
	if c.App != p.App {
		return wiresk.FieldError("connectionId", "Connection %q is for %s, not %s", c.Name, c.App, p.App)
	}
	if c.AuthType.IsOAuth() && len(ev.AnyScope) > 0 && len(c.Scopes) > 0 && !slices.ContainsFunc(c.Scopes, func(s string) bool { return slices.Contains(ev.AnyScope, s) }) {
		return wiresk.FieldError("connectionId", "Connection %q was authorized without a scope this event reads with: reconnect it with one of %s",
			c.Name, strings.Join(ev.AnyScope, ", "))
	}
	return nil
}

// CreateAppTrigger adds an app trigger to a Flow and queues its first
// poll at once, which only notes where the app's items are: the items
// that exist already start no Run, those made from now on do.
func (s *Schedules) CreateAppTrigger(ctx context.Context, who auth.Identity, groupID, flowID string, in AppTriggerInput) (trigger.Schedule, error) {
	if in.IntervalMinutes == 0 {
		in.IntervalMinutes = DefaultPollMinutes
	}
	expr, err := interval(in.IntervalMinutes)
	if err != nil {
		return trigger.Schedule{}, err
	}
	t := trigger.Schedule{Description: in.Description, Expression: expr, Enabled: in.Enabled == nil || *in.Enabled,
		Poll: &trigger.Poll{App: in.App, Event: in.Event, ConnectionID: in.ConnectionID, Params: maps.Clone(in.Params)}}
	if in.Instant {
		ev, ok := poll.Lookup(in.App, in.Event)
		if _, can := ev.Source.(poll.Subscriber); ok && !can {
			return trigger.Schedule{}, wiresk.FieldError("instant", "%s.%s cannot notify: it is polled only", in.App, in.Event)
		}
		token, err := trigger.NewRoutingKey()
		if err != nil {
			return trigger.Schedule{}, err
		}
		t.Poll.Instant, t.Poll.Hook = true, &trigger.Hook{Token: token}
	}
	t, err = s.create(ctx, who, groupID, flowID, t)
	if err != nil || !t.Enabled || s.Queue == nil {
		return t, err
	}
	// The first poll at once: it notes where the app's items are now (the
	// items made from now on are new) and subscribes an instant trigger.
	// Should the queue refuse it, the first scheduled poll does that.
	if _, err := s.queueFire(ctx, t); err != nil && s.Logger != nil {
		s.Logger.WarnContext(ctx, "app trigger: first poll not queued; the schedule's first fire seeds it", "trigger", t.ID, "err", err)
	}
	return t, nil
}

// GetAppTrigger returns one app trigger.
func (s *Schedules) GetAppTrigger(ctx context.Context, who auth.Identity, groupID, flowID, id string) (trigger.Schedule, error) {
	return s.get(ctx, who, groupID, flowID, id, "app")
}

// ListAppTriggers lists a Flow's app triggers.
func (s *Schedules) ListAppTriggers(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.Schedule, error) {
	return s.list(ctx, who, groupID, flowID, "app")
}

// UpdateAppTrigger changes an app trigger; its cursor stays, so a new
// Connection or interval goes on where the last poll stopped.
func (s *Schedules) UpdateAppTrigger(ctx context.Context, who auth.Identity, groupID, flowID, id string, in AppTriggerPatch) (trigger.Schedule, error) {
	var expr string
	if in.IntervalMinutes != nil {
		var err error
		if expr, err = interval(*in.IntervalMinutes); err != nil {
			return trigger.Schedule{}, err
		}
	}
	return s.update(ctx, who, groupID, flowID, id, "app", in.Enabled, func(t *trigger.Schedule) {
		if in.Description != nil {
			t.Description = *in.Description
		}
		if in.ConnectionID != nil {
			t.Poll.ConnectionID = *in.ConnectionID
		}
		if in.Params != nil {
			t.Poll.Params = maps.Clone(*in.Params)
		}
		if expr != "" {
			t.Expression = expr
		}
	})
}

// DeleteAppTrigger removes an app trigger.
func (s *Schedules) DeleteAppTrigger(ctx context.Context, who auth.Identity, groupID, flowID, id string) error {
	return s.remove(ctx, who, groupID, flowID, id, "app")
}

// unsubscribeLater asks the worker to delete instant trigger t's
// subscription at its app (the worker holds the Connections; the
// management API does not). A trigger without one needs nothing.
func unsubscribeLater(ctx context.Context, q run.Enqueuer, t trigger.Schedule) error {
	if t.Poll == nil || t.Poll.Hook == nil || t.Poll.Hook.SubscriptionID == "" || q == nil {
		return nil
	}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	job, err := json.Marshal(run.Job{GroupID: t.GroupID, FlowID: t.FlowID, TriggerID: t.ID, Mode: run.ModeUnsubscribe, Body: body})
	if err != nil {
		return err
	}
	if _, err := q.Send(ctx, job, map[string]string{"groupId": t.GroupID}); err != nil {
		return wiresk.Errorf(wiresk.EUnavailable, "the run queue is unavailable; the trigger was not deleted, retry later")
	}
	return nil
}
