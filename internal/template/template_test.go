package template_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// testEnv returns the env the tests render against.
func testEnv() map[string]any {
	return map[string]any{
		"trigger": map[string]any{
			"body": map[string]any{
				"name":  "Ann",
				"total": 120.5,
				"count": 3.0,
				"flag":  true,
				"items": []any{
					map[string]any{"id": 1.0, "name": "pen"},
					map[string]any{"id": 2.0, "name": "ink"},
				},
				"tags": []any{"a", "b"},
				"html": "<b>&</b>",
			},
			"headers": map[string]any{"content-type": "application/json"},
			"query":   map[string]any{"page": "2"},
		},
		"steps": map[string]any{
			"fetch": map[string]any{"output": map[string]any{"status": 200, "body": map[string]any{"id": "x1"}}},
		},
	}
}

func mustParse(t *testing.T, s string) *template.Template {
	t.Helper()
	tpl, err := template.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return tpl
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"plain text", "hello", "hello"},
		{"empty", "", ""},
		{"raw string", "{{ trigger.body.name }}", "Ann"},
		{"raw number keeps type", "{{ trigger.body.total }}", 120.5},
		{"raw integral float", "{{ trigger.body.count }}", 3.0},
		{"raw int arithmetic", "{{ 2 + 3 }}", 5},
		{"raw bool", "{{ trigger.body.flag }}", true},
		{"raw map keeps type", "{{ steps.fetch.output.body }}", map[string]any{"id": "x1"}},
		{"raw array", "{{ trigger.body.tags }}", []any{"a", "b"}},
		{"raw no spaces", "{{trigger.body.name}}", "Ann"},
		{"raw with newlines", "{{\n  trigger.body.name\n}}", "Ann"},
		{"missing key is nil", "{{ trigger.body.missing }}", nil},
		{"member of missing is nil", "{{ trigger.body.missing.deeper.still }}", nil},
		{"index out of range is nil", "{{ trigger.body.items[7].id }}", nil},
		{"negative index", "{{ trigger.body.items[-1].name }}", "ink"},
		{"unknown step is nil", "{{ steps.nope.output }}", nil},
		{"bracket step", `{{ steps["fetch"].output.status }}`, 200},
		{"nil coalescing", "{{ trigger.body.missing ?? 'none' }}", "none"},
		{"ternary", "{{ trigger.body.total > 100 ? 'big' : 'small' }}", "big"},
		{"builtins", "{{ upper(trigger.body.name) + '!' }}", "ANN!"},
		{"len", "{{ len(trigger.body.items) }}", 2},
		{"map predicate", "{{ map(trigger.body.items, .name) }}", []any{"pen", "ink"}},
		{"pipe", "{{ trigger.body.items | filter(.id > 1) | map(.name) }}", []any{"ink"}},
		{"join", "{{ join(trigger.body.tags, ',') }}", "a,b"},
		{"let", "{{ let n = trigger.body.count; n * 2 }}", 6.0},
		{"map literal", `{{ {"a": {"b": 1}} }}`, map[string]any{"a": map[string]any{"b": 1}}},
		{"header", `{{ trigger.headers["content-type"] }}`, "application/json"},
		{"query", "{{ trigger.query.page }}", "2"},
		{"toJSON", "{{ toJSON({'a': [1, 2]}) }}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}"},
		{"string of number", "{{ string(42) }}", "42"},
		{"method call", "{{ date('2024-03-01').Year() }}", 2024},
		{"repeat", "{{ repeat('ab', 3) }}", "ababab"},
		{"replace", "{{ replace('a-b-c', '-', '+') }}", "a+b+c"},
		{"text with one value", "Hi {{ trigger.body.name }}!", "Hi Ann!"},
		{"text with spaces around one value", " {{ trigger.body.name }}", " Ann"},
		{"text two values", "{{ trigger.body.name }}/{{ trigger.query.page }}", "Ann/2"},
		{"text nil is empty", "[{{ trigger.body.missing }}]", "[]"},
		{"text integral number", "n={{ trigger.body.count }}", "n=3"},
		{"text fraction", "t={{ trigger.body.total }}", "t=120.5"},
		{"text big integral number has no exponent", "{{ 1e21 }}.", "1000000000000000000000."},
		{"text small number", "{{ 0.0000001 }}.", "1e-7."},
		{"text bool", "ok={{ trigger.body.flag }}", "ok=true"},
		{"text map is compact JSON", "m={{ steps.fetch.output.body }}", `m={"id":"x1"}`},
		{"text array is compact JSON", "a={{ trigger.body.items }}", `a=[{"id":1,"name":"pen"},{"id":2,"name":"ink"}]`},
		{"text JSON is not HTML-escaped", "{{ [trigger.body.html] }}.", `["<b>&</b>"].`},
		{"text string as is", "<{{ trigger.body.html }}>", "<<b>&</b>>"},
		{"literal braces", `{{ "{{" }} name }}`, "{{ name }}"},
		{"closing braces in string", `{{ "}}" }}`, "}}"},
		{"closing braces in raw string", "{{ `a}}b` }}", "a}}b"},
		{"lone closing braces are text", "a }} b", "a }} b"},
		{"single brace is text", "{ {x} }", "{ {x} }"},
		{"block comment", "{{ 1 /* }} */ }}", 1},
		{"unicode text", "héllo {{ trigger.body.name }} ✓", "héllo Ann ✓"},
	}
	env := testEnv()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustParse(t, tt.src).Render(env)
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.src, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Render(%q) = %#v, want %#v", tt.src, got, tt.want)
			}
		})
	}
}

func TestRenderNormalizesTypes(t *testing.T) {
	env := map[string]any{"trigger": map[string]any{"body": map[string]any{
		"strs":  []string{"x", "y"},
		"m":     map[string]string{"k": "v"},
		"i64":   int64(7),
		"u8":    uint8(9),
		"when":  time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"dur":   90 * time.Minute,
		"bytes": []byte("hi"),
	}}}
	tests := []struct {
		src  string
		want any
	}{
		{"{{ trigger.body.strs }}", []any{"x", "y"}},
		{"{{ trigger.body.m }}", map[string]any{"k": "v"}},
		{"{{ trigger.body.i64 }}", 7},
		{"{{ trigger.body.u8 }}", 9},
		{"{{ trigger.body.when }}", "2024-05-06T07:08:09Z"},
		{"{{ trigger.body.dur }}", "1h30m0s"},
		{"{{ trigger.body.bytes }}", "aGk="},
		{"{{ groupBy([1, 2, 3], # % 2) }}", map[string]any{"0": []any{2}, "1": []any{1, 3}}},
	}
	for _, tt := range tests {
		got, err := mustParse(t, tt.src).Render(env)
		if err != nil {
			t.Fatalf("Render(%q): %v", tt.src, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Render(%q) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the message
	}{
		{"unknown root", "{{ foo.bar }}", []string{`"foo.bar"`, "character 4", "unknown name foo"}},
		{"unknown root later", "ab {{ trigger.body.x + user.id }}", []string{"character 24", "unknown name user"}},
		{"env", "{{ $env }}", []string{"unknown name $env"}},
		{"bare steps", "{{ steps }}", []string{"steps must be followed by a step id"}},
		{"dynamic step", "{{ steps[trigger.body.id].output }}", []string{"steps must be followed by a step id"}},
		{"function call", "{{ exec('rm') }}", []string{"unknown function exec"}},
		{"let named like a root", "{{ let steps = 1; steps }}", []string{"cannot declare a variable named steps"}},
		{"syntax", "{{ trigger.body. }}", []string{`"trigger.body."`}},
		{"unfinished", "x{{ 1 + }}", []string{`"1 +"`, "unexpected token"}},
		{"empty", "a {{ }} b", []string{"empty expression", "character 3"}},
		{"empty tight", "{{}}", []string{"empty expression", "character 1"}},
		{"unclosed", "hello {{ trigger.body", []string{`unclosed "{{"`, "character 7"}},
		{"unclosed string", `{{ "abc }}`, []string{`unclosed "{{"`}},
		{"unclosed after one", "{{ 1 }} {{", []string{`unclosed "{{"`, "character 9"}},
		{"position counts characters", "é{{ nope }}", []string{"character 5"}},
		{"arity", "{{ upper() }}", []string{"upper"}},
		{"bad regexp", "{{ trigger.body.name matches '(' }}", []string{"error parsing regexp"}},
		{"bad builtin argument", "{{ len(1) }}", []string{"len"}},
		{"too many nodes", "{{ " + strings.Repeat("1+", 1000) + "1 }}", []string{"maximum allowed nodes"}},
		{"too long", strings.Repeat("a", 64<<10+1), []string{"limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := template.Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tt.src)
			}
			var we *wiresk.Error
			if !errors.As(err, &we) || we.Code != wiresk.EValidation {
				t.Fatalf("Parse(%q) error = %#v, want a *wiresk.Error with code %s", tt.src, err, wiresk.EValidation)
			}
			for _, w := range tt.want {
				if !strings.Contains(we.Message, w) {
					t.Errorf("Parse(%q) message = %q, want it to contain %q", tt.src, we.Message, w)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"member of string", "{{ trigger.body.name.first }}", "cannot read"},
		{"key of array", "{{ trigger.body.items.name }}", "indexes are integers"},
		{"index of object", "{{ trigger.body[0] }}", "keys are strings"},
		{"type error", "{{ trigger.body.name * 2 }}", "trigger.body.name * 2"},
		{"infinity", "{{ 1 / 0 }}", "not a number JSON can hold"},
		{"function value", "{{ now().Format }}", "cannot render"},
		{"negative repeat", "{{ repeat('a', -1) }}", "negative"},
	}
	env := testEnv()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustParse(t, tt.src).Render(env)
			if err == nil {
				t.Fatalf("Render(%q) succeeded, want an error", tt.src)
			}
			if got := wiresk.ErrorCode(err); got != wiresk.EValidation {
				t.Errorf("Render(%q) error code = %q, want %q", tt.src, got, wiresk.EValidation)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render(%q) error = %q, want it to contain %q", tt.src, err, tt.want)
			}
		})
	}
}

// TestRenderBounded checks that expressions that would take huge memory or
// time fail fast instead.
func TestRenderBounded(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	env := map[string]any{"trigger": map[string]any{"body": map[string]any{"s": big, "arr": make([]any, 100000)}}}
	tests := []string{
		"{{ reduce(1..64, #acc + #acc, 'ab') }}",
		"{{ repeat(repeat('x', 1000), 1000000) }}",
		"{{ repeat(trigger.body.s, 1000) }}",
		"{{ replace(trigger.body.s, '', trigger.body.s) }}",
		"{{ join(map(0..9999, trigger.body.s), '') }}",
		"{{ toJSON(map(0..9999, trigger.body.s)) }}",
		"{{ string(map(0..9999, trigger.body.s)) }}",
		"{{ map(0..9999, trigger.body.s) }}",
		"x{{ map(0..9999, trigger.body.s) }}",
		"{{ map(0..9999, upper(trigger.body.s)) }}",
		"{{ all(trigger.body.arr, all(trigger.body.arr, true)) }}",
		"{{ any(0..99999, trigger.body.s contains 'y') }}",
		"{{ let a = trigger.body.s + trigger.body.s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; e + e }}",
		"{{ map(0..999, map(0..999, map(0..999, #))) }}",
		"{{ 0..100000000 }}",
		"{{ toJSON(fromJSON(repeat('[', 5000) + repeat(']', 5000))) }}",
	}
	for _, src := range tests {
		start := time.Now()
		_, err := mustParse(t, src).Render(env)
		if err == nil {
			t.Errorf("Render(%.60q) succeeded, want a budget error", src)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Render(%.60q) took %v, want well under 5s", src, d)
		}
	}
}

func TestStepRefs(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"plain", nil},
		{"{{ trigger.body }}", nil},
		{"{{ steps.a.output }}", []string{"a"}},
		{`{{ steps["b"].output }} {{ steps.a.output.x }} {{ steps.a.output.y }}`, []string{"a", "b"}},
		{"{{ steps?.c?.output }}", []string{"c"}},
		{"{{ map(trigger.body.items, steps.d.output[#.id]) }}", []string{"d"}},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.src).StepRefs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("StepRefs(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct {
		src  string
		want string
		ok   bool
	}{
		{"https://example.com/a", "https://example.com/a", true},
		{"", "", true},
		{"a }} b", "a }} b", true},
		{"https://{{ trigger.query.host }}/", "", false},
	}
	for _, tt := range tests {
		got, ok := mustParse(t, tt.src).Literal()
		if got != tt.want || ok != tt.ok {
			t.Errorf("Literal(%q) = %q, %v, want %q, %v", tt.src, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCompileRender(t *testing.T) {
	v, err := template.Compile(map[string]any{
		"url":    "https://api.example.com/users/{{ steps.fetch.output.body.id }}",
		"method": "POST",
		"body": map[string]any{
			"name":  "{{ trigger.body.name }}",
			"total": "{{ trigger.body.total }}",
			"items": []any{"{{ trigger.body.items[0] }}", 7.0, nil, true},
			"note":  "static",
		},
	})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if got, want := v.StepRefs(), []string{"fetch"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StepRefs() = %q, want %q", got, want)
	}
	got, err := v.Render(testEnv())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	want := map[string]any{
		"url":    "https://api.example.com/users/x1",
		"method": "POST",
		"body": map[string]any{
			"name":  "Ann",
			"total": 120.5,
			"items": []any{map[string]any{"id": 1.0, "name": "pen"}, 7.0, nil, true},
			"note":  "static",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Render() = %#v, want %#v", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		v         any
		wantField string
		wantMsg   string
	}{
		{"root string", "{{ nope }}", "", "unknown name nope"},
		{"nested path", map[string]any{"body": map[string]any{"items": []any{"a", "b", map[string]any{"name": "{{ x }}"}}}}, "body.items[2].name", "unknown name x"},
		{"odd key", map[string]any{"headers": map[string]any{"X Key": "{{"}}, `headers["X Key"]`, "unclosed"},
		{"unsupported type", map[string]any{"f": func() {}}, "f", "unsupported type"},
		{"struct", map[string]any{"a": []any{struct{}{}}}, "a[0]", "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := template.Compile(tt.v)
			var we *wiresk.Error
			if !errors.As(err, &we) {
				t.Fatalf("Compile error = %v, want a *wiresk.Error", err)
			}
			if we.Code != wiresk.EValidation || we.Field != tt.wantField || !strings.Contains(we.Message, tt.wantMsg) {
				t.Errorf("Compile error = code %q field %q message %q, want %q, %q, message containing %q", we.Code, we.Field, we.Message, wiresk.EValidation, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestValueRenderErrorField(t *testing.T) {
	v, err := template.Compile(map[string]any{"body": []any{"ok", map[string]any{"n": "{{ trigger.body.name * 2 }}"}}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	_, err = v.Render(testEnv())
	if got, want := wiresk.ErrorField(err), "body[1].n"; got != want {
		t.Errorf("Render error field = %q, want %q (error %v)", got, want, err)
	}
}

func TestCondition(t *testing.T) {
	tests := []struct {
		src  string
		want bool
		refs []string
	}{
		{"trigger.body.total > 100", true, nil},
		{"trigger.body.total > 1000", false, nil},
		{"{{ trigger.body.flag }}", true, nil},
		{"  {{ trigger.body.flag == false }}  ", false, nil},
		{"steps.fetch.output.status == 200", true, []string{"fetch"}},
		{"trigger.body.missing == nil", true, nil},
		{"'b' in trigger.body.tags && len(trigger.body.items) == 2", true, nil},
	}
	env := testEnv()
	for _, tt := range tests {
		c, err := template.ParseCondition(tt.src)
		if err != nil {
			t.Fatalf("ParseCondition(%q): %v", tt.src, err)
		}
		got, err := c.Eval(env)
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q) = %v, %v, want %v", tt.src, got, err, tt.want)
		}
		if r := c.StepRefs(); !reflect.DeepEqual(r, tt.refs) {
			t.Errorf("StepRefs(%q) = %q, want %q", tt.src, r, tt.refs)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	parse := []struct{ src, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"1 + 2", "expected bool"},
		{"{{ 'yes' }}", "expected bool"},
		{"user.admin", "unknown name user"},
		{"a {{ true }}", "one expression"},
		{"{{ true }}{{ false }}", "one expression"},
		{"{{ true ", "unclosed"},
	}
	for _, tt := range parse {
		_, err := template.ParseCondition(tt.src)
		if err == nil || wiresk.ErrorCode(err) != wiresk.EValidation || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCondition(%q) error = %v, want a validation error containing %q", tt.src, err, tt.want)
		}
	}
	eval := []struct{ src, want string }{
		{"trigger.body.missing", "gives nil, not true or false"},
		{"trigger.body.name", `gives "Ann", not true or false`},
	}
	for _, tt := range eval {
		c, err := template.ParseCondition(tt.src)
		if err != nil {
			t.Fatalf("ParseCondition(%q): %v", tt.src, err)
		}
		if _, err := c.Eval(testEnv()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Eval(%q) error = %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}

func TestConcurrentRender(t *testing.T) {
	tpl := mustParse(t, "{{ trigger.body.name }}-{{ map(trigger.body.items, .id) }}-{{ steps.fetch.output.status }}")
	v, err := template.Compile(map[string]any{"a": "{{ trigger.body.items | map(.name) }}", "b": "x{{ trigger.body.count }}"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := template.ParseCondition("len(trigger.body.tags) == 2")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := testEnv()
			for range 50 {
				got, err := tpl.Render(env)
				if want := "Ann-[1,2]-200"; err != nil || got != want {
					t.Errorf("Render = %v, %v, want %q", got, err, want)
					return
				}
				if _, err := v.Render(env); err != nil {
					t.Errorf("Value.Render: %v", err)
					return
				}
				if ok, err := c.Eval(env); err != nil || !ok {
					t.Errorf("Eval = %v, %v, want true", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
