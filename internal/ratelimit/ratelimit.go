// Package ratelimit provides the per-Group cap on Runs started by webhooks:
// a token bucket per Group, held in the process's memory so that the hot
// path pays one map lookup under a mutex and no store round trip.
//
// On AWS every concurrent instance of the trigger function has its own
// buckets, so a Group can start up to the limit times the number of warm
// instances per minute; the trigger function's reserved concurrency bounds
// that product. Locally the one process holds the only buckets.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultPerMinute is the default cap on the Runs a Group's webhooks start
// a minute: far above what an integration sends (Zapier's own webhook cap
// is 20,000 per 5 minutes), far below what a runaway loop makes.
const DefaultPerMinute = 3000

// maxTracked bounds the number of Groups with a bucket; past it, buckets
// that are full again (their Group has been quiet) are dropped.
const maxTracked = 10000

// PerGroup allows each Group PerMinute Runs a minute, in bursts of up to
// PerMinute. The zero value, or a PerMinute of 0 or less, allows everything.
// It is safe for concurrent use.
type PerGroup struct {
	PerMinute int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// Allow takes one Run from groupID's allowance at now. When none is left it
// returns false and how long until one is.
func (p *PerGroup) Allow(groupID string, now time.Time) (ok bool, retryAfter time.Duration) {
	if p == nil || p.PerMinute <= 0 {
		return true, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buckets == nil {
		p.buckets = make(map[string]*rate.Limiter)
	}
	b := p.buckets[groupID]
	if b == nil {
		if len(p.buckets) >= maxTracked {
			p.dropFull(now)
		}
		b = rate.NewLimiter(rate.Limit(float64(p.PerMinute)/60), p.PerMinute)
		p.buckets[groupID] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// dropFull forgets the buckets that have refilled: a new bucket for their
// Group starts full, so nothing changes for it.
func (p *PerGroup) dropFull(now time.Time) {
	for id, b := range p.buckets {
		if b.TokensAt(now) >= float64(p.PerMinute) {
			delete(p.buckets, id)
		}
	}
}
