package schedule

import (
	"context"
	"log/slog"
	"time"
)

// Clock is a Scheduler's time source; the zero Scheduler uses the system's.
type Clock interface {
	Now() time.Time
	// After delivers a value once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Entry is one schedule a Scheduler keeps: its trigger's id, its
// expression and when it last fired (for one that never has: when it was
// created or enabled, so that it does not fire for the time before).
type Entry struct {
	ID       string
	Schedule *Schedule
	Last     time.Time
}

// Scheduler fires schedules where nothing else does (the local runner; on
// AWS, EventBridge Scheduler fires them). Each pass reads the entries,
// fires what is due and sleeps until the next fire time, or Poll at most,
// so new and changed schedules are seen.
type Scheduler struct {
	// Entries returns the schedules to keep, with their last fires.
	Entries func(ctx context.Context) ([]Entry, error)
	// Fire starts what e's trigger starts, for the fire time at, and
	// records at as e's last fire. An error leaves the time to the next
	// pass, which fires it again.
	Fire func(ctx context.Context, e Entry, at time.Time) error
	// CatchUp is how many missed fire times a schedule fires after the
	// scheduler was down (see Schedule.Due); 0 is 1.
	CatchUp int
	// Poll bounds a sleep; 0 is a minute.
	Poll time.Duration
	// Retry is the wait before a failed fire is tried again; 0 is 30 s.
	Retry time.Duration
	// Wake, when it delivers, ends a sleep early: schedules changed.
	Wake   <-chan struct{}
	Clock  Clock
	Logger *slog.Logger
}

// Pass fires every entry's due times once and returns when the next one
// is due (the zero time when none is).
func (s *Scheduler) Pass(ctx context.Context) (time.Time, error) {
	entries, err := s.Entries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := s.clock().Now()
	var earliest time.Time
	for _, e := range entries {
		fires, skipped := e.Schedule.Due(e.Last, now, s.CatchUp)
		if skipped > 0 {
			s.logger().WarnContext(ctx, "schedule missed fire times while the runner was down; skipped the oldest",
				"trigger", e.ID, "skipped", skipped, "fired", len(fires))
		}
		last := e.Last
		for _, at := range fires {
			if err := s.Fire(ctx, e, at); err != nil {
				s.logger().ErrorContext(ctx, "schedule fire", "trigger", e.ID, "at", at, "err", err)
				break
			}
			last = at
		}
		if next, ok := e.Schedule.Next(last); ok && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest, nil
}

// Run makes passes until ctx ends, and returns ctx's error.
func (s *Scheduler) Run(ctx context.Context) error {
	poll := s.Poll
	if poll <= 0 {
		poll = time.Minute
	}
	for {
		next, err := s.Pass(ctx)
		if err != nil {
			s.logger().ErrorContext(ctx, "schedule pass", "err", err)
		}
		wait := poll
		if !next.IsZero() {
			wait = min(poll, next.Sub(s.clock().Now()))
		}
		if wait <= 0 { // a fire failed and is still due
			wait = s.Retry
			if wait <= 0 {
				wait = 30 * time.Second
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock().After(wait):
		case <-s.Wake:
		}
	}
}

func (s *Scheduler) clock() Clock {
	if s.Clock == nil {
		return systemClock{}
	}
	return s.Clock
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
