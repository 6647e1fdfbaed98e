package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestADeadJobIsListedAndRedriven: a job whose every delivery dies (the
// worker is killed while its step is at the target, with
// WIRESK_MAX_RECEIVES=2) lands in the dead letters, with its Run still
// running; the management API lists it with its reason; once the cause is
// gone, the redrive sends it back and its Run succeeds where it stopped.
func TestADeadJobIsListedAndRedriven(t *testing.T) {
	dir := t.TempDir()
	env := []string{"WIRESK_MAX_RECEIVES=2", "WIRESK_VISIBILITY_TIMEOUT=2s"}
	var mu sync.Mutex
	var current *runner
	fixed, calls := false, 0
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		calls++
		kill, r := !fixed, current
		mu.Unlock()
		if kill {
			r.Kill() // the worker dies with the request at the target
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(tg.Close)
	start := func() *runner {
		r := startRunner(t, dir, true, env...)
		mu.Lock()
		current = r
		mu.Unlock()
		return r
	}

	r := start()
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Sync", "steps": []any{
		map[string]any{"id": "sync", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": tg.URL + "/sync", "body": map[string]any{}}}}}, &f)
	var tr struct{ ID, URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{"secret":"do-not-show"}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	// Each delivery kills the runner it runs in (a delivery may also find
	// the Run still leased by the one killed before it, and back off):
	// start it again until the job is dead.
	type deadJob struct {
		ID, RunID, FlowID, TriggerID, Mode, Reason, RunStatus string
		ReceiveCount                                          int
		Body                                                  struct {
			Bytes       int
			ContentType string
		}
	}
	var list struct{ DeadJobs []deadJob }
	deadline := time.Now().Add(60 * time.Second)
	for len(list.DeadJobs) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead job after 60 s")
		}
		select {
		case <-r.done:
			r = start()
			continue
		case <-time.After(100 * time.Millisecond):
		}
		list.DeadJobs = nil
		_ = tryGet(r, "/v1/groups/grp_dev/dead-jobs", &list)
	}
	if got := len(list.DeadJobs); got != 1 {
		t.Fatalf("dead jobs = %+v, want 1", list.DeadJobs)
	}
	d := list.DeadJobs[0]
	if d.RunID != runID || d.FlowID != f.ID || d.TriggerID != tr.ID || d.Mode != "webhook" || d.ReceiveCount != 2 || d.RunStatus != "running" {
		t.Errorf("dead job = %+v, want Run %s of flow %s, trigger %s, webhook, 2 receives, running", d, runID, f.ID, tr.ID)
	}
	if want := "received 2 times without being deleted; the Run is running"; !strings.HasPrefix(d.Reason, want) {
		t.Errorf("reason = %q, want it to start %q", d.Reason, want)
	}
	if d.Body.Bytes != len(`{"secret":"do-not-show"}`) || d.Body.ContentType != "application/json" {
		t.Errorf("body = %+v, want its size and content type only", d.Body)
	}
	var raw json.RawMessage
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/dead-jobs", nil, &raw)
	if strings.Contains(string(raw), "do-not-show") {
		t.Errorf("the listing shows the webhook's body: %s", raw)
	}

	// The cause is gone: the target answers, and the job is redriven, once
	// the killed delivery's hold on the Run has lapsed (its lease is its
	// deadline, the 2 s visibility, plus 5 s; a redriven job that found the
	// Run still held would back off, and die again after 2 receives).
	time.Sleep(7 * time.Second)
	mu.Lock()
	fixed = true
	mu.Unlock()
	var res struct {
		Redriven []struct{ ID, RunID string }
		NotFound []string
	}
	r.mustCall(t, 200, "POST", "/v1/groups/grp_dev/dead-jobs/redrive", map[string]any{"ids": []string{d.ID}}, &res)
	if len(res.Redriven) != 1 || res.Redriven[0].ID != d.ID || res.Redriven[0].RunID != runID || len(res.NotFound) != 0 {
		t.Fatalf("redrive = %+v, want %s redriven", res, d.ID)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runner output:\n%s", r.Output())
		}
	})
	run := r.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || len(run.Steps) != 1 {
		t.Fatalf("run after the redrive = %+v, want succeeded", run)
	}
	mu.Lock()
	n := calls
	mu.Unlock()
	if st := run.Steps[0]; n < 2 || st.Attempts != n || st.Interrupted != n-1 {
		t.Errorf("step recorded %d attempts, %d interrupted, the target got %d calls; want one attempt a call, all but the last interrupted", st.Attempts, st.Interrupted, n)
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/dead-jobs", nil, &list)
	if len(list.DeadJobs) != 0 {
		t.Errorf("dead jobs after the redrive = %+v, want none", list.DeadJobs)
	}
}

// tryGet is a GET of the management API that fails softly (the runner may
// be dying): it reports whether a 200 answer was decoded into out.
func tryGet(r *runner, path string, out any) bool {
	req, err := http.NewRequest("GET", r.URL+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(out) == nil
}

// TestAFailedDeadJobIsRedrivenToSuccess: the common death. The target
// answers 503 to every try of the job's last delivery, which fails the
// Run; once it is fixed, a redrive reopens the failed Run, and the worker
// goes on from its failed step to success.
func TestAFailedDeadJobIsRedrivenToSuccess(t *testing.T) {
	var mu sync.Mutex
	fixed := false
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		ok := fixed
		mu.Unlock()
		if !ok {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(tg.Close)
	r := startRunner(t, t.TempDir(), true, "WIRESK_MAX_RECEIVES=1")
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Sync", "steps": []any{
		map[string]any{"id": "sync", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": tg.URL + "/sync", "body": map[string]any{}}}}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{"n":1}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	if v := r.waitRun(t, "grp_dev", runID); v.Status != "failed" {
		t.Fatalf("Run on a target down = %+v, want failed", v)
	}
	var list struct {
		DeadJobs []struct{ ID, RunID, RunStatus, Reason string }
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(list.DeadJobs) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/dead-jobs", nil, &list)
	}
	if len(list.DeadJobs) != 1 || list.DeadJobs[0].RunID != runID || list.DeadJobs[0].RunStatus != "failed" || strings.Contains(list.DeadJobs[0].Reason, "replay") {
		t.Fatalf("dead jobs = %+v, want the failed Run's job, with no hint to replay", list.DeadJobs)
	}
	mu.Lock()
	fixed = true
	mu.Unlock()
	r.mustCall(t, 200, "POST", "/v1/groups/grp_dev/dead-jobs/redrive", map[string]any{"all": true}, nil)
	deadline = time.Now().Add(20 * time.Second)
	var v runView
	for time.Now().Before(deadline) {
		v = runView{}
		if r.call(t, "GET", "/v1/groups/grp_dev/runs/"+runID, nil, &v) == 200 && v.Status == "succeeded" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v.Status != "succeeded" || len(v.Steps) != 1 || v.Steps[0].Status != "succeeded" {
		t.Fatalf("the redriven Run = %+v, want succeeded", v)
	}
}
