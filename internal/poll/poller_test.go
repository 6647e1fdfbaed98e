package poll_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/egress"
	"wiresk/internal/poll"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/trigger"
)

// pollStore is a poll.Store of function fields that records the fires.
type pollStore struct {
	advance func(from, to string) bool
	fires   []trigger.Fire
	hooks   []string
}

func (s *pollStore) AdvanceCursor(_ context.Context, _, _, _, from, to string) (bool, error) {
	return s.advance(from, to), nil
}

func (s *pollStore) SetHook(_ context.Context, _, _, _, _, id string, exp *time.Time) (bool, error) {
	s.hooks = append(s.hooks, id)
	return true, nil
}

func (s *pollStore) RecordFire(_ context.Context, _, _, _ string, f trigger.Fire) (trigger.Schedule, error) {
	s.fires = append(s.fires, f)
	return trigger.Schedule{}, nil
}

// jobQueue is a run.Enqueuer that keeps the Jobs sent.
type jobQueue struct{ jobs []run.Job }

func (q *jobQueue) Send(_ context.Context, body []byte, _ map[string]string) (string, error) {
	var j run.Job
	if err := json.Unmarshal(body, &j); err != nil {
		return "", err
	}
	q.jobs = append(q.jobs, j)
	return strconv.Itoa(len(q.jobs)), nil
}

// pollerRig is a Poller over the HubSpot fake.
func pollerRig(t *testing.T) (*poll.Poller, *pollStore, *jobQueue, *apptest.Fake, step.Connection) {
	t.Helper()
	f, _ := apptest.New(t, "hubspot")
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"hubspot": f})))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	st, q := &pollStore{advance: func(string, string) bool { return true }}, &jobQueue{}
	p := &poll.Poller{Store: st, Catalog: cat, Client: &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}, Queue: q}
	conn := step.Connection{ID: "con_1", App: "hubspot", Config: f.Config, Credential: appcall.Credential{Kind: appcall.CredentialBearer, Token: f.Token}}
	return p, st, q, f, conn
}

func TestThePollerSendsOneJobPerItemThenMovesTheCursor(t *testing.T) {
	p, st, q, f, conn := pollerRig(t)
	seed := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	tr := trigger.Schedule{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1"}}
	if err := p.Poll(t.Context(), tr, seed, conn); err != nil {
		t.Fatal(err)
	}
	if len(q.jobs) != 0 || len(st.fires) != 1 || st.fires[0].Started != 0 || st.fires[0].Error != "" {
		t.Fatalf("the seed sent %d jobs and recorded %+v, want none and one clean fire", len(q.jobs), st.fires)
	}
	var moved []string
	st.advance = func(from, to string) bool { moved = append(moved, from+"→"+to); return true }
	tr.Poll.Cursor = strconv.FormatInt(seed.UnixMilli(), 10)
	a := f.AddContact(map[string]string{"email": "a@example.com"}, seed.Add(time.Minute))
	b := f.AddContact(map[string]string{"email": "b@example.com"}, seed.Add(2*time.Minute))
	fire := seed.Add(5 * time.Minute)
	if err := p.Poll(t.Context(), tr, fire, conn); err != nil {
		t.Fatal(err)
	}
	if len(q.jobs) != 2 {
		t.Fatalf("sent %d jobs, want 2", len(q.jobs))
	}
	for i, id := range []string{a, b} {
		j := q.jobs[i]
		var body map[string]any
		_ = json.Unmarshal(j.Body, &body)
		if j.RunID != poll.ItemRunID("trg_1", id) || j.Mode != run.ModeAppTrigger || j.TriggerID != "trg_1" || body["id"] != id || !j.ReceivedAt.Equal(fire) {
			t.Errorf("job %d = %+v (body %v), want contact %s's", i, j, body, id)
		}
	}
	if len(moved) != 1 || !strings.HasPrefix(moved[0], tr.Poll.Cursor+"→") {
		t.Errorf("cursor moves = %v, want one from %s", moved, tr.Poll.Cursor)
	}
	if last := st.fires[len(st.fires)-1]; last.Started != 2 || last.RunID != poll.ItemRunID("trg_1", b) || !last.At.Equal(fire) {
		t.Errorf("recorded fire %+v, want 2 started, the last Run, at %v", last, fire)
	}
}

func TestAPollTheAppRefusesPausesTheTriggerWhenTheConnectionBreaks(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		after      connection.Status
		wantPaused bool
	}{
		{"401, the Connection broken on re-test", 401, connection.StatusBroken, true},
		{"401, the Connection fine on re-test", 401, connection.StatusActive, false},
		{"500", 500, connection.StatusActive, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, st, q, f, conn := pollerRig(t)
			rejected := 0
			p.Rejected = func(_ context.Context, g, id string) (connection.Status, error) {
				rejected++
				return tt.after, nil
			}
			f.Fail(10, tt.status, "")
			tr := trigger.Schedule{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1",
				Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1", Cursor: "1796371200000"}}
			if err := p.Poll(t.Context(), tr, time.Now(), conn); err != nil {
				t.Fatalf("Poll = %v, want the failure recorded, not retried", err)
			}
			if len(q.jobs) != 0 || len(st.fires) != 1 {
				t.Fatalf("%d jobs, fires %+v", len(q.jobs), st.fires)
			}
			got := st.fires[0]
			if got.Paused != tt.wantPaused || got.Error == "" {
				t.Fatalf("recorded %+v, want paused %v with the error", got, tt.wantPaused)
			}
			if wantRejected := tt.status == 401; (rejected == 1) != wantRejected {
				t.Errorf("the Connection was re-tested %d times, want it only on a 401", rejected)
			}
			if strings.Contains(got.Error, f.Token) {
				t.Errorf("the recorded error holds the token: %q", got.Error)
			}
		})
	}
}

func TestAnItemTooLargeForARunIsSkippedAndNamed(t *testing.T) {
	p, st, q, f, conn := pollerRig(t)
	seed := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	tr := trigger.Schedule{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1",
		Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1", Cursor: strconv.FormatInt(seed.UnixMilli(), 10)}}
	big := f.AddContact(map[string]string{"email": strings.Repeat("x", poll.MaxItemBytes) + "@example.com"}, seed.Add(time.Minute))
	small := f.AddContact(map[string]string{"email": "ok@example.com"}, seed.Add(2*time.Minute))
	if err := p.Poll(t.Context(), tr, seed.Add(5*time.Minute), conn); err != nil {
		t.Fatalf("Poll = %v, want the large item skipped, not the fire retried forever", err)
	}
	if len(q.jobs) != 1 || q.jobs[0].RunID != poll.ItemRunID("trg_1", small) {
		t.Fatalf("jobs = %+v, want the small contact's only", q.jobs)
	}
	if got := st.fires[0]; got.Started != 1 || !strings.Contains(got.Error, big) {
		t.Fatalf("recorded %+v, want 1 started and an error naming %s", got, big)
	}
}
