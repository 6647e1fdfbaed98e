package template

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Costs, in meter units, of collection elements.
const (
	elemCost  = 16
	entryCost = 32
)

// errBudget is the error of a Render over its budget.
var errBudget = errors.New("the expression needs more memory or work than a template may use")

// budget is a count of units left to one render; lease, when set, is
// where the units it uses are reserved.
type budget struct {
	left  int64
	err   error
	lease *lease
}

// take consumes n units of memory, and fails once none are left.
func (b *budget) take(n int) error {
	b.left -= int64(n)
	if b.left < 0 {
		return b.err
	}
	if b.lease != nil {
		return b.lease.use(n)
	}
	return nil
}

// work consumes n units of work: what a loop or a scan walks through,
// which allocates nothing, so it is not reserved from the shared budgets.
func (b *budget) work(n int) error {
	b.left -= int64(n)
	if b.left < 0 {
		return b.err
	}
	return nil
}

// fits makes sure n units of memory are left, before they are allocated.
func (b *budget) fits(n int) error {
	if int64(n) > b.left {
		return b.err
	}
	if b.lease != nil {
		return b.lease.reserve(n)
	}
	return nil
}

// renderer is the state of one Render: not safe for concurrent use, which is
// why every Render makes its own.
type renderer struct {
	vm    vm.VM
	env   map[string]any
	meter *budget
	out   budget
	lease lease
}

// newRenderer returns the renderer of a Render against env, drawing on b
// (the process budget when nil). The caller must call end.
func newRenderer(env map[string]any, b *Budget) *renderer {
	if b == nil {
		b = process
	}
	r := &renderer{
		vm:    vm.VM{MemoryBudget: vmMemoryBudget},
		meter: &budget{left: maxMeterUnits, err: errBudget},
		out:   budget{left: maxOutputBytes, err: fmt.Errorf("the rendered value is larger than %d bytes", maxOutputBytes)},
		lease: lease{b: b},
	}
	r.meter.lease, r.out.lease = &r.lease, &r.lease
	r.env = map[string]any{
		rootTrigger: env[rootTrigger],
		rootSteps:   env[rootSteps],
		rootItem:    env[rootItem],
		rootIndex:   env[rootIndex],
		meterVar:    r.meter,
	}
	return r
}

// end gives back what the render holds of the shared budgets, and returns
// err with the code of a refusal of those budgets, if one caused it.
func (r *renderer) end(err error) error {
	r.lease.end()
	if err != nil {
		return r.lease.withCode(err)
	}
	return nil
}

// run runs one compiled expression.
func (r *renderer) run(prog *vm.Program, src string, pos int) (any, error) {
	v, err := r.vm.Run(prog, r.env)
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		return nil, exprError(src, pos, msg)
	}
	return v, nil
}

// runtimeFunctions are the functions the rewritten programs call.
var runtimeFunctions = []expr.Option{
	expr.Function(fnAlloc, meterFunc((*budget).take, allocCost)),
	expr.Function(fnScan, meterFunc((*budget).work, scanCost)),
	expr.Function(fnGet, func(p ...any) (any, error) { return get(p[0], p[1]) }),
	expr.Function(fnRepeat, boundedFunc(repeatFunc)),
	expr.Function(fnReplace, boundedFunc(replaceFunc)),
	expr.Function(fnJoin, boundedFunc(joinFunc)),
	expr.Function(fnToJSON, boundedFunc(toJSONFunc)),
	expr.Function(fnString, boundedFunc(stringFunc)),
}

// meterFunc returns a function of (meter, v) that charges cost(v) with
// charge and returns v.
func meterFunc(charge func(*budget, int) error, cost func(any) int) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		m, ok := p[0].(*budget)
		if !ok || len(p) != 2 {
			return nil, errors.New("internal error: bad metering call")
		}
		if err := charge(m, cost(p[1])); err != nil {
			return nil, err
		}
		return p[1], nil
	}
}

// boundedFunc adapts a bounded builtin, which receives the meter first.
func boundedFunc(fn func(m *budget, args []any) (any, error)) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		m, ok := p[0].(*budget)
		if !ok {
			return nil, errors.New("internal error: bad metering call")
		}
		return fn(m, p[1:])
	}
}

// allocCost is the cost of a value just built.
func allocCost(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case []any:
		return elemCost * len(v)
	case map[string]any:
		return entryCost * len(v)
	case nil, bool, int, float64:
		return 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.Len()
	case reflect.Slice, reflect.Array:
		return elemCost * rv.Len()
	case reflect.Map:
		return entryCost * rv.Len()
	}
	return 0
}

// scanCost is the cost of walking through a value once: maps are not walked
// by the operators and builtins that scan (their lookups are constant time).
func scanCost(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case []any:
		return elemCost * len(v)
	case map[string]any, nil, bool, int, float64:
		return 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.Len()
	case reflect.Slice, reflect.Array:
		return elemCost * rv.Len()
	}
	return 0
}

// get is nil-safe member and index access: nil for a member of nil, a
// missing key and an index out of range.
func get(from, key any) (out any, err error) {
	switch f := from.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		k, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("cannot read key %s of an object: keys are strings", describe(key))
		}
		return f[k], nil
	case []any:
		i, ok := toIndex(key)
		if !ok {
			return nil, fmt.Errorf("cannot read %s of an array: indexes are integers", describe(key))
		}
		if i < 0 {
			i += len(f)
		}
		if i < 0 || i >= len(f) {
			return nil, nil
		}
		return f[i], nil
	}
	rv := reflect.ValueOf(from)
	switch rv.Kind() {
	case reflect.Map:
		kv := reflect.ValueOf(key)
		if !kv.IsValid() || !kv.Type().AssignableTo(rv.Type().Key()) {
			return nil, fmt.Errorf("cannot read key %s of %T", describe(key), from)
		}
		if v := rv.MapIndex(kv); v.IsValid() {
			return v.Interface(), nil
		}
		return nil, nil
	case reflect.Slice, reflect.Array, reflect.String:
		i, ok := toIndex(key)
		if !ok {
			return nil, fmt.Errorf("cannot read %s of %T: indexes are integers", describe(key), from)
		}
		if i < 0 {
			i += rv.Len()
		}
		if i < 0 || i >= rv.Len() {
			return nil, nil
		}
		if rv.Kind() == reflect.String {
			return rv.String()[i : i+1], nil
		}
		return rv.Index(i).Interface(), nil
	}
	// Anything else (a struct, a value with methods): expr's own get.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cannot read %s of %T", describe(key), from)
		}
	}()
	return builtin.Builtins[builtin.Index["get"]].Func(from, key)
}

// toIndex converts an integral number to an index.
func toIndex(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt32 {
			return 0, false
		}
		return int(rv.Uint()), true
	case reflect.Float32:
		return toIndex(rv.Float())
	}
	return 0, false
}

// describe names a value for an error message without echoing long data.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("%q", v)
	case int, float64, bool:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("a value of type %T", v)
}

// argError is the error of a builtin called with arguments of the wrong kind.
func argError(name string, args []any, want string) error {
	types := make([]string, len(args))
	for i, a := range args {
		types[i] = fmt.Sprintf("%T", a)
	}
	return fmt.Errorf("%s(%s): %s", name, strings.Join(types, ", "), want)
}

// repeatFunc is repeat(s, n), refused when the result would not fit.
func repeatFunc(m *budget, args []any) (any, error) {
	if len(args) != 2 {
		return nil, argError("repeat", args, "expected a string and a count")
	}
	s, ok := args[0].(string)
	n, ok2 := toIndex(args[1])
	if !ok || !ok2 {
		return nil, argError("repeat", args, "expected a string and a count")
	}
	if n < 0 {
		return nil, fmt.Errorf("repeat: negative count %d", n)
	}
	if n > 0 && len(s) > 0 {
		if len(s) > math.MaxInt32/n {
			return nil, errBudget
		}
		if err := m.fits(len(s) * n); err != nil {
			return nil, err
		}
	}
	return strings.Repeat(s, n), nil
}

// replaceFunc is replace(s, old, new[, n]), refused when the result would not
// fit.
func replaceFunc(m *budget, args []any) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, argError("replace", args, "expected 3 or 4 arguments")
	}
	s, ok1 := args[0].(string)
	old, ok2 := args[1].(string)
	repl, ok3 := args[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, argError("replace", args, "expected strings")
	}
	n := -1
	if len(args) == 4 {
		var ok bool
		if n, ok = toIndex(args[3]); !ok {
			return nil, argError("replace", args, "expected an integer count")
		}
	}
	var count int
	if old == "" {
		count = utf8.RuneCountInString(s) + 1
	} else {
		count = strings.Count(s, old)
	}
	if n >= 0 && n < count {
		count = n
	}
	if grow := len(repl) - len(old); grow > 0 && count > 0 {
		if grow > math.MaxInt32/count {
			return nil, errBudget
		}
		if err := m.fits(len(s) + grow*count); err != nil {
			return nil, err
		}
	}
	return strings.Replace(s, old, repl, n), nil
}

// joinFunc is join(array[, sep]), refused when the result would not fit.
func joinFunc(m *budget, args []any) (any, error) {
	if len(args) != 1 && len(args) != 2 {
		return nil, argError("join", args, "expected an array and an optional separator")
	}
	sep := ""
	if len(args) == 2 {
		var ok bool
		if sep, ok = args[1].(string); !ok {
			return nil, argError("join", args, "the separator must be a string")
		}
	}
	var parts []string
	switch a := args[0].(type) {
	case []string:
		parts = a
	case []any:
		parts = make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("join: element %d is %s, not a string", i, describe(e))
			}
			parts[i] = s
		}
	default:
		return nil, argError("join", args, "expected an array of strings")
	}
	size := 0
	for i, p := range parts {
		size += len(p)
		if i > 0 {
			size += len(sep)
		}
		if int64(size) > m.left {
			return nil, errBudget
		}
	}
	if err := m.fits(size); err != nil {
		return nil, err
	}
	return strings.Join(parts, sep), nil
}

// toJSONFunc is toJSON(v): indented JSON, refused when it would not fit.
func toJSONFunc(m *budget, args []any) (any, error) {
	if len(args) != 1 {
		return nil, argError("toJSON", args, "expected one argument")
	}
	limit := budget{left: min(m.left, maxOutputBytes), err: errBudget}
	v, err := normalize(args[0], &limit)
	if err != nil {
		return nil, err
	}
	e := encoder{indent: "  ", limit: int(min(m.left, maxOutputBytes))}
	e.value(v, 0)
	if e.over {
		return nil, errBudget
	}
	return string(e.buf), nil
}

// stringFunc is string(v), refused when it would not fit.
func stringFunc(m *budget, args []any) (any, error) {
	if len(args) != 1 {
		return nil, argError("string", args, "expected one argument")
	}
	switch v := args[0].(type) {
	case string:
		return v, nil
	case nil, bool, int, float64:
		return fmt.Sprintf("%v", v), nil
	}
	// fmt prints about as much as compact JSON; make sure that fits first.
	limit := budget{left: min(m.left, maxOutputBytes), err: errBudget}
	if _, err := normalize(args[0], &limit); err != nil {
		return nil, err
	}
	return fmt.Sprintf("%v", args[0]), nil
}
