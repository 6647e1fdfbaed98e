// Package queuetest is the contract test suite of the queue port. Every queue
// adapter (the embedded bolt queue, Amazon SQS) runs it unchanged, so it tests
// only what the port promises, through its methods, and tolerates the timing
// of a real network: waits are generous and no assertion depends on exact
// timing. Visibility timeouts are whole seconds, as SQS requires.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"wiresk/internal/queue"
	"wiresk/internal/wiresk"
)

// Queue is the queue port as the suite tests it.
type Queue interface {
	// Send enqueues a message with body and string attributes and returns
	// its id once the message is durably stored.
	Send(ctx context.Context, body []byte, attrs map[string]string) (id string, err error)
	// Receive returns up to limit visible messages and hides them for
	// visibility; each has its ReceiveCount incremented and a fresh
	// ReceiptHandle. If none is visible it waits up to wait for one, and
	// returns no messages and a nil error if none came, or ctx.Err() if ctx
	// is done first. A message already received the queue's maximum number
	// of times goes to the dead letters instead of being returned.
	Receive(ctx context.Context, limit int, visibility, wait time.Duration) ([]queue.Message, error)
	// Delete removes the message received with receiptHandle for good. A
	// stale handle (from a receive before the latest) never deletes the
	// message: it is an error wrapping wiresk.ErrNotFound, or, as with
	// Amazon SQS, a success with no effect.
	Delete(ctx context.Context, receiptHandle string) error
	// ChangeVisibility makes the message received with receiptHandle
	// visible d from now (at once if d is 0). A stale handle is an error
	// wrapping wiresk.ErrNotFound.
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
	// DeadLetters returns up to limit dead letters without removing them.
	DeadLetters(ctx context.Context, limit int) ([]queue.DeadLetter, error)
	// Redrive sends the dead letters ids, among the first limit it looks
	// at, back to the queue as new messages with the same body and
	// attributes, and removes them from the dead letters; the ids it does
	// not find are reported in NotFound, not as an error.
	Redrive(ctx context.Context, ids []string, limit int) (queue.Redriven, error)
	// Stats counts the messages visible, in flight and dead; counts may lag
	// a little behind for remote queues.
	Stats(ctx context.Context) (queue.Stats, error)
}

// Timing of the suite: generous for real networks, short enough for a fast
// run.
const (
	// long is a visibility timeout no subtest outlives.
	long = 60 * time.Second
	// short is a visibility timeout a subtest waits out.
	short = 1 * time.Second
	// patience bounds every wait for something that must happen.
	patience = 15 * time.Second
	// poll is the long-poll wait of the receives that wait for a message.
	poll = 2 * time.Second
)

// Run runs the contract suite. newQueue must return a new, empty queue whose
// messages go to the dead letters after maxReceives receives, and arrange its
// cleanup with t.Cleanup. The subtests run in parallel, each on its own queue.
func Run(t *testing.T, newQueue func(t *testing.T, maxReceives int) Queue) {
	t.Run("SendReceiveRoundTrip", func(t *testing.T) {
		t.Parallel()
		testRoundTrip(t, newQueue(t, 5))
	})
	t.Run("ReceiveCountIncrementsOnRedelivery", func(t *testing.T) {
		t.Parallel()
		testReceiveCount(t, newQueue(t, 5))
	})
	t.Run("InvisibleDuringVisibilityTimeout", func(t *testing.T) {
		t.Parallel()
		testVisibilityTimeout(t, newQueue(t, 5))
	})
	t.Run("DeleteRemovesForGood", func(t *testing.T) {
		t.Parallel()
		testDelete(t, newQueue(t, 5))
	})
	t.Run("ChangeVisibilityZeroRedelivers", func(t *testing.T) {
		t.Parallel()
		testChangeVisibilityZero(t, newQueue(t, 5))
	})
	t.Run("StaleReceiptHandleDoesNotDelete", func(t *testing.T) {
		t.Parallel()
		testStaleHandle(t, newQueue(t, 5))
	})
	t.Run("DeadLetterAfterMaxReceives", func(t *testing.T) {
		t.Parallel()
		testDeadLetter(t, newQueue(t, 2))
	})
	t.Run("RedriveMovesChosenDeadLettersBack", func(t *testing.T) {
		t.Parallel()
		testRedrive(t, newQueue(t, 1))
	})
	t.Run("LongPollWakesOnSend", func(t *testing.T) {
		t.Parallel()
		testLongPoll(t, newQueue(t, 5))
	})
	t.Run("ConcurrentSendsReceivedOnce", func(t *testing.T) {
		t.Parallel()
		testConcurrentSends(t, newQueue(t, 5))
	})
	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		testStats(t, newQueue(t, 1))
	})
}

func testRoundTrip(t *testing.T, q Queue) {
	ctx := t.Context()
	body := []byte(`{"event":"order.created","note":"héllo ✓"}`)
	attrs := map[string]string{"flow": "flw_123", "content-type": "application/json"}
	before := time.Now()
	id, err := q.Send(ctx, body, attrs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id == "" {
		t.Fatal("Send returned an empty id")
	}
	m := receiveOne(t, q, long)
	if got, want := m.ID, id; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := string(m.Body), string(body); got != want {
		t.Errorf("Body = %q, want %q", got, want)
	}
	if got, want := m.Attributes, attrs; !maps.Equal(got, want) {
		t.Errorf("Attributes = %v, want %v", got, want)
	}
	if got, want := m.ReceiveCount, 1; got != want {
		t.Errorf("ReceiveCount = %d, want %d", got, want)
	}
	if m.ReceiptHandle == "" {
		t.Error("ReceiptHandle is empty")
	}
	// Clocks of a remote queue may be a little off.
	if m.SentAt.Before(before.Add(-time.Minute)) || m.SentAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("SentAt = %v, want about %v", m.SentAt, before)
	}

	// Without attributes.
	id2, err := q.Send(ctx, []byte("plain"), nil)
	if err != nil {
		t.Fatalf("Send without attributes: %v", err)
	}
	m2 := receiveOne(t, q, long)
	if got, want := m2.ID, id2; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := len(m2.Attributes), 0; got != want {
		t.Errorf("len(Attributes) = %d, want %d", got, want)
	}
}

func testReceiveCount(t *testing.T, q Queue) {
	ctx := t.Context()
	id := send(t, q, "count")
	handles := map[string]bool{}
	for want := 1; want <= 3; want++ {
		m := receiveOne(t, q, long)
		if got := m.ID; got != id {
			t.Fatalf("ID = %q, want %q", got, id)
		}
		if got := m.ReceiveCount; got != want {
			t.Errorf("receive %d: ReceiveCount = %d, want %d", want, got, want)
		}
		if handles[m.ReceiptHandle] {
			t.Errorf("receive %d: ReceiptHandle %q was given before", want, m.ReceiptHandle)
		}
		handles[m.ReceiptHandle] = true
		if err := q.ChangeVisibility(ctx, m.ReceiptHandle, 0); err != nil {
			t.Fatalf("ChangeVisibility(0): %v", err)
		}
	}
}

func testVisibilityTimeout(t *testing.T, q Queue) {
	ctx := t.Context()
	id := send(t, q, "hidden")
	vis := 3 * time.Second
	received := time.Now()
	first := receiveOne(t, q, vis)
	msgs, err := q.Receive(ctx, 10, long, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	// Only meaningful if the visibility timeout has not expired already.
	if time.Since(received) < vis {
		for _, m := range msgs {
			if m.ID == id {
				t.Errorf("message received again during its visibility timeout")
			}
		}
	}
	again := receiveOne(t, q, long)
	if got, want := again.ID, first.ID; got != want {
		t.Errorf("redelivered ID = %q, want %q", got, want)
	}
	if got, want := again.ReceiveCount, 2; got != want {
		t.Errorf("redelivered ReceiveCount = %d, want %d", got, want)
	}
	if time.Since(received) < vis-500*time.Millisecond {
		// Generous slack for clock granularity; only catches a message
		// redelivered far too early.
		t.Errorf("message redelivered after %v, before its visibility timeout of %v", time.Since(received), vis)
	}
}

func testDelete(t *testing.T, q Queue) {
	ctx := t.Context()
	send(t, q, "delete me")
	m := receiveOne(t, q, short)
	if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Wait past the visibility timeout: the message must not come back.
	msgs, err := q.Receive(ctx, 10, long, short+2*time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got, want := len(msgs), 0; got != want {
		t.Fatalf("Receive after Delete returned %d messages, want %d", got, want)
	}
	eventuallyStats(t, q, queue.Stats{})
}

func testChangeVisibilityZero(t *testing.T, q Queue) {
	ctx := t.Context()
	id := send(t, q, "again")
	m := receiveOne(t, q, long)
	if err := q.ChangeVisibility(ctx, m.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility(0): %v", err)
	}
	// With a visibility of a minute, only ChangeVisibility can bring it back
	// within the patience of receiveOne.
	again := receiveOne(t, q, long)
	if got, want := again.ID, id; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := again.ReceiveCount, 2; got != want {
		t.Errorf("ReceiveCount = %d, want %d", got, want)
	}
	// ChangeVisibility with a positive duration hides it again.
	if err := q.ChangeVisibility(ctx, again.ReceiptHandle, long); err != nil {
		t.Fatalf("ChangeVisibility(%v): %v", long, err)
	}
	msgs, err := q.Receive(ctx, 10, long, time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got, want := len(msgs), 0; got != want {
		t.Errorf("Receive after ChangeVisibility(%v) returned %d messages, want %d", long, got, want)
	}
}

func testStaleHandle(t *testing.T, q Queue) {
	ctx := t.Context()
	id := send(t, q, "stale")
	first := receiveOne(t, q, long)
	if err := q.ChangeVisibility(ctx, first.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility(0): %v", err)
	}
	second := receiveOne(t, q, long)
	// Amazon SQS answers a DeleteMessage with a stale handle with success
	// and does not delete the message; other queues refuse the handle.
	err := q.Delete(ctx, first.ReceiptHandle)
	if got, want := err, wiresk.ErrNotFound; got != nil && !errors.Is(got, want) {
		t.Errorf("Delete(stale handle) = %v, want nil or an error wrapping %v", got, want)
	}
	// Either way the message is still there: the current handle brings it
	// back at once.
	if err := q.ChangeVisibility(ctx, second.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility(current handle, 0) after Delete(stale handle): %v", err)
	}
	third := receiveOne(t, q, long)
	if got, want := third.ID, id; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	// The current handle still works, once.
	if err := q.Delete(ctx, third.ReceiptHandle); err != nil {
		t.Fatalf("Delete(current handle): %v", err)
	}
	eventuallyStats(t, q, queue.Stats{})
}

func testDeadLetter(t *testing.T, q Queue) {
	ctx := t.Context()
	const maxReceives = 2
	body := "poison"
	attrs := map[string]string{"kind": "poison"}
	id, err := q.Send(ctx, []byte(body), attrs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i := 1; i <= maxReceives; i++ {
		m := receiveOne(t, q, short)
		if got, want := m.ReceiveCount, i; got != want {
			t.Fatalf("ReceiveCount = %d, want %d", got, want)
		}
	}
	// Once visible again it must go to the dead letters, never be returned.
	deadline := time.Now().Add(patience)
	var dead []queue.DeadLetter
	for len(dead) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter within %v after %d receives", patience, maxReceives)
		}
		msgs, err := q.Receive(ctx, 10, long, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(msgs) > 0 {
			t.Fatalf("message received %d times with maxReceives %d, want it dead-lettered", msgs[0].ReceiveCount, maxReceives)
		}
		if dead, err = q.DeadLetters(ctx, 10); err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
	}
	if got, want := len(dead), 1; got != want {
		t.Fatalf("len(DeadLetters) = %d, want %d", got, want)
	}
	d := dead[0]
	if got, want := d.ID, id; got != want {
		t.Errorf("dead letter ID = %q, want %q", got, want)
	}
	if got, want := string(d.Body), body; got != want {
		t.Errorf("dead letter Body = %q, want %q", got, want)
	}
	if got, want := d.Attributes, attrs; !maps.Equal(got, want) {
		t.Errorf("dead letter Attributes = %v, want %v", got, want)
	}
	if d.Reason == "" {
		t.Error("dead letter Reason is empty")
	}
	if d.DeadAt.IsZero() {
		t.Error("dead letter DeadAt is zero")
	}
}

// testRedrive runs on a queue with maxReceives 1.
func testRedrive(t *testing.T, q Queue) {
	ctx := t.Context()
	bodies := map[string]string{
		"a": `{"runId":"run_a","note":"héllo ✓ <&>"}`,
		"b": `{"runId":"run_b"}`,
	}
	attrs := map[string]map[string]string{
		"a": {"runId": "run_a", "groupId": "grp_1"},
		"b": {"runId": "run_b", "groupId": "grp_2"},
	}
	ids := map[string]string{}
	for _, k := range []string{"a", "b"} {
		id, err := q.Send(ctx, []byte(bodies[k]), attrs[k])
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ids[k] = id
	}
	for range 2 {
		receiveOne(t, q, short)
	}
	dead := waitDead(t, q, 2)
	if got, want := len(dead), 2; got != want {
		t.Fatalf("len(DeadLetters) = %d, want %d", got, want)
	}

	res, err := q.Redrive(ctx, []string{ids["a"], "msg_unknown", ids["a"]}, 10)
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if got, want := len(res.Moved), 1; got != want {
		t.Fatalf("Redrive moved %d dead letters (%+v), want %d", got, res.Moved, want)
	}
	moved := res.Moved[0]
	if got, want := moved.ID, ids["a"]; got != want {
		t.Errorf("Moved[0].ID = %q, want %q", got, want)
	}
	if moved.NewID == "" {
		t.Error("Moved[0].NewID is empty")
	}
	if got, want := res.NotFound, []string{"msg_unknown"}; !slices.Equal(got, want) {
		t.Errorf("NotFound = %q, want %q", got, want)
	}

	// The job is back in the queue, byte for byte, as a new message.
	m := receiveOne(t, q, long)
	if got, want := m.ID, moved.NewID; got != want {
		t.Errorf("received ID = %q, want the redriven message's %q", got, want)
	}
	if got, want := string(m.Body), bodies["a"]; got != want {
		t.Errorf("redriven Body = %q, want %q", got, want)
	}
	if got, want := m.Attributes, attrs["a"]; !maps.Equal(got, want) {
		t.Errorf("redriven Attributes = %v, want %v", got, want)
	}
	if got, want := m.ReceiveCount, 1; got != want {
		t.Errorf("redriven ReceiveCount = %d, want %d (it counts again from the redrive)", got, want)
	}
	if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	// The other dead letter stays, readable at once; the moved one is gone.
	dead = waitDead(t, q, 1)
	if got, want := len(dead), 1; got != want {
		t.Fatalf("len(DeadLetters) after Redrive = %d, want %d", got, want)
	}
	if got, want := dead[0].ID, ids["b"]; got != want {
		t.Errorf("remaining dead letter = %q, want %q", got, want)
	}
	again, err := q.Redrive(ctx, []string{ids["a"]}, 10)
	if err != nil {
		t.Fatalf("Redrive again: %v", err)
	}
	if got, want := again.NotFound, []string{ids["a"]}; len(again.Moved) != 0 || !slices.Equal(got, want) {
		t.Errorf("Redrive of a redriven id = moved %+v, not found %q; want nothing moved, %q not found", again.Moved, got, want)
	}
	none, err := q.Redrive(ctx, nil, 10)
	if err != nil || len(none.Moved)+len(none.NotFound) != 0 {
		t.Errorf("Redrive(no ids) = %+v, %v; want nothing, nil", none, err)
	}
	eventuallyStats(t, q, queue.Stats{Dead: 1})
}

// waitDead receives until the queue has at least n dead letters, waiting up
// to patience, and returns them.
func waitDead(t *testing.T, q Queue, n int) []queue.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		dead, err := q.DeadLetters(t.Context(), 10)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		if len(dead) >= n {
			return dead
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters after %v, want %d", len(dead), patience, n)
		}
		msgs, err := q.Receive(t.Context(), 10, long, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(msgs) > 0 {
			t.Fatalf("message %s received %d times with maxReceives 1, want it dead-lettered", msgs[0].ID, msgs[0].ReceiveCount)
		}
	}
}

func testLongPoll(t *testing.T, q Queue) {
	ctx := t.Context()
	const wait = 10 * time.Second
	type result struct {
		msgs []queue.Message
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		start := time.Now()
		msgs, err := q.Receive(ctx, 10, long, wait)
		done <- result{msgs, err, time.Since(start)}
	}()
	<-started
	// Give the Receive a moment to start waiting; the test passes either way.
	time.Sleep(300 * time.Millisecond)
	id := send(t, q, "wake up")
	r := <-done
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if got, want := len(r.msgs), 1; got != want {
		t.Fatalf("long poll returned %d messages after %v, want %d", got, r.took, want)
	}
	if got, want := r.msgs[0].ID, id; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if r.took >= wait {
		t.Errorf("long poll returned after %v, the whole wait, not when the message was sent", r.took)
	}
}

func testConcurrentSends(t *testing.T, q Queue) {
	ctx := t.Context()
	const goroutines, perGoroutine = 20, 10
	const total = goroutines * perGoroutine
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				if _, err := q.Send(ctx, fmt.Appendf(nil, "%d-%d", g, i), map[string]string{"g": fmt.Sprint(g)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}
	seen := make(map[string]int, total)
	deadline := time.Now().Add(patience)
	for len(seen) < total && time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, long, poll)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			seen[string(m.Body)]++
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
	}
	if got, want := len(seen), total; got != want {
		t.Fatalf("received %d distinct messages within %v, want %d", got, patience, want)
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("message %q received %d times, want 1", body, n)
		}
	}
	// Nothing is left.
	msgs, err := q.Receive(ctx, 10, long, time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got, want := len(msgs), 0; got != want {
		t.Errorf("Receive after all were deleted returned %d messages, want %d", got, want)
	}
}

// testStats runs on a queue with maxReceives 1.
func testStats(t *testing.T, q Queue) {
	ctx := t.Context()
	for _, b := range []string{"a", "b", "c"} {
		send(t, q, b)
	}
	eventuallyStats(t, q, queue.Stats{Visible: 3})

	held := receiveOne(t, q, long)
	eventuallyStats(t, q, queue.Stats{Visible: 2, InFlight: 1})

	// This one comes back after short, and having been received once it
	// goes to the dead letters on the next receive.
	doomed := receiveOne(t, q, short)
	// The next receive cannot return doomed again: it returns the third.
	third := receiveOne(t, q, long)
	for _, m := range []queue.Message{held, doomed} {
		if third.ID == m.ID {
			t.Fatalf("message %s received twice with maxReceives 1", m.ID)
		}
	}
	deadline := time.Now().Add(patience)
	for {
		msgs, err := q.Receive(ctx, 10, long, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if got, want := len(msgs), 0; got != want {
			t.Fatalf("Receive returned %d messages, want %d", got, want)
		}
		s, err := q.Stats(ctx)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		want := queue.Stats{Visible: 0, InFlight: 2, Dead: 1}
		if s == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %+v", s, want)
		}
	}
}

// send sends body without attributes and returns the message id.
func send(t *testing.T, q Queue, body string) string {
	t.Helper()
	id, err := q.Send(t.Context(), []byte(body), nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return id
}

// receiveOne receives exactly one message, hiding it for visibility, waiting
// for it up to patience.
func receiveOne(t *testing.T, q Queue, visibility time.Duration) queue.Message {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(t.Context(), 1, visibility, poll)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(msgs) > 1 {
			t.Fatalf("Receive(limit 1) returned %d messages", len(msgs))
		}
		if len(msgs) == 1 {
			return msgs[0]
		}
	}
	t.Fatalf("no message received within %v", patience)
	return queue.Message{}
}

// eventuallyStats waits up to patience for the queue's Stats to be want.
func eventuallyStats(t *testing.T, q Queue, want queue.Stats) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		got, err := q.Stats(t.Context())
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %+v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
