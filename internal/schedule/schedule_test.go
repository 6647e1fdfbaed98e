package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"wiresk/internal/schedule"
)

// MustParse parses expr in zone, failing the test on error.
func MustParse(tb testing.TB, expr, zone string, start time.Time) *schedule.Schedule {
	tb.Helper()
	s, err := schedule.Parse(expr, zone, start)
	if err != nil {
		tb.Fatalf("Parse(%q, %q): %v", expr, zone, err)
	}
	return s
}

// at is an instant written with its UTC offset, as a user reads a clock.
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func format(ts []time.Time, loc *time.Location) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.In(loc).Format(time.RFC3339)
	}
	return strings.Join(out, " ")
}

// TestFireTimes: the fire times users would expect from EventBridge
// Scheduler for each kind of expression, in the zone they gave.
func TestFireTimes(t *testing.T) {
	tests := []struct {
		name, expr, zone, from string
		want                   []string
		ends                   bool
	}{
		{"every weekday at 9 in Paris", "cron(0 9 ? * MON-FRI *)", "Europe/Paris", "2027-01-01T12:00:00+01:00",
			[]string{"2027-01-04T09:00:00+01:00", "2027-01-05T09:00:00+01:00", "2027-01-06T09:00:00+01:00", "2027-01-07T09:00:00+01:00", "2027-01-08T09:00:00+01:00", "2027-01-11T09:00:00+01:00"}, false},
		{"every 15 minutes from 5", "cron(5/15 * * * ? *)", "", "2027-01-01T00:00:00Z",
			[]string{"2027-01-01T00:05:00Z", "2027-01-01T00:20:00Z", "2027-01-01T00:35:00Z", "2027-01-01T00:50:00Z", "2027-01-01T01:05:00Z"}, false},
		{"a list and a range of hours", "cron(30 8,12-13 * * ? *)", "", "2027-01-01T00:00:00Z",
			[]string{"2027-01-01T08:30:00Z", "2027-01-01T12:30:00Z", "2027-01-01T13:30:00Z", "2027-01-02T08:30:00Z"}, false},
		{"last day of the month", "cron(0 18 L * ? *)", "", "2027-01-31T18:00:00Z",
			[]string{"2027-02-28T18:00:00Z", "2027-03-31T18:00:00Z", "2027-04-30T18:00:00Z"}, false},
		{"last weekday of the month", "cron(0 18 LW * ? *)", "", "2027-07-01T00:00:00Z",
			// 31 July 2027 is a Saturday, 31 October a Sunday.
			[]string{"2027-07-30T18:00:00Z", "2027-08-31T18:00:00Z", "2027-09-30T18:00:00Z", "2027-10-29T18:00:00Z"}, false},
		{"weekday nearest the 1st", "cron(0 6 1W * ? *)", "", "2027-04-15T00:00:00Z",
			// 1 May 2027 is a Saturday (→ Monday 3rd), 1 August a Sunday (→ 2nd).
			[]string{"2027-05-03T06:00:00Z", "2027-06-01T06:00:00Z", "2027-07-01T06:00:00Z", "2027-08-02T06:00:00Z"}, false},
		{"second Tuesday", "cron(0 10 ? * 3#2 *)", "", "2027-01-01T00:00:00Z",
			[]string{"2027-01-12T10:00:00Z", "2027-02-09T10:00:00Z", "2027-03-09T10:00:00Z"}, false},
		{"last Friday", "cron(0 16 ? * 6L *)", "", "2027-01-01T00:00:00Z",
			[]string{"2027-01-29T16:00:00Z", "2027-02-26T16:00:00Z", "2027-03-26T16:00:00Z"}, false},
		{"29 February only", "cron(0 0 29 FEB ? *)", "", "2027-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}, false},
		{"years run out", "cron(0 0 1 JAN ? 2028-2029)", "", "2027-06-01T00:00:00Z",
			[]string{"2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z"}, true},
		{"a rate counts from its start", "rate(20 minutes)", "", "2027-01-01T00:00:00Z",
			[]string{"2027-01-01T00:10:00Z", "2027-01-01T00:30:00Z", "2027-01-01T00:50:00Z"}, false},
		{"one time, in its zone", "at(2027-03-01T08:00:00)", "America/New_York", "2027-01-01T00:00:00Z",
			[]string{"2027-03-01T08:00:00-05:00"}, true},
	}
	start := at(t, "2026-12-31T23:50:00Z") // a rate's first fire
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := MustParse(t, tc.expr, tc.zone, start)
			// One more is asked for: a schedule that ends must give no more.
			n := len(tc.want)
			if !tc.ends {
				n--
			}
			got := format(s.Upcoming(at(t, tc.from), n+1), s.Location())
			want := strings.Join(tc.want, " ")
			if got != want {
				t.Errorf("%s from %s:\n got %s\nwant %s", tc.expr, tc.from, got, want)
			}
		})
	}
}

// TestDaylightSavingTime: in a zone that changes its clocks, a daily cron
// keeps its wall-clock time; the time the clocks skip is skipped, and the
// hour they repeat fires once. A daily rate stays 24 hours apart.
func TestDaylightSavingTime(t *testing.T) {
	tests := []struct {
		name, expr, zone, from string
		want                   []string
	}{
		{"9:00 keeps its wall clock across spring", "cron(0 9 * * ? *)", "Europe/Paris", "2027-03-26T12:00:00+01:00",
			[]string{"2027-03-27T09:00:00+01:00", "2027-03-28T09:00:00+02:00", "2027-03-29T09:00:00+02:00"}},
		{"2:30 does not exist on the spring day", "cron(30 2 * * ? *)", "Europe/Paris", "2027-03-27T00:00:00+01:00",
			[]string{"2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00"}},
		{"2:30 happens twice on the autumn day and fires once", "cron(30 2 * * ? *)", "Europe/Paris", "2027-10-30T00:00:00+02:00",
			[]string{"2027-10-30T02:30:00+02:00", "2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"}},
		{"every 30 minutes through the New York autumn change", "cron(0/30 1 * * ? *)", "America/New_York", "2027-11-07T00:00:00-04:00",
			[]string{"2027-11-07T01:00:00-04:00", "2027-11-07T01:30:00-04:00", "2027-11-08T01:00:00-05:00"}},
		{"a daily rate is 24 hours", "rate(1 day)", "Europe/Paris", "2027-03-27T12:00:00+01:00",
			[]string{"2027-03-28T00:50:00+01:00", "2027-03-29T01:50:00+02:00"}},
	}
	start := at(t, "2026-12-31T23:50:00Z")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := MustParse(t, tc.expr, tc.zone, start)
			got := format(s.Upcoming(at(t, tc.from), len(tc.want)), s.Location())
			// Offsets are compared as written: the zone's reading of each instant.
			if want := strings.Join(tc.want, " "); got != want {
				t.Errorf("%s in %s from %s:\n got %s\nwant %s", tc.expr, tc.zone, tc.from, got, want)
			}
		})
	}
}

// TestNextIsStrictlyAfter: the fire time itself is not fired again, so a
// scheduler that asks Next(last fire) never fires twice.
func TestNextIsStrictlyAfter(t *testing.T) {
	s := MustParse(t, "cron(0 9 * * ? *)", "Europe/Paris", time.Time{})
	first, _ := s.Next(at(t, "2027-01-01T00:00:00+01:00"))
	second, _ := s.Next(first)
	if got, want := second.Sub(first), 24*time.Hour; got != want {
		t.Errorf("Next(first) is %s after first; want %s", got, want)
	}
	// A rate whose start is long past (or the zero time) still counts
	// from it, exactly.
	for _, start := range []time.Time{{}, at(t, "1990-06-01T00:00:07Z")} {
		r := MustParse(t, "rate(7 minutes)", "", start)
		from := at(t, "2027-01-01T00:00:00Z")
		next, _ := r.Next(from)
		if !next.After(from) || next.Sub(from) > 7*time.Minute || (next.Unix()-start.Unix())%420 != 0 {
			t.Errorf("rate(7 minutes) from %s, started %s: next %s", from, start, next)
		}
	}
	if _, ok := MustParse(t, "at(2027-01-01T00:00:00)", "", time.Time{}).Next(at(t, "2027-01-01T00:00:00Z")); ok {
		t.Error("an at() schedule fires again at its own time")
	}
}

// TestBadExpressions: each is refused as ErrInvalid with a message naming
// what is wrong.
func TestBadExpressions(t *testing.T) {
	tests := []struct{ expr, zone, want string }{
		{"every 5 minutes", "", "is not rate(...), cron(...) or at(...)"},
		{"rate(0 minutes)", "", "positive whole value"},
		{"rate(5 weeks)", "", "minutes, hours or days"},
		{"rate(99999999 days)", "", "at most"},
		{"cron(0 9 * * *)", "", "has 5 fields"},
		{"cron(0 9 * * MON *)", "", "cannot both be set"},
		{"cron(0 9 ? * ? *)", "", "must be a value or *"},
		{"cron(60 9 * * ? *)", "", "minutes"},
		{"cron(0 24 * * ? *)", "", "hours"},
		{"cron(0 9 ? * 8 *)", "", "day-of-week"},
		{"cron(0 9 ? * MON#6 *)", "", "k 1–5"},
		{"cron(0 9 10-5 * ? *)", "", "upwards"},
		{"cron(0 9 31 FEB ? *)", "", "never fires"},
		{"cron(0 9 * * ? 2020)", "", "never fires"},
		{"cron(0 9 * * ? 2300)", "", "year"},
		{"at(2027-01-01 09:00)", "", "yyyy-mm-ddThh:mm:ss"},
		{"rate(5 minutes)", "Mars/Olympus", "not an IANA zone"},
		{"rate(5 minutes)", "Local", "not an IANA zone"},
	}
	for _, tc := range tests {
		_, err := schedule.Parse(tc.expr, tc.zone, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		if !errors.Is(err, schedule.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q, %q) = %v; want ErrInvalid saying %q", tc.expr, tc.zone, err, tc.want)
		}
	}
}

// FuzzParse: no expression makes Parse or Next panic, and a schedule's next
// fire is always after the time asked about, read in its zone.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"cron(0 9 ? * MON-FRI *)", "cron(5/15 * L * ? 2027)", "cron(0 0 ? * 6L *)", "cron(0 0 ? * 2#5 *)", "cron(0 0 LW * ? *)", "rate(5 minutes)", "at(2027-01-01T00:00:00)", "cron(*/99 * * * ? *)"} {
		f.Add(s, "Europe/Paris")
	}
	from := time.Date(2027, 3, 28, 1, 59, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr, zone string) {
		s, err := schedule.Parse(expr, zone, from)
		if err != nil {
			return
		}
		last := from
		for _, next := range s.Upcoming(from, 3) {
			if !next.After(last) {
				t.Fatalf("%s: %s is not after %s", expr, next, last)
			}
			last = next
		}
	})
}

// TestDue: a scheduler that was down for a while fires the latest missed
// times, up to its cap, and counts the others as skipped; one that is on
// time fires exactly the time that came, once.
func TestDue(t *testing.T) {
	s := MustParse(t, "cron(0 * * * ? *)", "Europe/Paris", time.Time{}) // hourly
	last := at(t, "2027-01-01T08:00:00+01:00")
	tests := []struct {
		name, now string
		max       int
		want      string
		skipped   int
	}{
		{"nothing due yet", "2027-01-01T08:59:59+01:00", 1, "", 0},
		{"on time", "2027-01-01T09:00:00+01:00", 1, "2027-01-01T09:00:00+01:00", 0},
		{"down three hours, cap 1", "2027-01-01T11:30:00+01:00", 1, "2027-01-01T11:00:00+01:00", 2},
		{"down three hours, cap 2", "2027-01-01T11:30:00+01:00", 2, "2027-01-01T10:00:00+01:00 2027-01-01T11:00:00+01:00", 1},
		{"a cap under 1 is 1", "2027-01-01T11:30:00+01:00", 0, "2027-01-01T11:00:00+01:00", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fires, skipped := s.Due(last, at(t, tc.now), tc.max)
			if got := format(fires, s.Location()); got != tc.want || skipped != tc.skipped {
				t.Errorf("Due(%s, %d) = %q, %d skipped; want %q, %d skipped", tc.now, tc.max, got, skipped, tc.want, tc.skipped)
			}
		})
	}
}

// BenchmarkDueAfterAYearOffline: a per-minute schedule whose scheduler
// was down a year works out its one catch-up fire without a quadratic scan.
func BenchmarkDueAfterAYearOffline(b *testing.B) {
	s := MustParse(b, "cron(* * * * ? *)", "Europe/Paris", time.Time{})
	last := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := last.AddDate(1, 0, 0)
	for b.Loop() {
		if fires, skipped := s.Due(last, now, 1); len(fires) != 1 || skipped < 500_000 {
			b.Fatalf("Due = %d fires, %d skipped", len(fires), skipped)
		}
	}
}
