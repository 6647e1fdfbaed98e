package manage_test

import (
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/manage"
	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

// TestALoopIsCheckedWhenItsFlowIsSaved: the loop's bound and its inner
// step are checked like any step when the Flow is saved, its inner step's
// Connection included, with errors naming the field under the loop.
func TestALoopIsCheckedWhenItsFlowIsSaved(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	kinds := step.NewRegistry(&step.HTTP{})
	if err := appstep.Register(kinds, catalog.MustLoad(), &appcall.Client{}); err != nil {
		t.Fatal(err)
	}
	svc := manage.New(manage.Config{Store: f.store, Kinds: kinds})
	for _, c := range []connection.Connection{
		{ID: "con_hub", GroupID: f.groupID, Name: "Sales HubSpot", App: "hubspot", AuthType: catalog.AuthAPIKey, Status: connection.StatusActive},
		{ID: "con_other", GroupID: "grp_other", Name: "Their HubSpot", App: "hubspot", AuthType: catalog.AuthAPIKey, Status: connection.StatusActive},
	} {
		if err := f.store.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	list := flow.Step{ID: "list", App: "http", Method: "request", Input: map[string]any{"url": "https://api.example.com/leads"}}
	loop := func(input map[string]any) []flow.Step {
		return []flow.Step{list, {ID: "each", App: "data", Method: "loop", Input: input}}
	}
	findEach := func(conn any, email string) map[string]any {
		inner := map[string]any{"app": "hubspot", "method": "find_contact", "input": map[string]any{"email": email}}
		if conn != nil {
			inner["connectionId"] = conn
		}
		return map[string]any{"forEach": "{{ steps.list.output.body.leads }}", "maxItems": 50.0, "step": inner}
	}
	withMax := func(n any) map[string]any {
		in := findEach("con_hub", "{{ item.email }}")
		in["maxItems"] = n
		return in
	}
	for _, tc := range []struct {
		name  string
		steps []flow.Step
		field string // "" when the Flow is saved
		text  string
	}{
		{"a HubSpot search per lead", loop(findEach("con_hub", "{{ item.email }}")), "", ""},
		{"the inner step reads earlier steps", loop(findEach("con_hub", "{{ steps.list.output.body.owner }}-{{ index }}")), "", ""},
		{"maxItems over the bound", loop(withMax(5000.0)), "steps[1].input.maxItems", "1 to 1000"},
		{"maxItems zero", loop(withMax(0.0)), "steps[1].input.maxItems", "1 to 1000"},
		{"inner step without its Connection", loop(findEach(nil, "{{ item.email }}")), "steps[1].input.step.connectionId", "is required"},
		{"inner step with another Group's Connection", loop(findEach("con_other", "{{ item.email }}")), "steps[1].input.step.connectionId", "no Connection"},
		{"inner step missing an input", loop(map[string]any{"forEach": "{{ steps.list.output.body }}", "step": map[string]any{"app": "hubspot", "method": "find_contact", "connectionId": "con_hub"}}), "steps[1].input.step.input.email", "is required"},
		{"inner step of an unknown app", loop(map[string]any{"forEach": "{{ steps.list.output.body }}", "step": map[string]any{"app": "fax", "method": "send"}}), "steps[1].input.step.app", `unknown app "fax"`},
		{"inner step with an unknown input", loop(map[string]any{"forEach": "{{ steps.list.output.body }}", "step": map[string]any{"app": "hubspot", "method": "find_contact", "connectionId": "con_hub", "input": map[string]any{"mail": "{{ item }}"}}}), "steps[1].input.step.input.mail", "not an input"},
		{"a loop in a loop", loop(map[string]any{"forEach": "{{ steps.list.output.body }}", "step": map[string]any{"app": "data", "method": "loop", "input": findEach("con_hub", "{{ item.email }}")}}), "steps[1].input.step", "inside a loop"},
		{"the inner step reads the loop's own output", loop(findEach("con_hub", "{{ steps.each.output.count }}")), "steps[1].input.step.input.email", "does not run before"},
		{"item outside a loop", []flow.Step{{ID: "get", App: "http", Method: "request", Input: map[string]any{"url": "https://e.com/{{ item.id }}"}}}, "steps[0].input.url", "loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Flows.CreateFlow(ctx, f.bob, f.groupID, manage.FlowInput{Name: tc.name, Steps: tc.steps})
			if got := wiresk.ErrorField(err); got != tc.field || (tc.field == "" && err != nil) {
				t.Fatalf("CreateFlow = %v (field %q), want field %q", err, got, tc.field)
			}
			if tc.field != "" && (wiresk.ErrorCode(err) != wiresk.EValidation || !strings.Contains(wiresk.ErrorMessage(err), tc.text)) {
				t.Errorf("CreateFlow = %v, want a validation error saying %q", err, tc.text)
			}
		})
	}
}
