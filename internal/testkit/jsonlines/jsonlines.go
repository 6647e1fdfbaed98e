// Package jsonlines reads what a JSON logger or an EMF metrics emitter
// wrote, for tests: one JSON object a line.
package jsonlines

import (
	"encoding/json"
	"strings"
	"testing"
)

// MustDecode returns the JSON objects of s, one a non-empty line, and fails
// tb at the first line that is not one.
func MustDecode(tb testing.TB, s string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			tb.Fatalf("not a JSON object: %q", l)
		}
		out = append(out, m)
	}
	return out
}
