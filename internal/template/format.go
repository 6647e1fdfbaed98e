package template

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
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

// appendNumber appends f as JSON: integral values without exponent, others
// as encoding/json writes them.
func appendNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	if f == math.Trunc(f) {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// encoder writes normalized values as JSON, compact or indented, with sorted
// keys and without HTML escaping, and stops once its output passes limit.
type encoder struct {
	buf    []byte
	indent string
	limit  int
	over   bool
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
		e.buf = appendString(e.buf, v)
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
			e.buf = appendString(e.buf, k)
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
		e.buf = appendString(e.buf, fmt.Sprint(v))
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

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
