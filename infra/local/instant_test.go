package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAnInstantAirtableTriggerRunsOnNotification makes an instant Airtable
// trigger on the runner: its first poll, at once, subscribes a webhook (Airtable's
// webhooks API, on the fake) at the trigger's notification URL; a signed
// notification starts a poll at once, so new records start their Runs
// without waiting for the interval; a forged notification starts nothing;
// deleting the trigger deletes the webhook.
func TestAnInstantAirtableTriggerRunsOnNotification(t *testing.T) {
	const base = "appAAAAAAAAAAAAAA"
	e := startWithApps(t, t.TempDir(), []string{"airtable"})
	at := e.fakes["airtable"].Airtable()
	at.AddTable(base, "Leads")
	conn := e.connectKey(t, "airtable")
	var f struct{ ID string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Instant leads",
		"steps": []any{map[string]any{"id": "keep", "app": "data", "method": "set", "input": map[string]any{"fields": map[string]any{"id": "{{ trigger.body.id }}"}}}}}, &f)
	var tr struct {
		ID   string
		Poll struct {
			Instant bool
			Hook    struct{ Token, SubscriptionID string }
		}
	}
	// The README's block makes it, with hourly polls: every Run below
	// comes from a notification.
	cmd := exec.Command("bash", "-e", "-c", readmeBlock(t, "#### Instant app triggers"))
	cmd.Env = append(os.Environ(), "WIRESK="+e.r.URL, "G=grp_dev", "TOKEN="+e.r.Token, "FLOW_ID="+f.ID, "AIRTABLE_CONNECTION_ID="+conn, "BASE_ID="+base)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README block failed: %v\n%s", err, out)
	}
	if err := json.Unmarshal(out, &tr); err != nil {
		t.Fatalf("the README block printed %s: %v", out, err)
	}
	if !tr.Poll.Instant || len(tr.Poll.Hook.Token) != 32 {
		t.Fatalf("created %+v, want an instant trigger with a notification token", tr)
	}
	// Its first poll, queued when it was made, subscribes the webhook.
	if v := waitPolled(t, e.r, f.ID, tr.ID, time.Time{}); v.LastError != "" {
		t.Fatalf("the first poll: %s", v.LastError)
	}
	hooks := at.Webhooks()
	if len(hooks) != 1 || !strings.HasSuffix(hooks[0].NotificationURL, "/v1/app-hooks/grp_dev/"+f.ID+"/"+tr.ID+"/"+tr.Poll.Hook.Token) ||
		!strings.HasPrefix(hooks[0].NotificationURL, e.r.URL) {
		t.Fatalf("webhooks after the first poll = %+v, want one at the trigger's notification URL", hooks)
	}

	time.Sleep(5 * time.Millisecond)
	for i := range 3 {
		at.AddRecord(base, "Leads", map[string]any{"Name": "Lead " + string(rune('A'+i))}, time.Now())
	}
	sent, err := at.Notify(hooks[0].ID)
	if err != nil || sent.Status != http.StatusOK {
		t.Fatalf("the notification was answered %d (%v), want 200", sent.Status, err)
	}
	waitRuns(t, e.r, f.ID, 3)

	// Forged: the right URL, a wrong signature. Taken, then refused by
	// the worker: no poll, so the new record waits for the schedule.
	at.AddRecord(base, "Leads", map[string]any{"Name": "Lead D"}, time.Now())
	req, _ := http.NewRequest("POST", hooks[0].NotificationURL, bytes.NewReader(sent.Body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Airtable-Content-MAC", "hmac-sha256="+strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a forged notification to the right URL = %d, want 200 (queued; the worker checks the signature)", resp.StatusCode)
	}
	// The wrong token is not even taken.
	wrong := strings.TrimSuffix(hooks[0].NotificationURL, tr.Poll.Hook.Token) + strings.Repeat("A", 32)
	if resp, err := http.Post(wrong, "application/json", bytes.NewReader(sent.Body)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a notification to another token = %v %v, want 404", resp.StatusCode, err)
	}
	time.Sleep(500 * time.Millisecond)
	if runs := flowRuns(t, e.r, f.ID); len(runs) != 3 {
		t.Fatalf("after a forged notification the Flow has %d Runs, want 3", len(runs))
	}

	e.r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/flows/"+f.ID+"/app-triggers/"+tr.ID, nil, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(at.Webhooks()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the trigger was deleted its webhook remains: %+v", at.Webhooks())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
