// Package schedule provides the schedule expressions of schedule triggers
// as Amazon EventBridge Scheduler reads them (rate(), cron() and at(), in an
// IANA time zone), so that the local runner fires when AWS would.
//
// Daylight saving time follows EventBridge Scheduler: a cron time that does
// not exist (the hour skipped in spring) is skipped; a time that happens
// twice (the hour repeated in autumn) fires once, at its first occurrence.
// A rate counts absolute time from the schedule's start ("rate(1 days)" is
// every 24 hours, whatever the clocks do).
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is the error class of an expression or time zone that cannot
// be used; the message says which part and why.
var ErrInvalid = errors.New("invalid schedule")

// MaxRate bounds a rate's interval. EventBridge Scheduler documents no
// maximum; ten years keeps the arithmetic far from overflow.
const MaxRate = 10 * 365 * 24 * time.Hour

// lastYear is the last year a cron expression can name (EventBridge's
// 1970–2199).
const lastYear = 2199

// Schedule is a parsed expression in its time zone.
type Schedule struct {
	expr  string
	loc   *time.Location
	rate  time.Duration // rate(): the interval
	start time.Time     // rate(): the first fire
	at    time.Time     // at(): the one fire
	cron  *cron
}

// Parse parses expr ("rate(5 minutes)", "cron(0 9 ? * MON-FRI *)",
// "at(2027-01-01T09:00:00)") in the IANA zone ("" is UTC). start is when a
// rate schedule first fires (EventBridge's StartDate; the creation time when
// it has none); cron and at ignore it. A cron expression that can never fire
// after start (31 February) is refused.
func Parse(expr, zone string, start time.Time) (*Schedule, error) {
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return nil, fmt.Errorf("%w: time zone %q is not an IANA zone name such as Europe/Paris", ErrInvalid, zone)
		}
		loc = l
	}
	s := &Schedule{expr: expr, loc: loc}
	kind, body, ok := strings.Cut(expr, "(")
	if !ok || !strings.HasSuffix(body, ")") {
		return nil, fmt.Errorf("%w: %q is not rate(...), cron(...) or at(...)", ErrInvalid, expr)
	}
	body = strings.TrimSuffix(body, ")")
	var err error
	switch kind {
	case "rate":
		s.rate, err = parseRate(body)
		s.start = start.Truncate(time.Second)
	case "cron":
		s.cron, err = parseCron(body)
		if err == nil {
			if _, ok := s.Next(start); !ok {
				err = fmt.Errorf("%w: cron(%s) never fires after %s", ErrInvalid, body, start.In(loc).Format(time.RFC3339))
			}
		}
	case "at":
		s.at, err = time.ParseInLocation("2006-01-02T15:04:05", body, loc)
		if err != nil {
			err = fmt.Errorf("%w: at(%s): want at(yyyy-mm-ddThh:mm:ss)", ErrInvalid, body)
		}
	default:
		err = fmt.Errorf("%w: %q is not rate(...), cron(...) or at(...)", ErrInvalid, expr)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// String returns the expression as given.
func (s *Schedule) String() string { return s.expr }

// Location returns the time zone the expression is read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first fire time strictly after t, and false when there
// is none (an at() in the past, a cron whose years are over).
func (s *Schedule) Next(t time.Time) (time.Time, bool) {
	switch {
	case s.rate > 0:
		if t.Before(s.start) {
			return s.start, true
		}
		// In whole seconds: a time.Duration overflows past 292 years.
		step := int64(s.rate / time.Second)
		n := (t.Unix()-s.start.Unix())/step + 1
		return time.Unix(s.start.Unix()+n*step, 0).In(s.loc), true
	case s.cron != nil:
		return s.cron.next(t, s.loc)
	default:
		return s.at, s.at.After(t)
	}
}

// Upcoming returns the next n fire times after t (fewer when the schedule
// ends), for showing users when a trigger will fire.
func (s *Schedule) Upcoming(t time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		next, ok := s.Next(t)
		if !ok {
			break
		}
		out = append(out, next)
		t = next
	}
	return out
}

// rateUnits are the units of rate(value unit).
var rateUnits = map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}

// parseRate parses "value unit": a positive whole number of minutes, hours
// or days ("1 minute", "5 minutes").
func parseRate(body string) (time.Duration, error) {
	v, unit, ok := strings.Cut(strings.TrimSpace(body), " ")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 {
		return 0, fmt.Errorf("%w: rate(%s): want rate(value unit) with a positive whole value", ErrInvalid, body)
	}
	d, ok := rateUnits[strings.TrimSpace(unit)]
	if !ok {
		return 0, fmt.Errorf("%w: rate(%s): the unit is minutes, hours or days", ErrInvalid, body)
	}
	// AWS asks for the singular with 1 and the plural otherwise; both are
	// taken here, since the meaning is plain.
	if time.Duration(n) > MaxRate/d {
		return 0, fmt.Errorf("%w: rate(%s): at most %d days", ErrInvalid, body, MaxRate/(24*time.Hour))
	}
	return time.Duration(n) * d, nil
}

// Due returns the fire times in (last, now] that a scheduler which last
// fired at last should fire now, oldest first, and how many it skips. A
// scheduler that was down (the local runner stopped) catches up on at most
// max of the times it missed, the latest ones; the older ones are skipped,
// so a week offline does not start a week of Runs at once. max < 1 is 1.
func (s *Schedule) Due(last, now time.Time, max int) (fires []time.Time, skipped int) {
	if max < 1 {
		max = 1
	}
	for t := last; ; {
		next, ok := s.Next(t)
		if !ok || next.After(now) {
			break
		}
		if len(fires) == max {
			fires = append(fires[1:], next)
			skipped++
		} else {
			fires = append(fires, next)
		}
		t = next
	}
	return fires, skipped
}
