package bolt_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"wiresk/internal/run"
)

func mustRun(id string, body string) run.Run {
	return run.Run{ID: id, GroupID: "grp_a", FlowID: "flw_1", Mode: run.ModeWebhook, Status: run.Queued,
		Request: run.Request{Headers: map[string]string{}, Query: map[string]string{}, Body: json.RawMessage(body)},
		Steps:   []run.StepResult{}, CreatedAt: time.Now().UTC()}
}

func TestNoUnreadableRecordAndNoPanic(t *testing.T) {
	db, s := MustStore(t)
	ctx := t.Context()

	// A body that json.Marshal copies but that, inside a Run, is nested
	// deeper than a decoder reads back: refused, not written.
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	if created, err := s.CreateRun(ctx, mustRun("run_deep", deep)); err == nil || created {
		t.Fatalf("CreateRun(10,000 levels) = %v, %v; want an error and nothing written", created, err)
	}
	if _, err := s.GetRun(ctx, "grp_a", "run_deep"); err == nil {
		t.Fatal("GetRun of the refused Run found something")
	}

	for _, id := range []string{"run_1", "run_2"} {
		if _, err := s.CreateRun(ctx, mustRun(id, `{"n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A record that does not decode (written by an older version, or
	// damaged): only the calls that read it fail, and none panics.
	err := db.Bolt().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("runs")).Put([]byte("grp_a\x00run_2"), []byte(`{"id":"run_2","groupId":`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRun(ctx, "grp_a", "run_2"); err == nil {
		t.Error("GetRun of a corrupt record: no error")
	}
	page, err := s.ListRuns(ctx, run.Query{GroupID: "grp_a"})
	if err != nil {
		t.Fatalf("ListRuns with one corrupt record: %v, want the others listed", err)
	}
	if len(page.Runs) != 1 || page.Runs[0].ID != "run_1" {
		t.Errorf("ListRuns = %d runs, want run_1 alone", len(page.Runs))
	}
	if _, err := s.GetRun(ctx, "grp_a", "run_1"); err != nil {
		t.Errorf("GetRun of a good record beside a corrupt one: %v", err)
	}
}
