package template

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"wiresk/internal/wiresk"
)

// Defaults of the shared budgets, in meter units (about bytes).
const (
	// DefaultProcessBudget bounds what the renders running at once in a
	// process may hold. With Go's default GOGC=100 the heap peaks at about
	// twice it (BenchmarkConcurrentRenderMemory: 80 renders near the
	// per-render limit at once peak at about 250 MiB of heap, and at 1.8
	// GiB without this bound), so a 512 MB worker keeps half its memory.
	DefaultProcessBudget = 128 << 20
	// DefaultRunBudget bounds what all the renders of one Run may use in
	// all: 50 steps that each pass on a 1 MiB response fit in it, a Flow
	// whose every step renders near the per-render limit does not.
	DefaultRunBudget = 256 << 20
)

// leaseChunk is the least a render reserves at a time, so that a render
// touches the shared counters a few times, not at every allocation.
const leaseChunk = 32 << 10

// A Budget is a count of meter units that renders draw on as they meter
// their allocations (see the package documentation), shared by concurrent
// renders and safe for concurrent use. Two kinds exist:
//
//   - a pool (NewPool, and the process budget): a render holds the units
//     it reserved until it ends, then gives them back, so a pool bounds
//     what the renders running at once hold;
//   - a Run's budget (NewRunBudget): the units a render uses are spent,
//     so it bounds what all the renders of the Run use in all. It also
//     draws on the process budget.
//
// A render that cannot get units fails: over a pool with an error of code
// wiresk.EUnavailable (transient: other renders will end, try again
// later), over a Run's budget with one of code wiresk.EValidation
// (permanent: the same Flow on the same data needs the same).
type Budget struct {
	limit  atomic.Int64
	used   atomic.Int64
	peak   atomic.Int64
	spend  bool    // units used are not given back (a Run's budget)
	parent *Budget // also drawn on, nil for none
}

// process is the process budget: every render draws on it.
var process = NewPool(DefaultProcessBudget)

// SetProcessBudget sets the units that the renders running at once in this
// process may hold (DefaultProcessBudget unless set); units < 1 restores
// the default. Renders already running keep what they hold.
func SetProcessBudget(units int64) {
	if units < 1 {
		units = DefaultProcessBudget
	}
	process.limit.Store(units)
}

// ProcessBudget returns the process budget.
func ProcessBudget() *Budget { return process }

// NewPool returns a pool of units: see Budget.
func NewPool(units int64) *Budget {
	b := &Budget{}
	b.limit.Store(units)
	return b
}

// NewRunBudget returns the budget of one Run, of units in all (units < 1:
// DefaultRunBudget); its renders also draw on the process budget.
func NewRunBudget(units int64) *Budget {
	if units < 1 {
		units = DefaultRunBudget
	}
	b := &Budget{spend: true, parent: process}
	b.limit.Store(units)
	return b
}

// Limit returns the units of b.
func (b *Budget) Limit() int64 { return b.limit.Load() }

// Used returns the units reserved from b now: held by running renders, and
// for a Run's budget also spent by those that ended.
func (b *Budget) Used() int64 { return b.used.Load() }

// Peak returns the most units ever reserved from b at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// acquire reserves n units of b and of its parents, or none.
func (b *Budget) acquire(n int64) error {
	for {
		u := b.used.Load()
		if u+n > b.limit.Load() {
			return b.refusal()
		}
		if b.used.CompareAndSwap(u, u+n) {
			for p := b.peak.Load(); u+n > p && !b.peak.CompareAndSwap(p, u+n); p = b.peak.Load() {
			}
			break
		}
	}
	if b.parent != nil {
		if err := b.parent.acquire(n); err != nil {
			b.used.Add(-n)
			return err
		}
	}
	return nil
}

// release gives back the held units of a render that used used of them:
// all of them to a pool, those not used to a Run's budget.
func (b *Budget) release(held, used int64) {
	if b.spend {
		b.used.Add(-(held - min(used, held)))
	} else {
		b.used.Add(-held)
	}
	if b.parent != nil {
		b.parent.release(held, used)
	}
}

// refusal is the error of a render that b cannot serve.
func (b *Budget) refusal() *budgetError {
	mib := b.limit.Load() >> 20
	if b.spend {
		return &budgetError{code: wiresk.EValidation, msg: fmt.Sprintf("the templates of this Run need more memory or work in all than a Run may use (%d Mi units)", mib)}
	}
	return &budgetError{code: wiresk.EUnavailable, msg: fmt.Sprintf("the templates being rendered at once in this process need more memory than its %d MiB budget for rendering; try again later", mib)}
}

// budgetError is the error of a refused reservation; code is the code of
// the render's error.
type budgetError struct {
	code string
	msg  string
}

func (e *budgetError) Error() string { return e.msg }

// lease is what one render reserved from a Budget.
type lease struct {
	b       *Budget
	held    int64
	used    int64
	refused *budgetError // the first refusal, which decides the render's error code
}

// use records n units used, reserving more when they are not yet held.
func (l *lease) use(n int) error {
	l.used += int64(n)
	return l.cover(l.used)
}

// reserve makes sure n more units can be used.
func (l *lease) reserve(n int) error { return l.cover(l.used + int64(n)) }

// cover makes sure total units are held, reserving a little more than
// asked so that the next allocations need no reservation.
func (l *lease) cover(total int64) error {
	if total <= l.held {
		return nil
	}
	need := total - l.held
	want := max(need, leaseChunk, l.held/4)
	err := l.b.acquire(want)
	if err != nil && want > need {
		want, err = need, l.b.acquire(need)
	}
	if err != nil {
		be := err.(*budgetError)
		if l.refused == nil {
			l.refused = be
		}
		return be
	}
	l.held += want
	return nil
}

// end gives back what the render held.
func (l *lease) end() {
	if l.held > 0 {
		l.b.release(l.held, l.used)
		l.held, l.used = 0, 0
	}
}

// withCode returns err with the code of the refusal that caused it, if any.
func (l *lease) withCode(err error) error {
	we, ok := err.(*wiresk.Error)
	if !ok || l.refused == nil || we.Code == l.refused.code {
		return err
	}
	out := *we
	out.Code = l.refused.code
	return &out
}

// MemoryEnv is the environment variable that sets the process budget, in
// MiB: see ParseMemoryEnv.
const MemoryEnv = "WIRESK_RENDER_MEMORY_MB"

// ParseMemoryEnv parses the value of MemoryEnv: a whole number of MiB from
// 1 to 65536, or "" for DefaultProcessBudget. It returns units for
// SetProcessBudget.
func ParseMemoryEnv(v string) (int64, error) {
	if v == "" {
		return DefaultProcessBudget, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 || n > 65536 {
		return 0, fmt.Errorf("%s=%q: want the MiB that the templates rendered at once may use, 1 to 65536 (default %d)", MemoryEnv, v, DefaultProcessBudget>>20)
	}
	return n << 20, nil
}
