package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Store is what a Poller needs of the store port. Errors: a trigger that
// is gone wraps wiresk.ErrNotFound.
type Store interface {
	// AdvanceCursor moves an app trigger's cursor from from to to,
	// reporting false when it is not at from (another poll moved it).
	AdvanceCursor(ctx context.Context, groupID, flowID, id, from, to string) (bool, error)
	// RecordFire records f as the trigger's last fire unless a later one
	// is recorded already.
	RecordFire(ctx context.Context, groupID, flowID, id string, f trigger.Fire) (trigger.Schedule, error)
	// SetHook records an instant trigger's subscription in place of prev
	// ("" for none), reporting false when the trigger has no hook or its
	// subscription is no longer prev (another poll subscribed first).
	SetHook(ctx context.Context, groupID, flowID, id, prev, subscriptionID string, expiresAt *time.Time) (bool, error)
}

// Poller runs the polls of app triggers' fires.
type Poller struct {
	Store   Store
	Catalog *catalog.Catalog
	Client  *appcall.Client
	// Queue gets one Job per new item.
	Queue run.Enqueuer
	// Rejected, when set, is told that the app refused the Connection's
	// credential (401): it re-tests the Connection, marking it broken if
	// the app refuses it for good, and returns its status.
	Rejected func(ctx context.Context, groupID, connectionID string) (connection.Status, error)
	// Vault keeps instant triggers' notification secrets, and NotifyBase
	// is the public base URL their notifications are sent to; without
	// either, instant triggers poll only.
	Vault      Vault
	NotifyBase string
	Logger     *slog.Logger
}

// ItemRunID returns the Run id of the item itemID of app trigger
// triggerID: the same item always maps to the same Run.
func ItemRunID(triggerID, itemID string) string {
	return run.IdempotentID(triggerID, "item\x00"+itemID)
}

// Poll polls t's event through conn (the trigger's Connection, bound) for
// its fire at at, sends one Job per new item (Run id ItemRunID), then
// moves the cursor and records the fire. A poll the app refuses or fails
// is recorded as the fire's error and returns nil: the next fire polls
// again from the same cursor. An error means the fire should come again
// (a Job could not be sent); as Run ids are derived from items, sending
// them again starts no duplicate.
func (p *Poller) Poll(ctx context.Context, t trigger.Schedule, at time.Time, conn step.Connection) error {
	if t.Poll == nil {
		return fmt.Errorf("trigger %s is not an app trigger", t.ID)
	}
	record := func(f trigger.Fire) error {
		f.At = at
		if _, err := p.Store.RecordFire(ctx, t.GroupID, t.FlowID, t.ID, f); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
			return fmt.Errorf("record poll of %s: %w", t.ID, err)
		}
		return nil
	}
	ev, ok := Lookup(t.Poll.App, t.Poll.Event)
	app, known := p.Catalog.App(t.Poll.App)
	if !ok || !known {
		return record(trigger.Fire{Error: fmt.Sprintf("the event %s.%s is no longer offered", t.Poll.App, t.Poll.Event)})
	}
	base, err := app.BaseURL(conn.Config)
	if err != nil {
		return record(trigger.Fire{Error: "the Connection's config gives no base URL: " + wiresk.ErrorMessage(err)})
	}
	call := func(ctx context.Context, req *catalog.Request) (*appcall.Response, error) {
		return p.Client.Do(ctx, app, conn.Config, conn.Credential, req)
	}
	hookErr := p.ensureHook(ctx, t, at, conn)
	res, err := ev.Source.Poll(ctx, Input{Call: call, BaseURL: base, Params: t.Poll.Params, Cursor: t.Poll.Cursor, Now: at})
	if err != nil {
		p.logger().WarnContext(ctx, "app trigger poll failed", "trigger", t.ID, "event", t.Poll.App+"."+t.Poll.Event, "err", err)
		if appcall.KindOf(err) == appcall.KindUnauthorized && p.Rejected != nil {
			if st, rerr := p.Rejected(ctx, t.GroupID, t.Poll.ConnectionID); rerr == nil && st == connection.StatusBroken {
				return record(trigger.Fire{Paused: true, Error: fmt.Sprintf("paused: %s refused Connection %s, now broken; reconnect it and the trigger resumes", app.Name, t.Poll.ConnectionID)})
			}
		}
		return record(trigger.Fire{Error: "polling " + app.Name + " failed: " + err.Error()})
	}
	lastRun, started := "", 0
	var skipped []string
	for _, it := range res.Items {
		body, err := json.Marshal(it.Data)
		if err != nil {
			return fmt.Errorf("item %s of %s: %w", it.ID, t.ID, err)
		}
		if len(body) > MaxItemBytes {
			// It cannot travel in a queue message; sending it would fail
			// every fire from here on and stop the trigger for good.
			skipped = append(skipped, fmt.Sprintf("%s (%d bytes)", it.ID, len(body)))
			continue
		}
		job := run.Job{RunID: ItemRunID(t.ID, it.ID), GroupID: t.GroupID, FlowID: t.FlowID, TriggerID: t.ID, Mode: run.ModeAppTrigger,
			Request: run.Request{Headers: map[string]string{"content-type": "application/json"}, Query: map[string]string{}}, Body: body, ReceivedAt: at}
		data, err := json.Marshal(job)
		if err != nil {
			return err
		}
		if _, err := p.Queue.Send(ctx, data, map[string]string{"runId": job.RunID, "groupId": job.GroupID}); err != nil {
			return fmt.Errorf("enqueue item %s of %s: %w", it.ID, t.ID, err)
		}
		lastRun, started = job.RunID, started+1
	}
	if res.Cursor != t.Poll.Cursor {
		if _, err := p.Store.AdvanceCursor(ctx, t.GroupID, t.FlowID, t.ID, t.Poll.Cursor, res.Cursor); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
			return fmt.Errorf("advance cursor of %s: %w", t.ID, err)
		}
		// A false: an overlapping poll moved it first, from the same
		// cursor; the items both sent are the same Runs.
	}
	fire := trigger.Fire{RunID: lastRun, Started: started, Error: hookErr}
	if len(skipped) > 0 {
		fire.Error = fmt.Sprintf("skipped %d items larger than %d bytes, which a Run cannot start with: %s", len(skipped), MaxItemBytes, strings.Join(skipped, ", "))
		p.logger().WarnContext(ctx, "app trigger skipped items too large for a Run", "trigger", t.ID, "items", skipped)
	}
	return record(fire)
}

// MaxItemBytes caps an item's JSON: its Job, which carries it in base64,
// must fit in one SQS message (256 KiB).
const MaxItemBytes = 160 << 10

func (p *Poller) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}
