package step_test

import (
	"errors"
	"testing"

	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name         string
		pass         any
		wantFiltered bool
		wantErr      bool
	}{
		{"true", true, false, false},
		{"false", false, true, false},
		{"rendered text true", "true", false, false},
		{"rendered text false", "false", true, false},
		{"empty text is false", "", true, false},
		{"other text", "yes", false, true},
		{"a number", 1.0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := step.Filter{}.Execute(t.Context(), map[string]any{"pass": tt.pass})
			if got := errors.Is(err, step.ErrFiltered); got != tt.wantFiltered {
				t.Errorf("filtered = %v (err %v), want %v", got, err, tt.wantFiltered)
			}
			if got := err != nil && !errors.Is(err, step.ErrFiltered); got != tt.wantErr {
				t.Errorf("error = %v, want an error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && res.Output.(map[string]any)["passed"] != !tt.wantFiltered {
				t.Errorf("output = %v, want passed=%v", res.Output, !tt.wantFiltered)
			}
		})
	}
	if err := (step.Filter{}).ValidateInput(map[string]any{}); wiresk.ErrorField(err) != "input.pass" {
		t.Errorf("a filter without pass: %v, want a field error on input.pass", err)
	}
}

func TestSet(t *testing.T) {
	res, err := step.Set{}.Execute(t.Context(), map[string]any{"fields": map[string]any{"email": "ada@example.com"}})
	if err != nil || res.Output.(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("Set = %v, %v; want its fields as output", res.Output, err)
	}
	if err := (step.Set{}).ValidateInput(map[string]any{"fields": "x"}); wiresk.ErrorField(err) != "input.fields" {
		t.Errorf("fields not an object: %v, want a field error on input.fields", err)
	}
}
