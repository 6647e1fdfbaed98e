package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"wiresk/internal/wiresk"
)

// TokenStore keeps the token of each Connection's credential, by the
// credential's name. Source reads it before every use and writes refreshed
// tokens back.
type TokenStore interface {
	// GetToken returns the stored token. A missing credential is an error
	// wrapping wiresk.ErrNotFound.
	GetToken(ctx context.Context, name string) (*Token, error)
	// PutToken stores t as the credential's token.
	PutToken(ctx context.Context, name string, t *Token) error
}

// Vault is the secrets port (Secrets Manager, or the embedded vault) as
// VaultStore uses it.
type Vault interface {
	// Put stores value as the secret name, creating or replacing it.
	Put(ctx context.Context, name string, value []byte) error
	// Get returns the value of the secret name; a missing secret is an
	// error wrapping wiresk.ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the secret name.
	Delete(ctx context.Context, name string) error
}

// VaultStore is a TokenStore over the vault. A credential is one secret
// holding a JSON object; the token is its fields access_token, token_type,
// refresh_token, expiry (RFC 3339) and scope, as Token's JSON form says. PutToken rewrites only those fields and keeps every other field of
// the object (like the client id and secret of an oauth2_advanced
// Connection), so the credential blob may carry more than the token. Errors
// never contain the secret's value.
type VaultStore struct {
	vault Vault
}

// NewVaultStore returns a TokenStore over v.
func NewVaultStore(v Vault) *VaultStore { return &VaultStore{vault: v} }

// tokenFields are the JSON fields of a Token in the credential blob.
var tokenFields = []string{"access_token", "token_type", "refresh_token", "expiry", "scope"}

// GetToken returns the token of the credential name.
func (s *VaultStore) GetToken(ctx context.Context, name string) (*Token, error) {
	raw, err := s.vault.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var t Token
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("oauth: credential %s is not a JSON object with a token", name)
	}
	return &t, nil
}

// PutToken writes t into the credential name, keeping the credential's
// other fields. A field of t with its zero value is removed.
func (s *VaultStore) PutToken(ctx context.Context, name string, t *Token) error {
	obj := map[string]json.RawMessage{}
	raw, err := s.vault.Get(ctx, name)
	switch {
	case errors.Is(err, wiresk.ErrNotFound):
	case err != nil:
		return err
	case len(bytes.TrimSpace(raw)) > 0:
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return fmt.Errorf("oauth: credential %s is not a JSON object; not overwriting it", name)
		}
	}
	enc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("oauth: encode token: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(enc, &fields); err != nil {
		return fmt.Errorf("oauth: encode token: %w", err)
	}
	for _, k := range tokenFields {
		if v, ok := fields[k]; ok {
			obj[k] = v
		} else {
			delete(obj, k)
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("oauth: encode credential: %w", err)
	}
	return s.vault.Put(ctx, name, out)
}
