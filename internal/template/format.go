package template

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// maxDepth caps the nesting of rendered values.
const maxDepth = 10000

// normalize converts v to JSON-like types: map[string]any, []any, string,
// int, float64, bool and nil. Map keys become strings, times RFC 3339
// strings, durations strings like "1h30m0s", byte slices base64 strings.
// It charges b with about the size of v's JSON encoding, and fails when b
// runs out, for numbers JSON cannot represent (NaN, infinities), and for
// values of other types (functions, channels, structs).
func normalize(v any, b *budget) (any, error) {
	return normalizeDepth(v, b, 0)
}

func normalizeDepth(v any, b *budget, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("the rendered value is nested more than %d levels deep", maxDepth)
	}
	switch v := v.(type) {
	case nil:
		return nil, b.take(4)
	case bool:
		return v, b.take(5)
	case string:
		return v, b.take(len(v) + 2)
	case int:
		return v, b.take(8)
	case float64:
		return normalizeFloat(v, b)
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return normalizeInt(i, b)
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("the rendered value holds an invalid number %q", describe(string(v)))
		}
		return normalizeFloat(f, b)
	case []byte:
		s := base64.StdEncoding.EncodeToString(v)
		return s, b.take(len(s) + 2)
	case time.Time:
		s := v.Format(time.RFC3339Nano)
		return s, b.take(len(s) + 2)
	case time.Duration:
		s := v.String()
		return s, b.take(len(s) + 2)
	case map[string]any:
		if err := b.take(2 + len(v)); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if err := b.take(len(k) + 3); err != nil {
				return nil, err
			}
			n, err := normalizeDepth(e, b, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		if err := b.take(2 + len(v)); err != nil {
			return nil, err
		}
		out := make([]any, len(v))
		for i, e := range v {
			n, err := normalizeDepth(e, b, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), b.take(5)
	case reflect.String:
		return rv.String(), b.take(rv.Len() + 2)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return normalizeInt(rv.Int(), b)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return normalizeInt(int64(u), b)
		}
		return normalizeFloat(float64(u), b)
	case reflect.Float32:
		return normalizeFloat(rv.Float(), b)
	case reflect.Map:
		if err := b.take(2 + rv.Len()); err != nil {
			return nil, err
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k, err := mapKey(it.Key())
			if err != nil {
				return nil, err
			}
			if err := b.take(len(k) + 3); err != nil {
				return nil, err
			}
			n, err := normalizeDepth(it.Value().Interface(), b, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		if err := b.take(2 + rv.Len()); err != nil {
			return nil, err
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, err := normalizeDepth(rv.Index(i).Interface(), b, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, b.take(4)
		}
		return normalizeDepth(rv.Elem().Interface(), b, depth+1)
	}
	return nil, fmt.Errorf("the expression gives a value of type %T, which a template cannot render", v)
}

func normalizeInt(i int64, b *budget) (any, error) {
	if i < math.MinInt || i > math.MaxInt {
		return normalizeFloat(float64(i), b)
	}
	return int(i), b.take(8)
}

func normalizeFloat(f float64, b *budget) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("the expression gives %v, which is not a number JSON can hold", f)
	}
	return f, b.take(8)
}

// mapKey converts a map key to a string.
func mapKey(k reflect.Value) (string, error) {
	if k.Kind() == reflect.Interface {
		if k.IsNil() {
			return "", nil
		}
		k = k.Elem()
	}
	switch k.Kind() {
	case reflect.String:
		return k.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(k.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return string(appendNumber(nil, k.Float())), nil
	}
	return "", fmt.Errorf("the expression gives a map with keys of type %s, which a template cannot render", k.Type())
}

// formatText formats a normalized value for text: strings as they are, nil
// as "", numbers without exponent when integral, maps and arrays as compact
// JSON.
func formatText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return string(appendNumber(nil, v))
	}
	e := encoder{limit: math.MaxInt}
	e.value(v, 0)
	return string(e.buf)
}

// appendNumber appends f as JSON: integral values without exponent (1e21
// as 1000000000000000000000, as text shows it), others as encoding/json
// writes them.
func appendNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// Not produced by normalize, which refuses them.
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	if f == math.Trunc(f) {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	var a atoms
	return a.append(b, f)
}

// atoms writes JSON strings and numbers with encoding/json, without HTML
// escaping; its buffer is reused from one value to the next.
type atoms struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// append appends v, a string or a finite float64, as JSON.
func (a *atoms) append(b []byte, v any) []byte {
	if a.enc == nil {
		a.enc = json.NewEncoder(&a.buf)
		a.enc.SetEscapeHTML(false)
	}
	a.buf.Reset()
	if err := a.enc.Encode(v); err != nil {
		// Unreachable: strings and finite numbers always encode.
		return append(b, "null"...)
	}
	return append(b, bytes.TrimSuffix(a.buf.Bytes(), []byte("\n"))...)
}

// encoder writes normalized values as JSON, compact or indented, with sorted
// keys and without HTML escaping, and stops once its output passes limit.
// Strings and fractions are encoding/json's; the walk is this encoder's own
// for two reasons encoding/json cannot serve:
//   - the output limit: indented output grows with the square of the
//     nesting depth (a 10,000-deep array is some 200 MB indented), and
//     encoding/json builds all of it in memory before its size can be seen;
//   - integral numbers without exponent, as text writes them (encoding/json
//     writes 1e21 as 1e+21).
type encoder struct {
	buf    []byte
	indent string
	limit  int
	over   bool
	atoms  atoms
}

func (e *encoder) value(v any, depth int) {
	if e.over {
		return
	}
	if len(e.buf) > e.limit {
		e.over = true
		return
	}
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case float64:
		e.buf = appendNumber(e.buf, v)
	case string:
		e.buf = e.atoms.append(e.buf, v)
	case []any:
		if len(v) == 0 {
			e.buf = append(e.buf, "[]"...)
			return
		}
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.newline(depth + 1)
			e.value(x, depth+1)
		}
		e.newline(depth)
		e.buf = append(e.buf, ']')
	case map[string]any:
		if len(v) == 0 {
			e.buf = append(e.buf, "{}"...)
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.newline(depth + 1)
			e.buf = e.atoms.append(e.buf, k)
			e.buf = append(e.buf, ':')
			if e.indent != "" {
				e.buf = append(e.buf, ' ')
			}
			e.value(v[k], depth+1)
			if e.over {
				return
			}
		}
		e.newline(depth)
		e.buf = append(e.buf, '}')
	default:
		// Not produced by normalize.
		e.buf = e.atoms.append(e.buf, fmt.Sprint(v))
	}
}

// newline starts an indented line, when indenting.
func (e *encoder) newline(depth int) {
	if e.indent == "" || e.over {
		return
	}
	if len(e.buf)+1+depth*len(e.indent) > e.limit {
		e.over = true
		return
	}
	e.buf = append(e.buf, '\n')
	for range depth {
		e.buf = append(e.buf, e.indent...)
	}
}
