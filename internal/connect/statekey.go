package connect

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// The OAuth state key is the HMAC key from which every authorization's
// PKCE verifier is derived (oauth.Verifier). The function that builds
// authorize URLs and the one that exchanges codes must hold the same key, so
// it lives in the vault, as StateKeySecret, and is made on first use.

// StateKeySize is the length in bytes of a key LoadStateKey makes.
const StateKeySize = 32

// StateKeyVault is what LoadStateKey needs of the vault port. A vault that also
// implements SecretCreator creates the key without a race; one that implements
// FreshGetter is re-read past its cache.
type StateKeyVault interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Put(ctx context.Context, name string, value []byte) error
}

// SecretCreator is implemented by a vault that can store a secret only if none of
// that name exists.
type SecretCreator interface {
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
// is none: StateKeySize random bytes.
//
// Two processes may both find no key and both make one. With a SecretCreator
// vault exactly one creation succeeds and the other process reads the
// winner's key. Without one, each writes its key and then reads back what
// is stored: the last write wins, and only a process that read back between
// the two writes keeps a key that is no longer stored (its authorizations
// then fail at the callback, and the user starts again). A stored key
// shorter than oauth.MinStateKeyBytes is an error, never replaced.
func LoadStateKey(ctx context.Context, v StateKeyVault) ([]byte, error) {
	key, err := v.Get(ctx, StateKeySecret)
	switch {
	case err == nil:
		return checkStateKey(key)
	case !errors.Is(err, wiresk.ErrNotFound):
		return nil, fmt.Errorf("read the OAuth state key: %w", err)
	}
	key = make([]byte, StateKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make the OAuth state key: %w", err)
	}
	if c, ok := v.(SecretCreator); ok {
		err := c.Create(ctx, StateKeySecret, key)
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, wiresk.ErrConflict):
			// Another process made it first: its key is the key.
			return rereadStateKey(ctx, v)
		}
		// Create could not decide (say, the secret is scheduled for
		// deletion): Put can, by restoring it.
	}
	if err := v.Put(ctx, StateKeySecret, key); err != nil {
		return nil, fmt.Errorf("store the OAuth state key: %w", err)
	}
	return rereadStateKey(ctx, v)
}

// rereadStateKey returns the stored key, past the vault's cache.
func rereadStateKey(ctx context.Context, v StateKeyVault) ([]byte, error) {
	get := v.Get
	if f, ok := v.(FreshGetter); ok {
		get = f.GetFresh
	}
	key, err := get(ctx, StateKeySecret)
	if err != nil {
		return nil, fmt.Errorf("read the OAuth state key back: %w", err)
	}
	return checkStateKey(key)
}

// checkStateKey refuses a key too short to be an HMAC key.
func checkStateKey(key []byte) ([]byte, error) {
	if len(key) < oauth.MinStateKeyBytes {
		return nil, fmt.Errorf("the OAuth state key in the vault (%s) is %d bytes, want at least %d: delete it and a new one is made", StateKeySecret, len(key), oauth.MinStateKeyBytes)
	}
	return key, nil
}
