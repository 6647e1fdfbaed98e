package worker_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"wiresk/internal/bolt"
	"wiresk/internal/egress"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/worker"
)

// BenchmarkOneStepRuns measures how many one-step Runs a second the worker
// completes on the embedded store, with and without fsync (the local
// runner's default is fsync): each Run is created, leased, its HTTP step
// recorded before and after a real request to a loopback target, and
// finished. It reports runs/s; the target is at least 1,000.
func BenchmarkOneStepRuns(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"ok":true}`)
			}))
			b.Cleanup(target.Close)
			guard, err := egress.NewGuard("127.0.0.1")
			if err != nil {
				b.Fatal(err)
			}
			db, err := bolt.Open(b.TempDir(), bolt.Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			store, err := bolt.NewStore(db)
			if err != nil {
				b.Fatal(err)
			}
			f := flow.Flow{ID: "flw_1", GroupID: "grp_a", Name: "bench", Version: 1, Enabled: true, Steps: []flow.Step{
				{ID: "call", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": target.URL + "/items", "body": "{{ trigger.body }}"}}}}
			if err := store.CreateFlow(b.Context(), f); err != nil {
				b.Fatal(err)
			}
			w := &worker.Worker{Store: store, Steps: step.NewRegistry(&step.HTTP{Engine: egress.Engine{Guard: guard}})}
			var n, failed atomic.Int64
			// The local runner runs 8 batches of 10 jobs at once by default:
			// 80 Runs in flight, whose writes the store commits in groups.
			b.SetParallelism(max(1, 80/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("run_%d", n.Add(1))
					if err := w.Execute(b.Context(), job(id), 1); err != nil {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d of %d Runs failed", failed.Load(), n.Load())
			}
			r, err := store.GetRun(b.Context(), "grp_a", "run_1")
			if err != nil || r.Status != run.Succeeded {
				b.Fatalf("run_1: %v, status %q; want succeeded", err, r.Status)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
		})
	}
}
