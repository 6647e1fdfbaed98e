package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cron is a parsed cron(minutes hours day-of-month month day-of-week year)
// expression, with EventBridge's fields: day-of-week 1–7 is SUN–SAT, one
// of the two day fields is "?", and L, W and # as EventBridge documents them.
type cron struct {
	minutes, hours, months uint64 // bit n set: value n matches
	days                   uint64 // day-of-month bits (when dayOfMonth)
	weekdays               uint64 // day-of-week bits 1–7 (when !dayOfMonth)
	years                  [lastYear - 1970 + 1]bool
	dayOfMonth             bool // the day-of-week field is "?"
	lastDay                bool // day-of-month L
	lastWorkday            bool // day-of-month LW
	nearestWorkday         int  // day-of-month nW: the weekday nearest day n
	lastWeekday            int  // day-of-week nL: the last weekday n of the month
	nthWeekday, nth        int  // day-of-week n#k: the k-th weekday n of the month
}

var (
	monthNames   = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	weekdayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

// parseCron parses the six fields of a cron() expression.
func parseCron(body string) (*cron, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("%w: cron(%s) has %d fields; want 6: minutes hours day-of-month month day-of-week year", ErrInvalid, body, len(f))
	}
	c := &cron{}
	var err error
	fail := func(field string, e error) error {
		return fmt.Errorf("%w: cron(%s): %s: %v", ErrInvalid, body, field, e)
	}
	if c.minutes, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, fail("minutes", err)
	}
	if c.hours, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, fail("hours", err)
	}
	if c.months, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, fail("month", err)
	}
	switch dom, dow := f[2], f[4]; {
	case dom == "?" && dow == "?":
		return nil, fail("day-of-month and day-of-week", fmt.Errorf("one of them must be a value or *"))
	case dom != "?" && dow != "?":
		return nil, fail("day-of-month and day-of-week", fmt.Errorf("one of them must be ? (they cannot both be set)"))
	case dow == "?":
		c.dayOfMonth = true
		if err := c.parseDayOfMonth(dom); err != nil {
			return nil, fail("day-of-month", err)
		}
	default:
		if err := c.parseDayOfWeek(dow); err != nil {
			return nil, fail("day-of-week", err)
		}
	}
	years, err := parseYears(f[5])
	if err != nil {
		return nil, fail("year", err)
	}
	c.years = years
	return c, nil
}

func (c *cron) parseDayOfMonth(s string) error {
	switch {
	case s == "L":
		c.lastDay = true
		return nil
	case s == "LW":
		c.lastWorkday = true
		return nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return fmt.Errorf("%q: nW takes a day 1–31", s)
		}
		c.nearestWorkday = n
		return nil
	}
	var err error
	c.days, err = parseField(s, 1, 31, nil)
	return err
}

func (c *cron) parseDayOfWeek(s string) error {
	day := func(v string) (int, error) {
		if n, ok := weekdayNames[strings.ToUpper(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 7 {
			return 0, fmt.Errorf("%q is not a day of the week (1–7 or SUN–SAT)", v)
		}
		return n, nil
	}
	switch {
	case s == "L":
		c.lastWeekday = 7
		return nil
	case len(s) > 1 && strings.HasSuffix(s, "L"):
		n, err := day(strings.TrimSuffix(s, "L"))
		c.lastWeekday = n
		return err
	case strings.Contains(s, "#"):
		d, k, _ := strings.Cut(s, "#")
		n, err := day(d)
		if err != nil {
			return err
		}
		nth, err := strconv.Atoi(k)
		if err != nil || nth < 1 || nth > 5 {
			return fmt.Errorf("%q: n#k takes k 1–5", s)
		}
		c.nthWeekday, c.nth = n, nth
		return nil
	}
	var err error
	c.weekdays, err = parseField(s, 1, 7, weekdayNames)
	return err
}

// parseField parses a list of *, n, a-b, with an optional /step, of values
// lo–hi (or names), into a bit set.
func parseField(s string, lo, hi int, names map[string]int) (uint64, error) {
	var bits uint64
	for part := range strings.SplitSeq(s, ",") {
		from, to, err := parseRange(part, lo, hi, names)
		if err != nil {
			return 0, err
		}
		for v := from[0]; v <= to; v += from[1] {
			bits |= 1 << v
		}
	}
	return bits, nil
}

// parseRange parses one part of a list: it returns {first, step} and last.
func parseRange(part string, lo, hi int, names map[string]int) ([2]int, int, error) {
	value := func(v string) (int, error) {
		if n, ok := names[strings.ToUpper(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a value %d–%d", v, lo, hi)
		}
		return n, nil
	}
	rng, stepText, stepped := strings.Cut(part, "/")
	step := 1
	if stepped {
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || n > hi {
			return [2]int{}, 0, fmt.Errorf("%q: the step must be 1–%d", part, hi)
		}
		step = n
	}
	from, to := lo, hi
	switch a, b, isRange := strings.Cut(rng, "-"); {
	case rng == "*":
	case isRange:
		var err error
		if from, err = value(a); err != nil {
			return [2]int{}, 0, err
		}
		if to, err = value(b); err != nil {
			return [2]int{}, 0, err
		}
		if from > to {
			return [2]int{}, 0, fmt.Errorf("%q: the range must go upwards", part)
		}
	default:
		v, err := value(rng)
		if err != nil {
			return [2]int{}, 0, err
		}
		from = v
		if !stepped {
			to = v // a lone value; with a step, "5/15" runs from 5 to the end
		}
	}
	return [2]int{from, step}, to, nil
}

// parseYears parses the year field (1970–2199) into a set.
func parseYears(s string) ([lastYear - 1970 + 1]bool, error) {
	var years [lastYear - 1970 + 1]bool
	for part := range strings.SplitSeq(s, ",") {
		from, to, err := parseRange(part, 1970, lastYear, nil)
		if err != nil {
			return years, err
		}
		for v := from[0]; v <= to; v += from[1] {
			years[v-1970] = true
		}
	}
	return years, nil
}

// next returns the first time strictly after t whose wall clock in loc
// matches. A wall-clock time that does not exist in loc is skipped; one
// that happens twice is taken at its first occurrence only.
func (c *cron) next(t time.Time, loc *time.Location) (time.Time, bool) {
	lt := t.In(loc)
	// day walks civil dates (UTC noon keeps AddDate away from any shift).
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 12, 0, 0, 0, time.UTC)
	for day.Year() <= lastYear {
		y, m := day.Year(), day.Month()
		switch {
		case y < 1970 || !c.years[y-1970]:
			day = time.Date(y+1, 1, 1, 12, 0, 0, 0, time.UTC)
			continue
		case c.months&(1<<uint(m)) == 0:
			day = time.Date(y, m+1, 1, 12, 0, 0, 0, time.UTC)
			continue
		case !c.matchesDay(day):
			day = day.AddDate(0, 0, 1)
			continue
		}
		// On t's own day, readings before t's cannot come after t (only
		// first occurrences are taken, and they keep the readings' order),
		// so the scan starts at t's reading: Due over a long gap stays
		// linear in the fires.
		h0, m0 := 0, 0
		if y == lt.Year() && m == lt.Month() && day.Day() == lt.Day() {
			h0, m0 = lt.Hour(), lt.Minute()
		}
		for h := h0; h < 24; h++ {
			if c.hours&(1<<uint(h)) == 0 {
				continue
			}
			mStart := 0
			if h == h0 {
				mStart = m0
			}
			for mi := mStart; mi < 60; mi++ {
				if c.minutes&(1<<uint(mi)) == 0 {
					continue
				}
				at, ok := wallClock(y, m, day.Day(), h, mi, loc)
				if ok && at.After(t) {
					return at, true
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}, false
}

// wallClock returns the first instant whose wall clock in loc reads
// y-m-d h:mi, and false when the clocks skip it.
func wallClock(y int, m time.Month, d, h, mi int, loc *time.Location) (time.Time, bool) {
	at := time.Date(y, m, d, h, mi, 0, 0, loc)
	if at.Hour() != h || at.Minute() != mi || at.Day() != d {
		return time.Time{}, false
	}
	// Where the clocks go back, the same reading comes again: take the
	// earlier instant (time.Date may give either).
	for _, back := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		if e := at.Add(-back); e.Hour() == h && e.Minute() == mi && e.Day() == d {
			return e, true
		}
	}
	return at, true
}

// matchesDay reports whether the civil date day matches the day fields.
func (c *cron) matchesDay(day time.Time) bool {
	d := day.Day()
	last := time.Date(day.Year(), day.Month()+1, 0, 12, 0, 0, 0, time.UTC).Day()
	wd := int(day.Weekday()) + 1 // 1 = SUN, as EventBridge numbers days
	switch {
	case c.dayOfMonth && c.lastDay:
		return d == last
	case c.dayOfMonth && c.lastWorkday:
		return d == workdayNear(day, last)
	case c.dayOfMonth && c.nearestWorkday > 0:
		return c.nearestWorkday <= last && d == workdayNear(day, c.nearestWorkday)
	case c.dayOfMonth:
		return c.days&(1<<uint(d)) != 0
	case c.lastWeekday > 0:
		return wd == c.lastWeekday && d+7 > last
	case c.nthWeekday > 0:
		return wd == c.nthWeekday && (d-1)/7+1 == c.nth
	default:
		return c.weekdays&(1<<uint(wd)) != 0
	}
}

// workdayNear returns the day of day's month that is the Monday–Friday day
// nearest to day n, not leaving the month (W): a Saturday moves to Friday
// (or to Monday on the 1st), a Sunday to Monday (or to Friday on the last
// day).
func workdayNear(day time.Time, n int) int {
	target := time.Date(day.Year(), day.Month(), n, 12, 0, 0, 0, time.UTC)
	end := time.Date(day.Year(), day.Month()+1, 0, 12, 0, 0, 0, time.UTC).Day()
	switch target.Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == end {
			return n - 2
		}
		return n + 1
	}
	return n
}
