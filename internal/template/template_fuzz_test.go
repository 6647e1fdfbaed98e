package template_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// fuzzSeeds are templates, good and bad, that seed the fuzzers.
var fuzzSeeds = []string{
	"",
	"plain text",
	"{{ trigger.body }}",
	"Hello {{ trigger.body.name }}!",
	"{{ trigger.body.items[0].id }}",
	"{{ trigger.body.items[-1] }}",
	`{{ steps["a"].output.body }}`,
	"{{ steps.a.output.status == 200 }}",
	"{{ trigger.body.missing ?? 'x' }}",
	"{{ trigger?.body?.a?.b }}",
	"{{ upper(trigger.body.name) }} {{ len(trigger.body.items) }}",
	"{{ map(trigger.body.items, .id) }}",
	"{{ trigger.body.items | filter(.id > 1) | map(.name) | join(',') }}",
	"{{ reduce(1..10, #acc + #, 0) }}",
	"{{ let x = trigger.body.n; x * 2 }}",
	"{{ if trigger.body.n > 1 { 'a' } else { 'b' } }}",
	`{{ {"a": {"b": [1, 2]}} }}`,
	`{{ "{{" }}`,
	`{{ "}}" }}`,
	"{{ `raw }}` }}",
	"{{ 1 /* }} */ }}",
	"{{ 1 // c }}",
	"{{ toJSON(trigger.body) }}",
	"{{ fromJSON(trigger.body.s) }}",
	"{{ string(trigger.body) }}",
	"{{ repeat('ab', 3) }}",
	"{{ replace(trigger.body.s, '', 'x') }}",
	"{{ date('2024-01-01').Format('2006') }}",
	"{{ now().Unix() }}",
	"{{ trigger.body.s matches '^a+$' }}",
	"{{ groupBy(trigger.body.items, .id) }}",
	"{{ sortBy(trigger.body.items, .id, 'desc') }}",
	"{{ 0..10 }}",
	"{{ 1 / 0 }}",
	"{{ 9223372036854775807 + 1 }}",
	"{{ -9223372036854775808 / -1 }}",
	"{{ trigger.body.s[1:3] }}",
	"{{ trigger.body[trigger.body.key] }}",
	"{{ foo }}",
	"{{ steps }}",
	"{{ $env }}",
	"{{ exec() }}",
	"{{ }}",
	"{{",
	"}}",
	"{{ {",
	"{{ '",
	"{{ \"\\",
	"{{ `",
	"{{ /*",
	"{{ 1 + }}",
	"\xff{{ trigger.body \xfe }}",
	"{{ trigger.body.ünïcode }}",
	"{{ #acc }}",
	"{{ .name }}",
	"{{ map(0..999, map(0..999, #)) }}",
	"{{ reduce(1..64, #acc + #acc, 'ab') }}",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := template.Parse(s)
		if err != nil {
			var we *wiresk.Error
			if !errors.As(err, &we) || we.Code != wiresk.EValidation {
				t.Fatalf("Parse(%q) error = %#v, want a *wiresk.Error with code %s", s, err, wiresk.EValidation)
			}
		} else {
			refs := tpl.StepRefs()
			if !slices.IsSorted(refs) || len(slices.Compact(slices.Clone(refs))) != len(refs) {
				t.Errorf("StepRefs(%q) = %q, want sorted and unique", s, refs)
			}
			if !strings.Contains(s, "{{") {
				if got, ok := tpl.Literal(); !ok || got != s {
					t.Errorf("Literal(%q) = %q, %v, want the text itself", s, got, ok)
				}
			}
		}
		if _, err := template.ParseCondition(s); err != nil && wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("ParseCondition(%q) error = %v, want a validation error", s, err)
		}
		if _, err := template.Compile(map[string]any{"a": []any{s}}); err != nil && wiresk.ErrorField(err) != "a[0]" {
			t.Errorf("Compile error field = %q, want %q", wiresk.ErrorField(err), "a[0]")
		}
	})
}

func FuzzRender(f *testing.F) {
	bodies := []string{
		`{"name": "Ann", "n": 2, "items": [{"id": 1, "name": "a"}, {"id": 2}], "s": "aaa", "key": "name"}`,
		`[1, "two", null, true, {"x": []}]`,
		`"just a string"`,
		`not json at all`,
		`{"deep": [[[[[[[[[[1]]]]]]]]]]}`,
	}
	for i, s := range fuzzSeeds {
		f.Add(s, bodies[i%len(bodies)])
	}
	f.Fuzz(func(t *testing.T, src, body string) {
		tpl, err := template.Parse(src)
		if err != nil {
			return
		}
		var b any
		if json.Unmarshal([]byte(body), &b) != nil {
			b = body
		}
		env := map[string]any{
			"trigger": map[string]any{"body": b, "headers": map[string]any{"x": "y"}, "query": map[string]any{}},
			"steps":   map[string]any{"a": map[string]any{"output": b}},
		}
		out, err := tpl.Render(env)
		if err != nil {
			if wiresk.ErrorCode(err) != wiresk.EValidation {
				t.Fatalf("Render(%q) error = %v, want a validation error", src, err)
			}
			return
		}
		if _, ok := tpl.Literal(); ok {
			if _, isString := out.(string); !isString {
				t.Errorf("Render(%q) = %#v, want a string", src, out)
			}
		}
		if _, err := json.Marshal(out); err != nil {
			t.Errorf("Render(%q) = %#v, which does not encode as JSON: %v", src, out, err)
		}
		if c, err := template.ParseCondition(src); err == nil {
			_, _ = c.Eval(env)
		}
	})
}
