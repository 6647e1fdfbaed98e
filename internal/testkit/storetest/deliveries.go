package storetest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"wiresk/internal/egress"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/worker"
)

// testDuplicateDeliveries delivers one Run's Job several times at once, as
// SQS may and as Idempotency-Key retries of a webhook do, and asserts that
// the target gets each step exactly once: the Run has one owner at a time,
// and the other deliveries come back later (ErrRunClaimed) instead of
// running its pending step again.
func testDuplicateDeliveries(t *testing.T, s Store) {
	ctx := t.Context()
	var mu sync.Mutex
	calls := map[string]int{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for the deliveries to overlap
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(target.Close)
	guard, err := egress.NewGuard("127.0.0.1/32")
	must(t, err)
	f := flow.Flow{ID: "flw_dup", GroupID: "grp_a", Name: "duplicates", Version: 1, Enabled: true, Steps: []flow.Step{
		{ID: "a", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/a"}},
		{ID: "b", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/b"}},
		{ID: "c", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/c"}},
	}}
	must(t, s.CreateFlow(ctx, f))
	w := &worker.Worker{Store: s, MaxReceives: 1000, Steps: step.Registry{"http": {"request": &step.HTTP{Engine: egress.Engine{Guard: guard}}}}}
	job := run.Job{RunID: "run_dup", GroupID: "grp_a", FlowID: f.ID, Mode: run.ModeWebhook, ReceivedAt: t0,
		Request: run.Request{Method: "POST", Headers: map[string]string{}, Query: map[string]string{}}}

	const deliveries = 6
	var wg sync.WaitGroup
	backedOff := make([]int, deliveries)
	for d := range deliveries {
		wg.Go(func() {
			for receive := 1; ; receive++ {
				err := w.Execute(ctx, job, receive)
				if err == nil {
					return
				}
				if !errors.Is(err, worker.ErrRunClaimed) {
					t.Errorf("delivery %d: %v", d, err)
					return
				}
				backedOff[d]++
				time.Sleep(5 * time.Millisecond) // the message comes back later
			}
		})
	}
	wg.Wait()
	for _, p := range []string{"/a", "/b", "/c"} {
		if calls[p] != 1 {
			t.Errorf("step %s reached the target %d times over %d concurrent deliveries, want exactly once", p, calls[p], deliveries)
		}
	}
	got, err := s.GetRun(ctx, "grp_a", "run_dup")
	must(t, err)
	if got.Status != run.Succeeded || len(got.Steps) != 3 {
		t.Fatalf("run = %s with %d steps, want succeeded with 3", got.Status, len(got.Steps))
	}
	for _, st := range got.Steps {
		if st.Attempts != 1 || st.Interrupted != 0 {
			t.Errorf("step %s recorded %d attempts, %d interrupted; want 1, 0", st.ID, st.Attempts, st.Interrupted)
		}
	}
	total := 0
	for _, n := range backedOff {
		total += n
	}
	if total == 0 {
		t.Errorf("no delivery found the Run held: the deliveries did not overlap, so the test proved nothing")
	}
}
