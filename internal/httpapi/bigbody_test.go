package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/bolt"
	"wiresk/internal/fileblob"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/run"
	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// countedBodies is the real data-directory body store, counting Puts; fail
// makes every Put fail.
type countedBodies struct {
	*fileblob.Store
	puts atomic.Int64
	fail bool
}

func (c *countedBodies) Put(ctx context.Context, key string, body []byte) error {
	c.puts.Add(1)
	if c.fail {
		return errors.New("disk full")
	}
	return c.Store.Put(ctx, key, body)
}

// countedQueue is the real embedded queue, counting Sends.
type countedQueue struct {
	*bolt.Queue
	sends atomic.Int64
}

func (c *countedQueue) Send(ctx context.Context, body []byte, attrs map[string]string) (string, error) {
	c.sends.Add(1)
	return c.Queue.Send(ctx, body, attrs)
}

// bigBodyIngress is the webhook ingress with the default body limit, a
// real queue and a real body store, for one key and one route.
func bigBodyIngress(t *testing.T) (h *httpapi.Hooks, bodies *countedBodies, q *countedQueue, send func(body []byte, header ...string) *httptest.ResponseRecorder) {
	key, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := trigger.NewRoutingKey()
	if err != nil {
		t.Fatal(err)
	}
	k := &apikey.Key{ID: "key_1", GroupID: "grp_a", Hash: hash}
	route := &trigger.Route{RoutingKey: rk, GroupID: "grp_a", FlowID: "flw_1", TriggerID: "trg_1", APIKeyIDs: []string{"key_1"}, Enabled: true}
	store := lookup{fn: func(_ context.Context, h apikey.Hash, r string) (*apikey.Key, *trigger.Route, error) {
		if h != hash || r != rk {
			return nil, nil, nil
		}
		return k, route, nil
	}}
	db, _ := embedded.MustStore(t)
	q = &countedQueue{Queue: embedded.MustQueue(t, db, 3)}
	fs, err := fileblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bodies = &countedBodies{Store: fs}
	h = &httpapi.Hooks{Ingest: &ingest.Service{Store: store, Queue: q, Bodies: bodies}}
	send = func(body []byte, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/hooks/"+rk, bytes.NewReader(body))
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Content-Type", "application/octet-stream")
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "chunked" {
				// No Content-Length: the limit is found while reading.
				req.Body, req.ContentLength = io.NopCloser(io.MultiReader(bytes.NewReader(body))), -1
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	return h, bodies, q, send
}

// queuedJob receives the one Job on q.
func queuedJob(t *testing.T, q *countedQueue) (run.Job, int) {
	t.Helper()
	msgs, err := q.Receive(t.Context(), 10, time.Minute, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("queue: %d messages, %v; want one", len(msgs), err)
	}
	var j run.Job
	if err := json.Unmarshal(msgs[0].Body, &j); err != nil {
		t.Fatal(err)
	}
	return j, len(msgs[0].Body)
}

// TestFiveMiBBinaryBodyIsStoredByReference: 202 after one Put and one Send;
// the message is far under SQS's 256 KiB and names the body by key, size
// and SHA-256; the store holds the bytes exactly.
func TestFiveMiBBinaryBodyIsStoredByReference(t *testing.T) {
	_, bodies, q, send := bigBodyIngress(t)
	body := blobtest.Random(42, 5<<20)
	rec := send(body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("5 MiB webhook: %d %s", rec.Code, rec.Body)
	}
	if bodies.puts.Load() != 1 || q.sends.Load() != 1 {
		t.Fatalf("%d Puts and %d Sends, want one of each", bodies.puts.Load(), q.sends.Load())
	}
	var out struct{ RunID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	j, size := queuedJob(t, q)
	if size > 8<<10 {
		t.Errorf("the Job message is %d bytes", size)
	}
	ref := j.Request.BodyRef
	want := run.StoredBody("grp_a", out.RunID, body)
	if j.RunID != out.RunID || ref == nil || *ref != want || j.Body != nil {
		t.Fatalf("Job %s carries body %d bytes and ref %+v; want run %s, no bytes, ref %+v", j.RunID, len(j.Body), ref, out.RunID, want)
	}
	got, err := bodies.Get(t.Context(), ref.Key)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the stored body: %d bytes, %v", len(got), err)
	}
}

// TestSmallBodyStaysInline: no store call below run.InlineBodyMax, the
// body in the message as before.
func TestSmallBodyStaysInline(t *testing.T) {
	_, bodies, q, send := bigBodyIngress(t)
	body := blobtest.Random(1, run.InlineBodyMax)
	if rec := send(body); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if bodies.puts.Load() != 0 {
		t.Fatalf("a %d-byte body cost %d Puts", len(body), bodies.puts.Load())
	}
	j, size := queuedJob(t, q)
	if !bytes.Equal(j.Body, body) || j.Request.BodyRef != nil || size > run.MaxJobBytes {
		t.Fatalf("Job body %d bytes, ref %+v, message %d bytes", len(j.Body), j.Request.BodyRef, size)
	}
}

// TestLargeHeadersMoveTheBodyOut: a body under run.InlineBodyMax whose Job
// would still be over run.MaxJobBytes (large headers) goes by reference.
func TestLargeHeadersMoveTheBodyOut(t *testing.T) {
	_, bodies, q, send := bigBodyIngress(t)
	body := blobtest.Random(2, 150<<10)
	if rec := send(body, "X-Large", strings.Repeat("a", 60<<10)); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	j, size := queuedJob(t, q)
	if bodies.puts.Load() != 1 || j.Request.BodyRef == nil || j.Body != nil || size > run.MaxJobBytes {
		t.Fatalf("%d Puts, ref %+v, inline %d bytes, message %d bytes", bodies.puts.Load(), j.Request.BodyRef, len(j.Body), size)
	}
}

// TestBodyStoreDownAnswers503AndQueuesNothing: a failed Put is a 503
// unavailable, and no Job is sent.
func TestBodyStoreDownAnswers503AndQueuesNothing(t *testing.T) {
	_, bodies, q, send := bigBodyIngress(t)
	bodies.fail = true
	rec := send(blobtest.Random(3, 1<<20))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), wiresk.EUnavailable) {
		t.Fatalf("with the body store down: %d %s, want 503 unavailable", rec.Code, rec.Body)
	}
	if q.sends.Load() != 0 {
		t.Fatalf("%d Sends after a failed Put", q.sends.Load())
	}
	if st, err := q.Stats(t.Context()); err != nil || st.Visible != 0 {
		t.Fatalf("queue %+v, %v; want empty", st, err)
	}
}

// TestOverTheMaxIs413: past the default 6 MiB nothing is stored or queued,
// whether the length is announced or not.
func TestOverTheMaxIs413(t *testing.T) {
	_, bodies, q, send := bigBodyIngress(t)
	over := blobtest.Random(4, httpapi.DefaultMaxBody+1)
	for _, how := range [][]string{nil, {"chunked", "1"}} {
		if rec := send(over, how...); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), wiresk.ETooLarge) {
			t.Fatalf("6 MiB + 1 %v: %d %s, want 413 payload_too_large", how, rec.Code, rec.Body)
		}
	}
	if exact := send(blobtest.Random(5, httpapi.DefaultMaxBody)); exact.Code != http.StatusAccepted {
		t.Fatalf("exactly 6 MiB: %d %s, want 202", exact.Code, exact.Body)
	}
	if bodies.puts.Load() != 1 || q.sends.Load() != 1 {
		t.Fatalf("%d Puts and %d Sends; want only the 6 MiB body's", bodies.puts.Load(), q.sends.Load())
	}
}

// TestWithoutABodyStoreLargeBodiesAre413: an ingress with no body store
// refuses what a message cannot carry, and queues nothing.
func TestWithoutABodyStoreLargeBodiesAre413(t *testing.T) {
	h, _, q, send := bigBodyIngress(t)
	h.Ingest.(*ingest.Service).Bodies = nil
	if rec := send(blobtest.Random(6, run.InlineBodyMax+1)); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s, want 413", rec.Code, rec.Body)
	}
	if q.sends.Load() != 0 {
		t.Fatalf("%d Sends", q.sends.Load())
	}
}
