package connection

import "time"

// Event is what happened to a Connection, in its audit trail.
type Event string

// Audit events.
const (
	EventCreated       Event = "created"
	EventAuthorized    Event = "authorized"
	EventRefreshed     Event = "refreshed"
	EventRefreshFailed Event = "refresh_failed"
	EventTested        Event = "tested"
	EventBroken        Event = "broken"
	EventDisconnected  Event = "disconnected"
	EventReconnected   Event = "reconnected"
	EventEdited        Event = "edited"
	EventDeleted       Event = "deleted"
)

// Valid reports whether e is one of the known events.
func (e Event) Valid() bool {
	switch e {
	case EventCreated, EventAuthorized, EventRefreshed, EventRefreshFailed, EventTested,
		EventBroken, EventDisconnected, EventReconnected, EventEdited, EventDeleted:
		return true
	}
	return false
}

// ActorSystem is the Actor of events no user caused, like an automatic
// refresh.
const ActorSystem = "system"

// AuditEvent is one entry of a Connection's audit trail. The trail outlives
// the Connection: a deleted Connection's events stay listable.
type AuditEvent struct {
	ConnectionID string    `json:"connectionId"`
	GroupID      string    `json:"groupId"`
	At           time.Time `json:"at"`
	// Actor is the user id of who caused the event, or ActorSystem.
	Actor string `json:"actor"`
	Event Event  `json:"event"`
	// Detail is a human-readable note, like "HTTP 400 invalid_grant". It
	// never holds a secret.
	Detail string `json:"detail,omitempty"`
}
