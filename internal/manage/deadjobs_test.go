package manage_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/group"
	"wiresk/internal/manage"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/wiresk"
)

// deadFixture is the management use cases over an embedded store and a run
// queue that dead-letters a message after one receive. Ada owns Group a,
// where bob is a member; eve owns Group b.
type deadFixture struct {
	svc           manage.Services
	store         *bolt.Store
	queue         *bolt.Queue
	a, b          string
	ada, bob, eve auth.Identity
}

func mustDeadFixture(t *testing.T) *deadFixture {
	t.Helper()
	db, store := embedded.MustStore(t)
	q := embedded.MustQueue(t, db, 1)
	f := &deadFixture{store: store, queue: q, ada: auth.Identity{UserID: "ada"}, bob: auth.Identity{UserID: "bob"}, eve: auth.Identity{UserID: "eve"}}
	f.svc = manage.New(manage.Config{Store: store, Queue: q, DeadLetters: q, Kinds: step.NewRegistry(&step.HTTP{}), Now: func() time.Time { return noon }})
	ga, err := f.svc.Groups.CreateGroup(t.Context(), f.ada, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	gb, err := f.svc.Groups.CreateGroup(t.Context(), f.eve, "Other")
	if err != nil {
		t.Fatal(err)
	}
	f.a, f.b = ga.ID, gb.ID
	if _, err := f.svc.Groups.AddMember(t.Context(), f.ada, f.a, "bob", group.RoleMember); err != nil {
		t.Fatal(err)
	}
	return f
}

// send queues body with attrs and returns the message id.
func (f *deadFixture) send(t *testing.T, body string, attrs map[string]string) string {
	t.Helper()
	id, err := f.queue.Send(t.Context(), []byte(body), attrs)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// kill delivers every queued message once without deleting it, so that the
// next receive moves them all to the dead letters.
func (f *deadFixture) kill(t *testing.T) {
	t.Helper()
	for range 2 {
		msgs, err := f.queue.Receive(t.Context(), 100, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 && msgs[0].ReceiveCount > 1 {
			t.Fatalf("message %s received %d times, want it dead-lettered", msgs[0].ID, msgs[0].ReceiveCount)
		}
	}
}

func jobBody(t *testing.T, j run.Job) string {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeadJobsListsTheGroupsOnlyWithTheirReasons(t *testing.T) {
	f := mustDeadFixture(t)
	ctx := t.Context()
	// A webhook Job whose Run failed, with a secret in its body.
	failed := run.Job{RunID: "run_failed", GroupID: f.a, FlowID: "flw_1", TriggerID: "trg_1", Mode: run.ModeWebhook,
		Request: run.Request{Method: "POST", Headers: map[string]string{"content-type": "application/json"}}, Body: []byte(`{"password":"s3cr3t-value"}`), ReceivedAt: noon}
	if _, err := f.store.CreateRun(ctx, run.Run{ID: "run_failed", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook, Status: run.Failed,
		Error: `step "create" failed: 503 Service Unavailable`, CreatedAt: noon}); err != nil {
		t.Fatal(err)
	}
	idFailed := f.send(t, jobBody(t, failed), map[string]string{"runId": failed.RunID, "groupId": f.a})
	// A Job whose Run was never recorded.
	idNoRun := f.send(t, jobBody(t, run.Job{RunID: "run_none", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeReplay}), map[string]string{"runId": "run_none", "groupId": f.a})
	// A schedule fire as EventBridge Scheduler sends it: no attribute, no Run id.
	fire := strings.Replace(run.ScheduleJobInput(f.a, "flw_2", "trg_2"), run.ScheduledTimePlaceholder, "2026-12-02T11:00:00Z", 1)
	idFire := f.send(t, fire, nil)
	// A message that is not a Job, of Group a by its attribute.
	idJunk := f.send(t, "not json", map[string]string{"groupId": f.a})
	// Group b's Job, and one whose attribute and Job disagree.
	idOther := f.send(t, jobBody(t, run.Job{RunID: "run_b", GroupID: f.b, FlowID: "flw_b", Mode: run.ModeWebhook}), map[string]string{"runId": "run_b", "groupId": f.b})
	f.send(t, jobBody(t, run.Job{RunID: "run_x", GroupID: f.b, FlowID: "flw_b", Mode: run.ModeWebhook}), map[string]string{"runId": "run_x", "groupId": f.a})
	f.kill(t)

	list, err := f.svc.DeadJobs.List(ctx, f.ada, f.a)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := list.Scanned, 6; got != want {
		t.Errorf("Scanned = %d, want %d", got, want)
	}
	if list.Truncated || list.ScanLimit != manage.MaxDeadScan {
		t.Errorf("Truncated, ScanLimit = %v, %d; want false, %d", list.Truncated, list.ScanLimit, manage.MaxDeadScan)
	}
	byID := map[string]manage.DeadJob{}
	for _, j := range list.DeadJobs {
		byID[j.ID] = j
	}
	var ids []string
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	want := []string{idFailed, idNoRun, idFire, idJunk}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("dead jobs of Group a = %q, want %q (never another Group's, never one whose attribute and Job disagree)", ids, want)
	}

	j := byID[idFailed]
	if j.RunID != "run_failed" || j.FlowID != "flw_1" || j.TriggerID != "trg_1" || j.Mode != run.ModeWebhook || j.ReceiveCount != 1 || j.DeadAt.IsZero() {
		t.Errorf("failed job = %+v, want run_failed of flw_1, trg_1, webhook, 1 receive, a dead time", j)
	}
	if got, want := j.Reason, `received 1 times without being deleted; the Run is failed: step "create" failed: 503 Service Unavailable`; !strings.HasPrefix(got, want) {
		t.Errorf("failed job reason = %q, want it to start %q", got, want)
	}
	if strings.Contains(j.Reason, "replay") || j.RunStatus != run.Failed {
		t.Errorf("failed job reason, status = %q, %q; want failed, and no hint to replay (a redrive reopens a failed Run)", j.Reason, j.RunStatus)
	}
	if got, want := j.Body, (manage.DeadJobBody{Bytes: len(failed.Body), ContentType: "application/json"}); got != want {
		t.Errorf("failed job body = %+v, want %+v", got, want)
	}
	if got, want := byID[idNoRun].Reason, "received 1 times without being deleted; no Run was recorded"; got != want {
		t.Errorf("job without a Run: reason = %q, want %q", got, want)
	}
	if got, want := byID[idFire].RunID, run.ScheduledID("trg_2", time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)); got != want || byID[idFire].Mode != run.ModeSchedule {
		t.Errorf("schedule fire: runId, mode = %q, %q; want %q, schedule", got, byID[idFire].Mode, want)
	}
	if got := byID[idJunk].Reason; !strings.Contains(got, "not a Job") {
		t.Errorf("junk message: reason = %q, want it to say it is not a Job", got)
	}
	out, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cr3t") || strings.Contains(string(out), "cGFzc3dvcmQ") {
		t.Errorf("the listing shows a job's body: %s", out)
	}

	// Admins only; another Group is not found.
	_, err = f.svc.DeadJobs.List(ctx, f.bob, f.a)
	wantCode(t, "a member lists", err, wiresk.EForbidden)
	_, err = f.svc.DeadJobs.List(ctx, f.eve, f.a)
	wantCode(t, "an outsider lists", err, wiresk.ENotFound)
	other, err := f.svc.DeadJobs.List(ctx, f.eve, f.b)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(other.DeadJobs); got != 1 || other.DeadJobs[0].ID != idOther {
		t.Errorf("Group b's dead jobs = %+v, want only %s", other.DeadJobs, idOther)
	}
}

func TestDeadJobsRedrive(t *testing.T) {
	f := mustDeadFixture(t)
	ctx := t.Context()
	bodyA := jobBody(t, run.Job{RunID: "run_a", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook, Body: []byte(`{"n":"héllo"}`)})
	idA := f.send(t, bodyA, map[string]string{"runId": "run_a", "groupId": f.a})
	idA2 := f.send(t, jobBody(t, run.Job{RunID: "run_a2", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook}), map[string]string{"runId": "run_a2", "groupId": f.a})
	idB := f.send(t, jobBody(t, run.Job{RunID: "run_b", GroupID: f.b, FlowID: "flw_b", Mode: run.ModeWebhook}), map[string]string{"runId": "run_b", "groupId": f.b})
	f.kill(t)

	res, err := f.svc.DeadJobs.Redrive(ctx, f.ada, f.a, manage.RedriveInput{IDs: []string{idB, idA, "msg_nope", idA}})
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if got := res.Redriven; len(got) != 1 || got[0].ID != idA || got[0].RunID != "run_a" || got[0].NewID == "" {
		t.Fatalf("redriven = %+v, want %s (run_a) with a new id", got, idA)
	}
	if got, want := res.NotFound, []string{idB, "msg_nope"}; !slices.Equal(got, want) {
		t.Errorf("not found = %q, want %q (another Group's id is not found)", got, want)
	}
	msgs, err := f.queue.Receive(ctx, 10, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != res.Redriven[0].NewID || string(msgs[0].Body) != bodyA || msgs[0].Attributes["groupId"] != f.a {
		t.Fatalf("run queue after the redrive = %+v, want the one job %s as it was sent", msgs, res.Redriven[0].NewID)
	}
	if err := f.queue.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	// Group b's job is still dead, untouched.
	if other, err := f.svc.DeadJobs.List(ctx, f.eve, f.b); err != nil || len(other.DeadJobs) != 1 || other.DeadJobs[0].ID != idB {
		t.Errorf("Group b's dead jobs = %+v, %v; want %s still there", other.DeadJobs, err, idB)
	}

	// A member may not redrive; an outsider does not see the Group.
	_, err = f.svc.DeadJobs.Redrive(ctx, f.bob, f.a, manage.RedriveInput{All: true})
	wantCode(t, "a member redrives", err, wiresk.EForbidden)
	_, err = f.svc.DeadJobs.Redrive(ctx, f.eve, f.a, manage.RedriveInput{IDs: []string{idA2}})
	wantCode(t, "an outsider redrives", err, wiresk.ENotFound)

	all, err := f.svc.DeadJobs.Redrive(ctx, f.ada, f.a, manage.RedriveInput{All: true})
	if err != nil {
		t.Fatalf("Redrive all: %v", err)
	}
	if got := all.Redriven; len(got) != 1 || got[0].ID != idA2 || len(all.NotFound) != 0 {
		t.Errorf("redrive all = %+v, want only %s, nothing not found", all, idA2)
	}
	if list, err := f.svc.DeadJobs.List(ctx, f.ada, f.a); err != nil || len(list.DeadJobs) != 0 {
		t.Errorf("Group a's dead jobs after redriving all = %+v, %v; want none", list.DeadJobs, err)
	}
	if again, err := f.svc.DeadJobs.Redrive(ctx, f.ada, f.a, manage.RedriveInput{IDs: []string{idA}}); err != nil || len(again.Redriven) != 0 || !slices.Equal(again.NotFound, []string{idA}) {
		t.Errorf("redrive of a redriven id = %+v, %v; want it not found", again, err)
	}
}

func TestDeadJobsRedriveRefusesBadInput(t *testing.T) {
	f := mustDeadFixture(t)
	many := make([]string, manage.MaxRedriveIDs+1)
	for i := range many {
		many[i] = "msg_x"
	}
	for _, tt := range []struct {
		name  string
		in    manage.RedriveInput
		field string
	}{
		{"neither", manage.RedriveInput{}, "ids"},
		{"both", manage.RedriveInput{IDs: []string{"msg_1"}, All: true}, "ids"},
		{"too many", manage.RedriveInput{IDs: many}, "ids"},
		{"empty id", manage.RedriveInput{IDs: []string{"msg_1", ""}}, "ids[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.DeadJobs.Redrive(t.Context(), f.ada, f.a, tt.in)
			wantCode(t, tt.name, err, wiresk.EValidation)
			if got := wiresk.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q", got, tt.field)
			}
		})
	}
}

func TestDeadJobsWithoutADeadLetterQueueAreUnavailable(t *testing.T) {
	_, store := embedded.MustStore(t)
	svc := manage.New(manage.Config{Store: store, Kinds: step.NewRegistry(&step.HTTP{})})
	ada := auth.Identity{UserID: "ada"}
	g, err := svc.Groups.CreateGroup(t.Context(), ada, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.DeadJobs.List(t.Context(), ada, g.ID)
	wantCode(t, "list without a dead-letter queue", err, wiresk.EUnavailable)
	_, err = svc.DeadJobs.Redrive(t.Context(), ada, g.ID, manage.RedriveInput{All: true})
	wantCode(t, "redrive without a dead-letter queue", err, wiresk.EUnavailable)
}

// TestDeadJobsRedriveReopensAFailedRun: a job dies on its last delivery,
// which fails its Run; redriven, the Run is queued again with its steps, so
// the worker goes on. A succeeded Run is left as it is.
func TestDeadJobsRedriveReopensAFailedRun(t *testing.T) {
	f := mustDeadFixture(t)
	ctx := t.Context()
	noon := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	done := noon.Add(time.Second)
	steps := []run.StepResult{{ID: "one", App: "http", Method: "request", Status: run.StepSucceeded}, {ID: "two", App: "http", Method: "request", Status: run.StepFailed, Error: "503"}}
	if _, err := f.store.CreateRun(ctx, run.Run{ID: "run_f", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook, Status: run.Failed,
		Error: `step "two" failed: 503`, Steps: steps, CreatedAt: noon, FinishedAt: &done}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.CreateRun(ctx, run.Run{ID: "run_s", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook, Status: run.Succeeded, CreatedAt: noon, FinishedAt: &done}); err != nil {
		t.Fatal(err)
	}
	idF := f.send(t, jobBody(t, run.Job{RunID: "run_f", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook}), map[string]string{"runId": "run_f", "groupId": f.a})
	idS := f.send(t, jobBody(t, run.Job{RunID: "run_s", GroupID: f.a, FlowID: "flw_1", Mode: run.ModeWebhook}), map[string]string{"runId": "run_s", "groupId": f.a})
	f.kill(t)
	list, err := f.svc.DeadJobs.List(ctx, f.ada, f.a)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range list.DeadJobs {
		if j.ID == idS && !strings.Contains(j.Reason, "replay") {
			t.Errorf("the succeeded Run's dead job: reason %q, want a hint to replay it", j.Reason)
		}
	}
	if _, err := f.svc.DeadJobs.Redrive(ctx, f.ada, f.a, manage.RedriveInput{IDs: []string{idF, idS}}); err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	r, err := f.store.GetRun(ctx, f.a, "run_f")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Queued || r.FinishedAt != nil || !strings.Contains(r.Error, "redriven") || len(r.Steps) != 2 || r.Steps[0].Status != run.StepSucceeded {
		t.Errorf("the failed Run after a redrive = %s %q finished %v, %d steps; want queued, saying it was redriven, its steps kept", r.Status, r.Error, r.FinishedAt, len(r.Steps))
	}
	if s, err := f.store.GetRun(ctx, f.a, "run_s"); err != nil || s.Status != run.Succeeded {
		t.Errorf("the succeeded Run after a redrive = %+v, %v; want it unchanged", s.Status, err)
	}
}
