package manage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/auth"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// FlowStore is what the Flow and trigger use cases need of the store port:
// Flows, their triggers, and the keys and Connections they name. Errors: a
// missing record wraps wiresk.ErrNotFound; a version or uniqueness
// conflict wraps wiresk.ErrConflict.
type FlowStore interface {
	CreateFlow(ctx context.Context, f flow.Flow) error
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error)
	UpdateFlow(ctx context.Context, f flow.Flow) error
	DeleteFlow(ctx context.Context, groupID, id string) error
	CreateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	GetTrigger(ctx context.Context, groupID, flowID, id string) (trigger.HTTPTrigger, error)
	ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error)
	UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	DeleteTrigger(ctx context.Context, groupID, flowID, id string) error
	GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error)
	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
}

// Flows are the use cases of Flows and their HTTP triggers.
type Flows struct {
	Store  FlowStore
	Access Access
	// Kinds validates the steps of a Flow.
	Kinds flow.Kinds
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
// name is one of the Group's, for the step's app.
func (s *Flows) validateFlow(ctx context.Context, f flow.Flow) error {
	if err := flow.Validate(f, s.Kinds); err != nil {
		return err
	}
	for i, st := range f.Steps {
		if st.ConnectionID == "" {
			continue
		}
		field := fmt.Sprintf("steps[%d].connectionId", i)
		c, err := s.Store.GetConnection(ctx, f.GroupID, st.ConnectionID)
		if errors.Is(err, wiresk.ErrNotFound) {
			return wiresk.FieldError(field, "no Connection %q in this group", st.ConnectionID)
		}
		if err != nil {
			return err
		}
		if c.App != st.App {
			return wiresk.FieldError(field, "Connection %q is for %s, not %s", c.Name, c.App, st.App)
		}
	}
	return nil
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

// DeleteFlow deletes a Flow with its triggers; its Runs stay in history.
func (s *Flows) DeleteFlow(ctx context.Context, who auth.Identity, groupID, flowID string) error {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	return notFound(s.Store.DeleteFlow(ctx, groupID, flowID), "flow", flowID)
}

// Triggers

// TriggerInput is the writable part of an HTTP trigger.
type TriggerInput struct {
	Description string   `json:"description"`
	APIKeyIDs   []string `json:"apiKeyIds"`
}

// CreateTrigger adds an HTTP trigger with a generated routing key.
func (s *Flows) CreateTrigger(ctx context.Context, who auth.Identity, groupID, flowID string, in TriggerInput) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := now(s.Now)
	if err := s.checkAPIKeys(ctx, groupID, in.APIKeyIDs, now); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "flow", flowID)
	}
	rk, err := trigger.NewRoutingKey()
	if err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t := trigger.HTTPTrigger{ID: wiresk.NewIDAt("trg", now), GroupID: groupID, FlowID: flowID, Description: in.Description, RoutingKey: rk, APIKeyIDs: in.APIKeyIDs, CreatedAt: now}
	if err := s.Store.CreateTrigger(ctx, t); err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "flow", flowID)
	}
	return t, nil
}

func checkDescription(d string) error {
	if len(d) > 2000 {
		return wiresk.FieldError("description", "is longer than 2000 characters")
	}
	return nil
}

// checkAPIKeys checks that ids name at least one active API key of the
// Group.
func (s *Flows) checkAPIKeys(ctx context.Context, groupID string, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return wiresk.FieldError("apiKeyIds", "needs at least one API key id: a trigger accepts only the keys it names")
	}
	for i, id := range ids {
		k, err := s.Store.GetAPIKey(ctx, groupID, id)
		if errors.Is(err, wiresk.ErrNotFound) {
			return wiresk.FieldError(fmt.Sprintf("apiKeyIds[%d]", i), "no API key %q in this group", id)
		}
		if err != nil {
			return err
		}
		if st := k.Status(now); st != "active" {
			return wiresk.FieldError(fmt.Sprintf("apiKeyIds[%d]", i), "API key %q is %s", id, st)
		}
	}
	return nil
}

// TriggerPatch changes an HTTP trigger: only the fields given.
type TriggerPatch struct {
	Description *string   `json:"description"`
	APIKeyIDs   *[]string `json:"apiKeyIds"`
}

// UpdateTrigger changes a trigger's description or the API keys it
// accepts; its routing key stays as it is (rotate-routing-key changes
// that). A key removed from the list is refused at once.
func (s *Flows) UpdateTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string, in TriggerPatch) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t, err := s.Store.GetTrigger(ctx, groupID, flowID, triggerID)
	if err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return trigger.HTTPTrigger{}, err
		}
		t.Description = *in.Description
	}
	if in.APIKeyIDs != nil {
		if err := s.checkAPIKeys(ctx, groupID, *in.APIKeyIDs, now(s.Now)); err != nil {
			return trigger.HTTPTrigger{}, err
		}
		t.APIKeyIDs = *in.APIKeyIDs
	}
	return t, notFound(s.Store.UpdateTrigger(ctx, t), "trigger", triggerID)
}

// ListTriggers lists a Flow's triggers.
func (s *Flows) ListTriggers(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return nil, notFound(err, "flow", flowID)
	}
	return s.Store.ListTriggers(ctx, groupID, flowID)
}

// DeleteTrigger removes a trigger: its routing key stops working at once.
func (s *Flows) DeleteTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) error {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	return notFound(s.Store.DeleteTrigger(ctx, groupID, flowID, triggerID), "trigger", triggerID)
}

// RotateRoutingKey gives a trigger a new routing key; the old one stops
// working at once.
func (s *Flows) RotateRoutingKey(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t, err := s.Store.GetTrigger(ctx, groupID, flowID, triggerID)
	if err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if t.RoutingKey, err = trigger.NewRoutingKey(); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := now(s.Now)
	t.RoutingKeyRotatedAt = &now
	return t, notFound(s.Store.UpdateTrigger(ctx, t), "trigger", triggerID)
}
