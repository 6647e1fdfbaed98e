package bolt_test

import (
	"maps"
	"runtime"
	"testing"
	"time"

	"wiresk/internal/bolt"
	"wiresk/internal/queue"
	"wiresk/internal/testkit/queuetest"
)

func TestQueueContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, maxReceives int) queuetest.Queue {
		db := openDataDir(t, t.TempDir())
		q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: maxReceives})
		if err != nil {
			t.Fatalf("NewQueue: %v", err)
		}
		return q
	})
}

func TestQueueSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	q, err := bolt.NewQueue(db, bolt.QueueOptions{})
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	sent := map[string]map[string]string{
		"in flight": {"n": "1"},
		"visible":   {"n": "2"},
	}
	ids := map[string]string{}
	for _, body := range []string{"in flight", "visible"} {
		id, err := q.Send(ctx, []byte(body), sent[body])
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ids[body] = id
	}
	msgs, err := q.Receive(ctx, 1, time.Second, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got, want := len(msgs), 1; got != want {
		t.Fatalf("Receive returned %d messages, want %d", got, want)
	}
	if got, want := string(msgs[0].Body), "in flight"; got != want {
		t.Fatalf("first received Body = %q, want %q (oldest first)", got, want)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openDataDir(t, dir)
	q, err = bolt.NewQueue(db, bolt.QueueOptions{})
	if err != nil {
		t.Fatalf("NewQueue after reopen: %v", err)
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got, want := s.Visible+s.InFlight, 2; got != want {
		t.Errorf("Stats after reopen = %+v, want %d messages visible or in flight", s, want)
	}
	got := map[string]queue.Message{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, time.Minute, 2*time.Second)
		if err != nil {
			t.Fatalf("Receive after reopen: %v", err)
		}
		for _, m := range msgs {
			got[string(m.Body)] = m
		}
	}
	wantCount := map[string]int{"in flight": 2, "visible": 1}
	for body, attrs := range sent {
		m, ok := got[body]
		if !ok {
			t.Errorf("message %q not received after reopen", body)
			continue
		}
		if m.ID != ids[body] {
			t.Errorf("message %q: ID = %q, want %q", body, m.ID, ids[body])
		}
		if !maps.Equal(m.Attributes, attrs) {
			t.Errorf("message %q: Attributes = %v, want %v", body, m.Attributes, attrs)
		}
		if m.ReceiveCount != wantCount[body] {
			t.Errorf("message %q: ReceiveCount = %d, want %d", body, m.ReceiveCount, wantCount[body])
		}
	}
}

// BenchmarkQueueSendParallel measures group commit: about 64 goroutines send
// 1 KiB messages to a queue that fsyncs every commit.
func BenchmarkQueueSendParallel(b *testing.B) {
	db, err := bolt.Open(b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { db.Close() })
	q, err := bolt.NewQueue(db, bolt.QueueOptions{})
	if err != nil {
		b.Fatalf("NewQueue: %v", err)
	}
	body := make([]byte, 1024)
	attrs := map[string]string{"flow": "flw_bench"}
	b.SetParallelism(max(1, (64+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Send(b.Context(), body, attrs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

// openDataDir opens the data directory dir and closes it at the end of the test.
func openDataDir(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}
