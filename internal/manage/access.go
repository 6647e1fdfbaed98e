// Package manage provides the management use cases: Groups and members, API
// keys, Flows, HTTP triggers, Runs, Run Once, replay, statistics and the
// run queue's dead jobs. Every
// call is made on behalf of an auth.Identity and checked against its role in
// the Group; a Group the caller cannot see is reported as not found, so
// Groups cannot be probed.
package manage

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// AccessStore is what the access check reads. Errors: a missing record
// wraps wiresk.ErrNotFound.
type AccessStore interface {
	GetGroup(ctx context.Context, id string) (group.Group, error)
	GetMember(ctx context.Context, groupID, userID string) (group.Member, error)
}

// Store is the store port of all the management use cases together, for
// the wiring: each use case declares the part it uses.
type Store interface {
	AccessStore
	GroupStore
	KeyStore
	FlowStore
	TriggerStore
	ScheduleStore
	RunStore
	DeadJobStore
}

// Config is what the management use cases are built from.
type Config struct {
	Store Store
	Queue run.Enqueuer
	Kinds flow.Kinds
	// Scheduler holds schedule triggers' schedules; nil: none does.
	Scheduler Scheduler
	// Vault holds HTTP triggers' signing secrets; nil: a trigger
	// authenticated by signature is refused.
	Vault Vault
	// DeadLetters is the run queue's dead-letter queue; nil: none is
	// configured (the dead-job calls answer unavailable).
	DeadLetters DeadLetterQueue
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RunOnceWait bounds how long Run Once waits for its Run to end
	// (default 25 s, under API Gateway's 30 s limit).
	RunOnceWait time.Duration
	Logger      *slog.Logger
}

// Services are the management use cases, one per aggregate, sharing one
// access check.
type Services struct {
	Access    Access
	Groups    *Groups
	Keys      *Keys
	Flows     *Flows
	Triggers  *Triggers
	Schedules *Schedules
	Runs      *Runs
	DeadJobs  *DeadJobs
}

// New returns the management use cases over c.Store.
func New(c Config) Services {
	a := Access{Store: c.Store}
	return Services{
		Access:    a,
		Groups:    &Groups{Store: c.Store, Access: a, Now: c.Now},
		Keys:      &Keys{Store: c.Store, Access: a, Now: c.Now},
		Flows:     &Flows{Store: c.Store, Access: a, Kinds: c.Kinds, Scheduler: c.Scheduler, Queue: c.Queue, Vault: c.Vault, Logger: c.Logger, Now: c.Now},
		Triggers:  &Triggers{Store: c.Store, Access: a, Vault: c.Vault, Now: c.Now, Logger: c.Logger},
		Schedules: &Schedules{Store: c.Store, Access: a, Scheduler: c.Scheduler, Queue: c.Queue, Now: c.Now, Logger: c.Logger},
		Runs:      &Runs{Store: c.Store, Access: a, Queue: c.Queue, Now: c.Now, RunOnceWait: c.RunOnceWait, Logger: c.Logger},
		DeadJobs:  &DeadJobs{Store: c.Store, Access: a, Queue: c.DeadLetters, Logger: c.Logger},
	}
}

// now returns the time of clock f (time.Now when nil), in UTC.
func now(f func() time.Time) time.Time {
	if f != nil {
		return f().UTC()
	}
	return time.Now().UTC()
}

// Access is the one access check of every use case: is the caller in the
// Group, and with which role.
type Access struct {
	Store AccessStore
}

// Authorize returns the caller's role in groupID, refusing with not_found
// when the caller cannot see the Group and forbidden when the role is below
// min.
func (s Access) Authorize(ctx context.Context, who auth.Identity, groupID string, min group.Role) (group.Role, error) {
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
