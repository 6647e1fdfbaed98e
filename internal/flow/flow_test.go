package flow_test

import (
	"encoding/json"
	"strings"
	"testing"

	"wiresk/internal/flow"
	"wiresk/internal/wiresk"
)

// kinds is a fake step registry: app "http", method "request", with a url.
type kinds struct{}

func (kinds) ValidateStep(app, method string, input map[string]any) error {
	if app != "http" {
		return wiresk.FieldError("app", "unknown app %q", app)
	}
	if method != "request" {
		return wiresk.FieldError("method", "unknown method %q", method)
	}
	if _, ok := input["url"].(string); !ok {
		return wiresk.FieldError("input.url", "is required")
	}
	return nil
}

func step(id, url string) flow.Step {
	return flow.Step{ID: id, App: "http", Method: "request", Input: map[string]any{"url": url}}
}

func TestValidate(t *testing.T) {
	many := make([]flow.Step, flow.MaxSteps+1)
	for i := range many {
		many[i] = step("s"+strings.Repeat("x", i), "https://e.com")
	}
	cases := []struct {
		name      string
		flow      flow.Flow
		wantField string
	}{
		{"valid", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ trigger.body.id }}"), step("b", "https://e.com/{{ steps.a.output.body.id }}")}}, ""},
		{"valid if", flow.Flow{Name: "f", Steps: []flow.Step{{ID: "a", App: "http", Method: "request", If: "trigger.query.x == 'y'", Input: map[string]any{"url": "https://e.com"}}}}, ""},
		{"no name", flow.Flow{Steps: []flow.Step{step("a", "https://e.com")}}, "name"},
		{"long name", flow.Flow{Name: strings.Repeat("n", 201), Steps: []flow.Step{step("a", "https://e.com")}}, "name"},
		{"no steps", flow.Flow{Name: "f"}, "steps"},
		{"too many steps", flow.Flow{Name: "f", Steps: many}, "steps"},
		{"empty id", flow.Flow{Name: "f", Steps: []flow.Step{step("", "https://e.com")}}, "steps[0].id"},
		{"id with dash", flow.Flow{Name: "f", Steps: []flow.Step{step("a-b", "https://e.com")}}, "steps[0].id"},
		{"duplicate id", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com"), step("a", "https://e.com")}}, "steps[1].id"},
		{"unknown app", flow.Flow{Name: "f", Steps: []flow.Step{{ID: "a", App: "fax", Method: "send", Input: map[string]any{}}}}, "steps[0].app"},
		{"missing url", flow.Flow{Name: "f", Steps: []flow.Step{{ID: "a", App: "http", Method: "request", Input: map[string]any{}}}}, "steps[0].input.url"},
		{"bad template", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ trigger.body. }}")}}, "steps[0].input.url"},
		{"unclosed template", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ trigger.body.id")}}, "steps[0].input.url"},
		{"unknown root", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ secrets.token }}")}}, "steps[0].input.url"},
		{"self reference", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ steps.a.output.id }}")}}, "steps[0].input.url"},
		{"later reference", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ steps.b.output.id }}"), step("b", "https://e.com")}}, "steps[0].input.url"},
		{"missing reference", flow.Flow{Name: "f", Steps: []flow.Step{step("a", "https://e.com/{{ steps.zz.output.id }}")}}, "steps[0].input.url"},
		{"bad if", flow.Flow{Name: "f", Steps: []flow.Step{{ID: "a", App: "http", Method: "request", If: "trigger.body.x ==", Input: map[string]any{"url": "https://e.com"}}}}, "steps[0].if"},
		{"if refers later", flow.Flow{Name: "f", Steps: []flow.Step{{ID: "a", App: "http", Method: "request", If: "steps.b.output.ok", Input: map[string]any{"url": "https://e.com"}}, step("b", "https://e.com")}}, "steps[0].if"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := flow.Validate(c.flow, kinds{})
			if c.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != c.wantField {
				t.Fatalf("Validate = %v (field %q), want validation_failed at %q", err, wiresk.ErrorField(err), c.wantField)
			}
		})
	}
}

// FuzzValidate feeds arbitrary JSON flow definitions to Validate: it must
// never panic, and every error must be a validation error naming a field.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"name":"f","steps":[{"id":"a","app":"http","method":"request","input":{"url":"https://e.com/{{ trigger.body.id }}"}}]}`,
		`{"name":"f","steps":[{"id":"a","app":"http","method":"request","if":"steps.a.output","input":{"url":"{{"}}]}`,
		`{"name":"f","steps":[{"id":"a","app":"http","method":"request","input":{"url":"x","body":{"k":["{{ trigger.headers['x-y'] }}",1,null]}}},{"id":"b","app":"http","method":"request","input":{"url":"{{ steps.a.output.body | len() }}"}}]}`,
		`{"name":"","steps":null}`,
		`{"name":"f","steps":[{"id":"a","app":"http","method":"request","input":{"url":"{{ 1..100000000 }}"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl flow.Flow
		if json.Unmarshal(data, &fl) != nil {
			return
		}
		err := flow.Validate(fl, kinds{})
		if err != nil && (wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) == "") {
			t.Fatalf("Validate error %v is not a validation error naming a field", err)
		}
	})
}
