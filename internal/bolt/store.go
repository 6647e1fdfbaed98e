package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/apikey"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Bucket names of the store. Keys join ids with a NUL byte, so that every
// record of a Group (or of a Flow) sits in one contiguous key range.
var (
	bGroups     = []byte("groups")       // gid → Group
	bMembers    = []byte("members")      // gid·uid → Member
	bUserGroups = []byte("user_groups")  // uid·gid → role
	bKeys       = []byte("apikeys")      // gid·kid → keyRecord
	bKeyHashes  = []byte("apikey_hash")  // sha256 hex → gid·kid
	bFlows      = []byte("flows")        // gid·fid → Flow
	bTriggers   = []byte("triggers")     // gid·fid·tid → HTTPTrigger
	bRoutes     = []byte("routes")       // routing key → Route
	bSchedules  = []byte("schedules")    // gid·fid·tid → trigger.Schedule
	bRuns       = []byte("runs")         // gid·rid → Run
	bRunIndex   = []byte("runs_by_time") // gid·createdAt·rid → fid·kid·status
)

// Store is the embedded adapter of the store port.
type Store struct {
	db *bbolt.DB
	// decoded remembers the decoded form of key and route records read by
	// Lookup, keyed by their raw bytes: a record is decoded again only when
	// its stored bytes change, so the cache never serves stale data.
	keys   decodeCache[apikey.Key]
	routes decodeCache[trigger.Route]
}

// decodeCache maps a record's address to its last raw bytes and decoded
// value. It is bounded: past maxDecoded entries it starts afresh.
type decodeCache[T any] struct {
	mu sync.RWMutex
	m  map[string]decoded[T]
}

type decoded[T any] struct {
	raw []byte
	val T
}

const maxDecoded = 10000

// get returns the decoded value of raw (valid only during the read
// transaction), decoding it with dec when the cache does not hold exactly
// these bytes for addr.
func (c *decodeCache[T]) get(addr string, raw []byte, dec func([]byte) (T, error)) (T, error) {
	c.mu.RLock()
	e, ok := c.m[addr]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.val, nil
	}
	v, err := dec(raw)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDecoded {
		c.m = make(map[string]decoded[T])
	}
	c.m[addr] = decoded[T]{raw: bytes.Clone(raw), val: v}
	c.mu.Unlock()
	return v, nil
}

// NewStore returns the store of db, creating its buckets.
func NewStore(db *DB) (*Store, error) {
	if err := db.ensureBuckets("groups", "members", "user_groups", "apikeys", "apikey_hash", "flows", "triggers", "routes", "schedules", "runs", "runs_by_time", "connections", "connections_due", "oauth_states", "leases", "connection_audit"); err != nil {
		return nil, err
	}
	return &Store{db: db.bolt}, nil
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

// prefix returns the key prefix of all records under parts.
func prefix(parts ...string) []byte { return append(key(parts...), 0) }

func put(tx *bbolt.Tx, bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// json.Marshal copies a json.RawMessage after checking it alone, so a
	// record can come out nested deeper than a decoder reads back: such a
	// record is refused, never written.
	if !json.Valid(data) {
		return fmt.Errorf("record for %s is not readable JSON (nested too deeply?)", bucket)
	}
	return tx.Bucket(bucket).Put(k, data)
}

// corruptRecord is what get panics with when a stored record does not
// decode; view and write turn it into an error for that one call.
type corruptRecord struct{ err error }

func get(tx *bbolt.Tx, bucket, k []byte, v any) bool {
	data := tx.Bucket(bucket).Get(k)
	if data == nil {
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		panic(corruptRecord{fmt.Errorf("corrupt record %q in %s: %w", k, bucket, err)})
	}
	return true
}

// tryGet is get that reports a record that does not decode, for listings
// that skip it.
func tryGet(tx *bbolt.Tx, bucket, k []byte, v any) (found bool, err error) {
	data := tx.Bucket(bucket).Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("corrupt record %q in %s: %w", k, bucket, err)
	}
	return true, nil
}

// recoverCorrupt turns get's panic on a corrupt record into *err; other
// panics go on.
func recoverCorrupt(err *error) {
	if p := recover(); p != nil {
		c, ok := p.(corruptRecord)
		if !ok {
			panic(p)
		}
		slog.Error("bolt: a stored record does not decode", "err", c.err)
		*err = c.err
	}
}

// view runs fn in a read transaction; a corrupt record fails only this call.
func (s *Store) view(fn func(tx *bbolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return s.db.View(fn)
}

func each(tx *bbolt.Tx, bucket, pfx []byte, fn func(k, v []byte) error) error {
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func list[T any](tx *bbolt.Tx, bucket, pfx []byte) ([]T, error) {
	out := []T{}
	err := each(tx, bucket, pfx, func(_, v []byte) error {
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// write runs fn in a group-committed read-write transaction.
func (s *Store) write(ctx context.Context, fn func(tx *bbolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer recoverCorrupt(&err)
	return s.db.Batch(fn)
}

// Groups

// CreateGroup stores g with owner as its first member. ErrConflict if g exists.
func (s *Store) CreateGroup(ctx context.Context, g group.Group, owner group.Member) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bGroups).Get([]byte(g.ID)) != nil {
			return fmt.Errorf("create group %s: %w", g.ID, wiresk.ErrConflict)
		}
		if err := put(tx, bGroups, []byte(g.ID), g); err != nil {
			return err
		}
		return putMember(tx, owner)
	})
}

func putMember(tx *bbolt.Tx, m group.Member) error {
	if err := put(tx, bMembers, key(m.GroupID, m.UserID), m); err != nil {
		return err
	}
	return tx.Bucket(bUserGroups).Put(key(m.UserID, m.GroupID), []byte(m.Role))
}

// GetGroup returns Group id, or an error wrapping ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, id string) (group.Group, error) {
	var g group.Group
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bGroups, []byte(id), &g) {
			return fmt.Errorf("get group %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return g, err
}

// ListGroupsByUser returns the Groups userID belongs to.
func (s *Store) ListGroupsByUser(ctx context.Context, userID string) ([]group.Group, error) {
	out := []group.Group{}
	err := s.view(func(tx *bbolt.Tx) error {
		pfx := prefix(userID)
		return each(tx, bUserGroups, pfx, func(k, _ []byte) error {
			var g group.Group
			if get(tx, bGroups, k[len(pfx):], &g) {
				out = append(out, g)
			}
			return nil
		})
	})
	return out, err
}

// PutMember adds or updates a membership of an existing Group.
func (s *Store) PutMember(ctx context.Context, m group.Member) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bGroups).Get([]byte(m.GroupID)) == nil {
			return fmt.Errorf("put member of group %s: %w", m.GroupID, wiresk.ErrNotFound)
		}
		return putMember(tx, m)
	})
}

// GetMember returns userID's membership of groupID, or ErrNotFound.
func (s *Store) GetMember(ctx context.Context, groupID, userID string) (group.Member, error) {
	var m group.Member
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bMembers, key(groupID, userID), &m) {
			return fmt.Errorf("get member %s of group %s: %w", userID, groupID, wiresk.ErrNotFound)
		}
		return nil
	})
	return m, err
}

// ListMembers returns the members of groupID.
func (s *Store) ListMembers(ctx context.Context, groupID string) ([]group.Member, error) {
	var out []group.Member
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[group.Member](tx, bMembers, prefix(groupID))
		return err
	})
	return out, err
}

// DeleteMember removes a membership, or returns ErrNotFound.
func (s *Store) DeleteMember(ctx context.Context, groupID, userID string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bMembers).Get(key(groupID, userID)) == nil {
			return fmt.Errorf("delete member %s of group %s: %w", userID, groupID, wiresk.ErrNotFound)
		}
		if err := tx.Bucket(bMembers).Delete(key(groupID, userID)); err != nil {
			return err
		}
		return tx.Bucket(bUserGroups).Delete(key(userID, groupID))
	})
}

// API keys

// keyRecord is an API key as stored: the public record plus its hash.
type keyRecord struct {
	apikey.Key
	Hash apikey.Hash `json:"hash"`
}

func putKey(tx *bbolt.Tx, k apikey.Key) error {
	if err := put(tx, bKeys, key(k.GroupID, k.ID), keyRecord{Key: k, Hash: k.Hash}); err != nil {
		return err
	}
	return tx.Bucket(bKeyHashes).Put([]byte(k.Hash), key(k.GroupID, k.ID))
}

func decodeKey(raw []byte) (apikey.Key, error) {
	var r keyRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return apikey.Key{}, fmt.Errorf("corrupt api key record: %w", err)
	}
	r.Key.Hash = r.Hash
	return r.Key, nil
}

func decodeJSON[T any](raw []byte) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func getKey(tx *bbolt.Tx, k []byte) (apikey.Key, bool) {
	var r keyRecord
	if !get(tx, bKeys, k, &r) {
		return apikey.Key{}, false
	}
	r.Key.Hash = r.Hash
	return r.Key, true
}

// CreateAPIKey stores a new key. ErrConflict if its id or hash is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bKeys).Get(key(k.GroupID, k.ID)) != nil || tx.Bucket(bKeyHashes).Get([]byte(k.Hash)) != nil {
			return fmt.Errorf("create api key %s: %w", k.ID, wiresk.ErrConflict)
		}
		return putKey(tx, k)
	})
}

// GetAPIKey returns key id of groupID, or ErrNotFound.
func (s *Store) GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error) {
	var k apikey.Key
	err := s.view(func(tx *bbolt.Tx) error {
		var ok bool
		if k, ok = getKey(tx, key(groupID, id)); !ok {
			return fmt.Errorf("get api key %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return k, err
}

// ListAPIKeys returns the keys of groupID, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, groupID string) ([]apikey.Key, error) {
	out := []apikey.Key{}
	err := s.view(func(tx *bbolt.Tx) error {
		return each(tx, bKeys, prefix(groupID), func(k, _ []byte) error {
			key, _ := getKey(tx, k)
			out = append(out, key)
			return nil
		})
	})
	return out, err
}

// UpdateAPIKey replaces an existing key's record (its hash cannot change).
func (s *Store) UpdateAPIKey(ctx context.Context, k apikey.Key) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		old, ok := getKey(tx, key(k.GroupID, k.ID))
		if !ok {
			return fmt.Errorf("update api key %s: %w", k.ID, wiresk.ErrNotFound)
		}
		k.Hash = old.Hash
		return putKey(tx, k)
	})
}

// RotateAPIKey stores the updated old key and its replacement atomically.
func (s *Store) RotateAPIKey(ctx context.Context, old, replacement apikey.Key) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		prev, ok := getKey(tx, key(old.GroupID, old.ID))
		if !ok {
			return fmt.Errorf("rotate api key %s: %w", old.ID, wiresk.ErrNotFound)
		}
		if prev.RotatedTo != "" || prev.RevokedAt != nil {
			return fmt.Errorf("rotate api key %s: already rotated or revoked: %w", old.ID, wiresk.ErrConflict)
		}
		if tx.Bucket(bKeyHashes).Get([]byte(replacement.Hash)) != nil {
			return fmt.Errorf("rotate api key %s: %w", old.ID, wiresk.ErrConflict)
		}
		old.Hash = prev.Hash
		if err := putKey(tx, old); err != nil {
			return err
		}
		return putKey(tx, replacement)
	})
}

// Flows

// CreateFlow stores a new Flow. ErrConflict if its id is taken.
func (s *Store) CreateFlow(ctx context.Context, f flow.Flow) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bFlows).Get(key(f.GroupID, f.ID)) != nil {
			return fmt.Errorf("create flow %s: %w", f.ID, wiresk.ErrConflict)
		}
		return put(tx, bFlows, key(f.GroupID, f.ID), f)
	})
}

// GetFlow returns Flow id of groupID, or ErrNotFound.
func (s *Store) GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error) {
	var f flow.Flow
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bFlows, key(groupID, id), &f) {
			return fmt.Errorf("get flow %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return f, err
}

// ListFlows returns the Flows of groupID, oldest first.
func (s *Store) ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error) {
	var out []flow.Flow
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[flow.Flow](tx, bFlows, prefix(groupID))
		return err
	})
	return out, err
}

// UpdateFlow replaces an existing Flow whose stored Version is f.Version-1
// (optimistic concurrency; ErrConflict otherwise) and brings the enabled
// state of its routes in line, in one transaction.
func (s *Store) UpdateFlow(ctx context.Context, f flow.Flow) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var old flow.Flow
		if !get(tx, bFlows, key(f.GroupID, f.ID), &old) {
			return fmt.Errorf("update flow %s: %w", f.ID, wiresk.ErrNotFound)
		}
		if old.Version != f.Version-1 {
			return fmt.Errorf("update flow %s: version %d is not the next after %d: %w", f.ID, f.Version, old.Version, wiresk.ErrConflict)
		}
		if err := put(tx, bFlows, key(f.GroupID, f.ID), f); err != nil {
			return err
		}
		return each(tx, bTriggers, prefix(f.GroupID, f.ID), func(_, v []byte) error {
			var t trigger.HTTPTrigger
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			return put(tx, bRoutes, []byte(t.RoutingKey), trigger.RouteOf(t, f.Enabled))
		})
	})
}

// DeleteFlow removes a Flow with its triggers, routes and schedule
// triggers. Its Runs stay.
func (s *Store) DeleteFlow(ctx context.Context, groupID, id string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bFlows).Get(key(groupID, id)) == nil {
			return fmt.Errorf("delete flow %s: %w", id, wiresk.ErrNotFound)
		}
		var doomed [][]byte
		err := each(tx, bTriggers, prefix(groupID, id), func(k, v []byte) error {
			var t trigger.HTTPTrigger
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			doomed = append(doomed, bytes.Clone(k))
			return tx.Bucket(bRoutes).Delete([]byte(t.RoutingKey))
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := tx.Bucket(bTriggers).Delete(k); err != nil {
				return err
			}
		}
		if err := deletePrefix(tx, bSchedules, prefix(groupID, id)); err != nil {
			return err
		}
		return tx.Bucket(bFlows).Delete(key(groupID, id))
	})
}

// Triggers

// CreateTrigger stores t and its route. ErrNotFound if its Flow does not
// exist; ErrConflict if its routing key is taken.
func (s *Store) CreateTrigger(ctx context.Context, t trigger.HTTPTrigger) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var f flow.Flow
		if !get(tx, bFlows, key(t.GroupID, t.FlowID), &f) {
			return fmt.Errorf("create trigger on flow %s: %w", t.FlowID, wiresk.ErrNotFound)
		}
		if tx.Bucket(bRoutes).Get([]byte(t.RoutingKey)) != nil || tx.Bucket(bTriggers).Get(key(t.GroupID, t.FlowID, t.ID)) != nil {
			return fmt.Errorf("create trigger %s: %w", t.ID, wiresk.ErrConflict)
		}
		if err := put(tx, bTriggers, key(t.GroupID, t.FlowID, t.ID), t); err != nil {
			return err
		}
		return put(tx, bRoutes, []byte(t.RoutingKey), trigger.RouteOf(t, f.Enabled))
	})
}

// GetTrigger returns a trigger, or ErrNotFound.
func (s *Store) GetTrigger(ctx context.Context, groupID, flowID, id string) (trigger.HTTPTrigger, error) {
	var t trigger.HTTPTrigger
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bTriggers, key(groupID, flowID, id), &t) {
			return fmt.Errorf("get trigger %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return t, err
}

// ListTriggers returns the triggers of a Flow, or of the whole Group when
// flowID is "".
func (s *Store) ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	pfx := prefix(groupID)
	if flowID != "" {
		pfx = prefix(groupID, flowID)
	}
	var out []trigger.HTTPTrigger
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[trigger.HTTPTrigger](tx, bTriggers, pfx)
		return err
	})
	return out, err
}

// DeleteTrigger removes a trigger and its route, or returns ErrNotFound.
func (s *Store) DeleteTrigger(ctx context.Context, groupID, flowID, id string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var t trigger.HTTPTrigger
		if !get(tx, bTriggers, key(groupID, flowID, id), &t) {
			return fmt.Errorf("delete trigger %s: %w", id, wiresk.ErrNotFound)
		}
		if err := tx.Bucket(bRoutes).Delete([]byte(t.RoutingKey)); err != nil {
			return err
		}
		return tx.Bucket(bTriggers).Delete(key(groupID, flowID, id))
	})
}

// UpdateTrigger replaces an existing trigger. When its routing key changed,
// the old route is removed and the new one added in the same transaction
// (ErrConflict if the new key is taken).
func (s *Store) UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var old trigger.HTTPTrigger
		if !get(tx, bTriggers, key(t.GroupID, t.FlowID, t.ID), &old) {
			return fmt.Errorf("update trigger %s: %w", t.ID, wiresk.ErrNotFound)
		}
		var f flow.Flow
		if !get(tx, bFlows, key(t.GroupID, t.FlowID), &f) {
			return fmt.Errorf("update trigger %s: flow %s: %w", t.ID, t.FlowID, wiresk.ErrNotFound)
		}
		if old.RoutingKey != t.RoutingKey {
			if tx.Bucket(bRoutes).Get([]byte(t.RoutingKey)) != nil {
				return fmt.Errorf("update trigger %s: routing key taken: %w", t.ID, wiresk.ErrConflict)
			}
			if err := tx.Bucket(bRoutes).Delete([]byte(old.RoutingKey)); err != nil {
				return err
			}
		}
		if err := put(tx, bTriggers, key(t.GroupID, t.FlowID, t.ID), t); err != nil {
			return err
		}
		return put(tx, bRoutes, []byte(t.RoutingKey), trigger.RouteOf(t, f.Enabled))
	})
}

// GetRoute returns the route of routingKey, or ErrNotFound.
func (s *Store) GetRoute(ctx context.Context, routingKey string) (trigger.Route, error) {
	var r trigger.Route
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bRoutes, []byte(routingKey), &r) {
			return fmt.Errorf("get route: %w", wiresk.ErrNotFound)
		}
		return nil
	})
	return r, err
}

// Lookup reads, in one read transaction, the API key with the given hash
// and the route of routingKey: what the webhook ingress needs. A nil result
// means that record does not exist; err is for failures only.
func (s *Store) Lookup(ctx context.Context, keyHash apikey.Hash, routingKey string) (*apikey.Key, *trigger.Route, error) {
	var k *apikey.Key
	var r *trigger.Route
	err := s.view(func(tx *bbolt.Tx) error {
		if ref := tx.Bucket(bKeyHashes).Get([]byte(keyHash)); ref != nil && len(keyHash) > 0 {
			if raw := tx.Bucket(bKeys).Get(ref); raw != nil {
				key, err := s.keys.get(string(ref), raw, decodeKey)
				if err != nil {
					return err
				}
				k = &key
			}
		}
		if raw := tx.Bucket(bRoutes).Get([]byte(routingKey)); raw != nil {
			route, err := s.routes.get(routingKey, raw, decodeJSON[trigger.Route])
			if err != nil {
				return err
			}
			r = &route
		}
		return nil
	})
	return k, r, err
}

// Runs

func runIndexKey(r run.Run) []byte {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(r.CreatedAt.UnixNano()))
	k := make([]byte, 0, len(r.GroupID)+len(r.ID)+10)
	k = append(k, r.GroupID...)
	k = append(k, 0)
	k = append(k, ts[:]...)
	return append(k, r.ID...)
}

func runIndexValue(r run.Run) []byte { return key(r.FlowID, r.APIKeyID, string(r.Status)) }

// CreateRun stores r unless a Run with its id exists; created says which.
// This is what makes Job redelivery idempotent.
func (s *Store) CreateRun(ctx context.Context, r run.Run) (created bool, err error) {
	err = s.write(ctx, func(tx *bbolt.Tx) error {
		created = false
		if tx.Bucket(bRuns).Get(key(r.GroupID, r.ID)) != nil {
			return nil
		}
		if err := put(tx, bRuns, key(r.GroupID, r.ID), r); err != nil {
			return err
		}
		created = true
		return tx.Bucket(bRunIndex).Put(runIndexKey(r), runIndexValue(r))
	})
	return created, err
}

// GetRun returns Run id of groupID, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, groupID, id string) (run.Run, error) {
	var r run.Run
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bRuns, key(groupID, id), &r) {
			return fmt.Errorf("get run %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return r, err
}

// UpdateRun replaces an existing Run (its CreatedAt cannot change).
func (s *Store) UpdateRun(ctx context.Context, r run.Run) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var old run.Run
		if !get(tx, bRuns, key(r.GroupID, r.ID), &old) {
			return fmt.Errorf("update run %s: %w", r.ID, wiresk.ErrNotFound)
		}
		r.CreatedAt = old.CreatedAt
		if err := put(tx, bRuns, key(r.GroupID, r.ID), r); err != nil {
			return err
		}
		return tx.Bucket(bRunIndex).Put(runIndexKey(r), runIndexValue(r))
	})
}

// errBadCursor is returned for a cursor this store did not issue.
var errBadCursor = wiresk.Errorf(wiresk.EInvalid, "the cursor is not valid")

// ListRuns returns a page of the Runs q selects, newest first.
func (s *Store) ListRuns(ctx context.Context, q run.Query) (run.Page, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	pfx := prefix(q.GroupID)
	start := append(bytes.Clone(pfx), 0xff)
	if !q.Until.IsZero() {
		var ts [8]byte
		binary.BigEndian.PutUint64(ts[:], uint64(q.Until.UnixNano()))
		start = append(bytes.Clone(pfx), ts[:]...)
	}
	if q.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || !bytes.HasPrefix(c, pfx) {
			return run.Page{}, errBadCursor
		}
		start = c
	}
	page := run.Page{Runs: []run.Run{}}
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bRunIndex).Cursor()
		var v []byte
		k, _ := c.Seek(start)
		// Seek lands on the first key >= start; we want keys < start.
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, pfx); k, v = c.Prev() {
			if !q.Since.IsZero() && len(k) >= len(pfx)+8 && int64(binary.BigEndian.Uint64(k[len(pfx):])) < q.Since.UnixNano() {
				break
			}
			parts := strings.SplitN(string(v), "\x00", 3)
			if len(parts) != 3 || (q.FlowID != "" && parts[0] != q.FlowID) || (q.APIKeyID != "" && parts[1] != q.APIKeyID) || (q.Status != "" && parts[2] != string(q.Status)) {
				continue
			}
			if len(page.Runs) == limit {
				page.NextCursor = base64.RawURLEncoding.EncodeToString(append([]byte(nil), lastKey(page)...))
				return nil
			}
			var r run.Run
			found, err := tryGet(tx, bRuns, key(q.GroupID, string(k[len(pfx)+8:])), &r)
			if err != nil {
				// One unreadable Run must not hide the others.
				slog.Error("bolt: listing skips a Run that does not decode", "err", err)
				continue
			}
			if !found {
				continue
			}
			page.Runs = append(page.Runs, r)
		}
		return nil
	})
	return page, err
}

func lastKey(p run.Page) []byte { return runIndexKey(p.Runs[len(p.Runs)-1]) }
