// Package ratelimit provides the caps on Runs started by webhooks, per API
// key and per Group: a token bucket per key and per Group, held in the
// process's memory so that the hot path pays a map lookup under a mutex and
// no store round trip (a key's cap is on the key record the ingress reads
// anyway).
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

// maxTracked bounds the number of buckets; past it, buckets that are full
// again (their Group or key has been quiet) are dropped.
const maxTracked = 10000

// Buckets holds a token bucket per id, each refilling at its own rate a
// minute with a burst of as many. A bucket forgotten or created anew starts
// full, so dropping full buckets changes nothing. It is safe for concurrent
// use; the zero value is ready.
type Buckets struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	l         *rate.Limiter
	perMinute int
}

// Take takes one token from id's bucket of perMinute a minute at now
// (perMinute 0 or less: no cap). When none is left it returns false and how
// long until one is; otherwise undo puts the token back, for a caller that
// is refused by another limit after this one.
func (b *Buckets) Take(id string, perMinute int, now time.Time) (ok bool, retryAfter time.Duration, undo func()) {
	if perMinute <= 0 {
		return true, 0, func() {}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buckets == nil {
		b.buckets = make(map[string]*bucket)
	}
	bk := b.buckets[id]
	if bk != nil && bk.perMinute != perMinute {
		// The cap changed: the bucket keeps its tokens, at the new rate.
		bk.l.SetLimitAt(now, rate.Limit(float64(perMinute)/60))
		bk.l.SetBurstAt(now, perMinute)
		bk.perMinute = perMinute
	}
	if bk == nil {
		if len(b.buckets) >= maxTracked {
			b.dropFull(now)
		}
		bk = &bucket{l: rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute), perMinute: perMinute}
		b.buckets[id] = bk
	}
	r := bk.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, func() { r.CancelAt(now) }
}

// dropFull forgets the buckets that have refilled.
func (b *Buckets) dropFull(now time.Time) {
	for id, bk := range b.buckets {
		if bk.l.TokensAt(now) >= float64(bk.perMinute) {
			delete(b.buckets, id)
		}
	}
}

// Limits caps the Runs webhooks start per API key (the key's own cap) and
// per Group (Group, a minute): the ingress's limiter. The zero value allows
// everything. It is safe for concurrent use.
type Limits struct {
	// Group is the Runs each Group's webhooks may start a minute (0 or
	// less: no cap).
	Group  int
	keys   Buckets
	groups Buckets
}

// Allow takes one Run from keyID's allowance (keyPerMinute a minute; none
// for "" or 0) and then from groupID's, at now. When either has none left it
// takes from neither and returns false, which of them refused ("api_key" or
// "group"), and how long until a Run is allowed.
func (l *Limits) Allow(groupID, keyID string, keyPerMinute int, now time.Time) (ok bool, scope string, retryAfter time.Duration) {
	if l == nil {
		return true, "", 0
	}
	undoKey := func() {}
	if keyID != "" {
		var ok bool
		if ok, retryAfter, undoKey = l.keys.Take(keyID, keyPerMinute, now); !ok {
			return false, "api_key", retryAfter
		}
	}
	if ok, retryAfter, _ := l.groups.Take(groupID, l.Group, now); !ok {
		undoKey()
		return false, "group", retryAfter
	}
	return true, "", 0
}
