package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"wiresk/internal/bolt"
	"wiresk/internal/egress"
	"wiresk/internal/fileblob"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/worker"
)

// relay is a target that records the bodies it receives.
type relay struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newRelay(t *testing.T) *relay {
	rl := &relay{}
	rl.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rl.mu.Lock()
		rl.bodies = append(rl.bodies, b)
		rl.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rl.Close)
	return rl
}

func (rl *relay) received() [][]byte {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.bodies
}

// flakyBodies fails its first n Gets.
type flakyBodies struct {
	worker.Bodies
	n atomic.Int64
}

func (f *flakyBodies) Get(ctx context.Context, key string) ([]byte, error) {
	if f.n.Add(-1) >= 0 {
		return nil, errors.New("connection reset by peer")
	}
	return f.Bodies.Get(ctx, key)
}

// bodyRelayWorker is a worker whose Flow forwards the trigger's body to a
// real target through the real HTTP step, with the body length in a
// template too, and a body store on a data directory.
func bodyRelayWorker(t *testing.T) (*worker.Worker, *bolt.Store, *fileblob.Store, *relay) {
	_, store := MustStore(t)
	rl := newRelay(t)
	mustFlow(t, store, flow.Flow{ID: "flw_1", GroupID: "grp_a", Steps: []flow.Step{
		{ID: "forward", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": rl.URL + "/forward", "forwardTriggerBody": true}},
		{ID: "describe", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": rl.URL + "/describe",
			"body": map[string]any{"encoding": "{{ trigger.rawBodyEncoding }}", "length": "{{ len(trigger.rawBody) }}"}}},
	}})
	bodies, err := fileblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	reg := step.NewRegistry(&step.HTTP{Engine: egress.Engine{Client: egress.NewClient(guard), Guard: guard}})
	return &worker.Worker{Store: store, Steps: reg, Bodies: bodies, MaxReceives: 3}, store, bodies, rl
}

// refJob is a webhook Job whose body was stored by reference.
func refJob(t *testing.T, bodies *fileblob.Store, id string, body []byte) run.Job {
	j := job(id)
	j.Request.Body = nil
	j.Request.Headers["content-type"] = "application/octet-stream"
	ref := run.StoredBody(j.GroupID, j.RunID, body)
	if bodies != nil {
		if err := bodies.Put(t.Context(), ref.Key, body); err != nil {
			t.Fatal(err)
		}
	}
	j.Request.BodyRef = &ref
	// Through JSON, as the queue carries it.
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var out run.Job
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBodyByReferenceReachesTheStepByteForByte: a 5 MiB binary body stored
// by reference is forwarded whole, templates see all of it, and the Run
// records the reference (size, SHA-256), not the bytes.
func TestBodyByReferenceReachesTheStepByteForByte(t *testing.T) {
	w, store, bodies, rl := bodyRelayWorker(t)
	body := blobtest.Random(5, 5<<20)
	j := refJob(t, bodies, "run_big", body)
	if err := w.Execute(t.Context(), j, 1); err != nil {
		t.Fatal(err)
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_big")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
	got := rl.received()
	if len(got) != 2 || !bytes.Equal(got[0], body) {
		t.Fatalf("the target got %d calls, the first of %d bytes; want the %d bytes sent", len(got), len(got[0]), len(body))
	}
	var described struct{ Encoding, Length any }
	if err := json.Unmarshal(got[1], &described); err != nil {
		t.Fatal(err)
	}
	if described.Encoding != "base64" || described.Length != float64((len(body)+2)/3*4) {
		t.Errorf("templates saw %+v, want base64 of %d characters", described, (len(body)+2)/3*4)
	}
	ref := r.Request.BodyRef
	if ref == nil || ref.Size != int64(len(body)) || ref.SHA256 != j.Request.BodyRef.SHA256 || ref.Key != j.Request.BodyRef.Key {
		t.Fatalf("recorded bodyRef %+v, want %+v", ref, j.Request.BodyRef)
	}
	if len(r.Request.RawBody()) != 0 || r.Request.BodyTruncated {
		t.Errorf("the Run recorded %d body bytes (truncated %v); want the reference only", len(r.Request.RawBody()), r.Request.BodyTruncated)
	}
	if b, _ := json.Marshal(r); len(b) > 16<<10 {
		t.Errorf("the recorded Run is %d bytes", len(b))
	}
}

// TestMissingOrCorruptBodyFailsTheRunForGood: a body gone from the store,
// or not the one received, fails the Run at once with an error that says
// so; no step runs and the Job is not retried.
func TestMissingOrCorruptBodyFailsTheRunForGood(t *testing.T) {
	w, store, bodies, rl := bodyRelayWorker(t)
	body := blobtest.Random(6, 300<<10)
	missing := refJob(t, nil, "run_missing", body)
	corrupt := refJob(t, bodies, "run_corrupt", body)
	tampered := append(bytes.Clone(body[:len(body)-1]), body[len(body)-1]^1)
	if err := bodies.Put(t.Context(), corrupt.Request.BodyRef.Key, tampered); err != nil {
		t.Fatal(err)
	}
	short := refJob(t, bodies, "run_short", body)
	if err := bodies.Put(t.Context(), short.Request.BodyRef.Key, body[:1000]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		job  run.Job
		want string
	}{
		{missing, "is no longer in the body store"},
		{corrupt, "does not match its SHA-256"},
		{short, "has 1000 bytes, want 307200"},
	} {
		if err := w.Execute(t.Context(), c.job, 1); err != nil {
			t.Fatalf("%s: Execute = %v, want nil (retrying cannot help)", c.job.RunID, err)
		}
		r, err := store.GetRun(t.Context(), "grp_a", c.job.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != run.Failed || !strings.Contains(r.Error, c.want) || len(r.Steps) != 0 {
			t.Errorf("%s: run %s %q with %d steps; want failed saying %q, no step", c.job.RunID, r.Status, r.Error, len(r.Steps), c.want)
		}
	}
	if n := len(rl.received()); n != 0 {
		t.Errorf("the target got %d calls", n)
	}
}

// TestBodyStoreDownIsRetried: a failing read queues the Run again with the
// reason; the next delivery runs it.
func TestBodyStoreDownIsRetried(t *testing.T) {
	w, store, bodies, rl := bodyRelayWorker(t)
	flaky := &flakyBodies{Bodies: bodies}
	flaky.n.Store(1)
	w.Bodies = flaky
	body := blobtest.Random(7, 200<<10)
	j := refJob(t, bodies, "run_flaky", body)
	if err := w.Execute(t.Context(), j, 1); err == nil {
		t.Fatal("Execute with the body store down = nil, want an error (redelivery)")
	}
	r, err := store.GetRun(t.Context(), "grp_a", "run_flaky")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Queued || !strings.Contains(r.Error, "body store") || !strings.Contains(r.Error, "will retry") {
		t.Fatalf("after the first delivery: %s %q", r.Status, r.Error)
	}
	if err := w.Execute(t.Context(), j, 2); err != nil {
		t.Fatal(err)
	}
	if r, _ = store.GetRun(t.Context(), "grp_a", "run_flaky"); r.Status != run.Succeeded || r.Error != "" {
		t.Fatalf("after the second delivery: %s %q", r.Status, r.Error)
	}
	if got := rl.received(); len(got) != 2 || !bytes.Equal(got[0], body) {
		t.Fatalf("the target got %d calls", len(got))
	}
	// A worker with no body store fails such a Run on its last delivery.
	w.Bodies = nil
	j = refJob(t, bodies, "run_nostore", body)
	if err := w.Execute(t.Context(), j, 3); err == nil {
		t.Fatal("the last delivery without a body store returned nil")
	}
	if r, _ = store.GetRun(t.Context(), "grp_a", "run_nostore"); r.Status != run.Failed || !strings.Contains(r.Error, "no body store") {
		t.Fatalf("without a body store: %s %q", r.Status, r.Error)
	}
}
