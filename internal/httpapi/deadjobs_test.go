package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/group"
	"wiresk/internal/run"
)

// deadJob queues a Job of groupID for Run runID and dead-letters it (the
// system's queue gives up after 3 receives); it returns the message id.
func (s *system) deadJob(t *testing.T, groupID, runID, body string) string {
	t.Helper()
	ctx := context.Background()
	data, err := json.Marshal(run.Job{RunID: runID, GroupID: groupID, FlowID: "flw_1", TriggerID: "trg_1", Mode: run.ModeWebhook,
		Request: run.Request{Method: "POST", Headers: map[string]string{"content-type": "application/json"}}, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.queue.Send(ctx, data, map[string]string{"runId": runID, "groupId": groupID})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := s.queue.Receive(ctx, 100, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestDeadJobsRoutes(t *testing.T) {
	s := MustSystem(t)
	s.seedGroup(t, "grp_a", "ada")
	s.seedGroup(t, "grp_b", "eve")
	if err := s.store.PutMember(context.Background(), group.Member{GroupID: "grp_a", UserID: "bob", Role: group.RoleMember, AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ada, bob, eve := s.token(t, "ada"), s.token(t, "bob"), s.token(t, "eve")
	idA := s.deadJob(t, "grp_a", "run_a", `{"token":"s3cr3t-token"}`)
	idB := s.deadJob(t, "grp_b", "run_b", `{}`)

	resp := s.api(t, ada, "GET", "/v1/groups/grp_a/dead-jobs", nil)
	if resp.Status != 200 {
		t.Fatalf("GET dead-jobs = %d %s, want 200", resp.Status, resp.Body)
	}
	if strings.Contains(string(resp.Body), "s3cr3t") {
		t.Errorf("the listing shows a job's body: %s", resp.Body)
	}
	var list struct {
		DeadJobs []struct {
			ID, RunID, FlowID, TriggerID, Mode, Reason string
			ReceiveCount                               int
			DeadAt                                     time.Time
			Body                                       struct {
				Bytes       int
				ContentType string
			}
		}
		Scanned, ScanLimit int
		Truncated          bool
	}
	resp.decode(t, &list)
	if got := len(list.DeadJobs); got != 1 {
		t.Fatalf("dead jobs = %s, want only Group a's", resp.Body)
	}
	j := list.DeadJobs[0]
	if j.ID != idA || j.RunID != "run_a" || j.FlowID != "flw_1" || j.TriggerID != "trg_1" || j.Mode != "webhook" || j.ReceiveCount != 3 || j.DeadAt.IsZero() {
		t.Errorf("dead job = %+v, want %s of run_a, flw_1, trg_1, webhook, 3 receives", j, idA)
	}
	if got, want := j.Reason, "received 3 times without being deleted; no Run was recorded"; got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
	if j.Body.Bytes != len(`{"token":"s3cr3t-token"}`) || j.Body.ContentType != "application/json" {
		t.Errorf("body = %+v, want its size and content type", j.Body)
	}
	if list.Scanned != 2 || list.ScanLimit != 500 || list.Truncated {
		t.Errorf("scanned, scanLimit, truncated = %d, %d, %v; want 2, 500, false", list.Scanned, list.ScanLimit, list.Truncated)
	}

	for _, tt := range []struct {
		name, tok, method, path string
		body                    any
		status                  int
		code, field             string
	}{
		{"member lists", bob, "GET", "/v1/groups/grp_a/dead-jobs", nil, 403, "forbidden", ""},
		{"member redrives", bob, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"all":true}`, 403, "forbidden", ""},
		{"outsider lists", eve, "GET", "/v1/groups/grp_a/dead-jobs", nil, 404, "not_found", ""},
		{"outsider redrives", eve, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"ids":["` + idA + `"]}`, 404, "not_found", ""},
		{"no body", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", nil, 400, "invalid_json", ""},
		{"not JSON", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `ids`, 400, "invalid_json", ""},
		{"unknown field", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"id":["x"]}`, 400, "invalid_json", ""},
		{"ids not a list", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"ids":"x"}`, 400, "invalid_json", "ids"},
		{"neither ids nor all", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{}`, 400, "validation_failed", "ids"},
		{"both ids and all", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"ids":["x"],"all":true}`, 400, "validation_failed", "ids"},
		{"empty id", ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"ids":[""]}`, 400, "validation_failed", "ids[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.api(t, tt.tok, tt.method, tt.path, tt.body)
			if resp.Status != tt.status || resp.errorCode() != tt.code || resp.errorField() != tt.field {
				t.Errorf("%s %s = %d %s, want %d %s (field %q)", tt.method, tt.path, resp.Status, resp.Body, tt.status, tt.code, tt.field)
			}
		})
	}

	// Another Group's id is not found, and stays dead.
	var res struct {
		Redriven []struct{ ID, NewID, RunID string }
		NotFound []string
	}
	resp = s.api(t, ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", map[string]any{"ids": []string{idB, idA}})
	if resp.Status != 200 {
		t.Fatalf("redrive = %d %s, want 200", resp.Status, resp.Body)
	}
	resp.decode(t, &res)
	if len(res.Redriven) != 1 || res.Redriven[0].ID != idA || res.Redriven[0].RunID != "run_a" || res.Redriven[0].NewID == "" || !slices.Equal(res.NotFound, []string{idB}) {
		t.Errorf("redrive = %s, want %s redriven and %s not found", resp.Body, idA, idB)
	}
	resp = s.api(t, eve, "GET", "/v1/groups/grp_b/dead-jobs", nil)
	if resp.Status != 200 || !strings.Contains(string(resp.Body), idB) {
		t.Errorf("Group b's dead jobs = %d %s, want %s still there", resp.Status, resp.Body, idB)
	}
	resp = s.api(t, ada, "POST", "/v1/groups/grp_a/dead-jobs/redrive", `{"all":true}`)
	if resp.Status != 200 || string(resp.Body) != `{"redriven":[],"notFound":[],"scanned":1,"scanLimit":500,"truncated":false}`+"\n" {
		t.Errorf("redrive all with none left = %d %s, want nothing redriven", resp.Status, resp.Body)
	}
}
