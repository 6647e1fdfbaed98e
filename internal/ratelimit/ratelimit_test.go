package ratelimit_test

import (
	"testing"
	"time"

	"wiresk/internal/ratelimit"
)

func TestPerGroupCapsEachGroupAndSaysWhenToRetry(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := &ratelimit.PerGroup{PerMinute: 60}
	for i := range 60 {
		if ok, _ := l.Allow("grp_a", now); !ok {
			t.Fatalf("Run %d of 60 in a minute refused", i+1)
		}
	}
	ok, after := l.Allow("grp_a", now)
	if ok || after <= 0 || after > time.Second {
		t.Fatalf("Run 61 = %v, retry after %v; want refused, retry within a second (60/min refills one a second)", ok, after)
	}
	if ok, _ := l.Allow("grp_b", now); !ok {
		t.Fatal("another Group was refused because of grp_a")
	}
	if ok, _ := l.Allow("grp_a", now.Add(after)); !ok {
		t.Fatalf("grp_a refused after waiting the %v it was told", after)
	}
	var unlimited ratelimit.PerGroup
	for range 1000 {
		if ok, _ := unlimited.Allow("grp_a", now); !ok {
			t.Fatal("a PerGroup without a limit refused a Run")
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	l := &ratelimit.PerGroup{PerMinute: 1 << 30}
	now := time.Now()
	for b.Loop() {
		l.Allow("grp_a", now)
	}
}
