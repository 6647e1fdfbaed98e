package manage

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// RunStore is what the Run use cases need of the store port. Errors: a
// missing record wraps wiresk.ErrNotFound.
type RunStore interface {
	GetRun(ctx context.Context, groupID, id string) (run.Run, error)
	ListRuns(ctx context.Context, q run.Query) (run.Page, error)
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	GetRoute(ctx context.Context, routingKey string) (trigger.Route, error)
}

// Runs are the use cases of Runs: reading them, replay, Run Once and Flow
// statistics.
type Runs struct {
	Store  RunStore
	Access Access
	Queue  run.Enqueuer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RunOnceWait bounds how long Run Once waits for its Run to end
	// (default 25 s, under API Gateway's 30 s limit).
	RunOnceWait time.Duration
	Logger      *slog.Logger
}

// Runs

// ListRuns lists Runs, newest first.
func (s *Runs) ListRuns(ctx context.Context, who auth.Identity, q run.Query) (run.Page, error) {
	if _, err := s.Access.Authorize(ctx, who, q.GroupID, group.RoleMember); err != nil {
		return run.Page{}, err
	}
	if q.Status != "" && !q.Status.Valid() {
		return run.Page{}, wiresk.FieldError("status", "must be queued, running, succeeded or failed")
	}
	if q.Limit < 0 || q.Limit > 200 {
		return run.Page{}, wiresk.FieldError("limit", "must be between 1 and 200")
	}
	return s.Store.ListRuns(ctx, q)
}

// GetRun returns one Run.
func (s *Runs) GetRun(ctx context.Context, who auth.Identity, groupID, runID string) (run.Run, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return run.Run{}, err
	}
	r, err := s.Store.GetRun(ctx, groupID, runID)
	return r, notFound(err, "run", runID)
}

// Replay starts a new Run of the same Flow with the same trigger request.
func (s *Runs) Replay(ctx context.Context, who auth.Identity, groupID, runID string) (string, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return "", err
	}
	r, err := s.Store.GetRun(ctx, groupID, runID)
	if err != nil {
		return "", notFound(err, "run", runID)
	}
	if _, err := s.Store.GetFlow(ctx, groupID, r.FlowID); err != nil {
		return "", notFound(err, "flow", r.FlowID)
	}
	if r.Request.BodyTruncated {
		return "", wiresk.Errorf(wiresk.EConflict, "run %q cannot be replayed: its request body was too large to record whole", runID)
	}
	now := now(s.Now)
	req := r.Request
	req.Body, req.BodyText, req.BodyBase64 = nil, "", nil
	job := run.Job{RunID: run.NewID(now), GroupID: groupID, FlowID: r.FlowID, TriggerID: r.TriggerID, Mode: run.ModeReplay, ReplayOf: r.ID, Request: req, Body: r.Request.RawBody(), ReceivedAt: now}
	return job.RunID, s.enqueue(ctx, job)
}

// RunOnceInput names a routing key and a sample request.
type RunOnceInput struct {
	RoutingKey string `json:"routingKey"`
	Request    struct {
		Headers map[string]string `json:"headers"`
		Query   map[string]string `json:"query"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
}

// RunOnce runs the Flow behind a routing key now, through the queue and the
// worker like a webhook, and waits for the Run to end. done is false when
// the wait ran out first; the Run goes on and can be read later.
func (s *Runs) RunOnce(ctx context.Context, who auth.Identity, groupID string, in RunOnceInput) (r run.Run, done bool, err error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return run.Run{}, false, err
	}
	if in.RoutingKey == "" {
		return run.Run{}, false, wiresk.FieldError("routingKey", "is required")
	}
	route, err := s.Store.GetRoute(ctx, in.RoutingKey)
	if err != nil || route.GroupID != groupID {
		if err == nil || errors.Is(err, wiresk.ErrNotFound) {
			return run.Run{}, false, wiresk.Errorf(wiresk.ERouteNotFound, "no trigger of this group has that routing key")
		}
		return run.Run{}, false, err
	}
	if !route.Enabled {
		// The webhook of a disabled Flow answers 404: Run Once agrees and
		// runs nothing, but may say why to a member of the Group.
		return run.Run{}, false, wiresk.Errorf(wiresk.EConflict, "the Flow of this routing key is disabled (its webhook answers 404 route_not_found); enable the Flow to run it")
	}
	now := now(s.Now)
	// The same filter as the webhook path: credentials in the sample
	// headers (Authorization, X-API-Key, Cookie) are never recorded.
	header := make(http.Header, len(in.Request.Headers))
	for k, v := range in.Request.Headers {
		header[k] = []string{v}
	}
	query := make(url.Values, len(in.Request.Query))
	for k, v := range in.Request.Query {
		query[k] = []string{v}
	}
	req := run.CaptureRequest("POST", header, query)
	var body []byte
	if len(in.Request.Body) > 0 {
		body = in.Request.Body
		if _, ok := req.Headers["content-type"]; !ok {
			req.Headers["content-type"] = "application/json"
		}
	}
	job := run.Job{RunID: run.NewID(now), GroupID: groupID, FlowID: route.FlowID, TriggerID: route.TriggerID, Mode: run.ModeRunOnce, Request: req, Body: body, ReceivedAt: now}
	if err := s.enqueue(ctx, job); err != nil {
		return run.Run{}, false, err
	}
	wait := s.RunOnceWait
	if wait <= 0 {
		wait = 25 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return run.Run{ID: job.RunID, Status: run.Queued}, false, nil
		case <-deadline.C:
			r, err := s.Store.GetRun(ctx, groupID, job.RunID)
			if err != nil {
				return run.Run{ID: job.RunID, GroupID: groupID, FlowID: route.FlowID, Status: run.Queued}, false, nil
			}
			return r, false, nil
		case <-tick.C:
			r, err := s.Store.GetRun(ctx, groupID, job.RunID)
			if err == nil && r.Status.Final() {
				return r, true, nil
			}
		}
	}
}

func (s *Runs) enqueue(ctx context.Context, job run.Job) error {
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	if _, err := s.Queue.Send(ctx, body, map[string]string{"runId": job.RunID, "groupId": job.GroupID}); err != nil {
		if s.Logger != nil {
			s.Logger.ErrorContext(ctx, "enqueue failed", "runId", job.RunID, "err", err)
		}
		return wiresk.Errorf(wiresk.EUnavailable, "the run queue is unavailable; nothing was started, retry later")
	}
	return nil
}

// Statistics

// DayStats counts a Flow's Runs on one day (UTC).
type DayStats struct {
	Day       string `json:"day"`
	Triggered int    `json:"triggered"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Filtered  int    `json:"filtered"`
	// P50Ms and P95Ms are the median and 95th-percentile duration of the
	// day's ended Runs, in milliseconds (nearest rank); 0 without any.
	P50Ms int64 `json:"p50Ms"`
	P95Ms int64 `json:"p95Ms"`
	// ByTrigger counts the day's Runs by the trigger that started them
	// (Run Once and replays of a trigger's Runs count for it too).
	ByTrigger map[string]int `json:"byTrigger"`

	durations []int64
}

// FlowStats is a Flow's statistics over some days.
type FlowStats struct {
	FlowID string     `json:"flowId"`
	Days   []DayStats `json:"days"`
	Total  DayStats   `json:"total"`
	// LastRunAt is, for each trigger that started Runs in those days, when
	// the latest one was created.
	LastRunAt map[string]time.Time `json:"lastRunAt"`
}

// Stats counts a Flow's Runs per day over the last days days (1 to 90),
// from the Run records themselves.
func (s *Runs) Stats(ctx context.Context, who auth.Identity, groupID, flowID string, ndays int) (FlowStats, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return FlowStats{}, err
	}
	if ndays == 0 {
		ndays = 7
	}
	if ndays < 1 || ndays > 90 {
		return FlowStats{}, wiresk.FieldError("days", "must be between 1 and 90")
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return FlowStats{}, notFound(err, "flow", flowID)
	}
	now := now(s.Now)
	by := map[string]*DayStats{}
	out := FlowStats{FlowID: flowID, Total: DayStats{Day: "total", ByTrigger: map[string]int{}}, LastRunAt: map[string]time.Time{}}
	for _, d := range days(now, ndays) {
		out.Days = append(out.Days, DayStats{Day: d, ByTrigger: map[string]int{}})
	}
	for i := range out.Days {
		by[out.Days[i].Day] = &out.Days[i]
	}
	err := eachRun(ctx, s.Store, run.Query{GroupID: groupID, FlowID: flowID, Since: startOfDay(now).AddDate(0, 0, -(ndays - 1))}, func(r run.Run) {
		d := by[r.CreatedAt.UTC().Format(time.DateOnly)]
		if d == nil {
			return
		}
		if last, ok := out.LastRunAt[r.TriggerID]; r.TriggerID != "" && (!ok || r.CreatedAt.After(last)) {
			out.LastRunAt[r.TriggerID] = r.CreatedAt
		}
		for _, c := range []*DayStats{d, &out.Total} {
			c.Triggered++
			if r.TriggerID != "" {
				c.ByTrigger[r.TriggerID]++
			}
			switch r.Status {
			case run.Succeeded:
				c.Succeeded++
			case run.Failed:
				c.Failed++
			case run.Filtered:
				c.Filtered++
			}
			if r.Status.Final() {
				c.durations = append(c.durations, r.DurationMs)
			}
		}
	})
	for _, c := range append([]*DayStats{&out.Total}, pointers(out.Days)...) {
		c.P50Ms, c.P95Ms = percentile(c.durations, 50), percentile(c.durations, 95)
	}
	return out, err
}

// runLister lists Runs (ListRuns of the store port).
type runLister interface {
	ListRuns(ctx context.Context, q run.Query) (run.Page, error)
}

// eachRun calls fn for every Run q selects, page by page.
func eachRun(ctx context.Context, store runLister, q run.Query, fn func(run.Run)) error {
	q.Limit = 500
	for {
		p, err := store.ListRuns(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range p.Runs {
			fn(r)
		}
		if p.NextCursor == "" {
			return nil
		}
		q.Cursor = p.NextCursor
	}
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// days lists the n days (UTC, oldest first) that end today.
func days(now time.Time, n int) []string {
	out := make([]string, n)
	start := startOfDay(now).AddDate(0, 0, -(n - 1))
	for i := range out {
		out[i] = start.AddDate(0, 0, i).Format(time.DateOnly)
	}
	return out
}

func pointers(ds []DayStats) []*DayStats {
	out := make([]*DayStats, len(ds))
	for i := range ds {
		out[i] = &ds[i]
	}
	return out
}

// percentile returns the p-th percentile of ms by the nearest-rank method,
// 0 for none; it sorts ms.
func percentile(ms []int64, p int) int64 {
	if len(ms) == 0 {
		return 0
	}
	slices.Sort(ms)
	rank := (p*len(ms) + 99) / 100 // ceil(p/100 * n)
	return ms[max(rank, 1)-1]
}
