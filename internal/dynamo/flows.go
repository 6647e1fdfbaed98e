package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/flow"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// putOne writes one item with PutItem, guarded by cond if not nil. It
// returns the SDK's error as is.
func (s *Store) putOne(ctx context.Context, item any, cond *expression.ConditionBuilder) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av}
	if cond != nil {
		e, err := expression.NewBuilder().WithCondition(*cond).Build()
		if err != nil {
			return err
		}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	_, err = s.db.PutItem(ctx, in)
	return err
}

// CreateFlow stores a new Flow. ErrConflict if its id is taken.
func (s *Store) CreateFlow(ctx context.Context, f flow.Flow) error {
	what := "create flow " + f.ID
	it, err := toFlowItem(f, 0)
	if err != nil {
		return failure(what, err)
	}
	return s.retry(ctx, what, func() error {
		err := s.putOne(ctx, it, &notExists)
		switch {
		case err == nil:
			return nil
		case conditionFailed(err):
			return fmt.Errorf("%s: %w", what, wiresk.ErrConflict)
		case conflicted(err, nil):
			return errRetry
		}
		return failure(what, err)
	})
}

// GetFlow returns Flow id of groupID, or ErrNotFound.
func (s *Store) GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error) {
	var it flowItem
	ok, err := s.get(ctx, groupPK(groupID), flowSK(id), &it)
	if err != nil {
		return flow.Flow{}, failure("get flow "+id, err)
	}
	if !ok {
		return flow.Flow{}, fmt.Errorf("get flow %s: %w", id, wiresk.ErrNotFound)
	}
	f, err := it.flow()
	if err != nil {
		return flow.Flow{}, failure("get flow "+id, err)
	}
	return f, nil
}

// ListFlows returns the Flows of groupID, by id.
func (s *Store) ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error) {
	out, err := listOf(ctx, s, groupPK(groupID), flowSK(""), typeIs(typeFlow), flowItem.flow)
	if err != nil {
		return nil, failure("list flows of group "+groupID, err)
	}
	return out, nil
}

// flowAndTriggers reads a Flow and its HTTP and schedule triggers with one
// Query.
func (s *Store) flowAndTriggers(ctx context.Context, groupID, flowID string) (f flowItem, found bool, triggers []triggerItem, schedules []scheduleItem, err error) {
	items, err := s.queryPrefix(ctx, groupPK(groupID), flowSK(flowID), nil)
	if err != nil {
		return flowItem{}, false, nil, nil, err
	}
	for _, av := range items {
		sk, _ := av[attrSK].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == flowSK(flowID):
			if err := attributevalue.UnmarshalMap(av, &f); err != nil {
				return flowItem{}, false, nil, nil, err
			}
			found = true
		case strings.HasPrefix(sk.Value, triggerPrefix(flowID)):
			var t triggerItem
			if err := attributevalue.UnmarshalMap(av, &t); err != nil {
				return flowItem{}, false, nil, nil, err
			}
			triggers = append(triggers, t)
		case isScheduleSK(flowID, sk.Value):
			var t scheduleItem
			if err := attributevalue.UnmarshalMap(av, &t); err != nil {
				return flowItem{}, false, nil, nil, err
			}
			schedules = append(schedules, t)
		}
		// Anything else belongs to another Flow whose id starts with flowID.
	}
	return f, found, triggers, schedules, nil
}

// flowUnchanged is the condition that a Flow is still at version and
// routesRev: nobody updated it or changed its triggers since it was read.
func flowUnchanged(f flowItem) expression.ConditionBuilder {
	return exists.
		And(expression.Name("version").Equal(expression.Value(f.Version))).
		And(expression.Name("routesRev").Equal(expression.Value(f.RoutesRev)))
}

// UpdateFlow replaces an existing Flow whose stored Version is f.Version-1
// (optimistic concurrency; ErrConflict otherwise) and, when its enabled
// state changes, sets the enabled state of its routes, in one transaction.
func (s *Store) UpdateFlow(ctx context.Context, f flow.Flow) error {
	what := "update flow " + f.ID
	return s.retry(ctx, what, func() error {
		old, ok, triggers, _, err := s.flowAndTriggers(ctx, f.GroupID, f.ID)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		if old.Version != f.Version-1 {
			return fmt.Errorf("%s: version %d is not the next after %d: %w", what, f.Version, old.Version, wiresk.ErrConflict)
		}
		it, err := toFlowItem(f, old.RoutesRev)
		if err != nil {
			return failure(what, err)
		}
		cond := flowUnchanged(old)
		build := []func() (types.TransactWriteItem, error){
			func() (types.TransactWriteItem, error) { return s.put(it, &cond) },
		}
		if old.Enabled != f.Enabled {
			for _, t := range triggers {
				build = append(build, func() (types.TransactWriteItem, error) {
					return s.update(routePK(t.RoutingKey), skRoute,
						expression.Set(expression.Name("enabled"), expression.Value(f.Enabled)),
						exists.And(expression.Name("triggerId").Equal(expression.Value(t.ID))))
				})
			}
		}
		items, err := s.items(build...)
		if err != nil {
			return failure(what, err)
		}
		// A failed condition means the Flow or its triggers changed since
		// they were read: read again (which reports a version conflict).
		return s.try(ctx, what, items, func([]string) error { return errRetry })
	})
}

// DeleteFlow removes a Flow with its triggers, routes and schedule
// triggers, in one transaction. Its Runs stay.
func (s *Store) DeleteFlow(ctx context.Context, groupID, id string) error {
	what := "delete flow " + id
	return s.retry(ctx, what, func() error {
		old, ok, triggers, schedules, err := s.flowAndTriggers(ctx, groupID, id)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		cond := exists.And(expression.Name("routesRev").Equal(expression.Value(old.RoutesRev)))
		build := []func() (types.TransactWriteItem, error){
			func() (types.TransactWriteItem, error) { return s.del(groupPK(groupID), flowSK(id), &cond) },
		}
		for _, t := range triggers {
			build = append(build,
				func() (types.TransactWriteItem, error) { return s.del(t.PK, t.SK, nil) },
				func() (types.TransactWriteItem, error) { return s.del(routePK(t.RoutingKey), skRoute, nil) },
			)
		}
		for _, t := range schedules {
			build = append(build, func() (types.TransactWriteItem, error) { return s.del(t.PK, t.SK, nil) })
		}
		items, err := s.items(build...)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func([]string) error { return errRetry })
	})
}

// routesFollow is the transaction action that records a change to a Flow's
// triggers (it bumps routesRev), committed only if the Flow exists and, when
// enabled is not nil, is still in that enabled state.
func (s *Store) routesFollow(groupID, flowID string, enabled *bool) (types.TransactWriteItem, error) {
	cond := exists
	if enabled != nil {
		cond = cond.And(expression.Name("enabled").Equal(expression.Value(*enabled)))
	}
	return s.update(groupPK(groupID), flowSK(flowID), expression.Add(expression.Name("routesRev"), expression.Value(1)), cond)
}

// CreateTrigger stores t and its route, in one transaction. ErrNotFound if
// its Flow does not exist; ErrConflict if its id or routing key is taken.
func (s *Store) CreateTrigger(ctx context.Context, t trigger.HTTPTrigger) error {
	what := "create trigger " + t.ID
	return s.retry(ctx, what, func() error {
		var f flowItem
		ok, err := s.get(ctx, groupPK(t.GroupID), flowSK(t.FlowID), &f)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("create trigger on flow %s: %w", t.FlowID, wiresk.ErrNotFound)
		}
		items, err := s.items(
			func() (types.TransactWriteItem, error) { return s.routesFollow(t.GroupID, t.FlowID, &f.Enabled) },
			func() (types.TransactWriteItem, error) { return s.put(toTriggerItem(t), &notExists) },
			func() (types.TransactWriteItem, error) {
				return s.put(toRouteItem(trigger.RouteOf(t, f.Enabled)), &notExists)
			},
		)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func(codes []string) error {
			if failed(codes, 1) || failed(codes, 2) {
				return fmt.Errorf("%s: its id or routing key is taken: %w", what, wiresk.ErrConflict)
			}
			return errRetry // the Flow changed: read it again
		})
	})
}

// GetTrigger returns a trigger, or ErrNotFound.
func (s *Store) GetTrigger(ctx context.Context, groupID, flowID, id string) (trigger.HTTPTrigger, error) {
	var it triggerItem
	ok, err := s.get(ctx, groupPK(groupID), triggerSK(flowID, id), &it)
	if err != nil {
		return trigger.HTTPTrigger{}, failure("get trigger "+id, err)
	}
	if !ok {
		return trigger.HTTPTrigger{}, fmt.Errorf("get trigger %s: %w", id, wiresk.ErrNotFound)
	}
	t, err := it.trigger()
	if err != nil {
		return trigger.HTTPTrigger{}, failure("get trigger "+id, err)
	}
	return t, nil
}

// ListTriggers returns the triggers of a Flow, or of the whole Group when
// flowID is "", by Flow id and trigger id.
func (s *Store) ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	prefix, filter := triggerPrefix(flowID), (*expression.ConditionBuilder)(nil)
	if flowID == "" {
		prefix, filter = flowSK(""), typeIs(typeTrigger)
	}
	out, err := listOf(ctx, s, groupPK(groupID), prefix, filter, triggerItem.trigger)
	if err != nil {
		return nil, failure("list triggers of group "+groupID, err)
	}
	return out, nil
}

// DeleteTrigger removes a trigger and its route, in one transaction, or
// returns ErrNotFound.
func (s *Store) DeleteTrigger(ctx context.Context, groupID, flowID, id string) error {
	what := "delete trigger " + id
	return s.retry(ctx, what, func() error {
		var old triggerItem
		ok, err := s.get(ctx, groupPK(groupID), triggerSK(flowID, id), &old)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		cond := exists.And(expression.Name("routingKey").Equal(expression.Value(old.RoutingKey)))
		items, err := s.items(
			func() (types.TransactWriteItem, error) { return s.routesFollow(groupID, flowID, nil) },
			func() (types.TransactWriteItem, error) { return s.del(old.PK, old.SK, &cond) },
			func() (types.TransactWriteItem, error) { return s.del(routePK(old.RoutingKey), skRoute, nil) },
		)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func(codes []string) error {
			if failed(codes, 0) {
				return fmt.Errorf("%s: flow %s: %w", what, flowID, wiresk.ErrNotFound)
			}
			return errRetry // the trigger changed: read it again
		})
	})
}

// UpdateTrigger replaces an existing trigger. When its routing key changed,
// the old route is removed and the new one added in the same transaction
// (ErrConflict if the new key is taken).
func (s *Store) UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error {
	what := "update trigger " + t.ID
	return s.retry(ctx, what, func() error {
		triggerID, flowID := itemID{groupPK(t.GroupID), triggerSK(t.FlowID, t.ID)}, itemID{groupPK(t.GroupID), flowSK(t.FlowID)}
		found, err := s.batchGet(ctx, []itemID{triggerID, flowID})
		if err != nil {
			return failure(what, err)
		}
		var old triggerItem
		var f flowItem
		if found[triggerID] == nil {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		if found[flowID] == nil {
			return fmt.Errorf("%s: flow %s: %w", what, t.FlowID, wiresk.ErrNotFound)
		}
		if err := attributevalue.UnmarshalMap(found[triggerID], &old); err != nil {
			return failure(what, err)
		}
		if err := attributevalue.UnmarshalMap(found[flowID], &f); err != nil {
			return failure(what, err)
		}
		cond := exists.And(expression.Name("routingKey").Equal(expression.Value(old.RoutingKey)))
		route := toRouteItem(trigger.RouteOf(t, f.Enabled))
		moved := old.RoutingKey != t.RoutingKey
		build := []func() (types.TransactWriteItem, error){
			func() (types.TransactWriteItem, error) { return s.routesFollow(t.GroupID, t.FlowID, &f.Enabled) },
			func() (types.TransactWriteItem, error) { return s.put(toTriggerItem(t), &cond) },
		}
		if moved {
			build = append(build,
				func() (types.TransactWriteItem, error) { return s.put(route, &notExists) },
				func() (types.TransactWriteItem, error) { return s.del(routePK(old.RoutingKey), skRoute, nil) },
			)
		} else {
			build = append(build, func() (types.TransactWriteItem, error) { return s.put(route, nil) })
		}
		items, err := s.items(build...)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func(codes []string) error {
			if moved && failed(codes, 2) {
				return fmt.Errorf("%s: routing key taken: %w", what, wiresk.ErrConflict)
			}
			return errRetry // the Flow or the trigger changed: read them again
		})
	})
}

// GetRoute returns the route of routingKey, or ErrNotFound.
func (s *Store) GetRoute(ctx context.Context, routingKey string) (trigger.Route, error) {
	if len(routingKey) > maxKeyLen {
		return trigger.Route{}, fmt.Errorf("get route: %w", wiresk.ErrNotFound)
	}
	var it routeItem
	ok, err := s.get(ctx, routePK(routingKey), skRoute, &it)
	if err != nil {
		return trigger.Route{}, failure("get route", err)
	}
	if !ok {
		return trigger.Route{}, fmt.Errorf("get route: %w", wiresk.ErrNotFound)
	}
	r, err := it.route()
	if err != nil {
		return trigger.Route{}, failure("get route", err)
	}
	return r, nil
}
