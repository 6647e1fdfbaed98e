// Package poll provides app triggers by polling: a trigger that watches an
// app event ("hubspot.new_contact", "gmail.new_message", ...) through its
// Connection and starts one Run per new item.
//
// Each event is a Source: it lists the items after a cursor, oldest first,
// page by page as the app's list or search API pages them. The first poll
// of a trigger only seeds its cursor (the items that exist when a trigger
// is made are not new: no Run starts for them). Every item has an ID that
// names the event for good (a record's id, with its version for an
// update); the Run it starts has an id derived from the trigger and that
// ID, so an item listed twice (overlapping polls, a restart between a poll
// and its cursor write, a redelivered fire, a cursor that includes its own
// instant) starts one Run. The store's conditional create of that Run is
// the claim.
package poll

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
)

// Call sends req, whose URL is under the app's base URL, with the
// trigger's Connection (appcall, through egress: the credential goes only
// to the app's own hosts). A non-2xx answer is an *appcall.Error.
type Call func(ctx context.Context, req *catalog.Request) (*appcall.Response, error)

// Source is an app event a polling trigger watches.
type Source interface {
	// Check validates a trigger's params when it is created or changed: a
	// refusal is a *wiresk.Error (wiresk.FieldError) whose Field is
	// "params.<name>"; unknown params are refused.
	Check(params map[string]string) error
	// Poll returns the items after in.Cursor, oldest first, at most
	// in.Max, and the cursor to poll from next time. With an empty cursor
	// (a trigger's first poll) it returns no items and the cursor of
	// in.Now. When more items remain than in.Max, Result.More is set and
	// Result.Cursor is where the next poll goes on. A cursor may include
	// the instant of the last item returned (items are deduplicated by
	// ID), but it must never skip an item. An error of in.Call is
	// returned wrapped (errors.As finds the *appcall.Error).
	Poll(ctx context.Context, in Input) (Result, error)
}

// Input is what a Source polls with.
type Input struct {
	Call Call
	// BaseURL is the app's base URL for the Connection's config (no
	// trailing slash).
	BaseURL string
	Params  map[string]string
	// Cursor is the Source's own text from the last poll; "" on the first.
	Cursor string
	Now    time.Time
	// Max bounds the items of one poll (0: DefaultMax).
	Max int
}

// DefaultMax is how many items one poll returns at most.
const DefaultMax = 500

// Result is one poll's outcome.
type Result struct {
	Items  []Item
	Cursor string
	More   bool
}

// Item is one new item: one Run.
type Item struct {
	// ID names the event for good: the same event always has the same ID,
	// another event another one.
	ID string
	// Data is the item as the Run's steps see it (trigger.body).
	Data map[string]any
}

// Event describes a Source for the API and the docs.
type Event struct {
	// App is the catalog app's id, Name the event's ("new_contact").
	App, Name string
	// Label says what starts a Run, for people ("New contact").
	Label string
	// Params lists the params the event takes, required first.
	Params []Param
	// AnyScope lists the OAuth scopes of which an OAuth Connection needs
	// one to poll the event (its app's default scopes may not include
	// one: Gmail's send only).
	AnyScope []string `json:"anyScope,omitempty"`
	Source   Source
}

// Param is one param of an event.
type Param struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Label    string `json:"label"`
}

var (
	mu     sync.RWMutex
	events = map[string]Event{}
)

// register adds e; each Source's file registers its events in init.
func register(e Event) {
	mu.Lock()
	defer mu.Unlock()
	key := e.App + "." + e.Name
	if _, dup := events[key]; dup {
		panic(fmt.Sprintf("poll: event %s registered twice", key))
	}
	events[key] = e
}

// Lookup returns the event app.name.
func Lookup(app, name string) (Event, bool) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := events[app+"."+name]
	return e, ok
}

// Events lists every event, by app and name.
func Events() []Event {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Event, 0, len(events))
	for _, e := range events {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Event) int {
		if a.App != b.App {
			return compare(a.App, b.App)
		}
		return compare(a.Name, b.Name)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
