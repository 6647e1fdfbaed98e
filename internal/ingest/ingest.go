// Package ingest provides the webhook ingress use case: check the API key
// and the routing key with one store read, and enqueue a Job. It writes
// nothing to the store: API-key usage is counted by the worker from the Job.
package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Lookup reads the API key with a hash and the route of a routing key in one
// round trip. A nil result means that record does not exist; err is for
// failures of the store only.
type Lookup interface {
	Lookup(ctx context.Context, keyHash apikey.Hash, routingKey string) (*apikey.Key, *trigger.Route, error)
}

// Enqueuer sends a Job to the worker queue. Send returns only once the
// message is durably accepted; an error means it was not enqueued.
type Enqueuer interface {
	Send(ctx context.Context, body []byte, attrs map[string]string) (string, error)
}

// Service accepts webhooks.
type Service struct {
	Store  Lookup
	Queue  Enqueuer
	Now    func() time.Time
	Logger *slog.Logger
}

// Check validates a presented key and routing key without reading the body:
// it returns the route and key id to enqueue for, or the refusal: 401
// codes for the key, 404 route_not_found for an unknown routing key, a
// disabled Flow or a key of another Group (which must not learn the route
// exists), 403 api_key_not_accepted for a key of the Group that this trigger
// does not accept.
func (s *Service) Check(ctx context.Context, presentedKey, routingKey string) (trigger.Route, string, error) {
	if presentedKey == "" {
		return trigger.Route{}, "", errMissingKey
	}
	hash, err := apikey.Parse(presentedKey)
	if err != nil {
		return trigger.Route{}, "", err
	}
	if !trigger.WellFormedRoutingKey(routingKey) {
		return trigger.Route{}, "", errNoRoute
	}
	k, route, err := s.Store.Lookup(ctx, hash, routingKey)
	if err != nil {
		s.log(ctx, "lookup failed", err)
		return trigger.Route{}, "", errStoreDown
	}
	if k == nil || !k.Hash.Equal(hash) {
		return trigger.Route{}, "", errUnknownKey
	}
	if err := k.Check(s.now()); err != nil {
		return trigger.Route{}, "", err
	}
	if route == nil || !route.Enabled || route.GroupID != k.GroupID {
		return trigger.Route{}, "", errNoRoute
	}
	if !route.Accepts(k.ID) {
		return trigger.Route{}, "", errNotAccepted
	}
	return *route, k.ID, nil
}

// Enqueue sends the Job for an accepted webhook (req without body, and the
// raw body) and returns its Run id. An
// idempotencyKey makes retries of one delivery map to the same Run id (the
// worker creates that Run once).
func (s *Service) Enqueue(ctx context.Context, route trigger.Route, keyID string, req run.Request, body []byte, idempotencyKey string) (string, error) {
	now := s.now()
	job := run.Job{GroupID: route.GroupID, FlowID: route.FlowID, TriggerID: route.TriggerID, APIKeyID: keyID, Mode: run.ModeWebhook, Request: req, Body: body, ReceivedAt: now}
	if idempotencyKey != "" {
		job.RunID = run.IdempotentID(route.TriggerID, idempotencyKey)
	} else {
		job.RunID = run.NewID(now)
	}
	body, err := json.Marshal(&job)
	if err != nil {
		return "", err
	}
	if _, err := s.Queue.Send(ctx, body, map[string]string{"runId": job.RunID, "groupId": job.GroupID}); err != nil {
		s.log(ctx, "enqueue failed", err)
		return "", errQueueDown
	}
	return job.RunID, nil
}

var (
	errMissingKey  = wiresk.Errorf(wiresk.EMissingAPIKey, "an API key is required: send it as X-API-Key: <key> or Authorization: Bearer <key>")
	errUnknownKey  = wiresk.Errorf(wiresk.EInvalidAPIKey, "the API key is not valid")
	errNoRoute     = wiresk.Errorf(wiresk.ERouteNotFound, "no enabled trigger has this routing key")
	errNotAccepted = wiresk.Errorf(wiresk.EKeyNotAccepted, "this trigger does not accept this API key; add the key to the trigger")
	errStoreDown   = wiresk.Errorf(wiresk.EUnavailable, "the webhook could not be checked; nothing was accepted, retry later")
	errQueueDown   = wiresk.Errorf(wiresk.EUnavailable, "the webhook could not be queued; nothing was accepted, retry later")
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log(ctx context.Context, msg string, err error) {
	if s.Logger != nil {
		s.Logger.ErrorContext(ctx, msg, "err", err)
	}
}
