package template_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/template"
)

// BenchmarkRenderText is a typical step input string.
func BenchmarkRenderText(b *testing.B) {
	tpl, err := template.Parse("https://crm.example/contacts/{{ steps.fetch.output.body.id }}/notes?name={{ upper(trigger.body.name) }}")
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderValue is a typical step input.
func BenchmarkRenderValue(b *testing.B) {
	v, err := template.Compile(map[string]any{
		"method": "POST",
		"url":    "https://crm.example/contacts/{{ steps.fetch.output.body.id }}",
		"body": map[string]any{
			"name":  "{{ trigger.body.name }}",
			"items": "{{ map(trigger.body.items, .name) }}",
			"total": "{{ trigger.body.total * 1.2 }}",
			"note":  "{{ join(trigger.body.tags, ', ') }} for {{ trigger.body.name }}",
		},
	}, template.URLField("url"))
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderLarge builds a 4 MiB string.
func BenchmarkRenderLarge(b *testing.B) {
	tpl, err := template.Parse(`{{ len(replace(repeat("ab", 1048576), "a", "aa")) }}`)
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConcurrentRenderMemory renders 80 amplifying templates at once,
// each close to the per-render limit, and reports the peak heap: bounded
// by the process budget, and without it (a budget larger than they need).
func BenchmarkConcurrentRenderMemory(b *testing.B) {
	tpl, err := template.Parse(`{{ len(replace(repeat("a", 6000000), "a", "aaa")) }}`)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		units int64
	}{{"default budget", template.DefaultProcessBudget}, {"64 MiB", 64 << 20}, {"unbounded", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			template.SetProcessBudget(bc.units)
			defer template.SetProcessBudget(0)
			var peak uint64
			var refused atomic.Int64
			for b.Loop() {
				runtime.GC()
				stop := make(chan struct{})
				sampled := make(chan struct{})
				go func() {
					defer close(sampled)
					var ms runtime.MemStats
					for {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapAlloc)
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				var wg sync.WaitGroup
				for range 80 {
					wg.Go(func() {
						if _, err := tpl.Render(nil); err != nil {
							refused.Add(1)
						}
					})
				}
				wg.Wait()
				close(stop)
				<-sampled
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
		})
	}
}
