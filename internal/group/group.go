// Package group provides Groups (workspaces) and their memberships.
package group

import (
	"time"

	"wiresk/internal/wiresk"
)

// Role is a member's role in a Group.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// AtLeast reports whether r is as powerful as min.
func (r Role) AtLeast(min Role) bool { return rank(r) >= rank(min) }

func rank(r Role) int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// Group is a workspace: everything else belongs to exactly one Group.
type Group struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// Member is a user's membership of a Group.
type Member struct {
	GroupID string    `json:"groupId"`
	UserID  string    `json:"userId"`
	Role    Role      `json:"role"`
	AddedAt time.Time `json:"addedAt"`
}

// ValidateName checks a Group name.
func ValidateName(name string) error {
	if name == "" {
		return wiresk.FieldError("name", "is required")
	}
	if len(name) > 200 {
		return wiresk.FieldError("name", "is longer than 200 characters")
	}
	return nil
}
