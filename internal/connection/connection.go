// Package connection provides Connections: the links of a Group to external
// apps that let a Flow's steps act in them. It holds the domain types and
// their pure logic; the store port the Connection use cases need is Store.
//
// A Connection never holds a secret. Its tokens, API key or password (what
// Credentials holds) live in the vault under SecretName(id); the store keeps
// only non-secret metadata, such as when the access token expires, which
// the health schedule reads.
package connection

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wiresk/internal/catalog"
	"wiresk/internal/flow"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// IDPrefix is the prefix of Connection ids: NewID returns "con_…".
const IDPrefix = "con"

// NewID returns a new Connection id for a Connection created at t.
func NewID(t time.Time) string { return wiresk.NewIDAt(IDPrefix, t) }

// Status is the state of a Connection.
type Status string

// Connection statuses.
const (
	// StatusPending is a Connection created and waiting for the user's
	// OAuth consent.
	StatusPending Status = "pending"
	// StatusActive is a Connection steps can use.
	StatusActive Status = "active"
	// StatusBroken is a Connection that failed (revoked, expired, password
	// changed): steps that use it fail until it is reconnected.
	StatusBroken Status = "broken"
	// StatusDisconnected is a Connection the user disconnected: its
	// credentials are gone, the record stays until it is reconnected or
	// deleted.
	StatusDisconnected Status = "disconnected"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusActive, StatusBroken, StatusDisconnected:
		return true
	}
	return false
}

// Connection links a Group to an external app. It holds no secret: see the
// package documentation.
type Connection struct {
	// ID is the Connection's id, "con_…" (see NewID).
	ID string `json:"id"`
	// GroupID is the Group the Connection belongs to.
	GroupID string `json:"groupId"`
	// Name is the display name, like "Sales Gmail".
	Name string `json:"name"`
	// App is the catalog id of the app, like "zoho_crm".
	App string `json:"app"`
	// AuthType is how the Connection authenticates to the app.
	AuthType catalog.AuthType `json:"authType"`
	// Config is the non-secret connection config, like Zoho's data-centre
	// domain, as the app's catalog entry declares it.
	Config map[string]string `json:"config,omitempty"`
	// Scopes are the OAuth scopes requested (OAuth auth types only).
	Scopes []string `json:"scopes,omitempty"`
	// Status is the Connection's state.
	Status Status `json:"status"`
	// Account is the identity the app's Test request read, like an email
	// address.
	Account string `json:"account,omitempty"`
	// StatusReason says why the Connection is in its status, for a broken
	// one what failed. It never holds a secret.
	StatusReason string `json:"statusReason,omitempty"`
	// BrokenAt is when the Connection was marked broken.
	BrokenAt *time.Time `json:"brokenAt,omitempty"`
	// LastTest is the result of the latest Test.
	LastTest *TestResult `json:"lastTest,omitempty"`
	// TokenExpiresAt is when the OAuth access token expires: metadata the
	// health schedule uses, not the token.
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
	// LastRefreshAt is when the OAuth tokens were last refreshed.
	LastRefreshAt *time.Time `json:"lastRefreshAt,omitempty"`
	// RefreshFailures counts the refreshes that failed in a row.
	RefreshFailures int `json:"refreshFailures,omitempty"`
	// RefreshCooldownUntil is when a refresh may be tried again after a
	// failed one.
	RefreshCooldownUntil *time.Time `json:"refreshCooldownUntil,omitempty"`
	CreatedAt            time.Time  `json:"createdAt"`
	UpdatedAt            time.Time  `json:"updatedAt"`
	CreatedBy            string     `json:"createdBy,omitempty"`
	// Version counts the writes of the Connection, from 1 at creation: an
	// update must carry the stored Version plus one (optimistic
	// concurrency).
	Version int `json:"version"`
}

// TestResult is the outcome of a Test: a cheap authenticated request to the
// app.
type TestResult struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// Message says what happened, like "HTTP 401: invalid_token". It never
	// holds a secret.
	Message string `json:"message,omitempty"`
}

// SecretName returns the vault name of the Credentials of Connection id.
func SecretName(id string) string { return "connections/" + id }

// MaxNameLen bounds a Connection name, in bytes.
const MaxNameLen = 200

// ValidateName checks a Connection name: required, at most MaxNameLen
// bytes of valid UTF-8, no control characters, not only spaces. The error
// is a *wiresk.Error naming the field "name".
func ValidateName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return wiresk.FieldError("name", "is required")
	case len(name) > MaxNameLen:
		return wiresk.FieldError("name", "is longer than %d characters", MaxNameLen)
	case !utf8.ValidString(name):
		return wiresk.FieldError("name", "is not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return wiresk.FieldError("name", "contains a control character")
	}
	return nil
}

// FlowRef names a Flow that uses a Connection, and the steps that do.
type FlowRef struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Steps []string `json:"steps"`
	// Triggers are the Flow's app triggers that poll with the Connection.
	Triggers []string `json:"triggers,omitempty"`
}

// UsedBy returns the Flows among flows whose steps, or whose app
// triggers among triggers, name connectionID, in flows' order.
func UsedBy(flows []flow.Flow, triggers []trigger.Schedule, connectionID string) []FlowRef {
	out := []FlowRef{}
	if connectionID == "" {
		return out
	}
	polling := map[string][]string{}
	for _, t := range triggers {
		if t.Poll != nil && t.Poll.ConnectionID == connectionID {
			polling[t.FlowID] = append(polling[t.FlowID], t.ID)
		}
	}
	for _, f := range flows {
		steps := []string{}
		for _, s := range f.Steps {
			if s.ConnectionID == connectionID {
				steps = append(steps, s.ID)
			}
		}
		if len(steps) > 0 || len(polling[f.ID]) > 0 {
			out = append(out, FlowRef{ID: f.ID, Name: f.Name, Steps: steps, Triggers: polling[f.ID]})
		}
	}
	return out
}

// The health schedule's policy.
const (
	// RefreshLead is how long before its access token expires a Connection
	// is due for a refresh.
	RefreshLead = 10 * time.Minute
	// TestInterval is how long after its last Test (or its creation, if it
	// was never tested) a Connection is due for a Test.
	TestInterval = 24 * time.Hour
)

// DueAt returns when the health schedule should next look at c, and false
// when it never needs to: only active Connections are scheduled. It is the
// earlier of
//
//   - the refresh time, when c has a TokenExpiresAt: TokenExpiresAt minus
//     RefreshLead, but not before RefreshCooldownUntil;
//   - the test time: LastTest.At plus TestInterval, or CreatedAt plus
//     TestInterval when c was never tested.
//
// The stores index Connections by DueAt, computed when a Connection is
// written, which is what Store.ListConnectionsDue answers from.
func DueAt(c Connection) (time.Time, bool) {
	if c.Status != StatusActive {
		return time.Time{}, false
	}
	tested := c.CreatedAt
	if c.LastTest != nil {
		tested = c.LastTest.At
	}
	due := tested.Add(TestInterval)
	if c.TokenExpiresAt != nil {
		refresh := c.TokenExpiresAt.Add(-RefreshLead)
		if c.RefreshCooldownUntil != nil && c.RefreshCooldownUntil.After(refresh) {
			refresh = *c.RefreshCooldownUntil
		}
		if refresh.Before(due) {
			due = refresh
		}
	}
	return due.UTC(), true
}
