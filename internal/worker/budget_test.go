package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/template"
	"wiresk/internal/worker"
)

// amplifier is a step input that builds 30 MB from a short template: under
// the limit of one render, but eight of them fill a Run's budget.
var amplifier = map[string]any{"n": `{{ len(repeat("x", 30000000)) }}`}

// TestRunBudgetFailsAnAmplifyingFlow runs a Flow whose every step renders
// close to the per-render limit: the Run fails, at the step that goes over
// its budget, with an error that says so, and the later steps never run.
func TestRunBudgetFailsAnAmplifyingFlow(t *testing.T) {
	_, store := MustStore(t)
	var fl []flow.Step
	for i := range 12 {
		fl = append(fl, flow.Step{ID: fmt.Sprintf("s%d", i), App: "test", Method: "x", Input: amplifier})
	}
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: fl})
	var calls atomic.Int32
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: steps{exec: func(_ context.Context, _ string, in map[string]any) (any, int, error) {
		calls.Add(1)
		return in["n"], 1, nil
	}}}
	// Over the Run's budget is the Run's outcome on the first delivery:
	// nothing to redeliver.
	if err := w.Execute(t.Context(), job("run_amp"), 1); err != nil {
		t.Fatalf("Execute = %v, want nil: the Run fails for good", err)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_amp")
	if err != nil {
		t.Fatal(err)
	}
	const want = "the templates of this Run need more memory or work in all than a Run may use"
	if r.Status != run.Failed || !strings.Contains(r.Error, want) {
		t.Fatalf("run = %s %q, want failed: %s", r.Status, r.Error, want)
	}
	last := r.Steps[len(r.Steps)-1]
	if n := int(calls.Load()); n < 1 || n > 8 || len(r.Steps) != n+1 || last.Status != run.StepFailed || !strings.HasPrefix(last.Error, "input: validation_failed: n: ") {
		t.Errorf("%d steps executed, %d recorded, last %s %q; want up to 8 executed, then one failed at its input", n, len(r.Steps), last.Status, last.Error)
	}
	if got := template.ProcessBudget().Used(); got != 0 {
		t.Errorf("process budget still reserved after the Run: %d units", got)
	}
}

// TestProcessBudgetFailureIsRetried renders while the process budget is
// exhausted (here: smaller than one render): the step fails, the Run is
// queued to be retried, and a later delivery succeeds.
func TestProcessBudgetFailureIsRetried(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{{ID: "amp", App: "test", Method: "x", Input: amplifier}}})
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: steps{exec: func(_ context.Context, _ string, in map[string]any) (any, int, error) {
		return in["n"], 1, nil
	}}}
	template.SetProcessBudget(16 << 20)
	t.Cleanup(func() { template.SetProcessBudget(0) })
	if err := w.Execute(t.Context(), job("run_busy"), 1); err == nil {
		t.Fatal("first delivery: want an error so the job is redelivered")
	}
	r, _ := store.GetRun(t.Context(), "grp_a", "run_busy")
	if r.Status != run.Queued || !strings.Contains(r.Error, "rendered at once in this process need more memory than its 16 MiB budget") || !strings.Contains(r.Error, "will retry") {
		t.Fatalf("run = %s %q, want queued for retry, naming the process budget", r.Status, r.Error)
	}
	template.SetProcessBudget(0)
	if err := w.Execute(t.Context(), job("run_busy"), 2); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	r, _ = store.GetRun(t.Context(), "grp_a", "run_busy")
	if r.Status != run.Succeeded || r.Steps[0].Output != float64(30000000) {
		t.Fatalf("run = %s, output %v; want succeeded with 30000000", r.Status, r.Steps[0].Output)
	}
}
