package connection

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// StateTTL is how long an OAuth authorization state is valid.
const StateTTL = 10 * time.Minute

// OAuthState is the single-use record of one OAuth authorization: it ties
// the state parameter the provider sends back to the callback with the
// Connection being authorized. The raw state is never stored: ID is its
// hex SHA-256 (see StateID). The PKCE verifier is not stored either; it is
// derived from the raw state with a key held in the vault.
type OAuthState struct {
	// ID is StateID of the raw state.
	ID           string `json:"id"`
	GroupID      string `json:"groupId"`
	ConnectionID string `json:"connectionId"`
	// CreatedBy is the user who started the authorization.
	CreatedBy string `json:"createdBy,omitempty"`
	// RedirectURI is the redirect_uri of the authorization request, which
	// the token request must repeat.
	RedirectURI string    `json:"redirectUri"`
	ExpiresAt   time.Time `json:"expiresAt"`
	CreatedAt   time.Time `json:"createdAt"`
}

// StateID returns the id under which the state raw is stored: its SHA-256
// in lowercase hex.
func StateID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// NewOAuthState returns a new random state (256 bits, base64url without
// padding), to send in the authorization request, and its record, valid for
// StateTTL from now, to store.
func NewOAuthState(groupID, connectionID, createdBy, redirectURI string, now time.Time) (raw string, s OAuthState) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	raw = base64.RawURLEncoding.EncodeToString(b[:])
	now = now.UTC()
	return raw, OAuthState{ID: StateID(raw), GroupID: groupID, ConnectionID: connectionID, CreatedBy: createdBy,
		RedirectURI: redirectURI, ExpiresAt: now.Add(StateTTL), CreatedAt: now}
}

// Expired reports whether s is no longer valid at now.
func (s OAuthState) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }
