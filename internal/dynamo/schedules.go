package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Schedule triggers:
//
//	schedule    GROUP#<group>          FLOW#<flow>#SCHEDULE#<trigger>    GSI1: SCHEDULES / <group>#<flow>#<trigger>
//
// GSI1 lists every Group's schedule triggers for a scheduler that keeps
// them itself (the local runner on this backend); on AWS, EventBridge
// Scheduler holds them. rev counts the item's writes: updates read, change
// and write back under rev unchanged, so a fire recorded meanwhile is kept.

const (
	typeSchedule = "schedule"
	pkSchedules  = "SCHEDULES"
)

func scheduleSK(flowID, id string) string { return schedulePrefix(flowID) + id }
func schedulePrefix(flowID string) string { return "FLOW#" + flowID + "#SCHEDULE#" }
func schedulesSK(g, f, id string) string  { return g + "#" + f + "#" + id }
func isScheduleSK(flowID, sk string) bool { return strings.HasPrefix(sk, schedulePrefix(flowID)) }
func revIs(rev int64) expression.ConditionBuilder {
	return exists.And(expression.Name("rev").Equal(expression.Value(rev)))
}

type scheduleItem struct {
	itemKeys
	ID          string     `dynamodbav:"id"`
	GroupID     string     `dynamodbav:"groupId"`
	FlowID      string     `dynamodbav:"flowId"`
	Description string     `dynamodbav:"description,omitempty"`
	Expression  string     `dynamodbav:"expression"`
	Timezone    string     `dynamodbav:"timezone"`
	Enabled     bool       `dynamodbav:"enabled"`
	CreatedAt   time.Time  `dynamodbav:"createdAt"`
	EnabledAt   time.Time  `dynamodbav:"enabledAt"`
	LastFireAt  *time.Time `dynamodbav:"lastFireAt,omitempty"`
	LastRunID   string     `dynamodbav:"lastRunId,omitempty"`
	LastError   string     `dynamodbav:"lastError,omitempty"`
	Poll        *pollItem  `dynamodbav:"poll,omitempty"`
	Rev         int64      `dynamodbav:"rev"`
}

// pollItem is an app trigger's poll, a map attribute of its item.
type pollItem struct {
	App          string            `dynamodbav:"app"`
	Event        string            `dynamodbav:"event"`
	ConnectionID string            `dynamodbav:"connectionId"`
	Params       map[string]string `dynamodbav:"params,omitempty"`
	Cursor       string            `dynamodbav:"cursor,omitempty"`
	Paused       bool              `dynamodbav:"paused,omitempty"`
	LastStarted  int               `dynamodbav:"lastStarted"`
	Instant      bool              `dynamodbav:"instant,omitempty"`
	Hook         *hookItem         `dynamodbav:"hook,omitempty"`
}

// hookItem is an instant trigger's hook; its secret is in the vault.
type hookItem struct {
	Token          string     `dynamodbav:"token"`
	SubscriptionID string     `dynamodbav:"subscriptionId,omitempty"`
	ExpiresAt      *time.Time `dynamodbav:"expiresAt,omitempty"`
}

func toScheduleItem(t trigger.Schedule, rev int64) scheduleItem {
	it := scheduleItem{
		itemKeys: itemKeys{PK: groupPK(t.GroupID), SK: scheduleSK(t.FlowID, t.ID), Type: typeSchedule,
			GSI1PK: pkSchedules, GSI1SK: schedulesSK(t.GroupID, t.FlowID, t.ID)},
		ID: t.ID, GroupID: t.GroupID, FlowID: t.FlowID, Description: t.Description, Expression: t.Expression,
		Timezone: t.Timezone, Enabled: t.Enabled, CreatedAt: utc(t.CreatedAt), EnabledAt: utc(t.EnabledAt),
		LastFireAt: utcPtr(t.LastFireAt), LastRunID: t.LastRunID, LastError: t.LastError, Rev: rev,
	}
	if p := t.Poll; p != nil {
		it.Poll = &pollItem{App: p.App, Event: p.Event, ConnectionID: p.ConnectionID, Params: p.Params, Cursor: p.Cursor, Paused: p.Paused, LastStarted: p.LastStarted, Instant: p.Instant}
		if h := p.Hook; h != nil {
			it.Poll.Hook = &hookItem{Token: h.Token, SubscriptionID: h.SubscriptionID, ExpiresAt: utcPtr(h.ExpiresAt)}
		}
	}
	return it
}

func (i scheduleItem) schedule() trigger.Schedule {
	t := trigger.Schedule{ID: i.ID, GroupID: i.GroupID, FlowID: i.FlowID, Description: i.Description,
		Expression: i.Expression, Timezone: i.Timezone, Enabled: i.Enabled, CreatedAt: i.CreatedAt, EnabledAt: i.EnabledAt,
		LastFireAt: i.LastFireAt, LastRunID: i.LastRunID, LastError: i.LastError}
	if p := i.Poll; p != nil {
		t.Poll = &trigger.Poll{App: p.App, Event: p.Event, ConnectionID: p.ConnectionID, Params: p.Params, Cursor: p.Cursor, Paused: p.Paused, LastStarted: p.LastStarted, Instant: p.Instant}
		if h := p.Hook; h != nil {
			t.Poll.Hook = &trigger.Hook{Token: h.Token, SubscriptionID: h.SubscriptionID, ExpiresAt: h.ExpiresAt}
		}
	}
	return t
}

// CreateSchedule stores a schedule trigger, in one transaction with a
// change of its Flow's routesRev (so a concurrent DeleteFlow sees it).
// ErrNotFound if the Flow does not exist; ErrConflict if the id is taken
// or the Flow has trigger.MaxSchedulesPerFlow already.
func (s *Store) CreateSchedule(ctx context.Context, t trigger.Schedule) error {
	what := "create schedule " + t.ID
	return s.retry(ctx, what, func() error {
		f, ok, _, schedules, err := s.flowAndTriggers(ctx, t.GroupID, t.FlowID)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("create schedule on flow %s: %w", t.FlowID, wiresk.ErrNotFound)
		}
		if len(schedules) >= trigger.MaxSchedulesPerFlow {
			return fmt.Errorf("%s: flow %s has %d schedule triggers already: %w", what, t.FlowID, len(schedules), wiresk.ErrConflict)
		}
		rev := exists.And(expression.Name("routesRev").Equal(expression.Value(f.RoutesRev)))
		items, err := s.items(
			func() (types.TransactWriteItem, error) {
				return s.update(groupPK(t.GroupID), flowSK(t.FlowID), expression.Add(expression.Name("routesRev"), expression.Value(1)), rev)
			},
			func() (types.TransactWriteItem, error) { return s.put(toScheduleItem(t, 1), &notExists) },
		)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func(codes []string) error {
			if failed(codes, 1) {
				return fmt.Errorf("%s: its id is taken: %w", what, wiresk.ErrConflict)
			}
			return errRetry // the Flow or its triggers changed: count again
		})
	})
}

func (s *Store) getSchedule(ctx context.Context, what, groupID, flowID, id string) (scheduleItem, error) {
	var it scheduleItem
	ok, err := s.get(ctx, groupPK(groupID), scheduleSK(flowID, id), &it)
	if err != nil {
		return it, failure(what, err)
	}
	if !ok {
		return it, fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	return it, nil
}

// GetSchedule returns a schedule trigger, or ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, groupID, flowID, id string) (trigger.Schedule, error) {
	it, err := s.getSchedule(ctx, "get schedule "+id, groupID, flowID, id)
	return it.schedule(), err
}

// ListSchedules returns the schedule triggers of a Flow, or of the whole
// Group when flowID is "".
func (s *Store) ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error) {
	prefix, filter := schedulePrefix(flowID), (*expression.ConditionBuilder)(nil)
	if flowID == "" {
		prefix, filter = flowSK(""), typeIs(typeSchedule)
	}
	out, err := listOf(ctx, s, groupPK(groupID), prefix, filter, func(it scheduleItem) (trigger.Schedule, error) { return it.schedule(), nil })
	if err != nil {
		return nil, failure("list schedules of group "+groupID, err)
	}
	return out, nil
}

// AllSchedules returns the schedule triggers of every Group: one Query of
// GSI1 (all its pages), eventually consistent.
func (s *Store) AllSchedules(ctx context.Context) ([]trigger.Schedule, error) {
	kc := expression.Key(attrGSI1PK).Equal(expression.Value(pkSchedules))
	out, err := queryGSI1(ctx, s, kc, func(it scheduleItem) (trigger.Schedule, error) { return it.schedule(), nil })
	if err != nil {
		return nil, failure("list all schedules", err)
	}
	return out, nil
}

// change reads a schedule trigger, applies fn to it and writes it back if
// nobody wrote it meanwhile (reading again otherwise). fn returning false
// leaves the item as it is.
func (s *Store) changeSchedule(ctx context.Context, what, groupID, flowID, id string, fn func(*trigger.Schedule) bool) (trigger.Schedule, error) {
	var out trigger.Schedule
	err := s.retry(ctx, what, func() error {
		it, err := s.getSchedule(ctx, what, groupID, flowID, id)
		if err != nil {
			return err
		}
		out = it.schedule()
		if !fn(&out) {
			return nil
		}
		cond := revIs(it.Rev)
		err = s.putItem(ctx, what, toScheduleItem(out, it.Rev+1), &cond)
		if errors.Is(err, errCondition) {
			return errRetry // written meanwhile (or deleted): read it again
		}
		return err
	})
	return out, err
}

// UpdateSchedule replaces the definition of an existing schedule trigger
// (description, expression, zone, enabled state); its last fire stays as
// stored. ErrNotFound if it does not exist.
func (s *Store) UpdateSchedule(ctx context.Context, t trigger.Schedule) error {
	_, err := s.changeSchedule(ctx, "update schedule "+t.ID, t.GroupID, t.FlowID, t.ID, func(old *trigger.Schedule) bool {
		old.Redefine(t)
		return true
	})
	return err
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

// RecordFire records f as the last fire of a schedule trigger, unless a
// later fire is recorded already, and returns the trigger as stored.
// ErrNotFound if it does not exist.
func (s *Store) RecordFire(ctx context.Context, groupID, flowID, id string, f trigger.Fire) (trigger.Schedule, error) {
	return s.changeSchedule(ctx, "record fire of schedule "+id, groupID, flowID, id, func(t *trigger.Schedule) bool {
		return t.RecordFire(f)
	})
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
	what := "delete schedule " + id
	_, err := s.deleteItem(ctx, what, groupPK(groupID), scheduleSK(flowID, id), exists)
	if errors.Is(err, errCondition) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	return err
}
