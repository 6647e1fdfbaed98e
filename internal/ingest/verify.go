package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"

	"wiresk/internal/signature"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Secrets reads a trigger's signing secrets (trigger.SigningSecretName) from
// the vault. A missing secret is an error wrapping wiresk.ErrNotFound; any
// other error is a failure of the vault. Errors never hold the value.
type Secrets interface {
	Get(ctx context.Context, name string) ([]byte, error)
}

// maxCachedSecrets bounds the signing secrets a process keeps: past it the
// cache starts again empty, so an attacker cycling routing keys cannot grow
// it (unknown routing keys never reach it anyway).
const maxCachedSecrets = 4096

// secretCache keeps each trigger's signing secrets by the route's
// SecretVersion, so a webhook costs no vault call after the first, and a
// changed secret is read again at once (its route's version moved).
type secretCache struct {
	mu sync.Mutex
	m  map[string]cachedSecrets
}

type cachedSecrets struct {
	version int
	secrets trigger.SigningSecrets
}

// signingSecrets returns route's secrets at its SecretVersion.
func (s *Service) signingSecrets(ctx context.Context, route trigger.Route) (trigger.SigningSecrets, error) {
	v := route.Signature
	s.cache.mu.Lock()
	c, ok := s.cache.m[route.TriggerID]
	s.cache.mu.Unlock()
	if ok && c.version == v.SecretVersion {
		return c.secrets, nil
	}
	if s.Secrets == nil {
		return trigger.SigningSecrets{}, errors.New("no vault for signing secrets")
	}
	raw, err := s.Secrets.Get(ctx, trigger.SigningSecretName(route.TriggerID))
	if err != nil {
		return trigger.SigningSecrets{}, err
	}
	sec, err := trigger.DecodeSigningSecrets(raw)
	if err != nil {
		return trigger.SigningSecrets{}, err
	}
	s.cache.mu.Lock()
	if s.cache.m == nil || len(s.cache.m) >= maxCachedSecrets {
		s.cache.m = make(map[string]cachedSecrets)
	}
	s.cache.m[route.TriggerID] = cachedSecrets{version: v.SecretVersion, secrets: sec}
	s.cache.mu.Unlock()
	return sec, nil
}

// Verify checks the sender's signature on a webhook for route, when its
// trigger asks for one (nil otherwise). Refusals: 401 invalid_signature,
// whose message says whether the signature was missing, malformed, stale or
// made with another secret; 503 unavailable when the secrets could not be
// read (nothing was accepted). No error holds a secret or a signature.
func (s *Service) Verify(ctx context.Context, route trigger.Route, req signature.Request) error {
	if !route.Auth.NeedsSignature() {
		return nil
	}
	if route.Signature == nil {
		s.log(ctx, "trigger needs a signature but describes none", errors.New(route.TriggerID))
		return errVerifyDown
	}
	scheme, err := route.Signature.Scheme()
	if err != nil {
		s.log(ctx, "trigger's signature scheme is invalid", err)
		return errVerifyDown
	}
	sec, err := s.signingSecrets(ctx, route)
	if err != nil {
		s.log(ctx, "signing secrets unreadable", err)
		return errVerifyDown
	}
	now := s.now()
	if err := scheme.Verify(req, sec.Accepted(route.Signature, now), now); err != nil {
		if signature.Reason(err) == "" {
			s.log(ctx, "signature check failed", err)
			return errVerifyDown
		}
		var e *wiresk.Error
		errors.As(err, &e)
		return &wiresk.Error{Code: wiresk.EInvalidSignature, Message: e.Message + "; nothing was accepted"}
	}
	return nil
}

// MetaChallenge answers Meta's subscription handshake to routingKey
// (GET ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…): the
// challenge to echo, once the verify token is the trigger's. Refusals: 404
// route_not_found for an unknown routing key or a disabled Flow, 405
// method_not_allowed for a trigger that does not answer Meta's handshake,
// 400 invalid_request for a mode other than subscribe or no challenge, 403
// forbidden for a wrong verify token.
func (s *Service) MetaChallenge(ctx context.Context, routingKey, mode, challenge, token string) (string, error) {
	if !trigger.WellFormedRoutingKey(routingKey) {
		return "", errNoRoute
	}
	_, route, err := s.Store.Lookup(ctx, "", routingKey)
	if err != nil {
		s.log(ctx, "lookup failed", err)
		return "", errStoreDown
	}
	if route == nil || !route.Enabled {
		return "", errNoRoute
	}
	if route.Challenge != trigger.ChallengeMeta || route.Signature == nil {
		return "", errNoHandshake
	}
	if mode != "subscribe" || challenge == "" {
		return "", wiresk.Errorf(wiresk.EInvalid, "Meta's handshake needs hub.mode=subscribe and a hub.challenge")
	}
	sec, err := s.signingSecrets(ctx, *route)
	if err != nil {
		s.log(ctx, "signing secrets unreadable", err)
		return "", errVerifyDown
	}
	if sec.VerifyToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(sec.VerifyToken)) != 1 {
		return "", wiresk.Errorf(wiresk.EForbidden, "hub.verify_token is not this trigger's verify token")
	}
	return challenge, nil
}

var (
	errVerifyDown  = wiresk.Errorf(wiresk.EUnavailable, "the webhook's signature could not be checked; nothing was accepted, retry later")
	errNoHandshake = wiresk.Errorf(wiresk.EMethodNotAllowed, "webhooks are POST requests; this trigger answers no GET handshake")
)
