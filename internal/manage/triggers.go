package manage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/auth"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// TriggerStore is what the HTTP-trigger use cases need of the store port:
// triggers, their Flows and the API keys they accept. Errors: a missing
// record wraps wiresk.ErrNotFound; a lost race wraps wiresk.ErrConflict.
type TriggerStore interface {
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	CreateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	GetTrigger(ctx context.Context, groupID, flowID, id string) (trigger.HTTPTrigger, error)
	ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error)
	UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	DeleteTrigger(ctx context.Context, groupID, flowID, id string) error
	GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error)
}

// Triggers are the use cases of a Flow's HTTP triggers.
type Triggers struct {
	Store  TriggerStore
	Access Access
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// TriggerInput is the writable part of an HTTP trigger.
type TriggerInput struct {
	Description string   `json:"description"`
	APIKeyIDs   []string `json:"apiKeyIds"`
}

// CreateTrigger adds an HTTP trigger with a generated routing key.
func (s *Triggers) CreateTrigger(ctx context.Context, who auth.Identity, groupID, flowID string, in TriggerInput) (trigger.HTTPTrigger, error) {
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
func (s *Triggers) checkAPIKeys(ctx context.Context, groupID string, ids []string, now time.Time) error {
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
func (s *Triggers) UpdateTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string, in TriggerPatch) (trigger.HTTPTrigger, error) {
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
func (s *Triggers) ListTriggers(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return nil, notFound(err, "flow", flowID)
	}
	return s.Store.ListTriggers(ctx, groupID, flowID)
}

// DeleteTrigger removes a trigger: its routing key stops working at once.
func (s *Triggers) DeleteTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) error {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	return notFound(s.Store.DeleteTrigger(ctx, groupID, flowID, triggerID), "trigger", triggerID)
}

// RotateRoutingKey gives a trigger a new routing key; the old one stops
// working at once.
func (s *Triggers) RotateRoutingKey(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) (trigger.HTTPTrigger, error) {
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
