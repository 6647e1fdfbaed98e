package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/signature"
	"wiresk/internal/step"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
	"wiresk/internal/worker"
)

// scheduleWorker is a worker over store whose steps record their input.
func scheduleWorker(store *bolt.Store, got *[]map[string]any) *worker.Worker {
	return &worker.Worker{Store: store, Schedules: store, Steps: steps{exec: func(_ context.Context, _ string, in map[string]any) (any, int, error) {
		*got = append(*got, in)
		return map[string]any{"status": 200}, 1, nil
	}}}
}

func mustScheduleFlow(t *testing.T, store *bolt.Store, groupID, flowID, triggerID string) trigger.Schedule {
	t.Helper()
	mustFlow(t, store, flow.Flow{ID: flowID, GroupID: groupID, Steps: []flow.Step{{ID: "digest", App: "http", Method: "request",
		Input: map[string]any{"url": "https://digest.example/{{ trigger.body.triggerId }}", "body": map[string]any{"at": "{{ trigger.body.localTime }}"}}}}})
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tr := trigger.Schedule{ID: triggerID, GroupID: groupID, FlowID: flowID, Expression: "cron(0 9 ? * MON-FRI *)", Timezone: "Europe/Paris",
		Enabled: true, CreatedAt: created, EnabledAt: created}
	if err := store.CreateSchedule(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestAScheduleFireDeliveredTwiceStartsOneRun handles the batch
// EventBridge Scheduler's messages make (events/worker-sqs-schedule.json):
// the same fire twice and a fire of a trigger deleted since.
func TestAScheduleFireDeliveredTwiceStartsOneRun(t *testing.T) {
	_, store := MustStore(t)
	tr := mustScheduleFlow(t, store, "grp_dev", "flw_01jd0000000000000000000001", "trg_01jd0000000000000000000009")
	var got []map[string]any
	w := scheduleWorker(store, &got)
	data, err := os.ReadFile("../../events/worker-sqs-schedule.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	// Two deliveries of one fire in one batch: one runs the Run, the
	// other finds it leased and comes back (SQS redelivers it), to find
	// it ended.
	for attempt := 1; len(ev.Records) > 0; attempt++ {
		if attempt > 3 {
			t.Fatalf("records still failing after 3 deliveries: %+v", ev.Records)
		}
		resp, err := w.Handle(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var again []events.SQSMessage
		for _, f := range resp.BatchItemFailures {
			for _, rec := range ev.Records {
				if rec.MessageId == f.ItemIdentifier {
					rec.Attributes["ApproximateReceiveCount"] = "2"
					again = append(again, rec)
				}
			}
		}
		ev.Records = again
	}
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	page, err := store.ListRuns(t.Context(), run.Query{GroupID: "grp_dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 1 || len(got) != 1 {
		t.Fatalf("%d Runs and %d step calls, want one of each for one fire delivered twice", len(page.Runs), len(got))
	}
	r := page.Runs[0]
	if r.ID != run.ScheduledID(tr.ID, at) || r.Mode != run.ModeSchedule || r.TriggerID != tr.ID || r.Status != run.Succeeded || !r.CreatedAt.Equal(at) {
		t.Fatalf("the Run = %+v", r)
	}
	if got[0]["url"] != "https://digest.example/"+tr.ID || got[0]["body"].(map[string]any)["at"] != "2026-12-04T09:00:00+01:00" {
		t.Fatalf("the step saw %v, want the trigger id and the Paris time", got[0])
	}
	stored, err := store.GetSchedule(t.Context(), "grp_dev", tr.FlowID, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.LastFireAt == nil || !stored.LastFireAt.Equal(at) || stored.LastRunID != r.ID || stored.LastError != "" {
		t.Fatalf("the trigger's last fire = %v %q %q, want %v and the Run", stored.LastFireAt, stored.LastRunID, stored.LastError, at)
	}
}

func TestAFireStartsNoRunWhenItsTriggerOrFlowIsOff(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	fire := func(tr trigger.Schedule) run.Job {
		return run.Job{GroupID: tr.GroupID, FlowID: tr.FlowID, TriggerID: tr.ID, Mode: run.ModeSchedule, ScheduledAt: &at}
	}
	tests := []struct {
		name      string
		change    func(t *testing.T, s *bolt.Store, tr trigger.Schedule)
		wantError string // the trigger's lastError; "" when the fire is not recorded
	}{
		{"flow disabled", func(t *testing.T, s *bolt.Store, tr trigger.Schedule) {
			f, _ := s.GetFlow(t.Context(), tr.GroupID, tr.FlowID)
			f.Enabled, f.Version = false, f.Version+1
			if err := s.UpdateFlow(t.Context(), f); err != nil {
				t.Fatal(err)
			}
		}, "the Flow is disabled"},
		{"trigger disabled", func(t *testing.T, s *bolt.Store, tr trigger.Schedule) {
			tr.Enabled = false
			if err := s.UpdateSchedule(t.Context(), tr); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"trigger deleted", func(t *testing.T, s *bolt.Store, tr trigger.Schedule) {
			if err := s.DeleteSchedule(t.Context(), tr.GroupID, tr.FlowID, tr.ID); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, store := MustStore(t)
			tr := mustScheduleFlow(t, store, "grp_a", "flw_1", "trg_1")
			tt.change(t, store, tr)
			var got []map[string]any
			if err := scheduleWorker(store, &got).Execute(t.Context(), fire(tr), 1); err != nil {
				t.Fatalf("Execute = %v, want the fire done with (no retry)", err)
			}
			page, _ := store.ListRuns(t.Context(), run.Query{GroupID: "grp_a"})
			if len(page.Runs) != 0 || len(got) != 0 {
				t.Fatalf("%d Runs, %d step calls; want none", len(page.Runs), len(got))
			}
			stored, err := store.GetSchedule(t.Context(), "grp_a", "flw_1", "trg_1")
			if tt.wantError != "" && (err != nil || !strings.Contains(stored.LastError, tt.wantError) || stored.LastRunID != "") {
				t.Fatalf("the trigger = %+v %v, want lastError %q", stored, err, tt.wantError)
			}
		})
	}
}

func TestAFireWithoutItsTimeIsRefused(t *testing.T) {
	_, store := MustStore(t)
	mustScheduleFlow(t, store, "grp_a", "flw_1", "trg_1")
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"groupId":"grp_a","flowId":"flw_1","triggerId":"trg_1","mode":"schedule"}`}}}
	var got []map[string]any
	resp, _ := scheduleWorker(store, &got).Handle(t.Context(), ev)
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures = %+v, want the record failed (on to the dead-letter queue)", resp.BatchItemFailures)
	}
}

// conns is a worker.Connections of function fields.
type conns struct {
	bind func(groupID, id string) (step.Connection, error)
}

func (c conns) Bind(_ context.Context, groupID, id string) (step.Connection, []string, error) {
	conn, err := c.bind(groupID, id)
	return conn, nil, err
}

func (c conns) Rejected(context.Context, string, string) (connection.Status, error) {
	return connection.StatusBroken, nil
}

// polls is a worker.Polls of a function field.
type polls func(t trigger.Schedule, at time.Time, conn step.Connection) error

func (p polls) Poll(_ context.Context, t trigger.Schedule, at time.Time, conn step.Connection) error {
	return p(t, at, conn)
}

func (p polls) Verify(context.Context, trigger.Schedule, signature.Request, time.Time) error {
	return errors.New("no notifications here")
}

func (p polls) Unsubscribe(context.Context, trigger.Schedule, step.Connection) error { return nil }

func TestAnAppTriggerPollsWithItsConnectionOrPauses(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		bind       error
		wantPolled bool
		wantErr    bool
		wantPaused bool
	}{
		{"active Connection", nil, true, false, false},
		{"broken Connection", wiresk.Errorf(wiresk.EConflict, "Connection HubSpot is broken: reconnect it"), false, false, true},
		{"deleted Connection", wiresk.Errorf(wiresk.ENotFound, "no Connection con_1"), false, false, true},
		{"the vault is down", errors.New("vault unavailable"), false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, store := MustStore(t)
			tr := mustScheduleFlow(t, store, "grp_a", "flw_1", "trg_1")
			tr.Poll = &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1"}
			if err := store.UpdateSchedule(t.Context(), tr); err != nil {
				t.Fatal(err)
			}
			polled := false
			var got []map[string]any
			w := scheduleWorker(store, &got)
			w.Connections = conns{bind: func(g, id string) (step.Connection, error) {
				if g != "grp_a" || id != "con_1" {
					t.Errorf("bound %s/%s, want the trigger's Connection", g, id)
				}
				return step.Connection{ID: id, App: "hubspot"}, tt.bind
			}}
			w.Polls = polls(func(pt trigger.Schedule, pat time.Time, conn step.Connection) error {
				polled = pt.ID == tr.ID && pat.Equal(at) && conn.ID == "con_1"
				return nil
			})
			err := w.Execute(t.Context(), run.Job{GroupID: "grp_a", FlowID: "flw_1", TriggerID: "trg_1", Mode: run.ModeSchedule, ScheduledAt: &at}, 1)
			if (err != nil) != tt.wantErr || polled != tt.wantPolled {
				t.Fatalf("Execute = %v, polled %v; want error %v, polled %v", err, polled, tt.wantErr, tt.wantPolled)
			}
			if page, _ := store.ListRuns(t.Context(), run.Query{GroupID: "grp_a"}); len(page.Runs) != 0 {
				t.Fatalf("an app trigger's fire started a Run of its own: %+v", page.Runs)
			}
			stored, _ := store.GetSchedule(t.Context(), "grp_a", "flw_1", "trg_1")
			if stored.Poll.Paused != tt.wantPaused || tt.wantPaused && !strings.Contains(stored.LastError, "con_1") {
				t.Fatalf("paused %v, lastError %q; want paused %v naming the Connection", stored.Poll.Paused, stored.LastError, tt.wantPaused)
			}
		})
	}
}
