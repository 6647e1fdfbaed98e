package worker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/worker"
)

// FuzzHandle feeds arbitrary SQS message bodies and receive counts to the
// worker: it must never panic or return an error, and a message that is
// not a job is always reported failed (so that it reaches the dead-letter
// queue instead of vanishing).
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"runId":"run_1","groupId":"grp_a","flowId":"flw_1","mode":"webhook","request":{"headers":{},"query":{}},"body":"eyJhIjoxfQ==","receivedAt":"2026-11-26T10:00:00Z"}`,
		`{"runId":"run_2","groupId":"grp_a","flowId":"flw_missing","mode":"replay","request":{}}`,
		`{"runId":"","groupId":"grp_a","flowId":"flw_1"}`,
		`Message Body`, ``, `null`, `{"body":"not base64!"}`, `{"request":{"headers":{"a":1}}}`,
	} {
		f.Add(s, "1")
	}
	// A job with a 10,000-level body, as queued before the ingress bounded it.
	deep := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)))
	f.Add(`{"runId":"run_3","groupId":"grp_a","flowId":"flw_1","mode":"webhook","request":{"headers":{},"query":{}},"body":"`+deep+`","receivedAt":"2026-11-26T10:00:00Z"}`, "1")
	_, store := MustStore(f)
	if err := store.CreateFlow(context.Background(), flow.Flow{ID: "flw_1", GroupID: "grp_a", Name: "f", Enabled: true, Version: 1,
		Steps: []flow.Step{{ID: "s", App: "test", Method: "ok", Input: map[string]any{"v": "{{ trigger.body.a }}"}}}}); err != nil {
		f.Fatal(err)
	}
	w := &worker.Worker{Store: store, MaxReceives: 3, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) {
		return "ok", 1, nil
	}}}
	f.Fuzz(func(t *testing.T, body, receiveCount string) {
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body, Attributes: map[string]string{"ApproximateReceiveCount": receiveCount}}}}
		resp, err := w.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if len(resp.BatchItemFailures) > 1 {
			t.Fatalf("failures = %+v for one record", resp.BatchItemFailures)
		}
		var job run.Job
		if err := json.Unmarshal([]byte(body), &job); (err != nil || job.RunID == "" || job.GroupID == "" || job.FlowID == "") && len(resp.BatchItemFailures) != 1 {
			t.Fatalf("body %q is not a job, but the message was not reported failed", body)
		}
	})
}
