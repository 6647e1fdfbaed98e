package template_test

import (
	"strings"
	"testing"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

func TestItemAndIndexRenderFromTheEnv(t *testing.T) {
	v, err := template.Compile(map[string]any{
		"email": "{{ item.email }}",
		"line":  "#{{ index + 1 }} {{ upper(item.name) }} for {{ trigger.body.name }}",
	})
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env["item"] = map[string]any{"email": "ada@example.com", "name": "ada"}
	env["index"] = 2
	got, err := v.Render(env)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if m["email"] != "ada@example.com" || m["line"] != "#3 ADA for Ann" {
		t.Errorf("rendered = %v, want email ada@example.com and line %q", m, "#3 ADA for Ann")
	}
}

func TestReadsItem(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{"{{ item }}", true},
		{"n={{ index }}", true},
		{"{{ trigger.body.items[0] }}", false},
		{"{{ steps.a.output.item }}", false},
		{"{{ let item = 1; item + 1 }}", false},
		{"plain", false},
	} {
		if got := mustParse(t, tt.src).ReadsItem(); got != tt.want {
			t.Errorf("ReadsItem(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestAConditionCannotReadItem(t *testing.T) {
	for _, src := range []string{"item.ok", "{{ index > 2 }}"} {
		_, err := template.ParseCondition(src)
		if wiresk.ErrorCode(err) != wiresk.EValidation || !strings.Contains(wiresk.ErrorMessage(err), "loop") {
			t.Errorf("ParseCondition(%q) = %v, want a validation error saying item and index belong to a loop's step", src, err)
		}
	}
}
