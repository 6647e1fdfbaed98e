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

// Limiter caps the Runs webhooks start per API key and per Group. Allow
// takes one Run from the key's allowance (keyPerMinute a minute; none for a
// keyID "" or a cap of 0) and the Group's at now; when either has none left
// it takes from neither and returns false, the scope that refused
// ("api_key" or "group") and how long until a Run is allowed. It must be
// cheap: it is called on every webhook.
type Limiter interface {
	Allow(groupID, keyID string, keyPerMinute int, now time.Time) (ok bool, scope string, retryAfter time.Duration)
}

// Bodies stores the webhook bodies too large for a queue message
// (run.InlineBodyMax), by reference. Put stores body under key (a
// run.StoredBody key), replacing what was there, and returns only once it
// is durably stored; an error means it may not be, and the webhook is then
// refused with nothing enqueued.
type Bodies interface {
	Put(ctx context.Context, key string, body []byte) error
}

// Service accepts webhooks.
type Service struct {
	Store Lookup
	Queue run.Enqueuer
	// Bodies keeps the bodies over run.InlineBodyMax, which travel by
	// reference (nil: such webhooks are refused 413).
	Bodies Bodies
	// Limit caps the Runs each key's and each Group's webhooks start (nil:
	// no cap).
	Limit Limiter
	// Secrets holds the signing secrets of triggers authenticated by their
	// senders' signatures (nil: every such webhook is refused 503).
	Secrets Secrets
	Now     func() time.Time
	Logger  *slog.Logger

	cache secretCache
}

// Check validates a presented key and routing key without reading the body:
// it returns the route and the key to enqueue for, or the refusal: 401
// codes for the key, 404 route_not_found for an unknown routing key, a
// disabled Flow or a key of another Group (which must not learn the route
// exists), 403 api_key_not_accepted for a key of the Group that this trigger
// does not accept. A trigger authenticated by its sender's signature alone
// (trigger.AuthSignature) needs no key, and a well-formed one sent is
// ignored (a malformed one is still refused, before any store call): its
// key is nil and Verify must be called with the body before Enqueue.
func (s *Service) Check(ctx context.Context, presentedKey, routingKey string) (trigger.Route, *apikey.Key, error) {
	// A malformed key is refused without a store call; with no key at all
	// only the route is read, since a signature trigger needs none.
	var keyErr error
	var hash apikey.Hash
	if presentedKey == "" {
		keyErr = errMissingKey
	} else if h, err := apikey.Parse(presentedKey); err != nil {
		return trigger.Route{}, nil, err
	} else {
		hash = h
	}
	if !trigger.WellFormedRoutingKey(routingKey) {
		if keyErr != nil {
			return trigger.Route{}, nil, keyErr
		}
		return trigger.Route{}, nil, errNoRoute
	}
	k, route, err := s.Store.Lookup(ctx, hash, routingKey)
	if err != nil {
		s.log(ctx, "lookup failed", err)
		return trigger.Route{}, nil, errStoreDown
	}
	if route != nil && route.Enabled && !route.Auth.NeedsKey() {
		return *route, nil, nil
	}
	if keyErr != nil {
		return trigger.Route{}, nil, keyErr
	}
	if k == nil || !k.Hash.Equal(hash) {
		return trigger.Route{}, nil, errUnknownKey
	}
	if err := k.Check(s.now()); err != nil {
		return trigger.Route{}, nil, err
	}
	if route == nil || !route.Enabled || route.GroupID != k.GroupID {
		return trigger.Route{}, nil, errNoRoute
	}
	if !route.Accepts(k.ID) {
		return trigger.Route{}, nil, errNotAccepted
	}
	return *route, k, nil
}

// Enqueue sends the Job for an accepted webhook (req without body, and the
// raw body) and returns its Run id. A body the queue message cannot carry
// (over run.InlineBodyMax, or a Job over run.MaxJobBytes) is put in Bodies
// first, under run.StoredBody's key, and the Job carries its reference; if
// that Put fails nothing is enqueued (unavailable, 503). An
// idempotencyKey makes retries of one delivery map to the same Run id (the
// worker creates that Run once). Refusals, with nothing enqueued: invalid
// for a Wiresk-Hop header that is not a count, loop_detected (508) past
// run.MaxHops, rate_limited (429, with RetryAfter) when the Group has used
// its allowance of Runs.
func (s *Service) Enqueue(ctx context.Context, route trigger.Route, key *apikey.Key, req run.Request, body []byte, idempotencyKey string) (string, error) {
	var keyID string
	var keyCap int
	if key != nil {
		keyID, keyCap = key.ID, key.RunsPerMinute
	}
	now := s.now()
	hop, ok := req.Hop()
	if !ok {
		return "", errBadHop
	}
	if hop > run.MaxHops {
		return "", errLoop
	}
	if s.Limit != nil {
		if ok, scope, after := s.Limit.Allow(route.GroupID, keyID, keyCap, now); !ok {
			who := "this Group has"
			if scope == "api_key" {
				who = "this API key has"
			}
			return "", &wiresk.Error{Code: wiresk.ERateLimited, RetryAfter: after,
				Message: who + " started its allowance of Runs for now; nothing was accepted, retry after the Retry-After seconds"}
		}
	}
	job := run.Job{GroupID: route.GroupID, FlowID: route.FlowID, TriggerID: route.TriggerID, APIKeyID: keyID, Mode: run.ModeWebhook, Request: req, ReceivedAt: now}
	if idempotencyKey != "" {
		job.RunID = run.IdempotentID(route.TriggerID, idempotencyKey)
	} else {
		job.RunID = run.NewID(now)
	}
	// The common case costs one encoding and no store call: the body
	// inline, the message under the queue's limit.
	var msg []byte
	if len(body) <= run.InlineBodyMax {
		job.Body = body
		m, err := json.Marshal(&job)
		if err != nil {
			return "", err
		}
		if len(m) <= run.MaxJobBytes {
			msg = m
		}
		job.Body = nil
	}
	if msg == nil {
		if s.Bodies == nil {
			return "", errNoBodyStore
		}
		ref := run.StoredBody(job.GroupID, job.RunID, body)
		if err := s.Bodies.Put(ctx, ref.Key, body); err != nil {
			s.log(ctx, "store body failed", err)
			return "", errBodyStoreDown
		}
		job.Request.BodyRef = &ref
		m, err := json.Marshal(&job)
		if err != nil {
			return "", err
		}
		msg = m
	}
	if _, err := s.Queue.Send(ctx, msg, map[string]string{"runId": job.RunID, "groupId": job.GroupID}); err != nil {
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
	errBadHop      = wiresk.Errorf(wiresk.EInvalid, "the Wiresk-Hop header must be a count of Flow hops (a non-negative integer)")
	errLoop        = wiresk.Errorf(wiresk.ELoopDetected, "this webhook was sent by a chain of more than %d Flows triggering each other (Wiresk-Hop); it looks like a loop, so nothing was accepted", run.MaxHops)
	errQueueDown   = wiresk.Errorf(wiresk.EUnavailable, "the webhook could not be queued; nothing was accepted, retry later")
	// errBodyStoreDown: a body too large for the queue message could not
	// be stored by reference.
	errBodyStoreDown = wiresk.Errorf(wiresk.EUnavailable, "the webhook's body could not be stored; nothing was accepted, retry later")
	errNoBodyStore   = wiresk.Errorf(wiresk.ETooLarge, "the request body is over the %d bytes this ingress accepts without a body store", run.InlineBodyMax)
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
