package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"wiresk/internal/flow"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Schedule triggers

// CreateSchedule stores a schedule trigger. ErrNotFound if its Flow does
// not exist; ErrConflict if its id is taken or the Flow has
// trigger.MaxSchedulesPerFlow already.
func (s *Store) CreateSchedule(ctx context.Context, t trigger.Schedule) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		var f flow.Flow
		if !get(tx, bFlows, key(t.GroupID, t.FlowID), &f) {
			return fmt.Errorf("create schedule on flow %s: %w", t.FlowID, wiresk.ErrNotFound)
		}
		k := key(t.GroupID, t.FlowID, t.ID)
		if tx.Bucket(bSchedules).Get(k) != nil {
			return fmt.Errorf("create schedule %s: %w", t.ID, wiresk.ErrConflict)
		}
		n := 0
		if err := each(tx, bSchedules, prefix(t.GroupID, t.FlowID), func(_, _ []byte) error { n++; return nil }); err != nil {
			return err
		}
		if n >= trigger.MaxSchedulesPerFlow {
			return fmt.Errorf("create schedule %s: flow %s has %d schedule triggers already: %w", t.ID, t.FlowID, n, wiresk.ErrConflict)
		}
		return put(tx, bSchedules, k, t)
	})
}

// GetSchedule returns a schedule trigger, or ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, groupID, flowID, id string) (trigger.Schedule, error) {
	var t trigger.Schedule
	err := s.view(func(tx *bbolt.Tx) error {
		if !get(tx, bSchedules, key(groupID, flowID, id), &t) {
			return fmt.Errorf("get schedule %s: %w", id, wiresk.ErrNotFound)
		}
		return nil
	})
	return t, err
}

// ListSchedules returns the schedule triggers of a Flow, or of the whole
// Group when flowID is "".
func (s *Store) ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error) {
	pfx := prefix(groupID)
	if flowID != "" {
		pfx = prefix(groupID, flowID)
	}
	var out []trigger.Schedule
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[trigger.Schedule](tx, bSchedules, pfx)
		return err
	})
	return out, err
}

// AllSchedules returns the schedule triggers of every Group.
func (s *Store) AllSchedules(ctx context.Context) ([]trigger.Schedule, error) {
	var out []trigger.Schedule
	err := s.view(func(tx *bbolt.Tx) (err error) {
		out, err = list[trigger.Schedule](tx, bSchedules, nil)
		return err
	})
	return out, err
}

// changeSchedule applies fn to a schedule trigger in one write
// transaction, storing it when fn reports a change, and returns it.
// ErrNotFound (naming what) if it does not exist.
func (s *Store) changeSchedule(ctx context.Context, what, groupID, flowID, id string, fn func(*trigger.Schedule) bool) (trigger.Schedule, error) {
	var t trigger.Schedule
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		k := key(groupID, flowID, id)
		if !get(tx, bSchedules, k, &t) {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		if !fn(&t) {
			return nil
		}
		return put(tx, bSchedules, k, t)
	})
	return t, err
}

// UpdateSchedule replaces the definition of an existing schedule trigger
// (trigger.Schedule.Redefine); its last fire and cursor stay as stored.
// ErrNotFound if it does not exist.
func (s *Store) UpdateSchedule(ctx context.Context, t trigger.Schedule) error {
	_, err := s.changeSchedule(ctx, "update schedule "+t.ID, t.GroupID, t.FlowID, t.ID, func(old *trigger.Schedule) bool {
		old.Redefine(t)
		return true
	})
	return err
}

// RecordFire records f as the last fire of a schedule trigger, unless a
// later fire is recorded already, and returns the trigger as stored.
// ErrNotFound if it does not exist.
func (s *Store) RecordFire(ctx context.Context, groupID, flowID, id string, f trigger.Fire) (trigger.Schedule, error) {
	return s.changeSchedule(ctx, "record fire of schedule "+id, groupID, flowID, id, func(t *trigger.Schedule) bool { return t.RecordFire(f) })
}

// AdvanceCursor moves an app trigger's cursor from from to to, and reports
// false when it is not at from (another poll moved it). ErrNotFound if the
// trigger does not exist.
func (s *Store) AdvanceCursor(ctx context.Context, groupID, flowID, id, from, to string) (bool, error) {
	moved := false
	_, err := s.changeSchedule(ctx, "advance cursor of "+id, groupID, flowID, id, func(t *trigger.Schedule) bool {
		moved = t.AdvanceCursor(from, to)
		return moved
	})
	return moved, err
}

// SetHook records an instant app trigger's subscription in place of prev,
// and reports false when it has no hook or another subscription than prev
// (trigger.Schedule.SetHook). ErrNotFound if the trigger does not exist.
func (s *Store) SetHook(ctx context.Context, groupID, flowID, id, prev, subscriptionID string, expiresAt *time.Time) (bool, error) {
	set := false
	_, err := s.changeSchedule(ctx, "set hook of "+id, groupID, flowID, id, func(t *trigger.Schedule) bool {
		set = t.SetHook(prev, subscriptionID, expiresAt)
		return set
	})
	return set, err
}

// DeleteSchedule removes a schedule trigger, or returns ErrNotFound.
func (s *Store) DeleteSchedule(ctx context.Context, groupID, flowID, id string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		k := key(groupID, flowID, id)
		if tx.Bucket(bSchedules).Get(k) == nil {
			return fmt.Errorf("delete schedule %s: %w", id, wiresk.ErrNotFound)
		}
		return tx.Bucket(bSchedules).Delete(k)
	})
}

// deletePrefix deletes every record of bucket whose key starts with pfx.
func deletePrefix(tx *bbolt.Tx, bucket, pfx []byte) error {
	var doomed [][]byte
	if err := each(tx, bucket, pfx, func(k, _ []byte) error { doomed = append(doomed, bytes.Clone(k)); return nil }); err != nil {
		return err
	}
	for _, k := range doomed {
		if err := tx.Bucket(bucket).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
