package manage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/manage"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/wiresk"
)

// fixture is the management use cases on an embedded store, with a Group
// of which ada is the owner and bob a member, and grace outside it.
type fixture struct {
	svc           manage.Services
	store         *bolt.Store
	queue         *bolt.Queue
	groupID       string
	ada, bob, eve auth.Identity
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	db, store := embedded.MustStore(t)
	q := embedded.MustQueue(t, db, 5)
	f := &fixture{store: store, queue: q, ada: auth.Identity{UserID: "ada"}, bob: auth.Identity{UserID: "bob"}, eve: auth.Identity{UserID: "eve"}}
	f.svc = manage.New(manage.Config{Store: store, Queue: q, Kinds: step.NewRegistry(&step.HTTP{}), RunOnceWait: 50 * time.Millisecond, Now: func() time.Time { return noon }})
	g, err := f.svc.Groups.CreateGroup(t.Context(), f.ada, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	f.groupID = g.ID
	if _, err := f.svc.Groups.AddMember(t.Context(), f.ada, g.ID, "bob", group.RoleMember); err != nil {
		t.Fatal(err)
	}
	return f
}

// noon is the fixture's clock: mid-day, so that Runs a few seconds old
// are of the same day.
var noon = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := wiresk.ErrorCode(err); got != code {
		t.Errorf("%s: got %v (code %q), want code %q", what, err, got, code)
	}
}

func TestAccess(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		who      auth.Identity
		groupID  string
		min      group.Role
		wantRole group.Role
		wantCode string
	}{
		{"owner", f.ada, f.groupID, group.RoleAdmin, group.RoleOwner, ""},
		{"member below admin", f.bob, f.groupID, group.RoleAdmin, "", wiresk.EForbidden},
		{"member", f.bob, f.groupID, group.RoleMember, group.RoleMember, ""},
		{"outsider", f.eve, f.groupID, group.RoleMember, "", wiresk.ENotFound},
		{"groups claim grants member", auth.Identity{UserID: "eve", Groups: []string{f.groupID}}, f.groupID, group.RoleMember, group.RoleMember, ""},
		{"groups claim of a missing Group", auth.Identity{UserID: "eve", Groups: []string{"grp_none"}}, "grp_none", group.RoleMember, "", wiresk.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, err := f.svc.Access.Authorize(ctx, tt.who, tt.groupID, tt.min)
			wantCode(t, "Authorize", err, tt.wantCode)
			if role != tt.wantRole {
				t.Errorf("role = %q, want %q", role, tt.wantRole)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	_, err := f.svc.Groups.AddMember(ctx, f.bob, f.groupID, "eve", group.RoleMember)
	wantCode(t, "a member adds a member", err, wiresk.EForbidden)
	err = f.svc.Groups.RemoveMember(ctx, f.ada, f.groupID, "ada")
	wantCode(t, "the last owner leaves", err, wiresk.EConflict)
	ms, err := f.svc.Groups.ListMembers(ctx, f.bob, f.groupID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("ListMembers = %v, %v; want ada and bob", ms, err)
	}
	gs, err := f.svc.Groups.ListGroups(ctx, f.eve)
	if err != nil || len(gs) != 0 {
		t.Errorf("an outsider's Groups = %v, %v; want none", gs, err)
	}
}

func TestKeys(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	_, err := f.svc.Keys.CreateAPIKey(ctx, f.bob, f.groupID, manage.KeyInput{Name: "crm"})
	wantCode(t, "a member creates a key", err, wiresk.EForbidden)
	k, err := f.svc.Keys.CreateAPIKey(ctx, f.ada, f.groupID, manage.KeyInput{Name: "crm"})
	if err != nil || k.Plaintext == "" {
		t.Fatalf("CreateAPIKey = %+v, %v; want the key's plaintext once", k, err)
	}
	views, err := f.svc.Keys.ListAPIKeys(ctx, f.bob, f.groupID)
	if err != nil || len(views) != 1 || views[0].ID != k.ID {
		t.Fatalf("ListAPIKeys = %+v, %v; want the key", views, err)
	}
	revoked, err := f.svc.Keys.RevokeAPIKey(ctx, f.ada, f.groupID, k.ID)
	if err != nil || revoked.Status != "revoked" {
		t.Errorf("RevokeAPIKey = %+v, %v; want status revoked", revoked, err)
	}
	_, err = f.svc.Keys.GetAPIKey(ctx, f.eve, f.groupID, k.ID)
	wantCode(t, "an outsider reads the key", err, wiresk.ENotFound)
}

func TestFlows(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	steps := []flow.Step{{ID: "a", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com"}}}
	fl, err := f.svc.Flows.CreateFlow(ctx, f.bob, f.groupID, manage.FlowInput{Name: "Leads", Steps: steps})
	if err != nil || !fl.Enabled || fl.Version != 1 {
		t.Fatalf("CreateFlow = %+v, %v; want an enabled Flow at version 1", fl, err)
	}
	_, err = f.svc.Flows.CreateFlow(ctx, f.bob, f.groupID, manage.FlowInput{Name: "Bad", Steps: []flow.Step{{ID: "a", App: "nope", Method: "x"}}})
	wantCode(t, "a Flow with an unknown step kind", err, wiresk.EValidation)
	_, err = f.svc.Flows.GetFlow(ctx, f.eve, f.groupID, fl.ID)
	wantCode(t, "an outsider reads the Flow", err, wiresk.ENotFound)
	k, err := f.svc.Keys.CreateAPIKey(ctx, f.ada, f.groupID, manage.KeyInput{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.svc.Triggers.CreateTrigger(ctx, f.bob, f.groupID, fl.ID, manage.TriggerInput{APIKeyIDs: []string{k.ID}})
	if err != nil || tr.RoutingKey == "" {
		t.Fatalf("CreateTrigger = %+v, %v; want a routing key", tr, err)
	}
	_, err = f.svc.Triggers.CreateTrigger(ctx, f.bob, f.groupID, fl.ID, manage.TriggerInput{APIKeyIDs: []string{"key_of_nobody"}})
	if err == nil {
		t.Error("CreateTrigger with a key the Group does not have: want an error")
	}
	rotated, err := f.svc.Triggers.RotateRoutingKey(ctx, f.bob, f.groupID, fl.ID, tr.ID)
	if err != nil || rotated.RoutingKey == tr.RoutingKey {
		t.Errorf("RotateRoutingKey = %+v, %v; want a new routing key", rotated, err)
	}
}

func TestRuns(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	r := run.Run{ID: "run_1", GroupID: f.groupID, FlowID: "flw_1", Mode: run.ModeWebhook, Status: run.Succeeded, Steps: []run.StepResult{}, CreatedAt: time.Now().UTC()}
	if _, err := f.store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Runs.GetRun(ctx, f.bob, f.groupID, "run_1")
	if err != nil || got.Status != run.Succeeded {
		t.Fatalf("GetRun = %+v, %v; want the succeeded Run", got, err)
	}
	_, err = f.svc.Runs.GetRun(ctx, f.eve, f.groupID, "run_1")
	wantCode(t, "an outsider reads the Run", err, wiresk.ENotFound)
	_, err = f.svc.Runs.GetRun(ctx, f.bob, f.groupID, "run_none")
	wantCode(t, "a missing Run", err, wiresk.ENotFound)
	page, err := f.svc.Runs.ListRuns(ctx, f.bob, run.Query{GroupID: f.groupID})
	if err != nil || len(page.Runs) != 1 {
		t.Errorf("ListRuns = %+v, %v; want the one Run", page, err)
	}
	if _, err := f.svc.Runs.Replay(ctx, f.bob, f.groupID, "run_1"); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Replay of a Run whose Flow is gone = %v, want an error", err)
	}
}

func TestStatsDurationPercentiles(t *testing.T) {
	f := mustFixture(t)
	ctx := t.Context()
	fl, err := f.svc.Flows.CreateFlow(ctx, f.bob, f.groupID, manage.FlowInput{Name: "Timed", Steps: []flow.Step{{ID: "a", App: "data", Method: "set", Input: map[string]any{"fields": map[string]any{}}}}})
	if err != nil {
		t.Fatal(err)
	}
	now := noon
	// 20 Runs of 1..20 ms, and one still running that must not count.
	for i := 1; i <= 21; i++ {
		st := run.Succeeded
		if i == 21 {
			st = run.Running
		}
		r := run.Run{ID: fmt.Sprintf("run_%02d", i), GroupID: f.groupID, FlowID: fl.ID, Mode: run.ModeWebhook, Status: st, DurationMs: int64(i), Steps: []run.StepResult{}, CreatedAt: now.Add(-time.Duration(i) * time.Second)}
		if _, err := f.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := f.svc.Runs.Stats(ctx, f.bob, f.groupID, fl.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.Total; got.Triggered != 21 || got.P50Ms != 10 || got.P95Ms != 19 {
		t.Errorf("total = %+v, want 21 triggered, p50 10 ms, p95 19 ms (nearest rank over the 20 ended Runs)", got)
	}
	if got := stats.Days[len(stats.Days)-1]; got.P50Ms != 10 || got.P95Ms != 19 {
		t.Errorf("today = %+v, want p50 10 ms, p95 19 ms", got)
	}
}

// TestAppStepsNameAConnectionOfTheirApp: a step of an app method is saved
// only with one of the Group's Connections to that app; the generic HTTP
// request may use any app's Connection (its credential still goes only to
// that app's host).
func TestAppStepsNameAConnectionOfTheirApp(t *testing.T) {
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
	find := func(conn string) []flow.Step {
		return []flow.Step{{ID: "find", App: "hubspot", Method: "find_contact", ConnectionID: conn, Input: map[string]any{"email": "{{ trigger.body.email }}"}}}
	}
	for _, tc := range []struct {
		name  string
		steps []flow.Step
		field string // "" when the Flow is saved
	}{
		{"its app's Connection", find("con_hub"), ""},
		{"no Connection", find(""), "steps[0].connectionId"},
		{"another Group's Connection", find("con_other"), "steps[0].connectionId"},
		{"a missing input", []flow.Step{{ID: "find", App: "hubspot", Method: "find_contact", ConnectionID: "con_hub", Input: map[string]any{}}}, "steps[0].input.email"},
		{"an unknown method", []flow.Step{{ID: "find", App: "hubspot", Method: "fly", ConnectionID: "con_hub", Input: map[string]any{}}}, "steps[0].method"},
		{"a Gmail step with the HubSpot Connection", []flow.Step{{ID: "send", App: "gmail", Method: "send_email", ConnectionID: "con_hub",
			Input: map[string]any{"to": "ada@example.com", "subject": "Hi", "text": "Hello"}}}, "steps[0].connectionId"},
		{"an HTTP request with the HubSpot Connection", []flow.Step{{ID: "get", App: "http", Method: "request", ConnectionID: "con_hub",
			Input: map[string]any{"url": "https://api.hubapi.com/crm/v3/objects/contacts"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Flows.CreateFlow(ctx, f.bob, f.groupID, manage.FlowInput{Name: tc.name, Steps: tc.steps})
			if got := wiresk.ErrorField(err); got != tc.field || (tc.field == "" && err != nil) {
				t.Errorf("CreateFlow = %v (field %q), want field %q", err, got, tc.field)
			}
		})
	}
}
