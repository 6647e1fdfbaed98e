package poll

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"wiresk/internal/signature"
)

// Subscriber is implemented by the Sources whose app can push a
// notification when the event may have happened: an "instant" trigger,
// as Zapier calls it. A notification only starts a poll of the trigger at
// once; the poll stays the source of truth (its cursor and the dedupe by
// Item.ID are unchanged), so a lost, late, repeated or spurious
// notification costs a poll at most and misses nothing: the trigger keeps
// polling on its schedule too, less often. A Subscribe that fails (a
// Connection without the app's webhook scope, an app that refuses the
// URL) leaves the trigger polling only, as Zapier falls back to polling.
//
// Every error of in.Call is returned wrapped (errors.As finds the
// *appcall.Error); a refusal of in.Params is a *wiresk.Error
// (wiresk.FieldError) as Source.Check answers it.
type Subscriber interface {
	// Subscribe asks the app to notify in.NotifyURL of the event's
	// changes (in.Params are the Source's params), with the trigger's
	// Connection. The Subscription holds the app's id for it, the
	// secret that signs its notifications and when it expires (zero:
	// never).
	Subscribe(ctx context.Context, in SubscribeInput) (Subscription, error)
	// Renew extends sub, a subscription that expires, and returns it
	// with its new expiry (its ID and Secret unchanged). A subscription
	// the app no longer knows is an error (an *appcall.Error with Status
	// 404 for Airtable): subscribe again.
	Renew(ctx context.Context, in SubscribeInput, sub Subscription) (Subscription, error)
	// Unsubscribe deletes sub; one the app no longer knows is no error.
	Unsubscribe(ctx context.Context, in SubscribeInput, sub Subscription) error
	// Verify checks that a notification, req as received (its raw body
	// and headers), was signed with sub's secret and is about sub. It
	// answers nil or, as signature.Scheme.Verify does, a *wiresk.Error
	// with code wiresk.EUnauthenticated (signature.Reason tells why), or
	// wiresk.EInternal for a sub without a secret.
	Verify(req signature.Request, sub Subscription, now time.Time) error
}

// SubscribeInput is what a Subscriber calls the app with.
type SubscribeInput struct {
	// Call sends a request with the trigger's Connection, as for Poll.
	Call Call
	// BaseURL is the app's base URL for the Connection's config (no
	// trailing slash).
	BaseURL string
	// Params are the trigger's params, as Source.Check accepts them.
	Params map[string]string
	// NotifyURL is the public https URL the app is to POST its
	// notifications to; it names the trigger.
	NotifyURL string
}

// Subscription is a subscription an app holds for a trigger.
//
// Secret signs the subscription's notifications: keep it in the vault,
// never in a store item (its json and dynamodbav tags leave it out of
// both encodings). String, GoString and LogValue redact it, so %v, %+v,
// %#v and slog never show it.
type Subscription struct {
	// ID is the app's id of the subscription (Airtable's webhook id,
	// ach...).
	ID string `json:"id" dynamodbav:"id"`
	// Secret is the key of the notifications' MACs.
	Secret []byte `json:"-" dynamodbav:"-"`
	// ExpiresAt is when the app drops the subscription unless it is
	// renewed; zero when it does not expire.
	ExpiresAt time.Time `json:"expiresAt,omitzero" dynamodbav:"expiresAt,omitempty"`
}

// redacted is what the formatting methods write for a Secret.
func (s Subscription) redacted() string {
	if len(s.Secret) == 0 {
		return "none"
	}
	return "[redacted]"
}

// String writes the subscription without its secret.
func (s Subscription) String() string {
	exp := "never"
	if !s.ExpiresAt.IsZero() {
		exp = s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("Subscription{ID: %q, Secret: %s, ExpiresAt: %s}", s.ID, s.redacted(), exp)
}

// GoString is String, for %#v.
func (s Subscription) GoString() string { return "poll." + s.String() }

// LogValue writes the subscription without its secret for slog.
func (s Subscription) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("secret", s.redacted()), slog.Time("expiresAt", s.ExpiresAt))
}
