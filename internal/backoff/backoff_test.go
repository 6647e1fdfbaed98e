package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"wiresk/internal/backoff"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: time.Minute}
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {1000, time.Minute}} {
		if got := p.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestDelayTakesOffUpToHalf(t *testing.T) {
	p := backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for n := 1; n <= 6; n++ {
		c := p.Ceiling(n)
		for range 50 {
			if got := p.Delay(n); got < c/2 || got > c {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, got, c/2, c)
			}
		}
	}
	if got := (backoff.Policy{}).Delay(3); got != 0 {
		t.Errorf("Delay of the zero Policy = %v, want 0", got)
	}
}

func TestSleepStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := backoff.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Sleep of a cancelled context took %v, want it to return at once", time.Since(start))
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v, want nil", err)
	}
}
