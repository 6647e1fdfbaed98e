package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/auth"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// TriggerStore is what the HTTP-trigger use cases need of the store port:
// triggers, their Flows and the API keys they accept. Errors: a missing
// record wraps wiresk.ErrNotFound; a lost race wraps wiresk.ErrConflict.
type TriggerStore interface {
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	CreateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	GetTrigger(ctx context.Context, groupID, flowID, id string) (trigger.HTTPTrigger, error)
	ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error)
	UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	DeleteTrigger(ctx context.Context, groupID, flowID, id string) error
	GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error)
}

// Vault holds secrets the management API writes and never answers: the
// signing secrets of HTTP triggers (trigger.SigningSecretName). Get's and
// Delete's errors for a missing secret wrap wiresk.ErrNotFound; errors never
// hold a value.
type Vault interface {
	Put(ctx context.Context, name string, value []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	Delete(ctx context.Context, name string) error
}

// Triggers are the use cases of a Flow's HTTP triggers.
type Triggers struct {
	Store  TriggerStore
	Access Access
	// Vault holds signing secrets; nil: a trigger authenticated by
	// signature is refused (503 unavailable).
	Vault Vault
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// TriggerInput is the writable part of an HTTP trigger.
type TriggerInput struct {
	Description string   `json:"description"`
	APIKeyIDs   []string `json:"apiKeyIds"`
	// Auth is what authenticates the webhooks ("" is api_key).
	Auth      trigger.Auth    `json:"auth"`
	Signature *SignatureInput `json:"signature"`
	// Challenge is the handshake the trigger answers: "slack" or "meta".
	Challenge string `json:"challenge"`
	// VerifyToken is what Meta's handshake must present (challenge meta);
	// kept in the vault, never answered.
	VerifyToken string `json:"verifyToken"`
}

// SignatureInput describes a trigger's signature check. Secret is written
// to the vault and never answered. On a change, a new Secret makes the one
// it replaces the previous secret, still accepted for
// trigger.RotationOverlap unless DropPreviousSecret; with neither Preset nor
// Custom the scheme stays as it is.
type SignatureInput struct {
	Preset             string                `json:"preset"`
	Custom             *trigger.CustomScheme `json:"custom"`
	Secret             string                `json:"secret"`
	DropPreviousSecret bool                  `json:"dropPreviousSecret"`
}

// maxSigningSecret caps a signing secret and a verify token.
const maxSigningSecret = 1024

// CreateTrigger adds an HTTP trigger with a generated routing key.
func (s *Triggers) CreateTrigger(ctx context.Context, who auth.Identity, groupID, flowID string, in TriggerInput) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := now(s.Now)
	t := trigger.HTTPTrigger{ID: wiresk.NewIDAt("trg", now), GroupID: groupID, FlowID: flowID, Description: in.Description, APIKeyIDs: in.APIKeyIDs, CreatedAt: now}
	patch := TriggerPatch{Auth: &in.Auth, Signature: in.Signature, Challenge: &in.Challenge}
	if in.VerifyToken != "" {
		patch.VerifyToken = &in.VerifyToken
	}
	secrets, err := s.changeIngress(&t, nil, patch, now)
	if err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if t.Auth.NeedsKey() {
		if err := s.checkAPIKeys(ctx, groupID, in.APIKeyIDs, now); err != nil {
			return trigger.HTTPTrigger{}, err
		}
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "flow", flowID)
	}
	if t.RoutingKey, err = trigger.NewRoutingKey(); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := s.putSecrets(ctx, t.ID, secrets); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := s.Store.CreateTrigger(ctx, t); err != nil {
		if secrets != nil {
			s.deleteSecrets(ctx, t.ID)
		}
		return trigger.HTTPTrigger{}, notFound(err, "flow", flowID)
	}
	return t, nil
}

// changeIngress applies in's auth, signature and challenge to t (whose
// vault secrets are old, nil for none or a new trigger) and returns the
// vault secrets t then needs (nil: none), or the validation error naming the
// field.
func (s *Triggers) changeIngress(t *trigger.HTTPTrigger, old *trigger.SigningSecrets, in TriggerPatch, now time.Time) (*trigger.SigningSecrets, error) {
	if in.Auth != nil {
		if !in.Auth.Valid() {
			return nil, wiresk.FieldError("auth", "must be api_key, signature or api_key_and_signature")
		}
		t.Auth = *in.Auth
		if t.Auth == "" {
			t.Auth = trigger.AuthAPIKey
		}
	}
	if in.Challenge != nil {
		if !trigger.ValidChallenge(*in.Challenge) {
			return nil, wiresk.FieldError("challenge", "must be slack or meta, or empty for none")
		}
		t.Challenge = *in.Challenge
	}
	if !t.Auth.NeedsSignature() {
		if in.Signature != nil {
			return nil, wiresk.FieldError("signature", "is used only with auth signature or api_key_and_signature")
		}
		if t.Challenge != "" {
			return nil, wiresk.FieldError("challenge", "needs auth signature or api_key_and_signature: Slack and Meta sign their handshakes and cannot send an API key")
		}
		if in.VerifyToken != nil {
			return nil, wiresk.FieldError("verifyToken", "is used only with challenge meta")
		}
		t.Signature = nil
		return nil, nil
	}
	if t.Auth == trigger.AuthSignature && len(t.APIKeyIDs) > 0 {
		return nil, wiresk.FieldError("apiKeyIds", "a trigger authenticated by signature alone accepts no API key; use auth api_key_and_signature to require both")
	}
	next := trigger.SigningSecrets{}
	if old != nil {
		next = *old
	}
	v := trigger.Verification{}
	if t.Signature != nil {
		v = *t.Signature
	}
	changed := false
	if sig := in.Signature; sig != nil {
		if sig.Preset != "" || sig.Custom != nil {
			v.Preset, v.Custom = sig.Preset, sig.Custom
		}
		if len(sig.Secret) > maxSigningSecret {
			return nil, wiresk.FieldError("signature.secret", "is longer than %d characters", maxSigningSecret)
		}
		if sig.Secret != "" && sig.Secret != next.Current {
			if next.Current != "" {
				exp := now.Add(trigger.RotationOverlap)
				next.Previous, v.PreviousSecretExpiresAt = next.Current, &exp
			}
			next.Current, v.SecretSetAt, changed = sig.Secret, now, true
		}
		if sig.DropPreviousSecret && next.Previous != "" {
			next.Previous, v.PreviousSecretExpiresAt, changed = "", nil, true
		}
	}
	if _, err := v.Scheme(); err != nil {
		return nil, err
	}
	if next.Current == "" {
		return nil, wiresk.FieldError("signature.secret", "is required: the secret the sender signs with (GitHub's webhook secret, Stripe's whsec_…, Slack's signing secret, ...)")
	}
	if in.VerifyToken != nil {
		if t.Challenge != trigger.ChallengeMeta {
			return nil, wiresk.FieldError("verifyToken", "is used only with challenge meta")
		}
		if l := len(*in.VerifyToken); l == 0 || l > maxSigningSecret {
			return nil, wiresk.FieldError("verifyToken", "must be 1 to %d characters", maxSigningSecret)
		}
		if *in.VerifyToken != next.VerifyToken {
			next.VerifyToken, changed = *in.VerifyToken, true
		}
	}
	if t.Challenge == trigger.ChallengeMeta && next.VerifyToken == "" {
		return nil, wiresk.FieldError("verifyToken", "is required with challenge meta: the token you enter in Meta's webhook settings")
	}
	if t.Challenge != trigger.ChallengeMeta && next.VerifyToken != "" {
		next.VerifyToken, changed = "", true
	}
	if old == nil || changed {
		v.SecretVersion++
		next.Version = v.SecretVersion
	}
	t.Signature = &v
	if old != nil && !changed {
		return nil, nil // the vault stays as it is
	}
	return &next, nil
}

// putSecrets writes a trigger's signing secrets (nothing for nil).
func (s *Triggers) putSecrets(ctx context.Context, triggerID string, sec *trigger.SigningSecrets) error {
	if sec == nil {
		return nil
	}
	if s.Vault == nil {
		return errNoVault
	}
	b, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	if err := s.Vault.Put(ctx, trigger.SigningSecretName(triggerID), b); err != nil {
		s.logError(ctx, "put signing secrets", triggerID, err)
		return errVaultDown
	}
	return nil
}

// secretsOf reads a signature trigger's signing secrets.
func (s *Triggers) secretsOf(ctx context.Context, t trigger.HTTPTrigger) (*trigger.SigningSecrets, error) {
	if !t.Auth.NeedsSignature() {
		return nil, nil
	}
	if s.Vault == nil {
		return nil, errNoVault
	}
	raw, err := s.Vault.Get(ctx, trigger.SigningSecretName(t.ID))
	if errors.Is(err, wiresk.ErrNotFound) {
		return &trigger.SigningSecrets{}, nil // set again below
	}
	if err != nil {
		s.logError(ctx, "get signing secrets", t.ID, err)
		return nil, errVaultDown
	}
	sec, err := trigger.DecodeSigningSecrets(raw)
	if err != nil {
		return nil, err
	}
	return &sec, nil
}

// deleteSecrets removes a trigger's signing secrets, if any; a failure is
// logged, since the trigger is gone and nothing reads them any more.
func (s *Triggers) deleteSecrets(ctx context.Context, triggerID string) {
	deleteSigningSecrets(ctx, s.Vault, s.Logger, triggerID)
}

func deleteSigningSecrets(ctx context.Context, v Vault, log *slog.Logger, triggerID string) {
	if v == nil {
		return
	}
	if err := v.Delete(ctx, trigger.SigningSecretName(triggerID)); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
		logTriggerError(ctx, log, "delete signing secrets", triggerID, err)
	}
}

func (s *Triggers) logError(ctx context.Context, msg, triggerID string, err error) {
	logTriggerError(ctx, s.Logger, msg, triggerID, err)
}

func logTriggerError(ctx context.Context, log *slog.Logger, msg, triggerID string, err error) {
	if log != nil {
		log.ErrorContext(ctx, msg, "trigger", triggerID, "err", err)
	}
}

var (
	errNoVault   = wiresk.Errorf(wiresk.EUnavailable, "signing secrets cannot be stored here (no vault is configured)")
	errVaultDown = wiresk.Errorf(wiresk.EUnavailable, "the signing secret could not be stored or read; nothing was changed, retry later")
)

func checkDescription(d string) error {
	if len(d) > 2000 {
		return wiresk.FieldError("description", "is longer than 2000 characters")
	}
	return nil
}

// checkAPIKeys checks that ids name at least one active API key of the
// Group.
func (s *Triggers) checkAPIKeys(ctx context.Context, groupID string, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return wiresk.FieldError("apiKeyIds", "needs at least one API key id: a trigger accepts only the keys it names")
	}
	for i, id := range ids {
		k, err := s.Store.GetAPIKey(ctx, groupID, id)
		if errors.Is(err, wiresk.ErrNotFound) {
			return wiresk.FieldError(fmt.Sprintf("apiKeyIds[%d]", i), "no API key %q in this group", id)
		}
		if err != nil {
			return err
		}
		if st := k.Status(now); st != "active" {
			return wiresk.FieldError(fmt.Sprintf("apiKeyIds[%d]", i), "API key %q is %s", id, st)
		}
	}
	return nil
}

// TriggerPatch changes an HTTP trigger: only the fields given.
type TriggerPatch struct {
	Description *string         `json:"description"`
	APIKeyIDs   *[]string       `json:"apiKeyIds"`
	Auth        *trigger.Auth   `json:"auth"`
	Signature   *SignatureInput `json:"signature"`
	Challenge   *string         `json:"challenge"`
	VerifyToken *string         `json:"verifyToken"`
}

// UpdateTrigger changes a trigger's description or the API keys it
// accepts; its routing key stays as it is (rotate-routing-key changes
// that). A key removed from the list is refused at once.
func (s *Triggers) UpdateTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string, in TriggerPatch) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t, err := s.Store.GetTrigger(ctx, groupID, flowID, triggerID)
	if err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return trigger.HTTPTrigger{}, err
		}
		t.Description = *in.Description
	}
	now := now(s.Now)
	if in.APIKeyIDs != nil {
		t.APIKeyIDs = *in.APIKeyIDs
	} else if in.Auth != nil && *in.Auth == trigger.AuthSignature {
		t.APIKeyIDs = nil // a signature alone authenticates it now
	}
	old, err := s.secretsOf(ctx, t)
	if err != nil {
		return trigger.HTTPTrigger{}, err
	}
	wasSigned := t.Auth.NeedsSignature()
	secrets, err := s.changeIngress(&t, old, in, now)
	if err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if t.Auth.NeedsKey() && (in.APIKeyIDs != nil || in.Auth != nil) {
		if err := s.checkAPIKeys(ctx, groupID, t.APIKeyIDs, now); err != nil {
			return trigger.HTTPTrigger{}, err
		}
	}
	if err := s.putSecrets(ctx, t.ID, secrets); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	if err := s.Store.UpdateTrigger(ctx, t); err != nil {
		if secrets != nil && old != nil && old.Current != "" {
			_ = s.putSecrets(context.WithoutCancel(ctx), t.ID, old) // what the stored route still describes
		}
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if wasSigned && !t.Auth.NeedsSignature() {
		s.deleteSecrets(ctx, t.ID)
	}
	return t, nil
}

// ListTriggers lists a Flow's triggers.
func (s *Triggers) ListTriggers(ctx context.Context, who auth.Identity, groupID, flowID string) ([]trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetFlow(ctx, groupID, flowID); err != nil {
		return nil, notFound(err, "flow", flowID)
	}
	return s.Store.ListTriggers(ctx, groupID, flowID)
}

// DeleteTrigger removes a trigger: its routing key stops working at once.
func (s *Triggers) DeleteTrigger(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) error {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return err
	}
	if err := s.Store.DeleteTrigger(ctx, groupID, flowID, triggerID); err != nil {
		return notFound(err, "trigger", triggerID)
	}
	s.deleteSecrets(ctx, triggerID)
	return nil
}

// RotateRoutingKey gives a trigger a new routing key; the old one stops
// working at once.
func (s *Triggers) RotateRoutingKey(ctx context.Context, who auth.Identity, groupID, flowID, triggerID string) (trigger.HTTPTrigger, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	t, err := s.Store.GetTrigger(ctx, groupID, flowID, triggerID)
	if err != nil {
		return trigger.HTTPTrigger{}, notFound(err, "trigger", triggerID)
	}
	if t.RoutingKey, err = trigger.NewRoutingKey(); err != nil {
		return trigger.HTTPTrigger{}, err
	}
	now := now(s.Now)
	t.RoutingKeyRotatedAt = &now
	return t, notFound(s.Store.UpdateTrigger(ctx, t), "trigger", triggerID)
}
