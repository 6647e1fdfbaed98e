package poll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/signature"
	"wiresk/internal/step"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Vault keeps instant triggers' notification secrets. Errors: a missing
// secret wraps wiresk.ErrNotFound.
type Vault interface {
	Put(ctx context.Context, name string, v []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	Delete(ctx context.Context, name string) error
}

// RenewBefore is how long before its expiry a poll renews an instant
// trigger's subscription (Airtable's last 7 days; a trigger polls at least
// daily).
const RenewBefore = 48 * time.Hour

// subscriber returns the Subscriber of t's event, the app and the input
// to call it with through conn; false when t is not instant or its event
// cannot push.
func (p *Poller) subscriber(t trigger.Schedule, conn step.Connection) (Subscriber, SubscribeInput, bool, error) {
	if t.Poll == nil || !t.Poll.Instant || t.Poll.Hook == nil {
		return nil, SubscribeInput{}, false, nil
	}
	ev, ok := Lookup(t.Poll.App, t.Poll.Event)
	if !ok {
		return nil, SubscribeInput{}, false, nil
	}
	sub, ok := ev.Source.(Subscriber)
	app, known := p.Catalog.App(t.Poll.App)
	if !ok || !known {
		return nil, SubscribeInput{}, false, nil
	}
	base, err := app.BaseURL(conn.Config)
	if err != nil {
		return nil, SubscribeInput{}, false, err
	}
	call := func(ctx context.Context, req *catalog.Request) (*appcall.Response, error) {
		return p.Client.Do(ctx, app, conn.Config, conn.Credential, req)
	}
	return sub, SubscribeInput{Call: call, BaseURL: base, Params: t.Poll.Params, NotifyURL: p.NotifyBase + trigger.HookPath(t)}, true, nil
}

// ensureHook subscribes an instant trigger's notifications, or renews
// them when they expire within RenewBefore. It returns what went wrong, for
// the fire's record: the trigger polls on regardless.
func (p *Poller) ensureHook(ctx context.Context, t trigger.Schedule, at time.Time, conn step.Connection) string {
	sub, in, ok, err := p.subscriber(t, conn)
	switch {
	case err != nil:
		return "instant notifications: " + err.Error()
	case !ok:
		return ""
	case p.NotifyBase == "" || p.Vault == nil:
		return "instant notifications need the public URL (WIRESK_PUBLIC_URL) and a vault; the trigger polls only"
	}
	h := t.Poll.Hook
	if h.SubscriptionID != "" {
		if h.ExpiresAt == nil || h.ExpiresAt.Sub(at) > RenewBefore {
			return ""
		}
		renewed, err := sub.Renew(ctx, in, Subscription{ID: h.SubscriptionID})
		if err == nil {
			_, msg := p.setHook(ctx, t, h.SubscriptionID, renewed)
			return msg
		}
		var ae *appcall.Error
		if !errors.As(err, &ae) || ae.Status != 404 {
			return "instant notifications: renewing failed: " + err.Error()
		}
		// The app no longer has it: subscribe again.
	}
	s, err := sub.Subscribe(ctx, in)
	if err != nil {
		return "instant notifications: subscribing failed, the trigger polls only: " + err.Error()
	}
	// The secret is put before the subscription is recorded, so that no
	// notification finds a subscription without its secret. Two polls
	// subscribing at once: the one recorded first wins, the other
	// deletes its own.
	prev := h.SubscriptionID
	if err := p.Vault.Put(ctx, trigger.HookSecretName(t.ID), s.Secret); err != nil {
		_ = sub.Unsubscribe(ctx, in, s)
		return "instant notifications: keeping the secret failed: " + wiresk.ErrorMessage(err)
	}
	set, msg := p.setHook(ctx, t, prev, s)
	if !set {
		_ = sub.Unsubscribe(ctx, in, s)
	}
	return msg
}

// setHook records s as t's subscription in place of prev, reporting
// whether it did and what went wrong.
func (p *Poller) setHook(ctx context.Context, t trigger.Schedule, prev string, s Subscription) (bool, string) {
	var exp *time.Time
	if !s.ExpiresAt.IsZero() {
		e := s.ExpiresAt.UTC()
		exp = &e
	}
	set, err := p.Store.SetHook(ctx, t.GroupID, t.FlowID, t.ID, prev, s.ID, exp)
	if err != nil && !errors.Is(err, wiresk.ErrNotFound) {
		return false, "instant notifications: recording the subscription failed: " + wiresk.ErrorMessage(err)
	}
	return set, ""
}

// Verify checks a notification to instant trigger t, req as received,
// against its subscription's secret. An error says why it is refused (a
// *wiresk.Error of code unauthenticated for a bad signature).
func (p *Poller) Verify(ctx context.Context, t trigger.Schedule, req signature.Request, now time.Time) error {
	if t.Poll == nil || !t.Poll.Instant || t.Poll.Hook == nil || t.Poll.Hook.SubscriptionID == "" || p.Vault == nil {
		return wiresk.Errorf(wiresk.EUnauthenticated, "trigger %s has no subscription to notify it", t.ID)
	}
	ev, ok := Lookup(t.Poll.App, t.Poll.Event)
	sub, can := ev.Source.(Subscriber)
	if !ok || !can {
		return wiresk.Errorf(wiresk.EUnauthenticated, "event %s.%s takes no notifications", t.Poll.App, t.Poll.Event)
	}
	secret, err := p.Vault.Get(ctx, trigger.HookSecretName(t.ID))
	if err != nil {
		return fmt.Errorf("notification secret of %s: %w", t.ID, err)
	}
	return sub.Verify(req, Subscription{ID: t.Poll.Hook.SubscriptionID, Secret: secret}, now)
}

// Unsubscribe deletes instant trigger t's subscription at the app, and its
// secret. An error means it should be tried again.
func (p *Poller) Unsubscribe(ctx context.Context, t trigger.Schedule, conn step.Connection) error {
	sub, in, ok, err := p.subscriber(t, conn)
	if err != nil || !ok || t.Poll.Hook.SubscriptionID == "" {
		return err
	}
	if err := sub.Unsubscribe(ctx, in, Subscription{ID: t.Poll.Hook.SubscriptionID}); err != nil {
		if k := appcall.KindOf(err); k == appcall.KindPermanent || k == appcall.KindUnauthorized {
			p.logger().WarnContext(ctx, "unsubscribe refused by the app; it expires on its own", "trigger", t.ID, "err", err)
		} else {
			return fmt.Errorf("unsubscribe %s: %w", t.ID, err)
		}
	}
	if p.Vault != nil {
		if err := p.Vault.Delete(ctx, trigger.HookSecretName(t.ID)); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
			return fmt.Errorf("delete the notification secret of %s: %w", t.ID, err)
		}
	}
	return nil
}
