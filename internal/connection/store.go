package connection

import (
	"context"
	"time"
)

// Store is everything the store adapters provide for Connections: the
// union of Records, States, Leases and AuditLog, for the adapters' contract
// tests and the wiring. The use cases declare the narrow part they use
// (see internal/connect). It never sees a secret.
//
// Errors, of every part: a missing record wraps wiresk.ErrNotFound; a
// broken uniqueness or version invariant wraps wiresk.ErrConflict; any
// other error is a failure of the store itself.
type Store interface {
	Records
	States
	Leases
	AuditLog
}

// Records are the Connection records.
type Records interface {
	// CreateConnection stores a new Connection (Version 1 by convention).
	// ErrConflict if the Group already has a Connection with its id.
	CreateConnection(ctx context.Context, c Connection) error
	// GetConnection returns Connection id of groupID, or ErrNotFound (also
	// when id belongs to another Group).
	GetConnection(ctx context.Context, groupID, id string) (Connection, error)
	// ListConnections returns the Connections of groupID, by id (so
	// oldest first); none is an empty list.
	ListConnections(ctx context.Context, groupID string) ([]Connection, error)
	// UpdateConnection replaces a stored Connection whose Version is
	// c.Version-1: ErrNotFound if there is none, ErrConflict if its Version
	// is another (someone else wrote it since it was read).
	UpdateConnection(ctx context.Context, c Connection) error
	// DeleteConnection removes Connection id of groupID, or returns
	// ErrNotFound. Its audit trail stays. Whether Flows still use it is the
	// caller's concern (see UsedBy).
	DeleteConnection(ctx context.Context, groupID, id string) error
	// ListConnectionsDue returns the Connections of every Group whose
	// DueAt is before before, earliest first. The stores index DueAt when
	// a Connection is written, so this is a range read, not a scan. It may
	// lag a write by a moment (DynamoDB answers from an index): re-read a
	// Connection with GetConnection before acting on it.
	ListConnectionsDue(ctx context.Context, before time.Time) ([]Connection, error)
}

// States are the single-use states of the OAuth authorizations.
type States interface {
	// PutOAuthState stores a new authorization state. ErrConflict if its
	// id exists.
	PutOAuthState(ctx context.Context, s OAuthState) error
	// TakeOAuthState atomically reads and deletes state id: of concurrent
	// calls, exactly one gets it. ErrNotFound if it does not exist or was
	// taken already. A state past its ExpiresAt may still be returned (the
	// store removes expired states lazily): the caller checks Expired and
	// reports an expired state as such.
	TakeOAuthState(ctx context.Context, id string) (OAuthState, error)
}

// Leases serialize work on a Connection (its token refreshes) across
// processes.
type Leases interface {
	// AcquireLease takes the lease name for holder for ttl, and reports
	// whether it did: it does when the lease is free, expired, or already
	// held by holder (whose lease is then extended to ttl from now). Of
	// concurrent callers with different holders, at most one gets true.
	// Losing is not an error. Leases are timed by the clock of the caller;
	// ttl must be positive.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease frees the lease name if holder holds it (expired or
	// not). Otherwise — the lease is free, or held by another holder — it
	// changes nothing and returns an error wrapping ErrNotFound.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// AuditLog is the audit trail of the Connections.
type AuditLog interface {
	// AppendAudit adds e to the audit trail of its Connection.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns the newest events (at most limit; 50 when limit
	// is not in 1..1000) of Connection connectionID of groupID, newest
	// first. Events with the same At come in no defined order.
	ListAudit(ctx context.Context, groupID, connectionID string, limit int) ([]AuditEvent, error)
}

// AuditLimit returns the number of events ListAudit returns for limit:
// limit itself in 1..1000, DefaultAuditLimit otherwise. Store adapters use
// it so that they agree.
func AuditLimit(limit int) int {
	if limit < 1 || limit > 1000 {
		return DefaultAuditLimit
	}
	return limit
}

// DefaultAuditLimit is the page size of ListAudit when none is given.
const DefaultAuditLimit = 50

// RefreshLeaseName is the name of the lease that serializes the token
// refreshes of Connection id, so that concurrent workers never race a
// rotating refresh token.
func RefreshLeaseName(id string) string { return "connection-refresh/" + id }
