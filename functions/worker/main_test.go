package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"wiresk/internal/testkit/lambdatest"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/template"
)

// sample is events/worker-sqs.json: a batch of a webhook job for Flow
// flw_01jd0000000000000000000001 of grp_dev, and a message that is not a
// job.
func sample(t *testing.T) events.SQSEvent {
	t.Helper()
	ev := lambdatest.Event[events.SQSEvent](t, "worker-sqs.json")
	if len(ev.Records) != 2 {
		t.Fatalf("records in the sample: got %d, want 2", len(ev.Records))
	}
	return ev
}

// target is an HTTP step target that records the bodies it gets.
type target struct {
	mu     sync.Mutex
	bodies []string
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	tg.mu.Lock()
	tg.bodies = append(tg.bodies, string(b))
	tg.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// newStore returns an embedded store holding the sample job's Flow, whose
// one HTTP step posts the lead's email to url.
func newStore(t *testing.T, job run.Job, url string) *bolt.Store {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.CreateGroup(ctx, group.Group{ID: job.GroupID, Name: "Development", CreatedAt: now},
		group.Member{GroupID: job.GroupID, UserID: "dev", Role: group.RoleOwner, AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	f := flow.Flow{ID: job.FlowID, GroupID: job.GroupID, Name: "New lead", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
		Steps: []flow.Step{{ID: "notify", App: "http", Method: "request",
			Input: map[string]any{"method": "POST", "url": url, "body": map[string]any{"email": "{{ trigger.body.email }}"}}}}}
	if err := store.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	return store
}

func decodeJob(t *testing.T, rec events.SQSMessage) run.Job {
	t.Helper()
	var job run.Job
	if err := json.Unmarshal([]byte(rec.Body), &job); err != nil {
		t.Fatal(err)
	}
	return job
}

// visibility is a fake queue.VisibilityChanger.
type visibility func(ctx context.Context, handle string, d time.Duration) error

func (v visibility) ChangeVisibility(ctx context.Context, handle string, d time.Duration) error {
	return v(ctx, handle, d)
}

// Send is not used by the worker.
func (visibility) Send(context.Context, []byte, map[string]string) (string, error) {
	return "", errors.New("the worker sends no job")
}

func TestSampleBatch(t *testing.T) {
	ev := sample(t)
	job := decodeJob(t, ev.Records[0])
	tg := &target{}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	store := newStore(t, job, srv.URL+"/contacts")
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_QUEUE_URL": "http://sqs.local/q", "WIRESK_SECRET_PREFIX": "wiresk/test", "WIRESK_MAX_RECEIVES": "5", "WIRESK_HTTP_ALLOW_CIDRS": "127.0.0.0/8"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	delays := map[string]time.Duration{}
	h := newHandler(cfg, deps{Store: store, Queue: visibility(func(_ context.Context, handle string, d time.Duration) error {
		delays[handle] = d
		return nil
	})})

	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// The second record is not a job: only it is reported, so that only it
	// is redelivered (and, after WIRESK_MAX_RECEIVES, dead-lettered).
	if got, want := len(resp.BatchItemFailures), 1; got != want {
		t.Fatalf("batch item failures: got %+v, want %d", resp.BatchItemFailures, want)
	}
	if got, want := resp.BatchItemFailures[0].ItemIdentifier, ev.Records[1].MessageId; got != want {
		t.Errorf("failed item: got %s, want %s", got, want)
	}
	// It comes back after a short backoff, not the whole visibility timeout.
	if got, want := delays, map[string]time.Duration{ev.Records[1].ReceiptHandle: queue.DefaultRetryDelay(2)}; len(got) != 1 || got[ev.Records[1].ReceiptHandle] != want[ev.Records[1].ReceiptHandle] {
		t.Errorf("visibility changes: got %v, want %v", got, want)
	}
	r, err := store.GetRun(context.Background(), job.GroupID, job.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Status, run.Succeeded; got != want {
		t.Errorf("run status: got %s, want %s (%+v)", got, want, r)
	}
	if got, want := strings.Join(tg.bodies, "|"), `{"email":"ada@example.com"}`; got != want {
		t.Errorf("target got %s, want %s", got, want)
	}

	// A redelivery of the same batch creates no second Run and repeats no
	// step.
	if _, err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got, want := len(tg.bodies), 1; got != want {
		t.Errorf("target calls after a redelivery: got %d, want %d", got, want)
	}
}

func TestNoPrivateDestinationsByDefault(t *testing.T) {
	ev := sample(t)
	ev.Records = ev.Records[:1]
	job := decodeJob(t, ev.Records[0])
	tg := &target{}
	srv := httptest.NewServer(tg)
	defer srv.Close()
	store := newStore(t, job, srv.URL+"/contacts")
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_QUEUE_URL": "http://sqs.local/q", "WIRESK_SECRET_PREFIX": "wiresk/test", "WIRESK_MAX_RECEIVES": "5"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newHandler(cfg, deps{Store: store, Queue: visibility(func(context.Context, string, time.Duration) error { return nil })})(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// A refused destination is the Run's outcome: redelivering cannot help.
	if got, want := len(resp.BatchItemFailures), 0; got != want {
		t.Errorf("batch item failures: got %d, want %d (the Run fails for good)", got, want)
	}
	r, err := store.GetRun(context.Background(), job.GroupID, job.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Failed || !strings.Contains(r.Error, "is not allowed") {
		t.Errorf("run = %s %q, want failed: the loopback target refused", r.Status, r.Error)
	}
	if got, want := len(tg.bodies), 0; got != want {
		t.Errorf("target calls: got %d, want %d", got, want)
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_QUEUE_URL": "http://sqs.local/q", "WIRESK_SECRET_PREFIX": "wiresk/test", "WIRESK_MAX_RECEIVES": "5"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := loadConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxReceives != 5 || cfg.RunRetention != 30*24*time.Hour || len(cfg.Guard.Allow) != 0 {
		t.Errorf("defaults: got receives %d, retention %s, allow %v; want 5, 720h, none", cfg.MaxReceives, cfg.RunRetention, cfg.Guard.Allow)
	}
	cfg, err = loadConfig(env("WIRESK_RUN_RETENTION_DAYS", "7", "WIRESK_HTTP_ALLOW_CIDRS", "10.1.0.0/16, 10.2.0.0/16"))
	if err != nil || cfg.RunRetention != 7*24*time.Hour || len(cfg.Guard.Allow) != 2 {
		t.Errorf("got %+v, %v; want 7 days and two allowed CIDRs", cfg, err)
	}
	if cfg.RenderBudget != template.DefaultProcessBudget {
		t.Errorf("default render budget = %d, want %d", cfg.RenderBudget, template.DefaultProcessBudget)
	}
	if cfg, err := loadConfig(env("WIRESK_RENDER_MEMORY_MB", "64")); err != nil || cfg.RenderBudget != 64<<20 {
		t.Errorf("got render budget %d, %v; want 64 MiB", cfg.RenderBudget, err)
	}
	if cfg, err := loadConfig(env("WIRESK_RUN_RETENTION_DAYS", "0")); err != nil || cfg.RunRetention != 0 {
		t.Errorf("got retention %s, %v; want 0 (keep Runs forever)", cfg.RunRetention, err)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no max receives", "WIRESK_MAX_RECEIVES", "", "WIRESK_MAX_RECEIVES is required"},
		{"zero max receives", "WIRESK_MAX_RECEIVES", "0", "WIRESK_MAX_RECEIVES"},
		{"bad CIDR", "WIRESK_HTTP_ALLOW_CIDRS", "10.1.0.0/33", "WIRESK_HTTP_ALLOW_CIDRS"},
		{"bad retention", "WIRESK_RUN_RETENTION_DAYS", "30d", "WIRESK_RUN_RETENTION_DAYS"},
		{"negative retention", "WIRESK_RUN_RETENTION_DAYS", "-1", "WIRESK_RUN_RETENTION_DAYS"},
		{"bad level", "WIRESK_LOG_LEVEL", "loud", "WIRESK_LOG_LEVEL"},
		{"bad render memory", "WIRESK_RENDER_MEMORY_MB", "lots", "WIRESK_RENDER_MEMORY_MB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(env(tt.key, tt.value))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error: got %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
