package ratelimit_test

import (
	"testing"
	"time"

	"wiresk/internal/ratelimit"
)

func TestGroupCapSaysWhenToRetry(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := &ratelimit.Limits{Group: 60}
	for i := range 60 {
		if ok, _, _ := l.Allow("grp_a", "", 0, now); !ok {
			t.Fatalf("Run %d of 60 in a minute refused", i+1)
		}
	}
	ok, scope, after := l.Allow("grp_a", "", 0, now)
	if ok || scope != "group" || after <= 0 || after > time.Second {
		t.Fatalf("Run 61 = %v %q, retry after %v; want refused by the group, retry within a second (60/min refills one a second)", ok, scope, after)
	}
	if ok, _, _ := l.Allow("grp_b", "", 0, now); !ok {
		t.Fatal("another Group was refused because of grp_a")
	}
	if ok, _, _ := l.Allow("grp_a", "", 0, now.Add(after)); !ok {
		t.Fatalf("grp_a refused after waiting the %v it was told", after)
	}
	var unlimited ratelimit.Limits
	for range 1000 {
		if ok, _, _ := unlimited.Allow("grp_a", "key_a", 0, now); !ok {
			t.Fatal("Limits without a cap refused a Run")
		}
	}
}

func TestKeyCapLeavesOtherKeysAndTheGroup(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := &ratelimit.Limits{Group: 20}
	for i := range 5 {
		if ok, _, _ := l.Allow("grp_a", "key_capped", 5, now); !ok {
			t.Fatalf("Run %d of the key's 5 refused", i+1)
		}
	}
	// Refused by the key, the Run takes nothing from the Group: the other
	// key still has the Group's 15 left.
	for range 10 {
		if ok, scope, after := l.Allow("grp_a", "key_capped", 5, now); ok || scope != "api_key" || after != 12*time.Second {
			t.Fatalf("the capped key's 6th Run = %v %q %v, want refused by the key, retry after 12 s", ok, scope, after)
		}
	}
	for i := range 15 {
		if ok, scope, _ := l.Allow("grp_a", "key_other", 0, now); !ok {
			t.Fatalf("the other key's Run %d refused by %q", i+1, scope)
		}
	}
	// Refused by the Group, a Run takes nothing from its key.
	if ok, scope, _ := l.Allow("grp_a", "key_third", 1, now); ok || scope != "group" {
		t.Fatalf("a Run past the Group's cap = %v %q, want refused by the group", ok, scope)
	}
	later := now.Add(time.Minute)
	if ok, _, _ := l.Allow("grp_a", "key_third", 1, later); !ok {
		t.Fatal("a key refused by its Group had lost its own allowance")
	}
	// A raised cap counts at once.
	if ok, _, _ := l.Allow("grp_b", "key_capped", 100, later); !ok {
		t.Fatal("a raised key cap did not count")
	}
}

func BenchmarkAllow(b *testing.B) {
	l := &ratelimit.Limits{Group: 1 << 30}
	now := time.Now()
	for b.Loop() {
		l.Allow("grp_a", "key_a", 1<<30, now)
	}
}
