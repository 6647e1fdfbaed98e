package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first sh block after heading in the README.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatalf("README section %q has no sh block", heading)
	}
	return block
}

type scheduleView struct {
	Kind, ID, Expression, Timezone, LastRunID, LastError string
	Enabled                                              bool
	LastFireAt                                           *time.Time
	NextFires                                            []time.Time
}

// TestTheScheduleTriggerExamplesRunAsPrinted runs the README's schedule
// trigger examples against the runner: a weekday cron in Paris lists its
// next fire times there, an at() a few seconds ahead starts one Run of the
// Flow, recorded on the trigger, and a PATCH pauses a trigger.
func TestTheScheduleTriggerExamplesRunAsPrinted(t *testing.T) {
	scheduleExamples(t, startRunner(t, t.TempDir(), true))
}

// TestTheScheduleTriggerExamplesOnEmulators runs them on the AWS adapters:
// the triggers in DynamoDB Local (the scheduler lists them from GSI1), the
// fire through goaws's SQS.
func TestTheScheduleTriggerExamplesOnEmulators(t *testing.T) {
	scheduleExamples(t, startRunner(t, t.TempDir(), true, emulatorsWithEmbeddedVault(t)...))
}

func scheduleExamples(t *testing.T, r *runner) {
	tg := newTarget(t)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{
		"name": "Morning digest",
		"steps": []any{map[string]any{"id": "post", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/digest",
			"body": map[string]any{"at": "{{ trigger.body.scheduledAt }}", "zone": "{{ trigger.body.timezone }}", "trigger": "{{ trigger.body.triggerId }}"}}}},
	}, &f)
	// The README's PATCH pauses $SCHEDULE_ID, one the user made before.
	var paused scheduleView
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/schedule-triggers", map[string]any{"expression": "rate(1 hour)"}, &paused)

	cmd := exec.Command("bash", "-e", "-c", readmeBlock(t, "### Schedule triggers: a Flow on a timetable"))
	cmd.Env = append(os.Environ(), "WIRESK="+r.URL, "G=grp_dev", "TOKEN="+r.Token, "FLOW_ID="+f.ID, "SCHEDULE_ID="+paused.ID)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README block failed: %v\n%s", err, out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var cron, once scheduleView
	var runs struct {
		Runs []struct{ ID, Mode, TriggerID, Status string }
	}
	var list struct{ ScheduleTriggers []scheduleView }
	var patched scheduleView
	for _, v := range []any{&cron, &once, &runs, &list, &patched} {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("the README block printed %s: %v", out, err)
		}
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("the README block printed more than five answers: %s", out)
	}

	paris, _ := time.LoadLocation("Europe/Paris")
	if cron.Kind != "schedule" || !cron.Enabled || cron.Timezone != "Europe/Paris" || len(cron.NextFires) != 5 {
		t.Fatalf("the weekday cron = %+v, want an enabled schedule in Paris with 5 next fires", cron)
	}
	for _, at := range cron.NextFires {
		local := at.In(paris)
		_, off := at.Zone()
		_, parisOff := local.Zone()
		if local.Hour() != 9 || local.Minute() != 0 || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday || off != parisOff {
			t.Errorf("next fire %v is not a weekday 9:00 written in Paris time", at)
		}
	}
	if len(runs.Runs) != 1 || runs.Runs[0].Mode != "schedule" || runs.Runs[0].TriggerID != once.ID || runs.Runs[0].Status != "succeeded" {
		t.Fatalf("the Flow's last Run = %+v, want a succeeded schedule Run of %s", runs.Runs, once.ID)
	}
	calls := tg.Calls()
	if len(calls) != 1 || calls[0]["trigger"] != once.ID || calls[0]["zone"] != "UTC" {
		t.Fatalf("the target got %v, want one call from trigger %s in UTC", calls, once.ID)
	}
	at, err := time.Parse(time.RFC3339, calls[0]["at"].(string))
	if err != nil || len(once.NextFires) != 1 || !at.Equal(once.NextFires[0]) {
		t.Errorf("the Run's scheduledAt = %v (%v), want the at() time %v", calls[0]["at"], err, once.NextFires)
	}
	var recorded *scheduleView
	for i, s := range list.ScheduleTriggers {
		if s.ID == once.ID {
			recorded = &list.ScheduleTriggers[i]
		}
	}
	if len(list.ScheduleTriggers) != 3 || recorded == nil || recorded.LastRunID != runs.Runs[0].ID || recorded.LastFireAt == nil || !recorded.LastFireAt.Equal(at) {
		t.Fatalf("the listing = %+v, want 3 triggers, the at() one with its fire and Run %s", list.ScheduleTriggers, runs.Runs[0].ID)
	}
	if len(recorded.NextFires) != 0 {
		t.Errorf("an at() that has fired still lists next fires %v", recorded.NextFires)
	}
	if patched.ID != paused.ID || patched.Enabled || len(patched.NextFires) != 0 {
		t.Errorf("the PATCH answered %+v, want %s disabled with no next fires", patched, paused.ID)
	}
}
