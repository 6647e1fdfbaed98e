// Package backoff computes the waits between the tries of anything worth
// retrying: the one exponential backoff of the code base. The outbound HTTP
// engine (package egress) waits with it between tries of a request; the
// stores wait with it between conditional writes that lost a race
// (dynamo), the token source and the Connection service between tries of a
// refresh lease, the queue pump between failed receives, and the queues
// compute their redelivery delay from it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: Base before the first retry, doubled
// for every further one, capped at Max.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Ceiling returns the wait before retry number n (1 for the first), without
// jitter: Base doubled n-1 times, capped at Max. It serves where the wait
// must be predictable, such as a queue's redelivery delay.
func (p Policy) Ceiling(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Delay returns the wait before retry number n (1 for the first): the
// Ceiling of n, of which a random part of up to half is taken off, so that
// clients that failed together do not retry together.
func (p Policy) Delay(n int) time.Duration {
	d := p.Ceiling(n)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits d, or less when ctx ends first; it returns ctx.Err() then,
// nil otherwise.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
