package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"wiresk/internal/testkit/apptest"
)

type runSummary struct {
	ID, Mode, TriggerID, Status string
	Request                     struct{ Body map[string]any }
}

// flowRuns lists every Run of flow, following the pages.
func flowRuns(t *testing.T, r *runner, flow string) []runSummary {
	t.Helper()
	var out []runSummary
	cursor := ""
	for {
		var page struct {
			Runs       []runSummary
			NextCursor string
		}
		r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs?limit=200&flowId="+flow+"&cursor="+cursor, nil, &page)
		out = append(out, page.Runs...)
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// waitRuns waits until flow has n Runs, all ended, and returns them; it
// fails if more than n appear.
func waitRuns(t *testing.T, r *runner, flow string, n int) []runSummary {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs := flowRuns(t, r, flow)
		ended := 0
		for _, rn := range runs {
			if rn.Status == "succeeded" || rn.Status == "failed" || rn.Status == "filtered" {
				ended++
			}
		}
		if len(runs) > n {
			t.Fatalf("flow %s has %d Runs, want %d", flow, len(runs), n)
		}
		if ended == n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %s has %d Runs (%d ended) after 60 s, want %d", flow, len(runs), ended, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPolled waits until app trigger tr has recorded a fire after since.
func waitPolled(t *testing.T, r *runner, flow, tr string, since time.Time) scheduleView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v scheduleView
		r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+flow+"/app-triggers/"+tr, nil, &v)
		if v.LastFireAt != nil && !v.LastFireAt.Before(since) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("app trigger %s has not polled since %v: %+v", tr, since, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnAppTriggerStartsOneRunPerNewContact runs the README's app trigger
// example against the HubSpot fake and then polls as a user would: the
// first poll starts no Run for the contacts there already; 100 new
// contacts, read in 3 pages, start 100 Runs; two overlapping polls and a
// restart of the runner between polls start no Run twice.
func TestAnAppTriggerStartsOneRunPerNewContact(t *testing.T) {
	dir := t.TempDir()
	e := startWithApps(t, dir, []string{"hubspot"})
	hs := e.fakes["hubspot"]
	conn := e.connectOAuth(t, "hubspot", "HubSpot")
	hs.AddContact(map[string]string{"email": "old@example.com"}, time.Now().Add(-time.Hour))
	tg := newTarget(t)
	var f struct{ ID string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{
		"name": "Welcome",
		"steps": []any{map[string]any{"id": "welcome", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/welcome", "body": map[string]any{"id": "{{ trigger.body.id }}", "email": "{{ trigger.body.properties.email }}"}}}},
	}, &f)

	// The README's block: create the trigger, poll it now (the seed), list.
	var created scheduleView
	script := readmeBlock(t, "### App triggers: a Flow on each new item in an app")
	seedAt := time.Now().Add(-time.Second)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Env = append(os.Environ(), "WIRESK="+e.r.URL, "G=grp_dev", "TOKEN="+e.r.Token, "FLOW_ID="+f.ID, "HUBSPOT_CONNECTION_ID="+conn,
		// The block polls $APP_TRIGGER_ID, the one it creates: find it
		// from the first answer, as a user reads it.
		"APP_TRIGGER_ID=pending")
	// Run the block in two parts: the create, then the rest with the id.
	first, rest, ok := bytes.Cut([]byte(script), []byte("\n# Poll now"))
	if !ok {
		t.Fatal("the README block has no \"# Poll now\" step")
	}
	cmd.Args[len(cmd.Args)-1] = string(first)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README's create failed: %v\n%s", err, out)
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Kind != "app" || created.Expression != "rate(5 minutes)" || len(created.NextFires) != 5 {
		t.Fatalf("the README's create printed %s (%v), want an app trigger polling every 5 minutes", out, err)
	}
	cmd = exec.Command("bash", "-e", "-c", "# Poll now"+string(rest))
	cmd.Env = append(os.Environ(), "WIRESK="+e.r.URL, "G=grp_dev", "TOKEN="+e.r.Token, "FLOW_ID="+f.ID, "APP_TRIGGER_ID="+created.ID)
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("the README's poll and listing failed: %v\n%s", err, out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var polled struct{ TriggerID string }
	var listing struct {
		Triggers []struct {
			Kind, ID, Event string
			RunsPerDay      []struct{ Day string }
		}
	}
	if err := dec.Decode(&polled); err != nil || polled.TriggerID != created.ID {
		t.Fatalf("the README's poll printed %s (%v)", out, err)
	}
	if err := dec.Decode(&listing); err != nil || len(listing.Triggers) != 1 || listing.Triggers[0].Kind != "app" ||
		listing.Triggers[0].Event != "hubspot.new_contact" || len(listing.Triggers[0].RunsPerDay) != 7 {
		t.Fatalf("the README's listing printed %s (%v)", out, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("the README block printed more than three answers: %s", out)
	}
	waitPolled(t, e.r, f.ID, created.ID, seedAt)
	time.Sleep(20 * time.Millisecond)
	if runs := flowRuns(t, e.r, f.ID); len(runs) != 0 {
		t.Fatalf("the first poll started %d Runs for contacts there before the trigger, want none", len(runs))
	}

	poll := func() time.Time {
		t.Helper()
		at := time.Now().Truncate(time.Millisecond) // a fire's time is in whole milliseconds
		e.r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/app-triggers/"+created.ID+"/poll", nil, nil)
		return at
	}
	add := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = hs.AddContact(map[string]string{"email": fmt.Sprintf("c%d@example.com", i)}, time.Now())
		}
		return ids
	}

	// 100 new contacts, in pages of 40.
	hs.SetSearchPageMax(40)
	searches := len(hs.Received("POST /crm/v3/objects/contacts/search"))
	want := add(100)
	waitPolled(t, e.r, f.ID, created.ID, poll())
	runs := waitRuns(t, e.r, f.ID, 100)
	if got := len(hs.Received("POST /crm/v3/objects/contacts/search")) - searches; got != 3 {
		t.Errorf("the poll sent %d searches, want 3 pages", got)
	}
	seen := map[string]int{}
	for _, rn := range runs {
		if rn.Mode != "app_trigger" || rn.TriggerID != created.ID || rn.Status != "succeeded" {
			t.Fatalf("a Run = %+v, want a succeeded app_trigger Run of %s", rn, created.ID)
		}
		seen[fmt.Sprint(rn.Request.Body["id"])]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("contact %s started %d Runs, want 1", id, seen[id])
		}
	}
	if calls := tg.Calls(); len(calls) != 100 {
		t.Errorf("the Flow's step ran %d times, want 100", len(calls))
	}

	overlapAndRestart(t, e, dir, f.ID, created.ID, 100, func() { add(1) })
	if calls := tg.Calls(); len(calls) != 108 {
		t.Errorf("the Flow's step ran %d times, want 108", len(calls))
	}
}

// overlapAndRestart adds 5 items (addOne adds one) and polls app trigger
// tr twice at once, then restarts the runner, adds 3 more and polls: the
// Flow, which had had Runs, ends with had+8, none twice.
func overlapAndRestart(t *testing.T, e *appsEnv, dir, flow, tr string, had int, addOne func()) {
	t.Helper()
	for range 5 {
		addOne()
	}
	var wg sync.WaitGroup
	at := time.Now().Truncate(time.Millisecond) // a fire's time is in whole milliseconds
	for range 2 {
		wg.Go(func() {
			e.r.call(t, "POST", "/v1/groups/grp_dev/flows/"+flow+"/app-triggers/"+tr+"/poll", nil, nil)
		})
	}
	wg.Wait()
	waitPolled(t, e.r, flow, tr, at)
	time.Sleep(200 * time.Millisecond)
	waitRuns(t, e.r, flow, had+5)
	// A restart between polls: the cursor is where it was.
	e.r.Stop(t)
	e.r = startRunner(t, dir, true, e.env...)
	for range 3 {
		addOne()
	}
	at = time.Now().Truncate(time.Millisecond)
	e.r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/flows/"+flow+"/app-triggers/"+tr+"/poll", nil, nil)
	waitPolled(t, e.r, flow, tr, at)
	time.Sleep(200 * time.Millisecond)
	waitRuns(t, e.r, flow, had+8)
}

// TestAppTriggersOfEveryAppStartOneRunPerItem polls Gmail, Google Drive
// and Airtable as the HubSpot test does, on their fakes: the first poll
// starts no Run, 100 new items read in 3 pages start 100 Runs, two
// overlapping polls and a restart between polls start none twice.
func TestAppTriggersOfEveryAppStartOneRunPerItem(t *testing.T) {
	const base = "appAAAAAAAAAAAAAA"
	tests := []struct {
		app, event string
		params     map[string]string
		// key: connect with an API key (the fake takes no OAuth token).
		key bool
		// scope is the OAuth scope the event reads with, beside the app's
		// default ones (which do not read: Gmail's send, Drive's own files).
		scope string
		// setup prepares the fake (pages of 40) and returns how to add an
		// item (returning its id) and the route its list calls take.
		setup func(f *apptest.Fake, params map[string]string) (add func(i int) string, list string)
	}{
		{"gmail", "new_message", map[string]string{"query": "from:billing@example.com"}, false, "https://www.googleapis.com/auth/gmail.readonly", func(f *apptest.Fake, _ map[string]string) (func(int) string, string) {
			f.SetGooglePageCap(40)
			return func(i int) string {
				return f.AddMessage("Billing <billing@example.com>", fmt.Sprintf("Invoice %d", i), time.Now())
			}, "GET /gmail/v1/users/me/messages"
		}},
		{"google_drive", "new_file", map[string]string{"folder_id": "root"}, false, "https://www.googleapis.com/auth/drive.readonly", func(f *apptest.Fake, _ map[string]string) (func(int) string, string) {
			f.SetGooglePageCap(40)
			return func(i int) string { return f.AddFile(fmt.Sprintf("scan-%d.pdf", i), "root", time.Now()) }, "GET /drive/v3/files"
		}},
		{"airtable", "new_record", map[string]string{"base_id": base, "table": "Leads"}, true, "", func(f *apptest.Fake, params map[string]string) (func(int) string, string) {
			at := f.Airtable()
			at.AddTable(base, "Leads")
			at.SetPageCap(40)
			return func(i int) string {
				return at.AddRecord(base, "Leads", map[string]any{"Name": fmt.Sprintf("Lead %d", i)}, time.Now())
			}, "GET /v0/" + base + "/Leads"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			dir := t.TempDir()
			e := startWithApps(t, dir, []string{tt.app})
			fake := e.fakes[tt.app]
			add, list := tt.setup(fake, tt.params)
			add(-1) // there before the trigger: never a Run
			var f struct{ ID string }
			e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "On " + tt.app,
				"steps": []any{map[string]any{"id": "keep", "app": "data", "method": "set", "input": map[string]any{"fields": map[string]any{"id": "{{ trigger.body.id }}"}}}}}, &f)
			var conn string
			if tt.key {
				conn = e.connectKey(t, tt.app)
			} else {
				// A Connection with the default scopes only is refused,
				// naming the scope to add.
				plain := e.connectOAuth(t, tt.app, tt.app+" (default scopes)")
				var raw json.RawMessage
				var refused struct {
					Error struct{ Code, Field, Message string }
				}
				got := e.r.call(t, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/app-triggers", map[string]any{
					"app": tt.app, "event": tt.event, "connectionId": plain, "params": tt.params}, &raw)
				_ = json.Unmarshal(raw, &refused)
				if got != 400 || refused.Error.Field != "connectionId" || !strings.Contains(refused.Error.Message, tt.scope) {
					t.Fatalf("an app trigger on a Connection without %s = %d %+v, want 400 on connectionId naming the scope", tt.scope, got, refused)
				}
				conn = e.connectOAuth(t, tt.app, tt.app, tt.scope)
			}
			var tr scheduleView
			e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/app-triggers", map[string]any{
				"app": tt.app, "event": tt.event, "connectionId": conn, "params": tt.params}, &tr)
			poll := func() time.Time {
				t.Helper()
				at := time.Now().Truncate(time.Millisecond)
				e.r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/app-triggers/"+tr.ID+"/poll", nil, nil)
				return at
			}
			if v := waitPolled(t, e.r, f.ID, tr.ID, poll()); v.LastError != "" {
				t.Fatalf("the first poll failed: %s", v.LastError)
			}
			time.Sleep(5 * time.Millisecond) // new items come strictly after the seed
			want := map[string]bool{}
			for i := range 100 {
				want[add(i)] = true
			}
			calls := len(fake.Received(list))
			if v := waitPolled(t, e.r, f.ID, tr.ID, poll()); v.LastError != "" {
				t.Fatalf("the poll failed: %s", v.LastError)
			}
			runs := waitRuns(t, e.r, f.ID, 100)
			if got := len(fake.Received(list)) - calls; got != 3 {
				t.Errorf("the poll made %d list calls, want 3 pages", got)
			}
			for _, rn := range runs {
				id := fmt.Sprint(rn.Request.Body["id"])
				if !want[id] || rn.Mode != "app_trigger" || rn.Status != "succeeded" {
					t.Fatalf("a Run for %q: %+v, want one succeeded app_trigger Run per new item", id, rn)
				}
				delete(want, id)
			}
			overlapAndRestart(t, e, dir, f.ID, tr.ID, 100, func() { add(0) })
		})
	}
}
