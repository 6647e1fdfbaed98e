package run_test

import (
	"strings"
	"testing"

	"wiresk/internal/run"
)

func TestTooDeep(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"flat object", `{"a":1,"b":[1,2,3]}`, false},
		{"exactly the limit", strings.Repeat("[", 64) + strings.Repeat("]", 64), false},
		{"one past the limit", strings.Repeat("[", 65) + strings.Repeat("]", 65), true},
		{"ten thousand levels", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), true},
		{"objects", strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65), true},
		{"brackets inside a string", `{"s":"` + strings.Repeat("[", 100) + `"}`, false},
		{"escaped quote in a string", `{"s":"\"` + strings.Repeat("[", 100) + `"}`, false},
		{"sequential, not nested", strings.Repeat("[]", 1000), false},
		{"unclosed", strings.Repeat("[", 65), true},
		{"text", "hello", false},
	}
	for _, tt := range tests {
		if got := run.TooDeep([]byte(tt.body), run.MaxBodyDepth); got != tt.want {
			t.Errorf("%s: TooDeep = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestWebhookTooDeepSparesBinaryBodies: brackets in random bytes are not
// nesting; the same brackets in text still are.
func TestWebhookTooDeepSparesBinaryBodies(t *testing.T) {
	binary := append([]byte{0xff, 0xfe}, []byte(strings.Repeat("[", run.MaxBodyDepth+1))...)
	if run.WebhookTooDeep(binary) {
		t.Error("a binary body with 65 brackets was refused")
	}
	if !run.WebhookTooDeep([]byte(strings.Repeat("[", run.MaxBodyDepth+1))) {
		t.Error("65 nested arrays of text were accepted")
	}
	if run.WebhookTooDeep([]byte(strings.Repeat("[", run.MaxBodyDepth))) {
		t.Error("64 nested arrays were refused")
	}
}
