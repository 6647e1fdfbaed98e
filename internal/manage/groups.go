package manage

import (
	"context"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/group"
	"wiresk/internal/wiresk"
)

// GroupStore is what the Groups use cases need of the store port. Errors:
// a missing record wraps wiresk.ErrNotFound; an existing id wraps
// wiresk.ErrConflict.
type GroupStore interface {
	CreateGroup(ctx context.Context, g group.Group, owner group.Member) error
	GetGroup(ctx context.Context, id string) (group.Group, error)
	ListGroupsByUser(ctx context.Context, userID string) ([]group.Group, error)
	PutMember(ctx context.Context, m group.Member) error
	GetMember(ctx context.Context, groupID, userID string) (group.Member, error)
	ListMembers(ctx context.Context, groupID string) ([]group.Member, error)
	DeleteMember(ctx context.Context, groupID, userID string) error
}

// Groups are the use cases of Groups and their members.
type Groups struct {
	Store  GroupStore
	Access Access
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Groups

// CreateGroup creates a Group with the caller as owner.
func (s *Groups) CreateGroup(ctx context.Context, who auth.Identity, name string) (group.Group, error) {
	if err := group.ValidateName(name); err != nil {
		return group.Group{}, err
	}
	now := now(s.Now)
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
func (s *Groups) ListGroups(ctx context.Context, who auth.Identity) ([]GroupView, error) {
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
func (s *Groups) ListMembers(ctx context.Context, who auth.Identity, groupID string) ([]group.Member, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	return s.Store.ListMembers(ctx, groupID)
}

// AddMember adds or changes a membership. Admins add members and admins;
// only owners grant the owner role.
func (s *Groups) AddMember(ctx context.Context, who auth.Identity, groupID, userID string, role group.Role) (group.Member, error) {
	mine, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin)
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
	m := group.Member{GroupID: groupID, UserID: userID, Role: role, AddedAt: now(s.Now)}
	return m, s.Store.PutMember(ctx, m)
}

// keepAnOwner refuses to demote or remove userID if it is the last owner.
func (s *Groups) keepAnOwner(ctx context.Context, groupID, userID string, mine group.Role) error {
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
func (s *Groups) RemoveMember(ctx context.Context, who auth.Identity, groupID, userID string) error {
	mine, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin)
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
