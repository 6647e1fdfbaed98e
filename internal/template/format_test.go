package template_test

import (
	"encoding/json"
	"testing"
)

// TestRenderedJSONStrings checks the JSON that text and toJSON write for
// strings and numbers inside arrays and maps: valid JSON that decodes to
// the value (invalid UTF-8 as U+FFFD), no HTML escaping, U+2028 escaped
// for JavaScript, integral numbers without exponent.
func TestRenderedJSONStrings(t *testing.T) {
	tests := []struct {
		name, s, want string
	}{
		{"HTML stays", "<a href='x'>&</a>", `["<a href='x'>&</a>"]`},
		{"quotes and backslashes", `a"b\c`, `["a\"b\\c"]`},
		{"newline and tab", "a\nb\tc\r", `["a\nb\tc\r"]`},
		{"control character", "a\x01b", `["a\u0001b"]`},
		{"line separator", "a\u2028b\u2029", `["a\u2028b\u2029"]`},
		{"invalid UTF-8", "a\xffb", `["a\ufffdb"]`},
		{"unicode", "héllo ✓", `["héllo ✓"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]any{"trigger": map[string]any{"body": map[string]any{"s": tt.s}}}
			got, err := mustParse(t, "{{ [trigger.body.s] }}.").Render(env)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want + "."; got != want {
				t.Errorf("text: got %s, want %s", got, want)
			}
			got, err = mustParse(t, "{{ toJSON(trigger.body) }}").Render(env)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]string
			if err := json.Unmarshal([]byte(got.(string)), &back); err != nil {
				t.Fatalf("toJSON gave invalid JSON %q: %v", got, err)
			}
			var want []string
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if back["s"] != want[0] {
				t.Errorf("toJSON round trip: got %q, want %q", back["s"], want[0])
			}
		})
	}
	got, err := mustParse(t, "{{ [1e21, 0.5, 1e-7, -3] }}.").Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[1000000000000000000000,0.5,1e-7,-3]."; got != want {
		t.Errorf("numbers: got %v, want %s", got, want)
	}
}
