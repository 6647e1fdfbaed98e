// Package statekey loads the OAuth state key: the HMAC key from which every
// authorization's PKCE verifier is derived (oauth.Verifier). The function
// that builds authorize URLs (connections) and the one that exchanges codes
// (oauthcallback) must hold the same key, so it lives in the vault, as the
// secret Name, and is made on first use.
package statekey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/connect"
	"wiresk/internal/oauth"
	"wiresk/internal/secrets"
	"wiresk/internal/wiresk"
)

// Name is the vault name of the state key, connect.StateKeySecret: with the
// Secrets Manager vault, the secret wiresk/<Stage>/oauth/state-key.
const Name = connect.StateKeySecret

// Size is the length in bytes of a key LoadStateKey makes.
const Size = 32

// Vault is what LoadStateKey needs of the vault port. A vault that also
// implements Creator creates the key without a race; one that implements
// FreshGetter is re-read past its cache.
type Vault interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Put(ctx context.Context, name string, value []byte) error
}

// Creator is implemented by a vault that can store a secret only if none of
// that name exists.
type Creator interface {
	// Create stores value as name, or returns an error wrapping
	// wiresk.ErrConflict if name exists.
	Create(ctx context.Context, name string, value []byte) error
}

// FreshGetter is implemented by a vault with a cache (secrets.Vault):
// GetFresh reads past it.
type FreshGetter interface {
	GetFresh(ctx context.Context, name string) ([]byte, error)
}

// LoadStateKey returns the state key stored in v, making it first if there
// is none: Size random bytes.
//
// Two processes may both find no key and both make one. With a Creator
// vault exactly one creation succeeds and the other process reads the
// winner's key. Without one, each writes its key and then reads back what
// is stored: the last write wins, and only a process that read back between
// the two writes keeps a key that is no longer stored (its authorizations
// then fail at the callback, and the user starts again). A stored key
// shorter than oauth.MinStateKeyBytes is an error, never replaced.
func LoadStateKey(ctx context.Context, v Vault) ([]byte, error) {
	key, err := v.Get(ctx, Name)
	switch {
	case err == nil:
		return check(key)
	case !errors.Is(err, wiresk.ErrNotFound):
		return nil, fmt.Errorf("read the OAuth state key: %w", err)
	}
	key = make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make the OAuth state key: %w", err)
	}
	if c, ok := v.(Creator); ok {
		err := c.Create(ctx, Name, key)
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, wiresk.ErrConflict):
			// Another process made it first: its key is the key.
			return reread(ctx, v)
		}
		// Create could not decide (say, the secret is scheduled for
		// deletion): Put can, by restoring it.
	}
	if err := v.Put(ctx, Name, key); err != nil {
		return nil, fmt.Errorf("store the OAuth state key: %w", err)
	}
	return reread(ctx, v)
}

// reread returns the stored key, past the vault's cache.
func reread(ctx context.Context, v Vault) ([]byte, error) {
	get := v.Get
	if f, ok := v.(FreshGetter); ok {
		get = f.GetFresh
	}
	key, err := get(ctx, Name)
	if err != nil {
		return nil, fmt.Errorf("read the OAuth state key back: %w", err)
	}
	return check(key)
}

// check refuses a key too short to be an HMAC key.
func check(key []byte) ([]byte, error) {
	if len(key) < oauth.MinStateKeyBytes {
		return nil, fmt.Errorf("the OAuth state key in the vault (%s) is %d bytes, want at least %d: delete it and a new one is made", Name, len(key), oauth.MinStateKeyBytes)
	}
	return key, nil
}

// SecretsManager returns v as a Vault that is also a Creator: Create makes
// the secret with a single CreateSecret call through client, which Secrets
// Manager refuses if the secret exists, so that of the Lambda instances
// that find no key at once exactly one makes it. client must be the client
// v was made with.
func SecretsManager(v *secrets.Vault, client *secretsmanager.Client) Vault {
	return &smVault{Vault: v, client: client}
}

// smVault is secrets.Vault with Create.
type smVault struct {
	*secrets.Vault
	client *secretsmanager.Client
}

// Create implements Creator.
func (s *smVault) Create(ctx context.Context, name string, value []byte) error {
	id, err := s.SecretName(name)
	if err != nil {
		return err
	}
	_, err = s.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(id),
		Description:  aws.String("Wiresk: HMAC key of the OAuth authorization states (PKCE verifiers). Deleting it fails the authorizations in progress."),
		SecretBinary: value,
	})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceExistsException":
		return fmt.Errorf("create secret %s: %w", name, wiresk.ErrConflict)
	case errors.As(err, &apiErr):
		return fmt.Errorf("create secret %s: secrets manager: %s", name, apiErr.ErrorCode())
	default:
		return fmt.Errorf("create secret %s: %w", name, err)
	}
}
