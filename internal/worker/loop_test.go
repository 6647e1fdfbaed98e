package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/bolt"
	"wiresk/internal/connection"
	"wiresk/internal/egress"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/worker"
)

// loopTarget is an httptest app that records the requests it gets, in
// order, and answers each with answer (200 {"ok":true,"path":...} when nil).
type loopTarget struct {
	*httptest.Server
	mu     sync.Mutex
	got    []loopRequest
	answer func(n int, req loopRequest, w http.ResponseWriter) bool // true when it answered
}

type loopRequest struct {
	Path, Key string
	Body      map[string]any
}

func newLoopTarget(t *testing.T) *loopTarget {
	lt := &loopTarget{}
	lt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		req := loopRequest{Path: r.URL.EscapedPath(), Key: r.Header.Get(step.IdempotencyHeader), Body: body}
		lt.mu.Lock()
		lt.got = append(lt.got, req)
		n, answer := len(lt.got), lt.answer
		lt.mu.Unlock()
		if answer != nil && answer(n, req, w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "path": req.Path})
	}))
	t.Cleanup(lt.Close)
	return lt
}

func (lt *loopTarget) requests() []loopRequest {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return append([]loopRequest(nil), lt.got...)
}

// count returns how many requests reached path.
func (lt *loopTarget) count(path string) int {
	n := 0
	for _, r := range lt.requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// loopKinds returns the built-in step kinds, the HTTP step allowed to
// reach the local test targets and retrying fast.
func loopKinds(t *testing.T) step.Registry {
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return step.NewRegistry(&step.HTTP{Engine: egress.Engine{Guard: guard, BaseDelay: time.Millisecond}})
}

// loopJob is a webhook Job of run id whose body is body.
func loopJob(id string, body any) run.Job {
	j := job(id)
	b, _ := json.Marshal(body)
	j.Request.Body = b
	return j
}

// loopStep is a loop step each over forEach, posting every item to url.
func loopStep(forEach any, maxItems any, url string) flow.Step {
	in := map[string]any{"forEach": forEach, "step": map[string]any{"app": "http", "method": "request",
		"input": map[string]any{"method": "POST", "url": url, "body": map[string]any{"position": "{{ index }}", "name": "{{ item.name }}"}}}}
	if maxItems != nil {
		in["maxItems"] = maxItems
	}
	return flow.Step{ID: "each", App: "data", Method: "loop", Input: in}
}

func mustRun(t *testing.T, s *bolt.Store, id string) run.Run {
	t.Helper()
	r, err := s.GetRun(t.Context(), "grp_a", id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func records(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("r%d", i), "name": fmt.Sprintf("Lead %d", i)}
	}
	return out
}

// TestALoopRunsItsStepForEachItemInOrder: a list read from an earlier
// step's answer is posted item by item, in order, with item and index
// rendered (item.id escaped as one path segment, as in any URL), each
// request with its own Idempotency-Key; the loop's output lists the
// answers in order, and a later step reads it.
func TestALoopRunsItsStepForEachItemInOrder(t *testing.T) {
	tg := newLoopTarget(t)
	list := []any{map[string]any{"id": "a1", "name": "Ada"}, map[string]any{"id": "b/2", "name": "Bob"}, map[string]any{"id": "c3", "name": "Cy"}}
	tg.answer = func(_ int, req loopRequest, w http.ResponseWriter) bool {
		if req.Path != "/list" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"records": list})
		return true
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "list", App: "http", Method: "request", Input: map[string]any{"url": tg.URL + "/list"}},
		loopStep("{{ steps.list.output.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}"),
		{ID: "sum", App: "data", Method: "set", Input: map[string]any{"fields": map[string]any{
			"count": "{{ steps.each.output.count }}", "second": "{{ steps.each.output.items[1].body.path }}"}}},
	}})
	w := &worker.Worker{Store: store, Steps: loopKinds(t)}
	if err := w.Execute(t.Context(), job("run_1"), 1); err != nil {
		t.Fatal(err)
	}
	got := tg.requests()[1:]
	wantPaths := []string{"/contacts/a1", "/contacts/b%2F2", "/contacts/c3"}
	if len(got) != len(wantPaths) {
		t.Fatalf("the loop sent %d requests, want %d: %+v", len(got), len(wantPaths), got)
	}
	keys := map[string]bool{}
	for i, req := range got {
		if req.Path != wantPaths[i] || req.Body["position"] != float64(i) || req.Body["name"] != list[i].(map[string]any)["name"] {
			t.Errorf("request %d = %s %v, want %s with position %d and name %v", i, req.Path, req.Body, wantPaths[i], i, list[i].(map[string]any)["name"])
		}
		if want := step.IdempotencyKey("run_1", fmt.Sprintf("each/%d", i)); req.Key != want {
			t.Errorf("item %d sent Idempotency-Key %q, want %q (run and step/index)", i, req.Key, want)
		}
		keys[req.Key] = true
	}
	if len(keys) != 3 {
		t.Errorf("the 3 items sent %d distinct Idempotency-Keys, want 3", len(keys))
	}
	r := mustRun(t, store, "run_1")
	if r.Status != run.Succeeded || len(r.Steps) != 3 {
		t.Fatalf("run = %s %q with %d steps, want succeeded with 3", r.Status, r.Error, len(r.Steps))
	}
	out := r.Steps[1].Output.(map[string]any)
	items, _ := out["items"].([]any)
	if out["count"] != float64(3) || len(items) != 3 || r.Steps[1].Attempts != 3 || r.Steps[1].Status != run.StepSucceeded {
		t.Fatalf("loop record = %+v, want succeeded after 3 attempts with 3 items and count 3", r.Steps[1])
	}
	for i, it := range items {
		if p := it.(map[string]any)["body"].(map[string]any)["path"]; p != wantPaths[i] {
			t.Errorf("items[%d] is the answer to %v, want the answer to %s", i, p, wantPaths[i])
		}
	}
	if sum := r.Steps[2].Output.(map[string]any); sum["count"] != float64(3) || sum["second"] != "/contacts/b%2F2" {
		t.Errorf("the step after the loop saw %v, want count 3 and the second answer", sum)
	}
}

func TestALoopOverAnEmptyListSucceeds(t *testing.T) {
	tg := newLoopTarget(t)
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", nil, tg.URL+"/x")}})
	w := &worker.Worker{Store: store, Steps: loopKinds(t)}
	if err := w.Execute(t.Context(), loopJob("run_1", map[string]any{"records": []any{}}), 1); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, store, "run_1")
	out, _ := r.Steps[0].Output.(map[string]any)
	if items, ok := out["items"].([]any); r.Status != run.Succeeded || !ok || len(items) != 0 || out["count"] != float64(0) {
		t.Errorf("run = %s, loop output %v; want succeeded with {\"items\":[],\"count\":0}", r.Status, r.Steps[0].Output)
	}
	if n := len(tg.requests()); n != 0 {
		t.Errorf("target got %d requests, want none", n)
	}
}

// TestALoopOverItsBoundRunsNoItem: a list longer than maxItems (10,000
// items against the largest bound, or 101 against the default 100) fails
// the Run for good on its first delivery, saying how many items and the
// limit, and no item reaches the target; the recorded Run stays small.
func TestALoopOverItsBoundRunsNoItem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		items    int
		maxItems any
		want     []string
	}{
		{"10,000 items, maxItems 1000", 10_000, 1000.0, []string{"10000 items", "input.maxItems (1000)"}},
		{"101 items, the default bound", 101, nil, []string{"101 items", "input.maxItems (100)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newLoopTarget(t)
			_, store := MustStore(t)
			mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", tc.maxItems, tg.URL+"/contacts/{{ item.id }}")}})
			var calls atomic.Int32
			kinds := loopKinds(t)
			w := &worker.Worker{Store: store, MaxReceives: 5, Steps: countingSteps{Registry: kinds, calls: &calls}}
			if err := w.Execute(t.Context(), loopJob("run_1", map[string]any{"records": records(tc.items)}), 1); err != nil {
				t.Fatalf("Execute = %v, want nil: a list over the bound fails the Run for good", err)
			}
			r := mustRun(t, store, "run_1")
			if r.Status != run.Failed || r.Steps[0].Status != run.StepFailed {
				t.Fatalf("run = %s, step %s; want both failed", r.Status, r.Steps[0].Status)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.Error, want) || !strings.Contains(r.Steps[0].Error, want) {
					t.Errorf("run error %q, step error %q; want both to say %q", r.Error, r.Steps[0].Error, want)
				}
			}
			if n, m := len(tg.requests()), calls.Load(); n != 0 || m != 0 {
				t.Errorf("target got %d requests and the step kinds ran %d times, want none", n, m)
			}
			if data, _ := json.Marshal(r); len(data) > worker.MaxRunBytes {
				t.Errorf("recorded run is %d bytes, want at most %d", len(data), worker.MaxRunBytes)
			}
		})
	}
}

// countingSteps is the Registry, counting the steps it executes.
type countingSteps struct {
	step.Registry
	calls *atomic.Int32
}

func (c countingSteps) Execute(ctx context.Context, app, method string, input map[string]any) (any, int, error) {
	c.calls.Add(1)
	return c.Registry.Execute(ctx, app, method, input)
}

func TestALoopOverSomethingElseThanAListFailsForGood(t *testing.T) {
	for _, body := range []any{map[string]any{"records": map[string]any{"a": 1}}, map[string]any{}, map[string]any{"records": "a,b"}} {
		tg := newLoopTarget(t)
		_, store := MustStore(t)
		mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", nil, tg.URL+"/x")}})
		w := &worker.Worker{Store: store, MaxReceives: 5, Steps: loopKinds(t)}
		if err := w.Execute(t.Context(), loopJob("run_1", body), 1); err != nil {
			t.Fatalf("body %v: Execute = %v, want nil (failed for good)", body, err)
		}
		if r := mustRun(t, store, "run_1"); r.Status != run.Failed || !strings.Contains(r.Error, "input.forEach") || !strings.Contains(r.Error, "want a list") {
			t.Errorf("body %v: run = %s %q, want failed naming input.forEach", body, r.Status, r.Error)
		}
	}
}

// dyingStore is the store of a worker that is killed: once dead, nothing
// it writes lands, as when the process is gone.
type dyingStore struct {
	*bolt.Store
	dead atomic.Bool
	// dieAfter, when it returns true for a Run about to be written, lets
	// that write land and kills the store right after it.
	dieAfter func(r run.Run) bool
}

var errKilled = errors.New("the worker was killed")

func (d *dyingStore) UpdateRun(ctx context.Context, r run.Run) error {
	if d.dead.Load() {
		return errKilled
	}
	if err := d.Store.UpdateRun(ctx, r); err != nil {
		return err
	}
	if d.dieAfter != nil && d.dieAfter(r) {
		d.dead.Store(true)
		return errKilled
	}
	return nil
}

func (d *dyingStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if d.dead.Load() {
		return false, errKilled
	}
	return d.Store.AcquireLease(ctx, name, holder, ttl)
}

func (d *dyingStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if d.dead.Load() {
		return errKilled
	}
	return d.Store.ReleaseLease(ctx, name, holder)
}

// loopDone returns the items a loop step's record says are done.
func loopDone(r run.Run, id string) int {
	st, ok := r.Step(id)
	if !ok {
		return -1
	}
	m, _ := st.Output.(map[string]any)
	switch n := m["done"].(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return -1
}

// redeliver runs job on a fresh worker once the killed delivery's lease
// has run out, as SQS does once the message is visible again.
func redeliver(t *testing.T, w *worker.Worker, j run.Job) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := w.Execute(t.Context(), j, 2)
		if err == nil {
			return
		}
		if !errors.Is(err, worker.ErrRunClaimed) || time.Now().After(deadline) {
			t.Fatalf("redelivery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAKilledLoopResumesAtItsItem kills the worker in the middle of a loop
// of 5 items, and redelivers the Job to another worker once the dead one's
// lease is over. Killed right after the checkpoint of item 2, the loop
// resumes at item 2: every item reaches the target exactly once. Killed
// while item 2 is at the target (its answer lost), item 2 is sent again,
// with the same Idempotency-Key, and the record counts it interrupted; the
// items before it are never sent again.
func TestAKilledLoopResumesAtItsItem(t *testing.T) {
	for _, tc := range []struct {
		name          string
		killAtRequest bool // kill while item 2 is at the target, not after the checkpoint
		wantItem2     int
	}{
		{"after a checkpoint", false, 1},
		{"while an item is at the target", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newLoopTarget(t)
			_, store := MustStore(t)
			mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
				loopStep("{{ trigger.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}"),
				{ID: "after", App: "http", Method: "request", Input: map[string]any{"url": tg.URL + "/after/{{ steps.each.output.count }}"}},
			}})
			dying := &dyingStore{Store: store}
			if tc.killAtRequest {
				tg.answer = func(_ int, req loopRequest, _ http.ResponseWriter) bool {
					if req.Path == "/contacts/r2" {
						dying.dead.CompareAndSwap(false, true) // the worker dies while the app works
					}
					return false
				}
			} else {
				dying.dieAfter = func(r run.Run) bool { return loopDone(r, "each") == 2 }
			}
			j := loopJob("run_1", map[string]any{"records": records(5)})
			first := &worker.Worker{Store: dying, Lease: 300 * time.Millisecond, Steps: loopKinds(t)}
			if err := first.Execute(t.Context(), j, 1); err == nil {
				t.Fatal("the killed delivery returned nil, want an error (its message comes back)")
			}
			if r := mustRun(t, store, "run_1"); r.Status != run.Running || loopDone(r, "each") != 2 || r.Steps[0].Status != run.StepRunning {
				t.Fatalf("after the kill run = %s, loop %s with %d done; want running at item 2", r.Status, r.Steps[0].Status, loopDone(r, "each"))
			}
			redeliver(t, &worker.Worker{Store: store, Steps: loopKinds(t)}, j)

			for i := range 5 {
				want := 1
				if i == 2 {
					want = tc.wantItem2
				}
				if n := tg.count(fmt.Sprintf("/contacts/r%d", i)); n != want {
					t.Errorf("item %d reached the target %d times, want %d", i, n, want)
				}
			}
			keys := map[string]bool{}
			for _, req := range tg.requests() {
				if req.Path == "/contacts/r2" {
					keys[req.Key] = true
				}
			}
			if len(keys) != 1 || !keys[step.IdempotencyKey("run_1", "each/2")] {
				t.Errorf("item 2 sent Idempotency-Keys %v, want only its own key", keys)
			}
			if n := tg.count("/after/5"); n != 1 {
				t.Errorf("the step after the loop reached the target %d times with count 5, want once", n)
			}
			r := mustRun(t, store, "run_1")
			if r.Status != run.Succeeded || r.Deliveries != 2 {
				t.Fatalf("run = %s %q after %d deliveries, want succeeded after 2", r.Status, r.Error, r.Deliveries)
			}
			lp := r.Steps[0]
			items, _ := lp.Output.(map[string]any)["items"].([]any)
			if len(items) != 5 || lp.Output.(map[string]any)["count"] != float64(5) {
				t.Fatalf("loop output = %v, want the 5 answers and count 5", lp.Output)
			}
			for i, it := range items {
				if p := it.(map[string]any)["body"].(map[string]any)["path"]; p != fmt.Sprintf("/contacts/r%d", i) {
					t.Errorf("items[%d] answers %v, want /contacts/r%d", i, p, i)
				}
			}
			sent := 0
			for i := range 5 {
				sent += tg.count(fmt.Sprintf("/contacts/r%d", i))
			}
			if lp.Interrupted != 1 || lp.Attempts != sent+boolInt(!tc.killAtRequest) {
				t.Errorf("loop record: %d attempts, %d interrupted; want 1 interrupted and the %d requests sent counted (plus the one recorded before the kill, if it was never sent)", lp.Attempts, lp.Interrupted, sent)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAFailingItemFailsTheLoopAndItsRetryResumesThere: item 1 answers 503
// to every try of the first delivery, so the loop fails retryably naming
// item 1 and the Run waits for a retry; the redelivery resumes at item 1
// (item 0 is not sent again) with the same key as before, and the Run
// records every attempt.
func TestAFailingItemFailsTheLoopAndItsRetryResumesThere(t *testing.T) {
	tg := newLoopTarget(t)
	var busy atomic.Bool
	busy.Store(true)
	tg.answer = func(_ int, req loopRequest, w http.ResponseWriter) bool {
		if req.Path == "/contacts/r1" && busy.Load() {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", 10.0, tg.URL+"/contacts/{{ item.id }}")}})
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: loopKinds(t)}
	j := loopJob("run_1", map[string]any{"records": records(3)})
	err := w.Execute(t.Context(), j, 1)
	if err == nil || !strings.Contains(err.Error(), "item 1: ") {
		t.Fatalf("first delivery = %v, want a retryable error naming item 1", err)
	}
	r := mustRun(t, store, "run_1")
	if r.Status != run.Queued || r.Steps[0].Status != run.StepFailed || !strings.HasPrefix(r.Steps[0].Error, "item 1: ") || !strings.Contains(r.Steps[0].Error, "503") || loopDone(r, "each") != 1 {
		t.Fatalf("after the first delivery run = %s, step %s %q, %d done; want queued, the step failed at item 1 with the 503, 1 item done", r.Status, r.Steps[0].Status, r.Steps[0].Error, loopDone(r, "each"))
	}
	tries := tg.count("/contacts/r1")
	if tries != egress.DefaultMaxAttempts || r.Steps[0].Attempts != 1+tries {
		t.Fatalf("item 1 tried %d times, the step records %d attempts; want %d tries, and attempts counting item 0 and them", tries, r.Steps[0].Attempts, egress.DefaultMaxAttempts)
	}
	busy.Store(false)
	if err := w.Execute(t.Context(), j, 2); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	r = mustRun(t, store, "run_1")
	if r.Status != run.Succeeded || r.Steps[0].Attempts != 1+tries+2 || r.Steps[0].Interrupted != 0 {
		t.Fatalf("run = %s %q, loop attempts %d interrupted %d; want succeeded with %d attempts, none interrupted", r.Status, r.Error, r.Steps[0].Attempts, r.Steps[0].Interrupted, 1+tries+2)
	}
	if n0, n2 := tg.count("/contacts/r0"), tg.count("/contacts/r2"); n0 != 1 || n2 != 1 {
		t.Errorf("items 0 and 2 reached the target %d and %d times, want once each", n0, n2)
	}
	keys := map[string][]string{}
	for _, req := range tg.requests() {
		keys[req.Path] = append(keys[req.Path], req.Key)
	}
	for _, k := range keys["/contacts/r1"] {
		if k != step.IdempotencyKey("run_1", "each/1") {
			t.Errorf("item 1 sent Idempotency-Key %q on a retry, want its own key on every try and delivery", k)
		}
	}
	if keys["/contacts/r0"][0] == keys["/contacts/r1"][0] || keys["/contacts/r1"][0] == keys["/contacts/r2"][0] {
		t.Errorf("keys = %v, want a distinct key per item", keys)
	}
}

// TestAnItemRefusedForGoodFailsTheRunNamingIt: a 404 on item 1 fails the
// Run at once, saying which item; item 2 is never sent.
func TestAnItemRefusedForGoodFailsTheRunNamingIt(t *testing.T) {
	tg := newLoopTarget(t)
	tg.answer = func(_ int, req loopRequest, w http.ResponseWriter) bool {
		if req.Path == "/contacts/r1" {
			http.Error(w, `{"error":"no such contact"}`, http.StatusNotFound)
			return true
		}
		return false
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}")}})
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: loopKinds(t)}
	if err := w.Execute(t.Context(), loopJob("run_1", map[string]any{"records": records(3)}), 1); err != nil {
		t.Fatalf("Execute = %v, want nil: a 404 is the Run's outcome", err)
	}
	r := mustRun(t, store, "run_1")
	if r.Status != run.Failed || !strings.Contains(r.Error, `step "each" failed: item 1: `) || !strings.Contains(r.Error, "HTTP 404") {
		t.Errorf("run = %s %q, want failed naming item 1 and the 404", r.Status, r.Error)
	}
	if n := tg.count("/contacts/r2"); n != 0 {
		t.Errorf("item 2 reached the target %d times, want never", n)
	}
	if r.Steps[0].Attempts != 2 || loopDone(r, "each") != 1 {
		t.Errorf("loop record: %d attempts, %d done; want 2 attempts and item 0 done", r.Steps[0].Attempts, loopDone(r, "each"))
	}
}

// TestAFilterInALoopSkipsItsItem: an item the filter refuses has a null
// output, and the Run goes on.
func TestAFilterInALoopSkipsItsItem(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "each", App: "data", Method: "loop", Input: map[string]any{"forEach": "{{ trigger.body.leads }}",
			"step": map[string]any{"app": "data", "method": "filter", "input": map[string]any{"pass": "{{ item.score > 50 }}"}}}},
		{ID: "next", App: "data", Method: "set", Input: map[string]any{"fields": map[string]any{"n": "{{ steps.each.output.count }}"}}},
	}})
	w := &worker.Worker{Store: store, Steps: loopKinds(t)}
	body := map[string]any{"leads": []any{map[string]any{"score": 80}, map[string]any{"score": 10}, map[string]any{"score": 60}}}
	if err := w.Execute(t.Context(), loopJob("run_1", body), 1); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, store, "run_1")
	if r.Status != run.Succeeded || len(r.Steps) != 2 || r.Steps[1].Status != run.StepSucceeded {
		t.Fatalf("run = %s with steps %+v, want succeeded through the step after the loop", r.Status, r.Steps)
	}
	items, _ := r.Steps[0].Output.(map[string]any)["items"].([]any)
	if len(items) != 3 || items[1] != nil || items[0].(map[string]any)["passed"] != true || items[2].(map[string]any)["passed"] != true {
		t.Errorf("loop items = %v, want the two that passed and null for the one filtered out", items)
	}
}

// TestALargeLoopOutputIsRecordedTruncated: the items' outputs over the cap
// are recorded as the truncation marker with the count kept, while the
// step after the loop sees them whole.
func TestALargeLoopOutputIsRecordedTruncated(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "each", App: "data", Method: "loop", Input: map[string]any{"forEach": "{{ trigger.body.blobs }}",
			"step": map[string]any{"app": "data", "method": "set", "input": map[string]any{"fields": map[string]any{"blob": "{{ item }}"}}}}},
		{ID: "next", App: "data", Method: "set", Input: map[string]any{"fields": map[string]any{"n": "{{ len(steps.each.output.items[2].blob) }}"}}},
	}})
	w := &worker.Worker{Store: store, Steps: loopKinds(t)}
	blob := strings.Repeat("x", 30<<10)
	if err := w.Execute(t.Context(), loopJob("run_1", map[string]any{"blobs": []any{blob, blob, blob}}), 1); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, store, "run_1")
	out := r.Steps[0].Output.(map[string]any)
	marker, _ := out["items"].(map[string]any)
	if out["count"] != float64(3) || marker["truncated"] != true || len(marker["preview"].(string)) != 1024 {
		t.Errorf("recorded loop output = %.300v, want count 3 and the items as a truncated preview", out)
	}
	if got := r.Steps[1].Output.(map[string]any)["n"]; got != float64(len(blob)) {
		t.Errorf("the step after the loop saw an item of %v bytes, want the whole %d", got, len(blob))
	}
}

// TestATruncatedLoopProgressStillResumes: a loop whose items' outputs are
// too large to record resumes at its item after a kill; its count is kept.
func TestATruncatedLoopProgressStillResumes(t *testing.T) {
	tg := newLoopTarget(t)
	big := strings.Repeat("y", 40<<10)
	tg.answer = func(_ int, _ loopRequest, w http.ResponseWriter) bool {
		_, _ = io.WriteString(w, big) // answers too large to record together
		return true
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}")}})
	dying := &dyingStore{Store: store, dieAfter: func(r run.Run) bool { return loopDone(r, "each") == 3 }}
	j := loopJob("run_1", map[string]any{"records": records(4)})
	if err := (&worker.Worker{Store: dying, Lease: 300 * time.Millisecond, Steps: loopKinds(t)}).Execute(t.Context(), j, 1); err == nil {
		t.Fatal("the killed delivery returned nil, want an error")
	}
	redeliver(t, &worker.Worker{Store: store, Steps: loopKinds(t)}, j)
	for i := range 4 {
		if n := tg.count(fmt.Sprintf("/contacts/r%d", i)); n != 1 {
			t.Errorf("item %d reached the target %d times, want once", i, n)
		}
	}
	r := mustRun(t, store, "run_1")
	out, _ := r.Steps[0].Output.(map[string]any)
	if r.Status != run.Succeeded || out["count"] != float64(4) {
		t.Errorf("run = %s, loop output %.200v; want succeeded with count 4", r.Status, r.Steps[0].Output)
	}
}

// TestALoopInAnOversizedRunKeepsItsProgress: when the whole Run is over
// the record's limit and the loop's items are cut to make room, its
// progress stays, so a killed delivery still resumes at its item.
func TestALoopInAnOversizedRunKeepsItsProgress(t *testing.T) {
	tg := newLoopTarget(t)
	answer := strings.Repeat("z", 15<<10)
	tg.answer = func(_ int, _ loopRequest, w http.ResponseWriter) bool {
		_, _ = io.WriteString(w, answer)
		return true
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{loopStep("{{ trigger.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}")}})
	var biggest int
	dying := &dyingStore{Store: store, dieAfter: func(r run.Run) bool {
		data, _ := json.Marshal(r)
		biggest = max(biggest, len(data))
		return loopDone(r, "each") == 3
	}}
	// A 350 KiB trigger body: the Run cannot be recorded whole.
	j := loopJob("run_1", map[string]any{"records": records(4), "pad": strings.Repeat("é", 175<<10)})
	if err := (&worker.Worker{Store: dying, Lease: 300 * time.Millisecond, Steps: loopKinds(t)}).Execute(t.Context(), j, 1); err == nil {
		t.Fatal("the killed delivery returned nil, want an error")
	}
	if r := mustRun(t, store, "run_1"); loopDone(r, "each") != 3 {
		t.Fatalf("recorded loop output = %.300v, want its progress (3 done) kept", r.Steps[0].Output)
	}
	if biggest > worker.MaxRunBytes {
		t.Errorf("a checkpoint wrote %d bytes, want at most %d", biggest, worker.MaxRunBytes)
	}
	redeliver(t, &worker.Worker{Store: store, Steps: loopKinds(t)}, j)
	for i := range 4 {
		if n := tg.count(fmt.Sprintf("/contacts/r%d", i)); n != 1 {
			t.Errorf("item %d reached the target %d times, want once", i, n)
		}
	}
	if r := mustRun(t, store, "run_1"); r.Status != run.Succeeded || r.Steps[0].Output.(map[string]any)["count"] != float64(4) {
		t.Errorf("run = %s, loop output %.200v; want succeeded with count 4", r.Status, r.Steps[0].Output)
	}
}

// TestALoopUsesItsStepsConnection: the Connection a loop's step names is
// the one checked before any item: a broken one fails the Run at once,
// naming it, and no item is sent.
func TestALoopUsesItsStepsConnection(t *testing.T) {
	tg := newLoopTarget(t)
	_, store := MustStore(t)
	now := time.Now().UTC()
	if err := store.CreateConnection(t.Context(), connection.Connection{ID: "con_1", GroupID: "grp_a", Name: "CRM", App: "http", AuthType: "api_key",
		Status: connection.StatusBroken, StatusReason: "the API key was revoked", CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
		t.Fatal(err)
	}
	each := loopStep("{{ trigger.body.records }}", nil, tg.URL+"/contacts/{{ item.id }}")
	each.Input["step"].(map[string]any)["connectionId"] = "con_1"
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{each}})
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: loopKinds(t)}
	if err := w.Execute(t.Context(), loopJob("run_1", map[string]any{"records": records(3)}), 1); err != nil {
		t.Fatalf("Execute = %v, want the Run failed for good", err)
	}
	r := mustRun(t, store, "run_1")
	if r.Status != run.Failed || !strings.Contains(r.Error, `"CRM"`) || !strings.Contains(r.Error, "reconnect") {
		t.Errorf("run = %s %q, want failed naming the loop step's Connection and saying to reconnect", r.Status, r.Error)
	}
	if n := len(tg.requests()); n != 0 {
		t.Errorf("target got %d requests, want none", n)
	}
}
