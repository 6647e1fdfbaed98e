// Package trigger provides HTTP Triggers, the entry points of Flows, and the
// routes that map a routing key to a Flow.
package trigger

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"
)

// RoutingKeyLen is the length of a routing key: 24 random bytes (192 bits)
// in unpadded base64url.
const RoutingKeyLen = 32

// HTTPTrigger is the entry point of a Flow: POST /v1/hooks/{RoutingKey} with
// one of the API keys in APIKeyIDs runs the Flow.
type HTTPTrigger struct {
	ID          string    `json:"id"`
	GroupID     string    `json:"groupId"`
	FlowID      string    `json:"flowId"`
	Description string    `json:"description,omitempty"`
	RoutingKey  string    `json:"routingKey"`
	APIKeyIDs   []string  `json:"apiKeyIds"`
	CreatedAt   time.Time `json:"createdAt"`
	// RoutingKeyRotatedAt is when the routing key was last replaced.
	RoutingKeyRotatedAt *time.Time `json:"routingKeyRotatedAt,omitempty"`
	Ingress
}

// Ingress is how the webhook ingress authenticates a trigger's webhooks and
// which handshake it answers; the HTTP trigger and its Route both carry it.
type Ingress struct {
	// Auth is what authenticates a webhook ("" is AuthAPIKey).
	Auth Auth `json:"auth,omitempty"`
	// Signature checks the sender's signature; set when Auth needs one.
	Signature *Verification `json:"signature,omitempty"`
	// Challenge is the handshake the ingress answers (one of Challenges).
	Challenge string `json:"challenge,omitempty"`
}

// Route is what the webhook ingress reads for a routing key: which Flow runs,
// whether it is enabled, and which API keys it accepts.
type Route struct {
	RoutingKey string   `json:"routingKey"`
	GroupID    string   `json:"groupId"`
	FlowID     string   `json:"flowId"`
	TriggerID  string   `json:"triggerId"`
	APIKeyIDs  []string `json:"apiKeyIds"`
	Enabled    bool     `json:"enabled"`
	Ingress
}

// RouteOf returns the route of t for a Flow that is enabled or not.
func RouteOf(t HTTPTrigger, enabled bool) Route {
	return Route{RoutingKey: t.RoutingKey, GroupID: t.GroupID, FlowID: t.FlowID, TriggerID: t.ID, APIKeyIDs: t.APIKeyIDs, Enabled: enabled, Ingress: t.Ingress}
}

// Accepts reports whether the route accepts the API key with id keyID.
func (r Route) Accepts(keyID string) bool { return slices.Contains(r.APIKeyIDs, keyID) }

// NewRoutingKey returns a fresh routing key. Routing keys are generated,
// never chosen by users.
func NewRoutingKey() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WellFormedRoutingKey reports whether s could be a routing key, so that
// garbage is refused without a store call.
func WellFormedRoutingKey(s string) bool {
	if len(s) != RoutingKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
