package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/flow"
	"wiresk/internal/metrics"
	"wiresk/internal/testkit/jsonlines"
	"wiresk/internal/worker"
)

func find(lines []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if _, ok := l[name]; ok {
			out = append(out, l)
		}
	}
	return out
}

func record(t *testing.T, id string, receiveCount int) events.SQSMessage {
	t.Helper()
	b, err := json.Marshal(job(id))
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSMessage{MessageId: "m-" + id, Body: string(b), Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receiveCount)}}
}

// TestMetricsOfRuns: a Run that succeeds counts one RunsFinished
// succeeded and its steps' durations by app; one that fails on the last
// delivery counts RunsFinished failed and a DeadLetterSends, as does a
// message that is not a Job on its last delivery; an earlier failed
// delivery counts neither.
func TestMetricsOfRuns(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "one", App: "test", Method: "ok", Input: map[string]any{}},
		{ID: "two", App: "http", Method: "request", Input: map[string]any{"fail": "{{ trigger.body.n }}"}},
	}})
	var buf bytes.Buffer
	fail := false
	w := &worker.Worker{Store: store, MaxReceives: 3, Metrics: metrics.New("Wiresk/test", &buf),
		Steps: steps{exec: func(_ context.Context, method string, _ map[string]any) (any, int, error) {
			if fail && method == "request" {
				return nil, 3, errors.New("HTTP 503 from GET https://x: busy")
			}
			return map[string]any{"ok": true}, 1, nil
		}}}
	handle := func(recs ...events.SQSMessage) events.SQSEventResponse {
		resp, err := w.Handle(context.Background(), events.SQSEvent{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	handle(record(t, "run_ok", 1))
	lines := jsonlines.MustDecode(t, buf.String())
	if got := find(lines, "RunsFinished"); len(got) != 1 || got[0]["Outcome"] != "succeeded" || got[0]["runId"] != "run_ok" {
		t.Fatalf("RunsFinished after a success: %v", got)
	}
	if got := find(lines, "StepDuration"); len(got) != 2 || got[0]["App"] != "test" || got[1]["App"] != "http" {
		t.Fatalf("StepDuration after a success: %v, want one per step by app", got)
	}

	buf.Reset()
	fail = true
	if resp := handle(record(t, "run_bad", 1)); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures = %v, want the record to be redelivered", resp.BatchItemFailures)
	}
	if lines := jsonlines.MustDecode(t, buf.String()); len(find(lines, "RunsFinished")) != 0 || len(find(lines, "DeadLetterSends")) != 0 {
		t.Fatalf("a delivery that will be retried counts %v, want no Run finished nor dead-lettered", lines)
	}
	notJob := events.SQSMessage{MessageId: "m-junk", Body: "junk", Attributes: map[string]string{"ApproximateReceiveCount": "3"}}
	handle(record(t, "run_bad", 3), notJob)
	lines = jsonlines.MustDecode(t, buf.String())
	if got := find(lines, "RunsFinished"); len(got) != 1 || got[0]["Outcome"] != "failed" {
		t.Errorf("RunsFinished after the last delivery: %v, want one failed", got)
	}
	dl := find(lines, "DeadLetterSends")
	if len(dl) != 2 {
		t.Fatalf("DeadLetterSends: %v, want the failed Job's and the message that is not a Job", dl)
	}
	ids := []any{dl[0]["messageId"], dl[1]["messageId"]}
	if !(ids[0] == "m-run_bad" && ids[1] == "m-junk" || ids[0] == "m-junk" && ids[1] == "m-run_bad") {
		t.Errorf("DeadLetterSends message ids %v, want m-run_bad and m-junk", ids)
	}
}

// TestWorkerWithoutMetrics: no emitter, no metrics, and no panic.
func TestWorkerWithoutMetrics(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{{ID: "one", App: "test", Method: "ok", Input: map[string]any{}}}})
	w := &worker.Worker{Store: store, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) { return 1, 1, nil }}}
	if resp, err := w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record(t, "run_1", 1)}}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %v", resp, err)
	}
}
