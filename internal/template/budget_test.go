package template_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// amplifiers are templates that each build a few MiB from a short source.
var amplifiers = []struct{ src, want string }{
	{`{{ len(repeat("ab", 1500000)) }}`, "3000000"},
	{`{{ len(replace(repeat("a", 1000000), "a", "xyz")) }}`, "3000000"},
	{`n={{ len(repeat("abc", 1000000) + repeat("d", 500000)) }}`, "n=3500000"},
}

// TestPoolBoundsConcurrentRenders renders amplifying templates from many
// goroutines against a pool that fits a few of them at once: the units
// reserved never exceed the pool, the renders over it fail with the
// pool's error, and everything is given back.
func TestPoolBoundsConcurrentRenders(t *testing.T) {
	const limit = 12 << 20
	pool := template.NewPool(limit)
	var mu sync.Mutex
	var ok, refused int
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		a := amplifiers[i%len(amplifiers)]
		tpl := mustParse(t, a.src)
		wg.Go(func() {
			<-start
			got, err := tpl.RenderIn(pool, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && fmt.Sprint(got) == a.want:
				ok++
			case err == nil:
				t.Errorf("Render(%q) = %v, want %s", a.src, got, a.want)
			case wiresk.ErrorCode(err) == wiresk.EUnavailable && strings.Contains(err.Error(), "rendered at once in this process need more memory than its 12 MiB budget"):
				refused++
			default:
				t.Errorf("Render(%q) error = %v, want the pool's unavailable error", a.src, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := pool.Peak(); got > limit {
		t.Errorf("peak reserved = %d units, want at most %d", got, limit)
	}
	if got := pool.Used(); got != 0 {
		t.Errorf("reserved after all renders ended = %d units, want 0", got)
	}
	t.Logf("%d renders succeeded, %d refused; peak %d units", ok, refused, pool.Peak())
	if ok == 0 || refused == 0 {
		t.Errorf("%d renders succeeded and %d were refused; want some of each", ok, refused)
	}
}

// A render that needs more than the whole pool fails, whatever else runs.
func TestPoolRefusesRender(t *testing.T) {
	pool := template.NewPool(1 << 20)
	_, err := mustParse(t, `{{ len(repeat("ab", 1000000)) }}`).RenderIn(pool, nil)
	if wiresk.ErrorCode(err) != wiresk.EUnavailable || !strings.Contains(err.Error(), "1 MiB budget for rendering; try again later") {
		t.Errorf("error = %v, want unavailable: 1 MiB budget for rendering", err)
	}
	if pool.Used() != 0 {
		t.Errorf("reserved = %d units after the render, want 0", pool.Used())
	}
	// Small renders still get through.
	if got, err := mustParse(t, `{{ upper("ok") }}`).RenderIn(pool, nil); err != nil || got != "OK" {
		t.Errorf("small render = %v, %v; want OK", got, err)
	}
}

// TestProcessBudget shrinks the process budget that every render draws on.
func TestProcessBudget(t *testing.T) {
	template.SetProcessBudget(2 << 20)
	t.Cleanup(func() { template.SetProcessBudget(0) })
	v, err := template.Compile(map[string]any{"a": `{{ len(repeat("ab", 1500000)) }}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Render(nil)
	if wiresk.ErrorCode(err) != wiresk.EUnavailable || wiresk.ErrorField(err) != "a" || !strings.Contains(err.Error(), "2 MiB budget for rendering") {
		t.Errorf("error = %v, want unavailable at field a: 2 MiB budget", err)
	}
	if got := template.ProcessBudget().Used(); got != 0 {
		t.Errorf("process budget reserved = %d units after the render, want 0", got)
	}
	template.SetProcessBudget(0)
	if got := template.ProcessBudget().Limit(); got != template.DefaultProcessBudget {
		t.Errorf("process budget after reset = %d, want %d", got, template.DefaultProcessBudget)
	}
}

// TestRunBudget renders the steps of one Run against its budget: the units
// they use add up, and the render that goes over fails for good.
func TestRunBudget(t *testing.T) {
	run := template.NewRunBudget(10 << 20)
	v, err := template.Compile(map[string]any{"n": `{{ len(repeat("ab", 1500000)) }}`})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := template.ParseCondition(`len(repeat("x", 10)) == 10`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for n = 0; n < 10; n++ {
		if ok, err := cond.EvalIn(run, nil); err != nil || !ok {
			t.Fatalf("condition %d = %v, %v", n, ok, err)
		}
		if _, err = v.RenderIn(run, nil); err != nil {
			break
		}
	}
	if n == 0 || n > 3 {
		t.Errorf("%d renders of 3 MiB fitted in a 10 MiB Run budget, want 1 to 3", n)
	}
	if wiresk.ErrorCode(err) != wiresk.EValidation || !strings.Contains(err.Error(), "the templates of this Run need more memory or work in all than a Run may use (10 Mi units)") {
		t.Errorf("error = %v, want the Run budget's error", err)
	}
	if got := run.Used(); got < int64(n)*3000000 || got > run.Limit() {
		t.Errorf("Run budget used = %d, want at least %d and at most %d", got, n*3000000, run.Limit())
	}
	if got := template.ProcessBudget().Used(); got != 0 {
		t.Errorf("process budget reserved = %d units after the renders, want 0", got)
	}
}

func TestParseMemoryEnv(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", template.DefaultProcessBudget, true},
		{"64", 64 << 20, true},
		{" 200 ", 200 << 20, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"65537", 0, false},
	} {
		got, err := template.ParseMemoryEnv(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMemoryEnv(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
