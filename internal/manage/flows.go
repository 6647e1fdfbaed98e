package manage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// FlowStore is what the Flow use cases need of the store port: Flows and
// the Connections their steps name. Errors: a
// missing record wraps wiresk.ErrNotFound; a version or uniqueness
// conflict wraps wiresk.ErrConflict.
type FlowStore interface {
	CreateFlow(ctx context.Context, f flow.Flow) error
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error)
	UpdateFlow(ctx context.Context, f flow.Flow) error
	// DeleteFlow deletes the Flow with its HTTP and schedule triggers.
	DeleteFlow(ctx context.Context, groupID, id string) error
	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
	ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error)
	ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error)
}

// Flows are the use cases of Flows.
type Flows struct {
	Store  FlowStore
	Access Access
	// Kinds validates the steps of a Flow.
	Kinds flow.Kinds
	// Scheduler is where a deleted Flow's schedules are removed from;
	// nil: none holds them.
	Scheduler Scheduler
	// Queue gets the jobs that delete a deleted Flow's instant triggers'
	// subscriptions at their apps.
	Queue run.Enqueuer
	// Vault holds the signing secrets of the HTTP triggers, deleted with
	// the Flow; nil: none does.
	Vault  Vault
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Flows

// FlowInput is the writable part of a Flow.
type FlowInput struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Enabled     *bool       `json:"enabled"`
	Steps       []flow.Step `json:"steps"`
}

// CreateFlow validates and stores a new Flow (enabled unless said otherwise).
func (s *Flows) CreateFlow(ctx context.Context, who auth.Identity, groupID string, in FlowInput) (flow.Flow, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return flow.Flow{}, err
	}
	now := now(s.Now)
	f := flow.Flow{ID: wiresk.NewIDAt("flw", now), GroupID: groupID, Name: in.Name, Description: in.Description,
		Enabled: in.Enabled == nil || *in.Enabled, Steps: in.Steps, Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: who.UserID}
	if err := s.validateFlow(ctx, f); err != nil {
		return flow.Flow{}, err
	}
	return f, s.Store.CreateFlow(ctx, f)
}

// validateFlow checks f's definition and that every Connection its steps
// name is one of the Group's, for the step's app (any app's for the
// generic HTTP request, whose credential still goes only to that app's
// host); a step of an app method that needs a Connection must name one.
// The inner step of a loop is checked the same way.
func (s *Flows) validateFlow(ctx context.Context, f flow.Flow) error {
	if err := flow.Validate(f, s.Kinds); err != nil {
		return err
	}
	for i, st := range f.Steps {
		if err := s.checkConnection(ctx, f.GroupID, fmt.Sprintf("steps[%d].connectionId", i), st); err != nil {
			return err
		}
		if ns, ok := s.Kinds.(NestedSteps); ok {
			if inner, ok := ns.InnerStep(st.App, st.Method, st.Input); ok {
				if err := s.checkConnection(ctx, f.GroupID, fmt.Sprintf("steps[%d].input.step.connectionId", i), inner); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkConnection checks the Connection step st names, reporting errors
// on field.
func (s *Flows) checkConnection(ctx context.Context, groupID, field string, st flow.Step) error {
	if st.ConnectionID == "" {
		if nc, ok := s.Kinds.(ConnectionsNeeded); ok && nc.NeedsConnection(st.App, st.Method) {
			return wiresk.FieldError(field, "is required: a %s step runs with one of the Group's %s Connections", st.App, st.App)
		}
		return nil
	}
	c, err := s.Store.GetConnection(ctx, groupID, st.ConnectionID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return wiresk.FieldError(field, "no Connection %q in this group", st.ConnectionID)
	}
	if err != nil {
		return err
	}
	if c.App != st.App && st.App != "http" {
		return wiresk.FieldError(field, "Connection %q is for %s, not %s", c.Name, c.App, st.App)
	}
	return nil
}

// NestedSteps is implemented by Kinds whose steps may hold a step of their
// own (step.Registry: the inner step of a loop), whose Connection is then
// checked like a step's.
type NestedSteps interface {
	// InnerStep returns the step held by a step of app and method with
	// input, and false when it holds none.
	InnerStep(app, method string, input map[string]any) (flow.Step, bool)
}

// ConnectionsNeeded is implemented by Kinds that know which steps must
// name a Connection (step.Registry).
type ConnectionsNeeded interface {
	// NeedsConnection reports whether a step of app and method must name
	// a Connection.
	NeedsConnection(app, method string) bool
}

// ListFlows lists the Group's Flows.
func (s *Flows) ListFlows(ctx context.Context, who auth.Identity, groupID string) ([]flow.Flow, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	return s.Store.ListFlows(ctx, groupID)
}

// GetFlow returns one Flow.
func (s *Flows) GetFlow(ctx context.Context, who auth.Identity, groupID, flowID string) (flow.Flow, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return flow.Flow{}, err
	}
	f, err := s.Store.GetFlow(ctx, groupID, flowID)
	return f, notFound(err, "flow", flowID)
}

// ReplaceFlow replaces a Flow's definition (PUT semantics: omitted enabled
// keeps the current state).
func (s *Flows) ReplaceFlow(ctx context.Context, who auth.Identity, groupID, flowID string, in FlowInput) (flow.Flow, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return flow.Flow{}, err
	}
	f, err := s.Store.GetFlow(ctx, groupID, flowID)
	if err != nil {
		return flow.Flow{}, notFound(err, "flow", flowID)
	}
	f.Name, f.Description, f.Steps = in.Name, in.Description, in.Steps
	if in.Enabled != nil {
		f.Enabled = *in.Enabled
	}
	f.Version++
	f.UpdatedAt = now(s.Now)
	if err := s.validateFlow(ctx, f); err != nil {
		return flow.Flow{}, err
	}
	if err := s.Store.UpdateFlow(ctx, f); err != nil {
		if errors.Is(err, wiresk.ErrConflict) {
			return flow.Flow{}, wiresk.Errorf(wiresk.EConflict, "flow %q was changed meanwhile; read it again and retry", flowID)
		}
		return flow.Flow{}, notFound(err, "flow", flowID)
	}
	return f, nil
}

// DeleteFlow deletes a Flow with its triggers (their schedules first, so
// none fires for a Flow that is gone); its Runs stay in history.
func (s *Flows) DeleteFlow(ctx context.Context, who auth.Identity, groupID, flowID string) error {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	ts, err := s.Store.ListSchedules(ctx, groupID, flowID)
	if err != nil {
		return err
	}
	if err := unschedule(ctx, s.Scheduler, s.Queue, ts); err != nil {
		return err
	}
	hts, err := s.Store.ListTriggers(ctx, groupID, flowID)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteFlow(ctx, groupID, flowID); err != nil {
		return notFound(err, "flow", flowID)
	}
	for _, t := range hts {
		if t.Auth.NeedsSignature() {
			deleteSigningSecrets(ctx, s.Vault, s.Logger, t.ID)
		}
	}
	return nil
}
