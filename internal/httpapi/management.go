package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/group"
	"wiresk/internal/manage"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// maxManagementBody caps management request bodies.
const maxManagementBody = 1 << 20

// Management serves the management API under /v1 (JWT required).
type Management struct {
	mux    *http.ServeMux
	svc    manage.Services
	auth   auth.Authenticator
	log    *slog.Logger
	public string
	routes []route
}

// NewManagement returns the management API handler. publicURL is the base
// URL webhooks are sent to, used to show each trigger's URL.
func NewManagement(svc manage.Services, a auth.Authenticator, publicURL string, log *slog.Logger) *Management {
	if log == nil {
		log = slog.Default()
	}
	m := &Management{mux: http.NewServeMux(), svc: svc, auth: a, log: log, public: strings.TrimRight(publicURL, "/")}
	m.routes = []route{
		{"POST /v1/groups", m.createGroup},
		{"GET /v1/groups", m.listGroups},
		{"GET /v1/groups/{g}/members", m.listMembers},
		{"POST /v1/groups/{g}/members", m.addMember},
		{"DELETE /v1/groups/{g}/members/{userId}", m.removeMember},

		{"POST /v1/groups/{g}/api-keys", m.createKey},
		{"GET /v1/groups/{g}/api-keys", m.listKeys},
		{"GET /v1/groups/{g}/api-keys/{k}", m.getKey},
		{"PATCH /v1/groups/{g}/api-keys/{k}", m.updateKey},
		{"POST /v1/groups/{g}/api-keys/{k}/rotate", m.rotateKey},
		{"DELETE /v1/groups/{g}/api-keys/{k}", m.revokeKey},

		{"POST /v1/groups/{g}/flows", m.createFlow},
		{"GET /v1/groups/{g}/flows", m.listFlows},
		{"GET /v1/groups/{g}/flows/{f}", m.getFlow},
		{"PUT /v1/groups/{g}/flows/{f}", m.replaceFlow},
		{"DELETE /v1/groups/{g}/flows/{f}", m.deleteFlow},
		{"GET /v1/groups/{g}/flows/{f}/stats", m.stats},

		{"POST /v1/groups/{g}/flows/{f}/http-triggers", m.createTrigger},
		{"GET /v1/groups/{g}/flows/{f}/http-triggers", m.listTriggers},
		{"PATCH /v1/groups/{g}/flows/{f}/http-triggers/{t}", m.updateTrigger},
		{"DELETE /v1/groups/{g}/flows/{f}/http-triggers/{t}", m.deleteTrigger},
		{"POST /v1/groups/{g}/flows/{f}/http-triggers/{t}/rotate-routing-key", m.rotateRoutingKey},

		{"POST /v1/groups/{g}/flows/{f}/schedule-triggers", createTriggerWith(svc.Schedules.CreateSchedule)},
		{"GET /v1/groups/{g}/flows/{f}/schedule-triggers", listTriggersWith("scheduleTriggers", svc.Schedules.ListSchedules)},
		{"GET /v1/groups/{g}/flows/{f}/schedule-triggers/{t}", getTriggerWith(svc.Schedules.GetSchedule)},
		{"PATCH /v1/groups/{g}/flows/{f}/schedule-triggers/{t}", updateTriggerWith(svc.Schedules.UpdateSchedule)},
		{"DELETE /v1/groups/{g}/flows/{f}/schedule-triggers/{t}", deleteTriggerWith(svc.Schedules.DeleteSchedule)},
		{"POST /v1/groups/{g}/flows/{f}/schedule-triggers/{t}/fire", m.fireNow("schedule")},

		{"POST /v1/groups/{g}/flows/{f}/app-triggers", createTriggerWith(svc.Schedules.CreateAppTrigger)},
		{"GET /v1/groups/{g}/flows/{f}/app-triggers", listTriggersWith("appTriggers", svc.Schedules.ListAppTriggers)},
		{"GET /v1/groups/{g}/flows/{f}/app-triggers/{t}", getTriggerWith(svc.Schedules.GetAppTrigger)},
		{"PATCH /v1/groups/{g}/flows/{f}/app-triggers/{t}", updateTriggerWith(svc.Schedules.UpdateAppTrigger)},
		{"DELETE /v1/groups/{g}/flows/{f}/app-triggers/{t}", deleteTriggerWith(svc.Schedules.DeleteAppTrigger)},
		{"POST /v1/groups/{g}/flows/{f}/app-triggers/{t}/poll", m.fireNow("app")},
		{"GET /v1/app-events", m.listAppEvents},
		{"GET /v1/groups/{g}/flows/{f}/triggers", m.listAllTriggers},

		{"POST /v1/groups/{g}/run-once", m.runOnce},
		{"GET /v1/groups/{g}/runs", m.listRuns},
		{"GET /v1/groups/{g}/runs/{r}", m.getRun},
		{"POST /v1/groups/{g}/runs/{r}/replay", m.replay},

		{"GET /v1/groups/{g}/dead-jobs", m.listDeadJobs},
		{"POST /v1/groups/{g}/dead-jobs/redrive", m.redriveDeadJobs},
	}
	for _, rt := range m.routes {
		m.mux.Handle(rt.pattern, m.authed(rt.h))
	}
	m.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, m.log, wiresk.Errorf(wiresk.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return m
}

// Routes lists the method and path pattern of every management route.
func (m *Management) Routes() []string {
	out := make([]string, len(m.routes))
	for i, rt := range m.routes {
		out[i] = rt.pattern
	}
	return out
}

type route struct {
	pattern string
	h       handlerFunc
}

// ServeHTTP implements http.Handler.
func (m *Management) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

// handlerFunc handles an authenticated call; a returned error is answered
// through writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, who auth.Identity) error

func (m *Management) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := m.auth.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wiresk"`)
			writeError(w, r, m.log, err)
			return
		}
		if err := h(w, r.WithContext(auth.WithIdentity(r.Context(), who)), who); err != nil {
			writeError(w, r, m.log, err)
		}
	})
}

// decode reads a strict JSON body into v.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManagementBody+1))
	if err != nil {
		return wiresk.Errorf(wiresk.EInvalid, "the request body could not be read")
	}
	if len(body) > maxManagementBody {
		return wiresk.Errorf(wiresk.ETooLarge, "the request body is over %d bytes", maxManagementBody)
	}
	if run.TooDeep(body, run.MaxBodyDepth) {
		return wiresk.Errorf(wiresk.EBodyTooDeep, "the request body nests arrays and objects more than %d levels deep", run.MaxBodyDepth)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return &wiresk.Error{Code: wiresk.EInvalidJSON, Field: typeErr.Field, Message: fmt.Sprintf("expected %s", typeErr.Type)}
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return wiresk.Errorf(wiresk.EInvalidJSON, "%s", strings.TrimPrefix(err.Error(), "json: "))
		case errors.Is(err, io.EOF):
			return wiresk.Errorf(wiresk.EInvalidJSON, "the request body is empty; a JSON object is expected")
		default:
			return wiresk.Errorf(wiresk.EInvalidJSON, "the request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if dec.More() {
		return wiresk.Errorf(wiresk.EInvalidJSON, "the request body has data after the JSON object")
	}
	return nil
}

func (m *Management) createGroup(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	g, err := m.svc.Groups.CreateGroup(r.Context(), who, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, manage.GroupView{Group: g, Role: group.RoleOwner})
	return nil
}

func (m *Management) listGroups(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	gs, err := m.svc.Groups.ListGroups(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": gs})
	return nil
}

func (m *Management) listMembers(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ms, err := m.svc.Groups.ListMembers(r.Context(), who, r.PathValue("g"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
	return nil
}

func (m *Management) addMember(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in struct {
		UserID string     `json:"userId"`
		Role   group.Role `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	mem, err := m.svc.Groups.AddMember(r.Context(), who, r.PathValue("g"), in.UserID, in.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, mem)
	return nil
}

func (m *Management) removeMember(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := m.svc.Groups.RemoveMember(r.Context(), who, r.PathValue("g"), r.PathValue("userId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Management) createKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.KeyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	k, err := m.svc.Keys.CreateAPIKey(r.Context(), who, r.PathValue("g"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (m *Management) updateKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.KeyPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	k, err := m.svc.Keys.UpdateAPIKey(r.Context(), who, r.PathValue("g"), r.PathValue("k"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (m *Management) listKeys(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ks, err := m.svc.Keys.ListAPIKeys(r.Context(), who, r.PathValue("g"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"apiKeys": ks})
	return nil
}

func (m *Management) getKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	k, err := m.svc.Keys.GetAPIKey(r.Context(), who, r.PathValue("g"), r.PathValue("k"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (m *Management) rotateKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in struct {
		GracePeriodSeconds int64 `json:"gracePeriodSeconds"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	k, err := m.svc.Keys.RotateAPIKey(r.Context(), who, r.PathValue("g"), r.PathValue("k"), time.Duration(in.GracePeriodSeconds)*time.Second)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (m *Management) revokeKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if _, err := m.svc.Keys.RevokeAPIKey(r.Context(), who, r.PathValue("g"), r.PathValue("k")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Management) createFlow(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.FlowInput
	if err := decode(r, &in); err != nil {
		return err
	}
	f, err := m.svc.Flows.CreateFlow(r.Context(), who, r.PathValue("g"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, f)
	return nil
}

func (m *Management) listFlows(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	fs, err := m.svc.Flows.ListFlows(r.Context(), who, r.PathValue("g"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": fs})
	return nil
}

func (m *Management) getFlow(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	f, err := m.svc.Flows.GetFlow(r.Context(), who, r.PathValue("g"), r.PathValue("f"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (m *Management) replaceFlow(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.FlowInput
	if err := decode(r, &in); err != nil {
		return err
	}
	f, err := m.svc.Flows.ReplaceFlow(r.Context(), who, r.PathValue("g"), r.PathValue("f"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (m *Management) deleteFlow(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := m.svc.Flows.DeleteFlow(r.Context(), who, r.PathValue("g"), r.PathValue("f")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Management) stats(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	days := 0
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return wiresk.FieldError("days", "must be a whole number")
		}
		days = n
	}
	st, err := m.svc.Runs.Stats(r.Context(), who, r.PathValue("g"), r.PathValue("f"), days)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// TriggerView is an HTTP trigger with the URL to send webhooks to.
type TriggerView struct {
	trigger.HTTPTrigger
	URL string `json:"url"`
}

func (m *Management) triggerView(t trigger.HTTPTrigger) TriggerView {
	if t.APIKeyIDs == nil {
		t.APIKeyIDs = []string{} // a trigger authenticated by signature: none, never null
	}
	return TriggerView{HTTPTrigger: t, URL: m.public + HooksPrefix + t.RoutingKey}
}

func (m *Management) createTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.TriggerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Triggers.CreateTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m.triggerView(t))
	return nil
}

func (m *Management) updateTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.TriggerPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := m.svc.Triggers.UpdateTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m.triggerView(t))
	return nil
}

func (m *Management) listTriggers(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	ts, err := m.svc.Triggers.ListTriggers(r.Context(), who, r.PathValue("g"), r.PathValue("f"))
	if err != nil {
		return err
	}
	out := make([]TriggerView, len(ts))
	for i, t := range ts {
		out[i] = m.triggerView(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"httpTriggers": out})
	return nil
}

func (m *Management) deleteTrigger(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	if err := m.svc.Triggers.DeleteTrigger(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Management) rotateRoutingKey(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	t, err := m.svc.Triggers.RotateRoutingKey(r.Context(), who, r.PathValue("g"), r.PathValue("f"), r.PathValue("t"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m.triggerView(t))
	return nil
}

func (m *Management) runOnce(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.RunOnceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, done, err := m.svc.Runs.RunOnce(r.Context(), who, r.PathValue("g"), in)
	if err != nil {
		return err
	}
	if !done {
		writeJSON(w, http.StatusAccepted, map[string]any{"runId": res.ID, "status": res.Status, "message": "the run has not ended yet; read it at GET /v1/groups/{g}/runs/{runId}"})
		return nil
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (m *Management) listRuns(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	q := r.URL.Query()
	rq := run.Query{GroupID: r.PathValue("g"), FlowID: q.Get("flowId"), APIKeyID: q.Get("apiKeyId"), Status: run.Status(q.Get("status")), Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return wiresk.FieldError("limit", "must be between 1 and 200")
		}
		rq.Limit = n
	}
	p, err := m.svc.Runs.ListRuns(r.Context(), who, rq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (m *Management) getRun(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	res, err := m.svc.Runs.GetRun(r.Context(), who, r.PathValue("g"), r.PathValue("r"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (m *Management) replay(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	id, err := m.svc.Runs.Replay(r.Context(), who, r.PathValue("g"), r.PathValue("r"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"runId": id})
	return nil
}

func (m *Management) listDeadJobs(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	list, err := m.svc.DeadJobs.List(r.Context(), who, r.PathValue("g"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (m *Management) redriveDeadJobs(w http.ResponseWriter, r *http.Request, who auth.Identity) error {
	var in manage.RedriveInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := m.svc.DeadJobs.Redrive(r.Context(), who, r.PathValue("g"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
