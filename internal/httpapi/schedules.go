package httpapi

import (
	"context"
	"net/http"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/poll"
	"wiresk/internal/trigger"
)

// upcomingShown is how many next fire times a schedule trigger's view
// shows.
const upcomingShown = 5

// ScheduleView is a schedule or app trigger with its kind ("schedule" or
// "app") and its next fire times (polls, for an app trigger; in its time
// zone; none while it is disabled).
type ScheduleView struct {
	Kind string `json:"kind"`
	trigger.Schedule
	NextFires []time.Time `json:"nextFires"`
}

func scheduleView(t trigger.Schedule, now time.Time) ScheduleView {
	v := ScheduleView{Kind: t.Kind(), Schedule: t, NextFires: []time.Time{}}
	if s, err := t.Parsed(); err == nil && t.Enabled {
		from := now
		if last := t.Last(); last.After(from) {
			from = last
		}
		for _, at := range s.Upcoming(from, upcomingShown) {
			v.NextFires = append(v.NextFires, at.In(s.Location()))
		}
	}
	return v
}

// The handlers of schedule and app triggers, one of each for both kinds:
// they differ only by the use case they call.

// createTriggerWith decodes an In and creates the trigger with create.
func createTriggerWith[In any](create func(ctx context.Context, who auth.Identity, g, f string, in In) (trigger.Schedule, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		var in In
		if err := decode(r, &in); err != nil {
			return err
		}
		t, err := create(r.Context(), who, r.PathValue("g"), r.PathValue("f"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, scheduleView(t, time.Now()))
		return nil
	}
}

// updateTriggerWith decodes a Patch and applies it with update.
func updateTriggerWith[Patch any](update func(ctx context.Context, who auth.Identity, g, f, t string, in Patch) (trigger.Schedule, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		var in Patch
		if err := decode(r, &in); err != nil {
			return err
		}
		t, err := update(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
		return nil
	}
}

// getTriggerWith answers the trigger get returns.
func getTriggerWith(get func(ctx context.Context, who auth.Identity, g, f, t string) (trigger.Schedule, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		t, err := get(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
		return nil
	}
}

// listTriggersWith answers {key: [the triggers list returns]}.
func listTriggersWith(key string, list func(ctx context.Context, who auth.Identity, g, f string) ([]trigger.Schedule, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		ts, err := list(r.Context(), who, r.PathValue("g"), r.PathValue("f"))
		if err != nil {
			return err
		}
		now := time.Now()
		out := make([]ScheduleView, len(ts))
		for i, t := range ts {
			out[i] = scheduleView(t, now)
		}
		writeJSON(w, http.StatusOK, map[string]any{key: out})
		return nil
	}
}

// deleteTriggerWith deletes the trigger with del: 204.
func deleteTriggerWith(del func(ctx context.Context, who auth.Identity, g, f, t string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		if err := del(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// AppEventView is an app event an app trigger may watch.
type AppEventView struct {
	App    string       `json:"app"`
	Event  string       `json:"event"`
	Label  string       `json:"label"`
	Params []poll.Param `json:"params"`
	// AnyScope: an OAuth Connection needs one of these scopes.
	AnyScope []string `json:"anyScope,omitempty"`
}

func (m *Management) listAppEvents(w http.ResponseWriter, _ *http.Request, _ auth.Identity) error {
	evs := poll.Events()
	out := make([]AppEventView, len(evs))
	for i, e := range evs {
		out[i] = AppEventView{App: e.App, Event: e.Name, Label: e.Label, Params: e.Params, AnyScope: e.AnyScope}
		if out[i].Params == nil {
			out[i].Params = []poll.Param{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

// TriggerSummary is one of a Flow's triggers, of any kind, with what it
// did over the last seven days.
type TriggerSummary struct {
	// Kind is "http", "schedule" or "app".
	Kind        string `json:"kind"`
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// Enabled: an HTTP trigger is on while its Flow is.
	Enabled bool `json:"enabled"`
	// URL is an HTTP trigger's webhook URL; Expression a schedule's or an
	// app trigger's timetable; Event an app trigger's "<app>.<event>".
	URL        string `json:"url,omitempty"`
	Expression string `json:"expression,omitempty"`
	Event      string `json:"event,omitempty"`
	// LastFireAt is a schedule's or app trigger's last fire, an HTTP
	// trigger's latest Run in the seven days.
	LastFireAt *time.Time `json:"lastFireAt,omitempty"`
	LastError  string     `json:"lastError,omitempty"`
	Paused     bool       `json:"paused,omitempty"`
	// RunsPerDay counts the Runs it started each of the last seven days
	// (UTC), oldest first.
	RunsPerDay []DayRuns `json:"runsPerDay"`
}

// DayRuns is a day's count of Runs.
type DayRuns struct {
	Day  string `json:"day"`
	Runs int    `json:"runs"`
}

// listAllTriggers lists a Flow's triggers of every kind, HTTP first.
func (m *Management) listAllTriggers(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ctx, g, f := r.Context(), r.PathValue("g"), r.PathValue("f")
	fl, err := m.svc.Flows.GetFlow(ctx, who, g, f)
	if err != nil {
		return err
	}
	hs, err := m.svc.Triggers.ListTriggers(ctx, who, g, f)
	if err != nil {
		return err
	}
	ss, err := m.svc.Schedules.ListSchedules(ctx, who, g, f)
	if err != nil {
		return err
	}
	as, err := m.svc.Schedules.ListAppTriggers(ctx, who, g, f)
	if err != nil {
		return err
	}
	st, err := m.svc.Runs.Stats(ctx, who, g, f, 7)
	if err != nil {
		return err
	}
	perDay := func(id string) []DayRuns {
		out := make([]DayRuns, len(st.Days))
		for i, d := range st.Days {
			out[i] = DayRuns{Day: d.Day, Runs: d.ByTrigger[id]}
		}
		return out
	}
	out := []TriggerSummary{}
	for _, t := range hs {
		s := TriggerSummary{Kind: "http", ID: t.ID, Description: t.Description, Enabled: fl.Enabled, URL: m.triggerView(t).URL, RunsPerDay: perDay(t.ID)}
		if last, ok := st.LastRunAt[t.ID]; ok {
			s.LastFireAt = &last
		}
		out = append(out, s)
	}
	for _, t := range append(ss, as...) {
		s := TriggerSummary{Kind: t.Kind(), ID: t.ID, Description: t.Description, Enabled: t.Enabled, Expression: t.Expression,
			LastFireAt: t.LastFireAt, LastError: t.LastError, RunsPerDay: perDay(t.ID)}
		if t.Poll != nil {
			s.Event, s.Paused = t.Poll.App+"."+t.Poll.Event, t.Poll.Paused
		}
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"triggers": out})
	return nil
}

// fireNow fires a schedule or app trigger at once: 202 {triggerId,
// scheduledAt} once the fire is queued.
func (m *Management) fireNow(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
		at, err := m.svc.Schedules.FireNow(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), kind)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"triggerId": r.PathValue("t"), "scheduledAt": at})
		return nil
	}
}
