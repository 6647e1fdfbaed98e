// Package manage provides the management use cases: Groups and members, API
// keys, Flows, HTTP triggers, Runs, Run Once, replay and statistics. Every
// call is made on behalf of an auth.Identity and checked against its role in
// the Group; a Group the caller cannot see is reported as not found, so
// Groups cannot be probed.
package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/auth"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Store is what the management use cases need of the store port. Errors: a
// missing record wraps wiresk.ErrNotFound; a broken uniqueness or version
// invariant wraps wiresk.ErrConflict.
type Store interface {
	CreateGroup(ctx context.Context, g group.Group, owner group.Member) error
	GetGroup(ctx context.Context, id string) (group.Group, error)
	ListGroupsByUser(ctx context.Context, userID string) ([]group.Group, error)
	PutMember(ctx context.Context, m group.Member) error
	GetMember(ctx context.Context, groupID, userID string) (group.Member, error)
	ListMembers(ctx context.Context, groupID string) ([]group.Member, error)
	DeleteMember(ctx context.Context, groupID, userID string) error

	CreateAPIKey(ctx context.Context, k apikey.Key) error
	GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error)
	ListAPIKeys(ctx context.Context, groupID string) ([]apikey.Key, error)
	UpdateAPIKey(ctx context.Context, k apikey.Key) error
	RotateAPIKey(ctx context.Context, old, replacement apikey.Key) error

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
	GetRoute(ctx context.Context, routingKey string) (trigger.Route, error)

	GetRun(ctx context.Context, groupID, id string) (run.Run, error)
	ListRuns(ctx context.Context, q run.Query) (run.Page, error)

	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
}

// Enqueuer sends a Job to the worker queue. Send returns only once the
// message is durably accepted; an error means it was not enqueued.
type Enqueuer interface {
	Send(ctx context.Context, body []byte, attrs map[string]string) (string, error)
}

// Service implements the management use cases.
type Service struct {
	Store Store
	Queue Enqueuer
	Kinds flow.Kinds
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RunOnceWait bounds how long Run Once waits for its Run to end
	// (default 25 s, under API Gateway's 30 s limit).
	RunOnceWait time.Duration
	Logger      *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Authorize returns the caller's role in groupID, refusing with not_found
// when the caller cannot see the Group and forbidden when the role is below
// min.
func (s *Service) Authorize(ctx context.Context, who auth.Identity, groupID string, min group.Role) (group.Role, error) {
	notFound := wiresk.Errorf(wiresk.ENotFound, "group %q not found", groupID)
	m, err := s.Store.GetMember(ctx, groupID, who.UserID)
	role := m.Role
	switch {
	case errors.Is(err, wiresk.ErrNotFound):
		if !who.InGroupClaim(groupID) {
			return "", notFound
		}
		if _, err := s.Store.GetGroup(ctx, groupID); err != nil {
			if errors.Is(err, wiresk.ErrNotFound) {
				return "", notFound
			}
			return "", err
		}
		role = group.RoleMember
	case err != nil:
		return "", err
	}
	if !role.AtLeast(min) {
		return "", wiresk.Errorf(wiresk.EForbidden, "this needs the %s role in the group; you are %s", min, role)
	}
	return role, nil
}

// notFound turns a store's ErrNotFound into a clear not_found error.
func notFound(err error, what, id string) error {
	if errors.Is(err, wiresk.ErrNotFound) {
		return wiresk.Errorf(wiresk.ENotFound, "%s %q not found", what, id)
	}
	return err
}

// Groups

// CreateGroup creates a Group with the caller as owner.
func (s *Service) CreateGroup(ctx context.Context, who auth.Identity, name string) (group.Group, error) {
	if err := group.ValidateName(name); err != nil {
		return group.Group{}, err
	}
	now := s.now()
	g := group.Group{ID: wiresk.NewIDAt("grp", now), Name: name, CreatedAt: now, CreatedBy: who.UserID}
	owner := group.Member{GroupID: g.ID, UserID: who.UserID, Role: group.RoleOwner, AddedAt: now}
	if err := s.Store.CreateGroup(ctx, g, owner); err != nil {
		return group.Group{}, err
	}
	return g, nil
}

// GroupView is a Group with the caller's role in it.
type GroupView struct {
	group.Group
	Role group.Role `json:"role"`
}

// ListGroups lists the Groups the caller belongs to (stored memberships and
// the token's groups claim).
func (s *Service) ListGroups(ctx context.Context, who auth.Identity) ([]GroupView, error) {
	gs, err := s.Store.ListGroupsByUser(ctx, who.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]GroupView, 0, len(gs))
	seen := map[string]bool{}
	for _, g := range gs {
		m, err := s.Store.GetMember(ctx, g.ID, who.UserID)
		if err != nil {
			continue
		}
		seen[g.ID] = true
		out = append(out, GroupView{Group: g, Role: m.Role})
	}
	for _, id := range who.Groups {
		if seen[id] {
			continue
		}
		if g, err := s.Store.GetGroup(ctx, id); err == nil {
			seen[id] = true
			out = append(out, GroupView{Group: g, Role: group.RoleMember})
		}
	}
	return out, nil
}

// ListMembers lists a Group's members.
func (s *Service) ListMembers(ctx context.Context, who auth.Identity, groupID string) ([]group.Member, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	return s.Store.ListMembers(ctx, groupID)
}

// AddMember adds or changes a membership. Admins add members and admins;
// only owners grant the owner role.
func (s *Service) AddMember(ctx context.Context, who auth.Identity, groupID, userID string, role group.Role) (group.Member, error) {
	mine, err := s.Authorize(ctx, who, groupID, group.RoleAdmin)
	if err != nil {
		return group.Member{}, err
	}
	if userID == "" {
		return group.Member{}, wiresk.FieldError("userId", "is required")
	}
	if role == "" {
		role = group.RoleMember
	}
	if !role.Valid() {
		return group.Member{}, wiresk.FieldError("role", "must be owner, admin or member")
	}
	if role == group.RoleOwner && mine != group.RoleOwner {
		return group.Member{}, wiresk.Errorf(wiresk.EForbidden, "only an owner can add an owner")
	}
	if prev, err := s.Store.GetMember(ctx, groupID, userID); err == nil && prev.Role == group.RoleOwner && role != group.RoleOwner {
		if err := s.keepAnOwner(ctx, groupID, userID, mine); err != nil {
			return group.Member{}, err
		}
	}
	m := group.Member{GroupID: groupID, UserID: userID, Role: role, AddedAt: s.now()}
	return m, s.Store.PutMember(ctx, m)
}

// keepAnOwner refuses to demote or remove userID if it is the last owner.
func (s *Service) keepAnOwner(ctx context.Context, groupID, userID string, mine group.Role) error {
	if mine != group.RoleOwner {
		return wiresk.Errorf(wiresk.EForbidden, "only an owner can remove or demote an owner")
	}
	ms, err := s.Store.ListMembers(ctx, groupID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Role == group.RoleOwner && m.UserID != userID {
			return nil
		}
	}
	return wiresk.Errorf(wiresk.EConflict, "a group needs at least one owner")
}

// RemoveMember removes a membership (admins; owners for owners; never the
// last owner).
func (s *Service) RemoveMember(ctx context.Context, who auth.Identity, groupID, userID string) error {
	mine, err := s.Authorize(ctx, who, groupID, group.RoleAdmin)
	if err != nil {
		return err
	}
	m, err := s.Store.GetMember(ctx, groupID, userID)
	if err != nil {
		return notFound(err, "member", userID)
	}
	if m.Role == group.RoleOwner {
		if err := s.keepAnOwner(ctx, groupID, userID, mine); err != nil {
			return err
		}
	}
	return notFound(s.Store.DeleteMember(ctx, groupID, userID), "member", userID)
}

// API keys

// KeyView is an API key as the API shows it.
type KeyView struct {
	apikey.Key
	Status string `json:"status"`
}

func view(k apikey.Key, now time.Time) KeyView { return KeyView{Key: k, Status: k.Status(now)} }

// NewKey is a key just created: the only time its plaintext is shown.
type NewKey struct {
	KeyView
	Plaintext string `json:"key"`
}

// CreateAPIKey creates a key for the Group (admins). expiresAt is optional.
func (s *Service) CreateAPIKey(ctx context.Context, who auth.Identity, groupID, name string, expiresAt *time.Time) (NewKey, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return NewKey{}, err
	}
	if name == "" || len(name) > 200 {
		return NewKey{}, wiresk.FieldError("name", "is required, at most 200 characters")
	}
	now := s.now()
	if expiresAt != nil && !expiresAt.After(now) {
		return NewKey{}, wiresk.FieldError("expiresAt", "must be in the future")
	}
	plain, hash, err := apikey.Generate()
	if err != nil {
		return NewKey{}, err
	}
	k := apikey.Key{ID: wiresk.NewIDAt("key", now), GroupID: groupID, Name: name, Hint: apikey.HintOf(plain), Hash: hash, CreatedAt: now, CreatedBy: who.UserID, ExpiresAt: expiresAt}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return NewKey{}, err
	}
	return NewKey{KeyView: view(k, now), Plaintext: plain}, nil
}

// ListAPIKeys lists the Group's keys.
func (s *Service) ListAPIKeys(ctx context.Context, who auth.Identity, groupID string) ([]KeyView, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	ks, err := s.Store.ListAPIKeys(ctx, groupID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]KeyView, len(ks))
	for i, k := range ks {
		out[i] = view(k, now)
	}
	return out, nil
}

// FlowRef names a Flow.
type FlowRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	TriggerID string `json:"triggerId"`
}

// DayCount is a per-day count.
type DayCount struct {
	Day   string `json:"day"`
	Calls int    `json:"calls"`
}

// KeyDetail is one key with the Flows whose triggers accept it and its use.
type KeyDetail struct {
	KeyView
	Flows      []FlowRef  `json:"flows"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	Usage      []DayCount `json:"usage"`
}

// UsageDays is how many days of use GetAPIKey reports.
const UsageDays = 30

// GetAPIKey returns a key with the Flows that accept it and its use over the
// last UsageDays days (counted from the Runs its webhooks started).
func (s *Service) GetAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string) (KeyDetail, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return KeyDetail{}, err
	}
	k, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return KeyDetail{}, notFound(err, "api key", keyID)
	}
	now := s.now()
	d := KeyDetail{KeyView: view(k, now), Flows: []FlowRef{}, Usage: []DayCount{}}
	trs, err := s.Store.ListTriggers(ctx, groupID, "")
	if err != nil {
		return KeyDetail{}, err
	}
	for _, t := range trs {
		if !trigger.RouteOf(t, true).Accepts(keyID) {
			continue
		}
		f, err := s.Store.GetFlow(ctx, groupID, t.FlowID)
		if err != nil {
			continue
		}
		d.Flows = append(d.Flows, FlowRef{ID: f.ID, Name: f.Name, TriggerID: t.ID})
	}
	counts := map[string]int{}
	err = s.eachRun(ctx, run.Query{GroupID: groupID, APIKeyID: keyID, Since: startOfDay(now).AddDate(0, 0, -(UsageDays - 1))}, func(r run.Run) {
		if d.LastUsedAt == nil {
			at := r.CreatedAt
			d.LastUsedAt = &at
		}
		counts[r.CreatedAt.UTC().Format(time.DateOnly)]++
	})
	if err != nil {
		return KeyDetail{}, err
	}
	for _, day := range days(now, UsageDays) {
		if n := counts[day]; n > 0 {
			d.Usage = append(d.Usage, DayCount{Day: day, Calls: n})
		}
	}
	if d.LastUsedAt == nil {
		// Older than the usage window: look for the newest Run at all.
		p, err := s.Store.ListRuns(ctx, run.Query{GroupID: groupID, APIKeyID: keyID, Limit: 1})
		if err != nil {
			return KeyDetail{}, err
		}
		if len(p.Runs) > 0 {
			at := p.Runs[0].CreatedAt
			d.LastUsedAt = &at
		}
	}
	return d, nil
}

// RotateAPIKey replaces a key with a new one. During grace (0 for none) the
// old key keeps working; then it expires.
func (s *Service) RotateAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string, grace time.Duration) (NewKey, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return NewKey{}, err
	}
	if grace < 0 || grace > 30*24*time.Hour {
		return NewKey{}, wiresk.FieldError("gracePeriodSeconds", "must be between 0 and 30 days")
	}
	old, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return NewKey{}, notFound(err, "api key", keyID)
	}
	now := s.now()
	if st := old.Status(now); st != "active" || old.RotatedTo != "" {
		return NewKey{}, wiresk.Errorf(wiresk.EConflict, "api key %q is %s and cannot be rotated", keyID, map[bool]string{true: "already rotated", false: st}[old.RotatedTo != ""])
	}
	plain, hash, err := apikey.Generate()
	if err != nil {
		return NewKey{}, err
	}
	repl := apikey.Key{ID: wiresk.NewIDAt("key", now), GroupID: groupID, Name: old.Name, Hint: apikey.HintOf(plain), Hash: hash,
		CreatedAt: now, CreatedBy: who.UserID, ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID}
	end := now.Add(grace)
	old.RotatedTo, old.ExpiresAt = repl.ID, &end
	if err := s.Store.RotateAPIKey(ctx, old, repl); err != nil {
		return NewKey{}, err
	}
	// Triggers that accepted the old key accept the new one too.
	trs, err := s.Store.ListTriggers(ctx, groupID, "")
	if err != nil {
		return NewKey{}, err
	}
	for _, t := range trs {
		if trigger.RouteOf(t, true).Accepts(old.ID) {
			t.APIKeyIDs = append(t.APIKeyIDs, repl.ID)
			if err := s.Store.UpdateTrigger(ctx, t); err != nil {
				return NewKey{}, fmt.Errorf("add rotated key to trigger %s: %w", t.ID, err)
			}
		}
	}
	return NewKey{KeyView: view(repl, now), Plaintext: plain}, nil
}

// RevokeAPIKey revokes a key at once.
func (s *Service) RevokeAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string) (KeyView, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return KeyView{}, err
	}
	k, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return KeyView{}, notFound(err, "api key", keyID)
	}
	now := s.now()
	if k.RevokedAt == nil {
		k.RevokedAt = &now
		if err := s.Store.UpdateAPIKey(ctx, k); err != nil {
			return KeyView{}, err
		}
	}
	return view(k, now), nil
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
func (s *Service) CreateFlow(ctx context.Context, who auth.Identity, groupID string, in FlowInput) (flow.Flow, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return flow.Flow{}, err
	}
	now := s.now()
	f := flow.Flow{ID: wiresk.NewIDAt("flw", now), GroupID: groupID, Name: in.Name, Description: in.Description,
		Enabled: in.Enabled == nil || *in.Enabled, Steps: in.Steps, Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: who.UserID}
	if err := s.validateFlow(ctx, f); err != nil {
		return flow.Flow{}, err
	}
	return f, s.Store.CreateFlow(ctx, f)
}

// validateFlow checks f's definition and that every Connection its steps
// name is one of the Group's, for the step's app.
func (s *Service) validateFlow(ctx context.Context, f flow.Flow) error {
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
func (s *Service) ListFlows(ctx context.Context, who auth.Identity, groupID string) ([]flow.Flow, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	return s.Store.ListFlows(ctx, groupID)
}

// GetFlow returns one Flow.
func (s *Service) GetFlow(ctx context.Context, who auth.Identity, groupID, flowID string) (flow.Flow, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return flow.Flow{}, err
	}
	f, err := s.Store.GetFlow(ctx, groupID, flowID)
	return f, notFound(err, "flow", flowID)
}

// ReplaceFlow replaces a Flow's definition (PUT semantics: omitted enabled
// keeps the current state).
func (s *Service) ReplaceFlow(ctx context.Context, who auth.Identity, groupID, flowID string, in FlowInput) (flow.Flow, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
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
	f.UpdatedAt = s.now()
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
func (s *Service) DeleteFlow(ctx context.Context, who auth.Identity, groupID, flowID string) error {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
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
func (s *Service) CreateTrigger(ctx context.Context, who auth.Identity, groupID, flowID string, in TriggerInput) (trigger.HTTPTrigger, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := s.now()
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
func (s *Service) checkAPIKeys(ctx context.Context, groupID string, ids []string, now time.Time) error {
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
func (s *Service) UpdateTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string, in TriggerPatch) (trigger.HTTPTrigger, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
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
		if err := s.checkAPIKeys(ctx, groupID, *in.APIKeyIDs, s.now()); err != nil {
			return trigger.HTTPTrigger{}, err
		}
		t.APIKeyIDs = *in.APIKeyIDs
	}
	return t, notFound(s.Store.UpdateTrigger(ctx, t), "trigger", triggerID)
}

// ListTriggers lists a Flow's triggers.
func (s *Service) ListTriggers(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return nil, notFound(err, "flow", flowID)
	}
	return s.Store.ListTriggers(ctx, groupID, flowID)
}

// DeleteTrigger removes a trigger: its routing key stops working at once.
func (s *Service) DeleteTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) error {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	return notFound(s.Store.DeleteTrigger(ctx, groupID, flowID, triggerID), "trigger", triggerID)
}

// RotateRoutingKey gives a trigger a new routing key; the old one stops
// working at once.
func (s *Service) RotateRoutingKey(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) (trigger.HTTPTrigger, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t, err := s.Store.GetTrigger(ctx, groupID, flowID, triggerID)
	if err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if t.RoutingKey, err = trigger.NewRoutingKey(); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := s.now()
	t.RoutingKeyRotatedAt = &now
	return t, notFound(s.Store.UpdateTrigger(ctx, t), "trigger", triggerID)
}

// Runs

// ListRuns lists Runs, newest first.
func (s *Service) ListRuns(ctx context.Context, who auth.Identity, q run.Query) (run.Page, error) {
	if _, err := s.Authorize(ctx, who, q.GroupID, group.RoleMember); err != nil {
		return run.Page{}, err
	}
	if q.Status != "" && !q.Status.Valid() {
		return run.Page{}, wiresk.FieldError("status", "must be queued, running, succeeded or failed")
	}
	if q.Limit < 0 || q.Limit > 200 {
		return run.Page{}, wiresk.FieldError("limit", "must be between 1 and 200")
	}
	return s.Store.ListRuns(ctx, q)
}

// GetRun returns one Run.
func (s *Service) GetRun(ctx context.Context, who auth.Identity, groupID, runID string) (run.Run, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return run.Run{}, err
	}
	r, err := s.Store.GetRun(ctx, groupID, runID)
	return r, notFound(err, "run", runID)
}

// Replay starts a new Run of the same Flow with the same trigger request.
func (s *Service) Replay(ctx context.Context, who auth.Identity, groupID, runID string) (string, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return "", err
	}
	r, err := s.Store.GetRun(ctx, groupID, runID)
	if err != nil {
		return "", notFound(err, "run", runID)
	}
	if _, err := s.Store.GetFlow(ctx, groupID, r.FlowID); err != nil {
		return "", notFound(err, "flow", r.FlowID)
	}
	if r.Request.BodyTruncated {
		return "", wiresk.Errorf(wiresk.EConflict, "run %q cannot be replayed: its request body was too large to record whole", runID)
	}
	now := s.now()
	req := r.Request
	req.Body, req.BodyText, req.BodyBase64 = nil, "", nil
	job := run.Job{RunID: run.NewID(now), GroupID: groupID, FlowID: r.FlowID, TriggerID: r.TriggerID, Mode: run.ModeReplay, ReplayOf: r.ID, Request: req, Body: r.Request.RawBody(), ReceivedAt: now}
	return job.RunID, s.enqueue(ctx, job)
}

// RunOnceInput names a routing key and a sample request.
type RunOnceInput struct {
	RoutingKey string `json:"routingKey"`
	Request    struct {
		Headers map[string]string `json:"headers"`
		Query   map[string]string `json:"query"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
}

// RunOnce runs the Flow behind a routing key now, through the queue and the
// worker like a webhook, and waits for the Run to end. done is false when
// the wait ran out first; the Run goes on and can be read later.
func (s *Service) RunOnce(ctx context.Context, who auth.Identity, groupID string, in RunOnceInput) (r run.Run, done bool, err error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return run.Run{}, false, err
	}
	if in.RoutingKey == "" {
		return run.Run{}, false, wiresk.FieldError("routingKey", "is required")
	}
	route, err := s.Store.GetRoute(ctx, in.RoutingKey)
	if err != nil || route.GroupID != groupID {
		if err == nil || errors.Is(err, wiresk.ErrNotFound) {
			return run.Run{}, false, wiresk.Errorf(wiresk.ERouteNotFound, "no trigger of this group has that routing key")
		}
		return run.Run{}, false, err
	}
	if !route.Enabled {
		// The webhook of a disabled Flow answers 404: Run Once agrees and
		// runs nothing, but may say why to a member of the Group.
		return run.Run{}, false, wiresk.Errorf(wiresk.EConflict, "the Flow of this routing key is disabled (its webhook answers 404 route_not_found); enable the Flow to run it")
	}
	now := s.now()
	// The same filter as the webhook path: credentials in the sample
	// headers (Authorization, X-API-Key, Cookie) are never recorded.
	header := make(http.Header, len(in.Request.Headers))
	for k, v := range in.Request.Headers {
		header[k] = []string{v}
	}
	query := make(url.Values, len(in.Request.Query))
	for k, v := range in.Request.Query {
		query[k] = []string{v}
	}
	req := run.CaptureRequest("POST", header, query)
	var body []byte
	if len(in.Request.Body) > 0 {
		body = in.Request.Body
		if _, ok := req.Headers["content-type"]; !ok {
			req.Headers["content-type"] = "application/json"
		}
	}
	job := run.Job{RunID: run.NewID(now), GroupID: groupID, FlowID: route.FlowID, TriggerID: route.TriggerID, Mode: run.ModeRunOnce, Request: req, Body: body, ReceivedAt: now}
	if err := s.enqueue(ctx, job); err != nil {
		return run.Run{}, false, err
	}
	wait := s.RunOnceWait
	if wait <= 0 {
		wait = 25 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return run.Run{ID: job.RunID, Status: run.Queued}, false, nil
		case <-deadline.C:
			r, err := s.Store.GetRun(ctx, groupID, job.RunID)
			if err != nil {
				return run.Run{ID: job.RunID, GroupID: groupID, FlowID: route.FlowID, Status: run.Queued}, false, nil
			}
			return r, false, nil
		case <-tick.C:
			r, err := s.Store.GetRun(ctx, groupID, job.RunID)
			if err == nil && r.Status.Final() {
				return r, true, nil
			}
		}
	}
}

func (s *Service) enqueue(ctx context.Context, job run.Job) error {
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	if _, err := s.Queue.Send(ctx, body, map[string]string{"runId": job.RunID, "groupId": job.GroupID}); err != nil {
		if s.Logger != nil {
			s.Logger.ErrorContext(ctx, "enqueue failed", "runId", job.RunID, "err", err)
		}
		return wiresk.Errorf(wiresk.EUnavailable, "the run queue is unavailable; nothing was started, retry later")
	}
	return nil
}

// Statistics

// DayStats counts a Flow's Runs on one day (UTC).
type DayStats struct {
	Day       string `json:"day"`
	Triggered int    `json:"triggered"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
}

// FlowStats is a Flow's statistics over some days.
type FlowStats struct {
	FlowID string     `json:"flowId"`
	Days   []DayStats `json:"days"`
	Total  DayStats   `json:"total"`
}

// Stats counts a Flow's Runs per day over the last days days (1 to 90),
// from the Run records themselves.
func (s *Service) Stats(ctx context.Context, who auth.Identity, groupID, flowID string, ndays int) (FlowStats, error) {
	if _, err := s.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return FlowStats{}, err
	}
	if ndays == 0 {
		ndays = 7
	}
	if ndays < 1 || ndays > 90 {
		return FlowStats{}, wiresk.FieldError("days", "must be between 1 and 90")
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return FlowStats{}, notFound(err, "flow", flowID)
	}
	now := s.now()
	by := map[string]*DayStats{}
	out := FlowStats{FlowID: flowID, Total: DayStats{Day: "total"}}
	for _, d := range days(now, ndays) {
		out.Days = append(out.Days, DayStats{Day: d})
	}
	for i := range out.Days {
		by[out.Days[i].Day] = &out.Days[i]
	}
	err := s.eachRun(ctx, run.Query{GroupID: groupID, FlowID: flowID, Since: startOfDay(now).AddDate(0, 0, -(ndays - 1))}, func(r run.Run) {
		d := by[r.CreatedAt.UTC().Format(time.DateOnly)]
		if d == nil {
			return
		}
		for _, c := range []*DayStats{d, &out.Total} {
			c.Triggered++
			switch r.Status {
			case run.Succeeded:
				c.Succeeded++
			case run.Failed:
				c.Failed++
			}
		}
	})
	return out, err
}

// eachRun calls fn for every Run q selects, following pages.
func (s *Service) eachRun(ctx context.Context, q run.Query, fn func(run.Run)) error {
	q.Limit = 500
	for {
		p, err := s.Store.ListRuns(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range p.Runs {
			fn(r)
		}
		if p.NextCursor == "" {
			return nil
		}
		q.Cursor = p.NextCursor
	}
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// days lists the n days (UTC, oldest first) that end today.
func days(now time.Time, n int) []string {
	out := make([]string, n)
	start := startOfDay(now).AddDate(0, 0, -(n - 1))
	for i := range out {
		out[i] = start.AddDate(0, 0, i).Format(time.DateOnly)
	}
	return out
}
