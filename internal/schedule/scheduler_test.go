package schedule_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"wiresk/internal/schedule"
)

// fakeClock is a Clock whose time moves only when the test's After is
// waited on: each wait jumps straight to its end.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	// stop ends the run once the clock passes it.
	stop   time.Time
	cancel context.CancelFunc
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.Add(d).After(c.stop) {
		// The run ends here: the wait never ends, so Run sees only ctx.
		c.cancel()
		return nil
	}
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// firedBy runs a Scheduler over one entry from `from` until `until` on the
// fake clock, and returns the fire times it fired, in the entry's zone.
func firedBy(t *testing.T, entry schedule.Entry, from, until time.Time, fail func(time.Time) error) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{now: from, stop: until, cancel: cancel}
	var fired []string
	sch := &schedule.Scheduler{
		Entries: func(context.Context) ([]schedule.Entry, error) { return []schedule.Entry{entry}, nil },
		Fire: func(_ context.Context, e schedule.Entry, at time.Time) error {
			if fail != nil {
				if err := fail(at); err != nil {
					return err
				}
			}
			fired = append(fired, at.In(e.Schedule.Location()).Format(time.RFC3339))
			entry.Last = at // what the trigger store records
			return nil
		},
		Poll:   time.Hour,
		Clock:  clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := sch.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled", err)
	}
	return fired
}

// TestTheSchedulerFiresAtTheZonesTimesAcrossDST: a 2:30 schedule in Paris
// fires at 2:30 local on the days before and after the spring change
// (never on the day the clocks skip 2:30), and once on the autumn day 2:30
// comes twice.
func TestTheSchedulerFiresAtTheZonesTimesAcrossDST(t *testing.T) {
	s := MustParse(t, "cron(30 2 * * ? *)", "Europe/Paris", time.Time{})
	tests := []struct {
		name, from, until string
		want              []string
	}{
		{"spring", "2027-03-26T12:00:00+01:00", "2027-03-30T00:00:00+02:00",
			[]string{"2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00"}},
		{"autumn", "2027-10-30T00:00:00+02:00", "2027-11-01T12:00:00+01:00",
			[]string{"2027-10-30T02:30:00+02:00", "2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := at(t, tc.from)
			got := firedBy(t, schedule.Entry{ID: "tr_1", Schedule: s, Last: from}, from, at(t, tc.until), nil)
			if g, w := strings.Join(got, " "), strings.Join(tc.want, " "); g != w {
				t.Errorf("fired %s\nwant  %s", g, w)
			}
		})
	}
}

// TestAfterDowntimeOneMissedFireIsCaughtUp: a schedule whose last fire was
// three hours ago fires once for the latest missed time, then on time.
func TestAfterDowntimeOneMissedFireIsCaughtUp(t *testing.T) {
	s := MustParse(t, "cron(0 * * * ? *)", "America/New_York", time.Time{})
	last := at(t, "2027-11-07T00:00:00-04:00")
	// The runner comes back at 3:10, on the day 1:00 happens twice.
	got := firedBy(t, schedule.Entry{ID: "tr_1", Schedule: s, Last: last}, at(t, "2027-11-07T03:10:00-05:00"), at(t, "2027-11-07T05:30:00-05:00"), nil)
	want := "2027-11-07T03:00:00-05:00 2027-11-07T04:00:00-05:00 2027-11-07T05:00:00-05:00"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("fired %s\nwant  %s", g, want)
	}
}

// TestAFailedFireIsFiredAgain: when starting a Run fails (the queue is
// down), the fire time is not lost: a pass after the retry wait fires it.
func TestAFailedFireIsFiredAgain(t *testing.T) {
	s := MustParse(t, "cron(0 9 * * ? *)", "", time.Time{})
	from := at(t, "2027-01-01T08:00:00Z")
	tries := 0
	fail := func(time.Time) error {
		if tries++; tries == 1 {
			return errors.New("queue unavailable")
		}
		return nil
	}
	got := firedBy(t, schedule.Entry{ID: "tr_1", Schedule: s, Last: from}, from, at(t, "2027-01-01T12:00:00Z"), fail)
	if want := "2027-01-01T09:00:00Z"; strings.Join(got, " ") != want || tries != 2 {
		t.Errorf("fired %v after %d tries; want [%s] after 2", got, tries, want)
	}
}
