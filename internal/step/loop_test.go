package step_test

import (
	"strings"
	"testing"

	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

// loopInput returns the input of a loop step over forEach running inner.
func loopInput(forEach any, inner map[string]any) map[string]any {
	return map[string]any{"forEach": forEach, "step": inner}
}

func httpInner(input map[string]any) map[string]any {
	return map[string]any{"app": "http", "method": "request", "input": input}
}

func TestLoopValidateStep(t *testing.T) {
	kinds := step.NewRegistry(&step.HTTP{})
	records := "{{ steps.list.output.body.records }}"
	withMax := func(n any) map[string]any {
		in := loopInput(records, httpInner(map[string]any{"url": "https://e.com/{{ item.id }}"}))
		in["maxItems"] = n
		return in
	}
	tests := []struct {
		name      string
		app       string
		input     map[string]any
		wantField string // "" for a valid step
		wantText  string
	}{
		{"http per item", "data", loopInput(records, httpInner(map[string]any{"url": "https://e.com/{{ item.id }}", "body": map[string]any{"n": "{{ index }}"}})), "", ""},
		{"set per item", "data", loopInput(records, map[string]any{"app": "data", "method": "set", "input": map[string]any{"fields": map[string]any{"email": "{{ item.email }}"}}}), "", ""},
		{"literal list", "data", loopInput([]any{1.0, 2.0}, httpInner(map[string]any{"url": "https://e.com/{{ item }}"})), "", ""},
		{"maxItems 1000", "data", withMax(1000.0), "", ""},
		{"maxItems 1", "data", withMax(1), "", ""},

		{"maxItems 0", "data", withMax(0.0), "input.maxItems", "from 1 to 1000"},
		{"maxItems over the bound", "data", withMax(1001.0), "input.maxItems", "from 1 to 1000"},
		{"maxItems not whole", "data", withMax(2.5), "input.maxItems", "whole number"},
		{"maxItems a template", "data", withMax("{{ trigger.body.n }}"), "input.maxItems", "not a template"},
		{"no forEach", "data", map[string]any{"step": httpInner(map[string]any{"url": "https://e.com"})}, "input.forEach", "required"},
		{"forEach an object", "data", loopInput(map[string]any{}, httpInner(map[string]any{"url": "https://e.com"})), "input.forEach", "required"},
		{"unknown loop input", "data", map[string]any{"forEach": records, "step": httpInner(map[string]any{"url": "https://e.com"}), "each": 1.0}, "input.each", "forEach, maxItems, step"},
		{"no step", "data", map[string]any{"forEach": records}, "input.step", "required"},
		{"step without app", "data", loopInput(records, map[string]any{"method": "request", "input": map[string]any{}}), "input.step.app", "required"},
		{"unknown inner app", "data", loopInput(records, map[string]any{"app": "fax", "method": "send", "input": map[string]any{}}), "input.step.app", `unknown app "fax"`},
		{"unknown inner method", "data", loopInput(records, map[string]any{"app": "http", "method": "fetch", "input": map[string]any{}}), "input.step.method", `unknown method "fetch"`},
		{"inner input refused", "data", loopInput(records, httpInner(map[string]any{"method": "GET", "body": "{{ item }}"})), "input.step.input.url", "required"},
		{"inner step with an id", "data", loopInput(records, map[string]any{"id": "x", "app": "http", "method": "request", "input": map[string]any{"url": "https://e.com"}}), "input.step.id", "no id"},
		{"inner step with if", "data", loopInput(records, map[string]any{"if": "item.ok", "app": "http", "method": "request", "input": map[string]any{"url": "https://e.com"}}), "input.step.if", "no id nor if"},
		{"nested loop", "data", loopInput(records, map[string]any{"app": "data", "method": "loop", "input": loopInput(records, httpInner(map[string]any{"url": "https://e.com"}))}), "input.step", "a loop cannot run inside a loop"},
		{"forEach reads item", "data", loopInput("{{ item.list }}", httpInner(map[string]any{"url": "https://e.com"})), "input.forEach", "only in the input of a loop's step"},
		{"item outside a loop", "http", map[string]any{"url": "https://e.com/{{ item.id }}"}, "input.url", "only in the input of a loop's step"},
		{"index outside a loop", "http", map[string]any{"url": "https://e.com", "body": map[string]any{"list": []any{"{{ index }}"}}}, "input.body.list[0]", "only in the input of a loop's step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "loop"
			if tt.app == "http" {
				method = "request"
			}
			err := kinds.ValidateStep(tt.app, method, tt.input)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ValidateStep = %v, want nil", err)
				}
				return
			}
			if got := wiresk.ErrorField(err); wiresk.ErrorCode(err) != wiresk.EValidation || got != tt.wantField {
				t.Fatalf("ValidateStep = %v (field %q), want a validation error on %q", err, got, tt.wantField)
			}
			if !strings.Contains(wiresk.ErrorMessage(err), tt.wantText) {
				t.Errorf("message = %q, want it to say %q", wiresk.ErrorMessage(err), tt.wantText)
			}
		})
	}
}

func TestLoopItems(t *testing.T) {
	in, err := step.ParseLoop(map[string]any{"forEach": "{{ x }}", "maxItems": 3.0, "step": httpInner(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if in.MaxItems != 3 || in.Step.App != "http" || in.Step.Method != "request" || in.Step.Input == nil {
		t.Fatalf("ParseLoop = %+v, want maxItems 3 and the http step with an empty input", in)
	}
	if items, err := in.Items([]any{}); err != nil || len(items) != 0 {
		t.Errorf("Items([]) = %v, %v; want no items and no error", items, err)
	}
	if items, err := in.Items([]any{"a", "b", "c"}); err != nil || len(items) != 3 {
		t.Errorf("Items of 3 = %v, %v; want the 3 items", items, err)
	}
	_, err = in.Items([]any{1, 2, 3, 4})
	if !step.IsPermanent(err) || !strings.Contains(err.Error(), "4 items") || !strings.Contains(err.Error(), "input.maxItems (3)") {
		t.Errorf("Items of 4 = %v, want a permanent error saying 4 items and the limit 3", err)
	}
	for _, v := range []any{nil, "a,b", map[string]any{"a": 1}, 7.0} {
		if _, err := in.Items(v); !step.IsPermanent(err) || !strings.HasPrefix(err.Error(), "input.forEach: ") || !strings.Contains(err.Error(), "want a list") {
			t.Errorf("Items(%v) = %v, want a permanent error naming input.forEach", v, err)
		}
	}
	def, _ := step.ParseLoop(map[string]any{"forEach": "{{ x }}", "step": httpInner(nil)})
	if def.MaxItems != step.DefaultLoopItems || step.DefaultLoopItems != 100 || step.MaxLoopItems != 1000 {
		t.Errorf("default maxItems = %d (DefaultLoopItems %d, MaxLoopItems %d), want 100 and a bound of 1000", def.MaxItems, step.DefaultLoopItems, step.MaxLoopItems)
	}
}

func TestRegistryInnerStep(t *testing.T) {
	kinds := step.NewRegistry(&step.HTTP{})
	inner := httpInner(map[string]any{"url": "https://e.com"})
	inner["connectionId"] = "con_1"
	s, ok := kinds.InnerStep("data", "loop", loopInput("{{ x }}", inner))
	if !ok || s.App != "http" || s.Method != "request" || s.ConnectionID != "con_1" {
		t.Errorf("InnerStep = %+v, %v; want the http step with connection con_1", s, ok)
	}
	if _, ok := kinds.InnerStep("http", "request", map[string]any{"url": "https://e.com"}); ok {
		t.Error("InnerStep of an http step = true, want false: only a loop has an inner step")
	}
}
