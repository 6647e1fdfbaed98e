package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/connection"
	"wiresk/internal/egress"
	"wiresk/internal/flow"
	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/wiresk"
	"wiresk/internal/worker"
)

// steps is a fake step registry: every step kind "test/<anything>" is known
// and executes through the exec function field.
type steps struct {
	exec func(ctx context.Context, method string, input map[string]any) (any, int, error)
}

func (s steps) ValidateStep(app, method string, input map[string]any) error {
	if app != "test" && app != "http" {
		return wiresk.FieldError("app", "unknown app %q", app)
	}
	return nil
}

func (s steps) Execute(ctx context.Context, app, method string, input map[string]any) (any, int, error) {
	return s.exec(ctx, method, input)
}

func MustStore(t testing.TB) (*bolt.DB, *bolt.Store) { return embedded.MustStore(t) }

func mustFlow(t *testing.T, s *bolt.Store, f flow.Flow) {
	t.Helper()
	f.Version, f.Enabled = 1, true
	if f.Name == "" {
		f.Name = "test"
	}
	if err := s.CreateFlow(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func TestHandleSampleEvent(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_01jd0000000000000000000001", GroupID: "grp_dev", Steps: []flow.Step{
		{ID: "greet", App: "http", Method: "request", Input: map[string]any{"url": "https://crm.example/{{ trigger.query.source }}", "body": map[string]any{"hello": "{{ trigger.body.firstName }}"}}},
	}})
	var got []map[string]any
	w := &worker.Worker{Store: store, Steps: steps{exec: func(_ context.Context, _ string, in map[string]any) (any, int, error) {
		got = append(got, in)
		return map[string]any{"status": 200}, 1, nil
	}}}
	data, err := os.ReadFile("../../events/worker-sqs.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := w.Handle(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[1].MessageId {
		t.Fatalf("failures = %+v, want only the record that is not a job (%s)", resp.BatchItemFailures, ev.Records[1].MessageId)
	}
	r, err := store.GetRun(t.Context(), "grp_dev", "run_01jd0000000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Succeeded || len(r.Steps) != 1 || r.APIKeyID != "key_01jd0000000000000000000001" {
		t.Fatalf("run = %+v", r)
	}
	if len(got) != 1 || got[0]["url"] != "https://crm.example/crm" || got[0]["body"].(map[string]any)["hello"] != "Ada" {
		t.Fatalf("rendered input = %v", got)
	}
}

func job(id string) run.Job {
	return run.Job{RunID: id, GroupID: "grp_a", FlowID: "flw_1", Mode: run.ModeWebhook, ReceivedAt: time.Now().UTC(),
		Request: run.Request{Headers: map[string]string{}, Query: map[string]string{}, Body: json.RawMessage(`{"n":1}`)}}
}

func TestRedeliveryNeverRepeatsASucceededStep(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "one", App: "test", Method: "ok", Input: map[string]any{}},
		{ID: "two", App: "test", Method: "flaky", Input: map[string]any{"from": "{{ steps.one.output.v }}"}},
	}})
	calls := map[string]int{}
	var mu sync.Mutex
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: steps{exec: func(_ context.Context, method string, in map[string]any) (any, int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[method]++
		if method == "flaky" && calls[method] == 1 {
			return nil, 3, errors.New("HTTP 503 from GET https://x: busy")
		}
		if method == "flaky" && in["from"] != float64(7) {
			return nil, 1, errors.New("lost the first step's output")
		}
		return map[string]any{"v": 7}, 1, nil
	}}}
	ctx := t.Context()
	if err := w.Execute(ctx, job("run_1"), 1); err == nil {
		t.Fatal("first delivery: want an error so the job is redelivered")
	}
	r, _ := store.GetRun(ctx, "grp_a", "run_1")
	if r.Status != run.Queued || !strings.Contains(r.Error, "will retry") {
		t.Fatalf("after a failed delivery run = %s %q, want queued for retry", r.Status, r.Error)
	}
	if err := w.Execute(ctx, job("run_1"), 2); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	// A third delivery of the same message (at-least-once) changes nothing.
	if err := w.Execute(ctx, job("run_1"), 3); err != nil {
		t.Fatalf("third delivery: %v", err)
	}
	if calls["ok"] != 1 || calls["flaky"] != 2 {
		t.Fatalf("calls = %v, want step one once and step two twice", calls)
	}
	r, _ = store.GetRun(ctx, "grp_a", "run_1")
	if r.Status != run.Succeeded || r.Error != "" || r.Steps[1].Attempts != 4 || r.Deliveries != 2 {
		t.Fatalf("run = %+v, want succeeded, step two with 3+1 attempts, 2 deliveries", r)
	}
	p, _ := store.ListRuns(ctx, run.Query{GroupID: "grp_a"})
	if len(p.Runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(p.Runs))
	}
}

func TestConditionSkipsStep(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "big", App: "test", Method: "x", If: "trigger.body.n > 5", Input: map[string]any{}},
		{ID: "small", App: "test", Method: "y", If: "trigger.body.n <= 5", Input: map[string]any{}},
	}})
	w := &worker.Worker{Store: store, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) { return "done", 1, nil }}}
	if err := w.Execute(t.Context(), job("run_2"), 1); err != nil {
		t.Fatal(err)
	}
	r, _ := store.GetRun(t.Context(), "grp_a", "run_2")
	if r.Steps[0].Status != run.StepSkipped || r.Steps[1].Status != run.StepSucceeded {
		t.Fatalf("steps = %+v, want big skipped and small succeeded", r.Steps)
	}
}

func TestDeletedFlowFailsTheRunForGood(t *testing.T) {
	_, store := MustStore(t)
	w := &worker.Worker{Store: store, Steps: steps{}}
	if err := w.Execute(t.Context(), job("run_3"), 1); err != nil {
		t.Fatalf("a job of a deleted flow must not be retried: %v", err)
	}
	r, _ := store.GetRun(t.Context(), "grp_a", "run_3")
	if r.Status != run.Failed || !strings.Contains(r.Error, "no longer exists") {
		t.Fatalf("run = %s %q", r.Status, r.Error)
	}
}

// TestPoisonMessageEndsInDeadLetterQueue drives the real embedded queue and
// pump: a step that always fails permanently is delivered MaxReceives
// times, then its message is dead-lettered and the Run is failed with the
// step's error.
func TestPoisonMessageEndsInDeadLetterQueue(t *testing.T) {
	db, store := MustStore(t)
	const maxReceives = 3
	q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: maxReceives})
	if err != nil {
		t.Fatal(err)
	}
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{{ID: "post", App: "test", Method: "broken", Input: map[string]any{}}}})
	var execs atomic.Int32
	w := &worker.Worker{Store: store, MaxReceives: maxReceives, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) {
		execs.Add(1)
		return nil, 1, errors.New("HTTP 400 from POST https://crm.example/contacts: invalid email")
	}}}
	body, _ := json.Marshal(job("run_poison"))
	if _, err := q.Send(t.Context(), body, map[string]string{"runId": "run_poison"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	pump := &queue.Pump{Queue: q, Handler: w.Handle, Wait: 100 * time.Millisecond, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }}
	done := make(chan struct{})
	go func() { _ = pump.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(20 * time.Second)
	var dead []queue.DeadLetter
	for time.Now().Before(deadline) {
		if dead, err = q.DeadLetters(t.Context(), 10); err != nil {
			t.Fatal(err)
		}
		if len(dead) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dead) != 1 || dead[0].Attributes["runId"] != "run_poison" || dead[0].Reason == "" || dead[0].ReceiveCount != maxReceives {
		t.Fatalf("dead letters = %+v, want the poison message after %d receives with a reason", dead, maxReceives)
	}
	if n := execs.Load(); n != maxReceives {
		t.Fatalf("step executed %d times, want %d", n, maxReceives)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_poison")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Failed || !strings.Contains(r.Error, "HTTP 400") || r.Deliveries != maxReceives || r.Steps[0].Attempts != maxReceives {
		t.Fatalf("run = %s %q deliveries %d attempts %d, want failed with the step's error after %d deliveries", r.Status, r.Error, r.Deliveries, r.Steps[0].Attempts, maxReceives)
	}
}

func TestLargeOutputIsRecordedTruncated(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "big", App: "test", Method: "big", Input: map[string]any{}},
		{ID: "use", App: "test", Method: "use", Input: map[string]any{"n": "{{ len(steps.big.output.data) }}"}},
	}})
	var seen any
	w := &worker.Worker{Store: store, Steps: steps{exec: func(_ context.Context, method string, in map[string]any) (any, int, error) {
		if method == "big" {
			return map[string]any{"data": strings.Repeat("x", worker.MaxRecorded+10)}, 1, nil
		}
		seen = in["n"]
		return "ok", 1, nil
	}}}
	if err := w.Execute(t.Context(), job("run_big"), 1); err != nil {
		t.Fatal(err)
	}
	if seen != worker.MaxRecorded+10 {
		t.Fatalf("the next step saw len %v, want the whole output (%d)", seen, worker.MaxRecorded+10)
	}
	r, _ := store.GetRun(t.Context(), "grp_a", "run_big")
	out, _ := r.Steps[0].Output.(map[string]any)
	if out["truncated"] != true || len(out["preview"].(string)) != 1024 {
		t.Fatalf("recorded output = %.200v, want a truncated preview", r.Steps[0].Output)
	}
}

func TestBrokenConnectionFailsTheRunAtOnce(t *testing.T) {
	_, store := MustStore(t)
	now := time.Now().UTC()
	if err := store.CreateConnection(t.Context(), connection.Connection{ID: "con_1", GroupID: "grp_a", Name: "CRM", App: "http", AuthType: "api_key",
		Status: connection.StatusBroken, StatusReason: "the API key was revoked", CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
		t.Fatal(err)
	}
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "call", App: "http", Method: "request", ConnectionID: "con_1", Input: map[string]any{"url": "https://crm.example"}},
	}})
	var calls int
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) {
		calls++
		return "ok", 1, nil
	}}}
	if err := w.Execute(t.Context(), job("run_c"), 1); err != nil {
		t.Fatalf("first delivery: %v, want the Run failed for good (no redelivery)", err)
	}
	r, _ := store.GetRun(t.Context(), "grp_a", "run_c")
	if r.Status != run.Failed || !strings.Contains(r.Error, `"CRM"`) || !strings.Contains(r.Error, "reconnect") || calls != 0 {
		t.Fatalf("run = %s %q after %d step calls, want failed naming the Connection and saying to reconnect, no call", r.Status, r.Error, calls)
	}
}

func TestOversizedRunIsRecordedWithinTheLimit(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "a", App: "test", Method: "big", Input: map[string]any{"n": "{{ len(trigger.body) }}"}},
		{ID: "b", App: "test", Method: "big", Input: map[string]any{}},
	}})
	var seen any
	w := &worker.Worker{Store: store, Steps: steps{exec: func(_ context.Context, _ string, in map[string]any) (any, int, error) {
		if in["n"] != nil {
			seen = in["n"]
		}
		return strings.Repeat("o", 60<<10), 1, nil
	}}}
	j := job("run_huge")
	body := strings.Repeat("é", 175<<10) // 350 KiB of UTF-8 text
	j.Request.Body, j.Body = nil, []byte(body)
	if err := w.Execute(t.Context(), j, 1); err != nil {
		t.Fatal(err)
	}
	if seen != 175<<10 {
		t.Fatalf("the step saw a body of %v characters, want the whole %d", seen, 175<<10)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_huge")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(r)
	if r.Status != run.Succeeded || len(data) > worker.MaxRunBytes || !r.Request.BodyTruncated {
		t.Fatalf("recorded run: status %s, %d bytes (limit %d), bodyTruncated %v", r.Status, len(data), worker.MaxRunBytes, r.Request.BodyTruncated)
	}
}

func TestStepDurationIsRecorded(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "slow", App: "test", Method: "slow", Input: map[string]any{}},
	}})
	var mu sync.Mutex
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	w := &worker.Worker{Store: store, Now: now, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) {
		mu.Lock()
		clock = clock.Add(1500 * time.Millisecond) // the step takes 1.5 s
		mu.Unlock()
		return "done", 1, nil
	}}}
	if err := w.Execute(t.Context(), job("run_1"), 1); err != nil {
		t.Fatal(err)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Steps[0].DurationMs, int64(1500); got != want {
		t.Errorf("step durationMs = %d, want %d", got, want)
	}
}

func TestStepRequestsCarryAStableIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	calls := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the step is retried
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(target.Close)
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "a", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/a"}},
		{ID: "b", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/b"}},
	}})
	kinds := step.Registry{"http": {"request": &step.HTTP{Engine: egress.Engine{Guard: guard, BaseDelay: time.Millisecond}}}}
	w := &worker.Worker{Store: store, Steps: kinds}
	if err := w.Execute(t.Context(), job("run_1"), 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 3 {
		t.Fatalf("target got %d requests, want 3 (step a twice, step b once)", len(keys))
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("step a's two attempts sent Idempotency-Key %q and %q, want the same non-empty key", keys[0], keys[1])
	}
	if keys[2] == "" || keys[2] == keys[0] {
		t.Errorf("step b sent Idempotency-Key %q, want its own key (step a: %q)", keys[2], keys[0])
	}
	if want := step.IdempotencyKey("run_1", "a"); keys[0] != want {
		t.Errorf("step a key = %q, want %q (derived from run and step ids)", keys[0], want)
	}
}

func TestAJobThatPanicsFailsOnlyItsRecord(t *testing.T) {
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "boom", App: "test", Method: "boom", Input: map[string]any{}},
	}})
	w := &worker.Worker{Store: store, Steps: steps{exec: func(context.Context, string, map[string]any) (any, int, error) {
		panic("a step kind went wrong")
	}}}
	body, err := json.Marshal(job("run_1"))
	if err != nil {
		t.Fatal(err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}}
	resp, err := w.Handle(t.Context(), ev) // must not take the process down
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("failures = %+v, want m1 reported failed so it is redelivered and dead-lettered", resp.BatchItemFailures)
	}
}

// TestAPermanentStepFailureEndsTheRunAtOnce: a 4xx answer cannot be helped
// by redelivery, so the Run fails on its first delivery, the message is done
// with (nil), and the target is not called again.
func TestAPermanentStepFailureEndsTheRunAtOnce(t *testing.T) {
	var calls atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":"no such contact"}`, http.StatusNotFound)
	}))
	t.Cleanup(target.Close)
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "get", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/contacts/9"}}}})
	w := &worker.Worker{Store: store, MaxReceives: 5, Steps: step.Registry{"http": {"request": &step.HTTP{Engine: egress.Engine{Guard: guard}}}}}
	if err := w.Execute(t.Context(), job("run_1"), 1); err != nil {
		t.Fatalf("Execute = %v, want nil: a 404 is the Run's outcome, not a reason to redeliver", err)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Failed || !strings.Contains(r.Error, "HTTP 404") || r.Deliveries != 1 {
		t.Errorf("run = %s %q after %d deliveries, want failed with HTTP 404 after 1", r.Status, r.Error, r.Deliveries)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("target called %d times, want 1", n)
	}
}

// TestARateLimitedStepWaitsAsAskedAndRecordsEachTry: an app that answers
// 429 with Retry-After: 1 twice and then 200 is tried three times within
// the delivery, a second apart, and the Run records the three attempts.
func TestARateLimitedStepWaitsAsAskedAndRecordsEachTry(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		if n <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"rate_limited"}`, http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(target.Close)
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, store := MustStore(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "call", App: "http", Method: "request", Input: map[string]any{"url": target.URL + "/items"}}}})
	w := &worker.Worker{Store: store, Steps: step.Registry{"http": {"request": &step.HTTP{Engine: egress.Engine{Guard: guard}}}}}
	if err := w.Execute(t.Context(), job("run_1"), 1); err != nil {
		t.Fatal(err)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Succeeded || r.Steps[0].Attempts != 3 {
		t.Fatalf("run = %s, step attempts %d; want succeeded after 3 attempts", r.Status, r.Steps[0].Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 900*time.Millisecond {
			t.Errorf("try %d came %v after the one before, want about 1 s (Retry-After: 1)", i+1, gap)
		}
	}
}
