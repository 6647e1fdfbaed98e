package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/queue"
)

// patience bounds every wait for something that must happen.
const patience = 10 * time.Second

func TestPumpDeletesSuccesses(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	const n = 25
	ids := map[string]int{}
	before := time.Now()
	for i := range n {
		id, err := q.Send(t.Context(), fmt.Appendf(nil, "body-%d", i), map[string]string{"i": strconv.Itoa(i)})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ids[id] = i
	}
	var (
		mu        sync.Mutex
		handled   = map[string]int{}
		batchSize int
		all       = make(chan struct{})
	)
	stop := runPump(t, &queue.Pump{
		Queue:     q,
		BatchSize: 10,
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			batchSize = max(batchSize, len(ev.Records))
			for _, r := range ev.Records {
				checkRecord(t, r, ids, before)
				handled[r.MessageId]++
			}
			if len(handled) == n {
				closeOnce(all)
			}
			return events.SQSEventResponse{}, nil
		},
	})
	waitFor(t, all, "all messages handled")
	stop()

	mu.Lock()
	defer mu.Unlock()
	for id, count := range handled {
		if count != 1 {
			t.Errorf("message %s handled %d times, want 1", id, count)
		}
	}
	if batchSize > 10 {
		t.Errorf("largest batch has %d records, want at most BatchSize 10", batchSize)
	}
	checkStats(t, q, queue.Stats{})
}

// checkRecord checks that r is a well-formed SQS record of a message sent
// after before, with body "body-<i>" and attribute "i".
func checkRecord(t *testing.T, r events.SQSMessage, ids map[string]int, before time.Time) {
	t.Helper()
	i, ok := ids[r.MessageId]
	if !ok {
		t.Errorf("record has unknown MessageId %q", r.MessageId)
		return
	}
	if got, want := r.Body, fmt.Sprintf("body-%d", i); got != want {
		t.Errorf("Body = %q, want %q", got, want)
	}
	if r.ReceiptHandle == "" {
		t.Error("ReceiptHandle is empty")
	}
	if got, want := r.EventSource, "aws:sqs"; got != want {
		t.Errorf("EventSource = %q, want %q", got, want)
	}
	if got, want := r.EventSourceARN, queue.DefaultQueueARN; got != want {
		t.Errorf("EventSourceARN = %q, want %q", got, want)
	}
	if got, want := r.AWSRegion, "local"; got != want {
		t.Errorf("AWSRegion = %q, want %q", got, want)
	}
	if got, want := r.Attributes["ApproximateReceiveCount"], "1"; got != want {
		t.Errorf("ApproximateReceiveCount = %q, want %q", got, want)
	}
	for _, name := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		ms, err := strconv.ParseInt(r.Attributes[name], 10, 64)
		if err != nil {
			t.Errorf("%s = %q, want unix milliseconds", name, r.Attributes[name])
			continue
		}
		if at := time.UnixMilli(ms); at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
			t.Errorf("%s = %v, want between %v and now", name, at, before)
		}
	}
	a, ok := r.MessageAttributes["i"]
	switch {
	case !ok || a.StringValue == nil:
		t.Errorf("MessageAttributes = %v, want a string attribute i", r.MessageAttributes)
	case *a.StringValue != strconv.Itoa(i) || a.DataType != "String":
		t.Errorf("MessageAttributes[i] = {%q, %q}, want {%q, %q}", *a.StringValue, a.DataType, strconv.Itoa(i), "String")
	}
}

func TestPumpPartialBatchFailure(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	bodies := []string{"ok-1", "fail-1", "ok-2", "fail-2", "ok-3"}
	for _, b := range bodies {
		if _, err := q.Send(t.Context(), []byte(b), nil); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	var (
		mu       sync.Mutex
		counts   = map[string][]string{} // body → ApproximateReceiveCount of each delivery
		done     = map[string]bool{}
		delays   []int
		finished = make(chan struct{})
	)
	stop := runPump(t, &queue.Pump{
		Queue:   q,
		Workers: 1,
		RetryDelay: func(receiveCount int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			delays = append(delays, receiveCount)
			return 0
		},
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				count := r.Attributes["ApproximateReceiveCount"]
				counts[r.Body] = append(counts[r.Body], count)
				if strings.HasPrefix(r.Body, "fail") && count == "1" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					continue
				}
				done[r.Body] = true
			}
			if len(done) == len(bodies) {
				closeOnce(finished)
			}
			return resp, nil
		},
	})
	waitFor(t, finished, "all messages handled successfully")
	stop()

	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		want := "[1]"
		if strings.HasPrefix(b, "fail") {
			want = "[1 2]"
		}
		if got := fmt.Sprint(counts[b]); got != want {
			t.Errorf("receive counts of %s = %s, want %s", b, got, want)
		}
	}
	if got, want := fmt.Sprint(delays), "[1 1]"; got != want {
		t.Errorf("RetryDelay called with %s, want %s", got, want)
	}
	checkStats(t, q, queue.Stats{})
}

func TestPumpFailedBatchRetriesAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail func(ev events.SQSEvent) (events.SQSEventResponse, error)
	}{
		{"HandlerError", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("downstream unavailable")
		}},
		{"HandlerPanic", func(events.SQSEvent) (events.SQSEventResponse, error) {
			panic("handler bug")
		}},
		{"UnknownItemIdentifier", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-in-the-batch"}}}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(t)
			const n = 3
			for i := range n {
				if _, err := q.Send(t.Context(), fmt.Appendf(nil, "m%d", i), nil); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			var (
				mu       sync.Mutex
				calls    int
				counts   = map[string][]string{}
				finished = make(chan struct{})
			)
			stop := runPump(t, &queue.Pump{
				Queue:      q,
				Workers:    1,
				RetryDelay: func(int) time.Duration { return 0 },
				Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					mu.Lock()
					calls++
					first := calls == 1
					for _, r := range ev.Records {
						counts[r.Body] = append(counts[r.Body], r.Attributes["ApproximateReceiveCount"])
					}
					if !first && len(counts) == n {
						closeOnce(finished)
					}
					mu.Unlock()
					if first {
						return tt.fail(ev)
					}
					return events.SQSEventResponse{}, nil
				},
			})
			waitFor(t, finished, "the batch handled again")
			stop()

			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				b := fmt.Sprintf("m%d", i)
				if got, want := fmt.Sprint(counts[b]), "[1 2]"; got != want {
					t.Errorf("receive counts of %s = %s, want %s", b, got, want)
				}
			}
			checkStats(t, q, queue.Stats{})
		})
	}
}

func TestPumpGracefulStop(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	if _, err := q.Send(t.Context(), []byte("in flight at shutdown"), nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var (
		started    = make(chan struct{})
		release    = make(chan struct{})
		mu         sync.Mutex
		finished   bool
		handlerErr error
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := &queue.Pump{
		Queue:  q,
		Wait:   200 * time.Millisecond,
		Logger: testLogger(t),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			close(started)
			<-release
			mu.Lock()
			defer mu.Unlock()
			handlerErr = ctx.Err()
			finished = true
			return events.SQSEventResponse{}, nil
		},
	}
	returned := make(chan error, 1)
	go func() { returned <- p.Run(ctx) }()
	waitFor(t, started, "the handler to start")
	cancel()
	// Release the handler a little later: Run must wait for it, whatever
	// the delay.
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(release)
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(patience):
		t.Fatalf("Run did not return within %v of cancellation", patience)
	}
	mu.Lock()
	defer mu.Unlock()
	if !finished {
		t.Error("Run returned before the in-flight batch was handled")
	}
	if handlerErr != nil {
		t.Errorf("handler ctx.Err() after Run's ctx was cancelled = %v, want nil", handlerErr)
	}
	// The handled message was deleted before Run returned.
	checkStats(t, q, queue.Stats{})
}

func TestPumpRequiresQueueAndHandler(t *testing.T) {
	t.Parallel()
	if err := (&queue.Pump{}).Run(t.Context()); err == nil {
		t.Error("Run without Queue and Handler = nil, want an error")
	}
}

func TestDefaultRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		count int
		want  time.Duration
	}{
		{0, time.Second},
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute},
		{100, time.Minute},
	}
	for _, tt := range tests {
		if got := queue.DefaultRetryDelay(tt.count); got != tt.want {
			t.Errorf("DefaultRetryDelay(%d) = %v, want %v", tt.count, got, tt.want)
		}
	}
}

// newQueue returns a bolt queue in a fresh data directory.
func newQueue(t *testing.T) *bolt.Queue {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := bolt.NewQueue(db, bolt.QueueOptions{})
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	return q
}

// runPump runs p until the returned stop is called; stop cancels Run and
// waits for it to return.
func runPump(t *testing.T, p *queue.Pump) (stop func()) {
	t.Helper()
	if p.Wait == 0 {
		p.Wait = 200 * time.Millisecond
	}
	if p.Logger == nil {
		p.Logger = testLogger(t)
	}
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan error, 1)
	go func() { returned <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-returned:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(patience):
				t.Errorf("Run did not return within %v of cancellation", patience)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor waits up to patience for ch to be closed.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("timed out after %v waiting for %s", patience, what)
	}
}

// closeOnce closes ch unless it is closed already; callers serialize.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// checkStats checks the queue's counts now.
func checkStats(t *testing.T, q *bolt.Queue, want queue.Stats) {
	t.Helper()
	got, err := q.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}
