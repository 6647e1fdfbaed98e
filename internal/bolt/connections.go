package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/connection"
	"wiresk/internal/wiresk"
)

// Buckets of the Connection records (created by NewStore).
var (
	bConnections    = []byte("connections")      // gid·cid → Connection
	bConnectionsDue = []byte("connections_due")  // dueAt(8, big-endian ns)·gid·cid → gid·cid
	bOAuthStates    = []byte("oauth_states")     // state id (sha256 hex) → OAuthState
	bLeases         = []byte("leases")           // lease name → leaseRecord
	bConnAudit      = []byte("connection_audit") // gid·cid·at(8)·seq(8) → AuditEvent
)

// leaseRecord is a lease as stored.
type leaseRecord struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// instant encodes t as 8 big-endian bytes of Unix nanoseconds, so that keys
// sort like times (instants before 1970 count as 1970).
func instant(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(t.UnixNano(), 0)))
	return b[:]
}

// dueKey returns the key of c in bConnectionsDue, or nil when c is not
// scheduled.
func dueKey(c connection.Connection) []byte {
	at, ok := connection.DueAt(c)
	if !ok {
		return nil
	}
	return append(instant(at), key(c.GroupID, c.ID)...)
}

// putConnection stores c and its due entry, removing old's due entry.
func putConnection(tx *bbolt.Tx, old *connection.Connection, c connection.Connection) error {
	due := tx.Bucket(bConnectionsDue)
	if old != nil {
		if k := dueKey(*old); k != nil {
			if err := due.Delete(k); err != nil {
				return err
			}
		}
	}
	if err := put(tx, bConnections, key(c.GroupID, c.ID), c); err != nil {
		return err
	}
	if k := dueKey(c); k != nil {
		return due.Put(k, key(c.GroupID, c.ID))
	}
	return nil
}

// CreateConnection stores a new Connection. ErrConflict if the Group has one
// with its id.
func (s *Store) CreateConnection(ctx context.Context, c connection.Connection) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bConnections).Get(key(c.GroupID, c.ID)) != nil {
			return fmt.Errorf("create connection %s: %w", c.ID, wiresk.ErrConflict)
		}
		return putConnection(tx, nil, c)
	})
}

// GetConnection returns Connection id of groupID, or ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error) {
	var c connection.Connection
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bConnections, key(groupID, id), &c) {
			return fmt.Errorf("get connection %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return c, err
}

// ListConnections returns the Connections of groupID, by id.
func (s *Store) ListConnections(ctx context.Context, groupID string) ([]connection.Connection, error) {
	var out []connection.Connection
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[connection.Connection](tx, bConnections, prefix(groupID))
		return err
	})
	return out, err
}

// UpdateConnection replaces a Connection whose stored Version is
// c.Version-1: ErrNotFound if there is none, ErrConflict if its Version is
// another.
func (s *Store) UpdateConnection(ctx context.Context, c connection.Connection) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var old connection.Connection
		if !get(tx, bConnections, key(c.GroupID, c.ID), &old) {
			return fmt.Errorf("update connection %s: %w", c.ID, wiresk.ErrNotFound)
		}
		if old.Version != c.Version-1 {
			return fmt.Errorf("update connection %s: version %d is not the next after %d: %w", c.ID, c.Version, old.Version, wiresk.ErrConflict)
		}
		return putConnection(tx, &old, c)
	})
}

// DeleteConnection removes a Connection, or returns ErrNotFound. Its audit
// trail stays.
func (s *Store) DeleteConnection(ctx context.Context, groupID, id string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var old connection.Connection
		if !get(tx, bConnections, key(groupID, id), &old) {
			return fmt.Errorf("delete connection %s: %w", id, wiresk.ErrNotFound)
		}
		if k := dueKey(old); k != nil {
			if err := tx.Bucket(bConnectionsDue).Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bConnections).Delete(key(groupID, id))
	})
}

// ListConnectionsDue returns the Connections of every Group whose DueAt is
// before before, earliest first: a range of the due index.
func (s *Store) ListConnectionsDue(ctx context.Context, before time.Time) ([]connection.Connection, error) {
	out := []connection.Connection{}
	end := instant(before)
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bConnectionsDue).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
			var conn connection.Connection
			if get(tx, bConnections, v, &conn) {
				out = append(out, conn)
			}
		}
		return nil
	})
	return out, err
}

// PutOAuthState stores a new authorization state. ErrConflict if its id
// exists.
func (s *Store) PutOAuthState(ctx context.Context, st connection.OAuthState) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bOAuthStates).Get([]byte(st.ID)) != nil {
			return fmt.Errorf("put oauth state: %w", wiresk.ErrConflict)
		}
		return put(tx, bOAuthStates, []byte(st.ID), st)
	})
}

// TakeOAuthState reads and deletes state id in one transaction, or returns
// ErrNotFound. An expired state is returned too (and so removed).
func (s *Store) TakeOAuthState(ctx context.Context, id string) (connection.OAuthState, error) {
	var st connection.OAuthState
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		st = connection.OAuthState{}
		if !get(tx, bOAuthStates, []byte(id), &st) {
			return fmt.Errorf("take oauth state: %w", wiresk.ErrNotFound)
		}
		return tx.Bucket(bOAuthStates).Delete([]byte(id))
	})
	if err != nil {
		return connection.OAuthState{}, err
	}
	return st, nil
}

// AcquireLease takes the lease name for holder for ttl when it is free,
// expired or already holder's, checked and written in one transaction.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, wiresk.Errorf(wiresk.EInvalid, "a lease needs a name, a holder and a positive ttl")
	}
	var acquired bool
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		acquired = false
		now := time.Now()
		var l leaseRecord
		if get(tx, bLeases, []byte(name), &l) && l.Holder != holder && now.Before(l.ExpiresAt) {
			return nil
		}
		acquired = true
		return put(tx, bLeases, []byte(name), leaseRecord{Holder: holder, ExpiresAt: now.Add(ttl).UTC()})
	})
	return acquired, err
}

// ReleaseLease frees the lease name if holder holds it, or returns
// ErrNotFound.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var l leaseRecord
		if !get(tx, bLeases, []byte(name), &l) || l.Holder != holder {
			return fmt.Errorf("release lease %s: not held by %s: %w", name, holder, wiresk.ErrNotFound)
		}
		return tx.Bucket(bLeases).Delete([]byte(name))
	})
}

// AppendAudit adds e to its Connection's audit trail. Events of the same
// instant keep the order they were appended in.
func (s *Store) AppendAudit(ctx context.Context, e connection.AuditEvent) error {
	e.At = e.At.UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bConnAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := append(prefix(e.GroupID, e.ConnectionID), instant(e.At)...)
		k = binary.BigEndian.AppendUint64(k, seq)
		return b.Put(k, data)
	})
}

// ListAudit returns the newest events of a Connection, newest first, at
// most connection.AuditLimit(limit).
func (s *Store) ListAudit(ctx context.Context, groupID, connectionID string, limit int) ([]connection.AuditEvent, error) {
	limit = connection.AuditLimit(limit)
	out := []connection.AuditEvent{}
	pfx := prefix(groupID, connectionID)
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bConnAudit).Cursor()
		// The first key after the prefix's range: the prefix ends with a
		// NUL byte, so the same key ending with 1 instead.
		after := append(key(groupID, connectionID), 1)
		var v []byte
		k, _ := c.Seek(after)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, pfx) && len(out) < limit; k, v = c.Prev() {
			var e connection.AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("bolt: corrupt audit event: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
