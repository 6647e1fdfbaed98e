package httpapi

import (
	"net/http"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/manage"
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

func (m *Management) createSchedule(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.ScheduleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Schedules.CreateSchedule(r.Context(), who, r.PathValue("g"), r.PathValue("f"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) getSchedule(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	t, err := m.svc.Schedules.GetSchedule(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) updateSchedule(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.SchedulePatch
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Schedules.UpdateSchedule(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) listSchedules(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ts, err := m.svc.Schedules.ListSchedules(r.Context(), who, r.PathValue("g"), r.PathValue("f"))
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]ScheduleView, len(ts))
	for i, t := range ts {
		out[i] = scheduleView(t, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"scheduleTriggers": out})
	return nil
}

func (m *Management) deleteSchedule(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := m.svc.Schedules.DeleteSchedule(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AppEventView is an app event an app trigger may watch.
type AppEventView struct {
	App    string       `json:"app"`
	Event  string       `json:"event"`
	Label  string       `json:"label"`
	Params []poll.Param `json:"params"`
}

func (m *Management) listAppEvents(w http.ResponseWriter, _ *http.Request, _ auth.Identity) error {
	evs := poll.Events()
	out := make([]AppEventView, len(evs))
	for i, e := range evs {
		out[i] = AppEventView{App: e.App, Event: e.Name, Label: e.Label, Params: e.Params}
		if out[i].Params == nil {
			out[i].Params = []poll.Param{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

func (m *Management) createAppTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.AppTriggerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Schedules.CreateAppTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) getAppTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	t, err := m.svc.Schedules.GetAppTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) updateAppTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.AppTriggerPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Schedules.UpdateAppTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleView(t, time.Now()))
	return nil
}

func (m *Management) listAppTriggers(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ts, err := m.svc.Schedules.ListAppTriggers(r.Context(), who, r.PathValue("g"), r.PathValue("f"))
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]ScheduleView, len(ts))
	for i, t := range ts {
		out[i] = scheduleView(t, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"appTriggers": out})
	return nil
}

func (m *Management) deleteAppTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := m.svc.Schedules.DeleteAppTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
