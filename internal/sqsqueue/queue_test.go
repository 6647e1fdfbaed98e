package sqsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"wiresk/internal/manage"
	"wiresk/internal/queue"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/testkit/emulator"
	"wiresk/internal/testkit/queuetest"
	"wiresk/internal/wiresk"
)

var (
	_ queuetest.Queue = (*sqsqueue.Queue)(nil)
	_ queue.Receiver  = (*sqsqueue.Queue)(nil)
	// Asserted here rather than in ports.go, so that the trigger and
	// worker functions, which link this package, do not link manage.
	_ manage.DeadLetterQueue = (*sqsqueue.Queue)(nil)
)

// endpoint is the URL of the goaws server the package's tests share.
var endpoint string

func TestMain(m *testing.M) {
	ep, stop, err := emulator.StartGoAWS()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sqsqueue tests need goaws: %v\n", err)
		os.Exit(1)
	}
	endpoint = ep
	code := m.Run()
	stop()
	os.Exit(code)
}

// newClient returns an SQS client of the goaws server at ep, with static
// credentials in us-east-1 and sqsqueue.AvoidRequestBodyRace.
func newClient(ep string, optFns ...func(*sqs.Options)) *sqs.Client {
	return newRawClient(ep, append([]func(*sqs.Options){sqsqueue.AvoidRequestBodyRace}, optFns...)...)
}

// newRawClient is newClient without sqsqueue.AvoidRequestBodyRace.
func newRawClient(ep string, optFns ...func(*sqs.Options)) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("wiresk", "wiresk", ""),
	}, optFns...)
}

var queueSeq atomic.Int64

// queueNameChars are the characters SQS refuses in a queue name.
var queueNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// createQueues creates a fresh queue and dead-letter queue for the test on
// the server of client, deleted when the test ends, and returns their URLs.
func createQueues(t *testing.T, client *sqs.Client, maxReceives int) (url, dlqURL string) {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", queueSeq.Add(1), queueNameChars.ReplaceAllString(t.Name(), "-"))
	if len(name) > 70 {
		name = name[:70]
	}
	url, dlqURL, err := sqsqueue.CreateQueues(t.Context(), client, name, maxReceives, 30*time.Second)
	if err != nil {
		t.Fatalf("CreateQueues: %v", err)
	}
	t.Cleanup(func() {
		for _, u := range []string{url, dlqURL} {
			if _, err := client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
				t.Errorf("DeleteQueue %s: %v", u, err)
			}
		}
	})
	return url, dlqURL
}

// newQueue returns an adapter on a fresh queue of the shared goaws server.
func newQueue(t *testing.T, maxReceives int) *sqsqueue.Queue {
	t.Helper()
	client := newClient(endpoint)
	url, dlqURL := createQueues(t, client, maxReceives)
	return sqsqueue.New(client, url, dlqURL)
}

func TestQueueContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, maxReceives int) queuetest.Queue {
		return &goawsCompat{Queue: newQueue(t, maxReceives), t: t, receives: map[string]int{}}
	})
}

// goawsCompat corrects, for the contract suite only, the two deviations of
// goaws v0.5.4 from SQS that no adapter can work around, so that the suite
// checks everything else the adapter does against goaws unchanged;
// TestGoAWSDeviations pins both, so that the corrections go when goaws
// stops deviating:
//
//   - goaws reports an ApproximateReceiveCount of 1 on every receive: the
//     receive count of each message is counted here instead, after checking
//     that the adapter read goaws's 1.
//   - goaws's ApproximateNumberOfMessages counts the messages in flight: they
//     are subtracted from Stats.Visible.
type goawsCompat struct {
	*sqsqueue.Queue
	t        *testing.T
	mu       sync.Mutex
	receives map[string]int
}

func (c *goawsCompat) Receive(ctx context.Context, limit int, visibility, wait time.Duration) ([]queue.Message, error) {
	msgs, err := c.Queue.Receive(ctx, limit, visibility, wait)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range msgs {
		if got, want := m.ReceiveCount, 1; got != want {
			c.t.Errorf("goaws ReceiveCount = %d, want %d (the deviation goawsCompat corrects)", got, want)
		}
		c.receives[m.ID]++
		msgs[i].ReceiveCount = c.receives[m.ID]
	}
	return msgs, err
}

func (c *goawsCompat) Stats(ctx context.Context) (queue.Stats, error) {
	s, err := c.Queue.Stats(ctx)
	s.Visible -= s.InFlight
	return s, err
}

// TestGoAWSDeviations pins the deviations of goaws v0.5.4 from SQS that the
// adapter's documentation lists and goawsCompat corrects, on a goaws server
// of its own. A failure here means goaws changed: update the documentation
// of package sqsqueue and goawsCompat.
func TestGoAWSDeviations(t *testing.T) {
	t.Parallel()
	client := newClient(emulator.GoAWS(t))
	receive := func(t *testing.T, url string, visibility int32) types.Message {
		t.Helper()
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			VisibilityTimeout:           visibility,
			WaitTimeSeconds:             5,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"},
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if got, want := len(out.Messages), 1; got != want {
			t.Fatalf("ReceiveMessage returned %d messages, want %d", got, want)
		}
		return out.Messages[0]
	}
	send := func(t *testing.T, url string) {
		t.Helper()
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("pin")}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}

	t.Run("ReceiveCountAlwaysOneAndSentTimestampAtReceive", func(t *testing.T) {
		t.Parallel()
		url, _ := createQueues(t, client, 5)
		sent := time.Now()
		send(t, url)
		time.Sleep(1100 * time.Millisecond)
		first := receive(t, url, 1)
		second := receive(t, url, 1) // once the first's visibility ends
		if got, want := second.Attributes["ApproximateReceiveCount"], "1"; got != want {
			t.Errorf("goaws ApproximateReceiveCount of a second receive = %q, want %q (SQS: 2)", got, want)
		}
		ms, err := strconv.ParseInt(first.Attributes["SentTimestamp"], 10, 64)
		if err != nil {
			t.Fatalf("SentTimestamp: %v", err)
		}
		if got := time.UnixMilli(ms); got.Before(sent.Add(time.Second)) {
			t.Errorf("goaws SentTimestamp = %v, want the time of the receive, at least %v (SQS: the time of the send)", got, sent.Add(time.Second))
		}
	})

	t.Run("NumberOfMessagesCountsInFlight", func(t *testing.T) {
		t.Parallel()
		url, _ := createQueues(t, client, 5)
		send(t, url)
		receive(t, url, 60)
		out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(url),
			AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		got := [2]string{out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]}
		if want := [2]string{"1", "1"}; got != want {
			t.Errorf("goaws ApproximateNumberOfMessages, NotVisible of one message in flight = %v, want %v (SQS: 0, 1)", got, want)
		}
	})

	t.Run("StaleDeleteRefusedAsQueueExists", func(t *testing.T) {
		t.Parallel()
		url, _ := createQueues(t, client, 5)
		send(t, url)
		first := receive(t, url, 60)
		if _, err := client.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatalf("ChangeMessageVisibility: %v", err)
		}
		receive(t, url, 60)
		_, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first.ReceiptHandle})
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("DeleteMessage(stale handle) = %v, want an API error (SQS: success, not deleted)", err)
		}
		if got, want := ae.ErrorCode(), "AWS.SimpleQueueService.QueueExists"; got != want {
			t.Errorf("goaws DeleteMessage(stale handle) error code = %q, want %q", got, want)
		}
	})
}

// opCounter records the operations of the clients it is installed in.
type opCounter struct {
	mu  sync.Mutex
	ops []string
}

// install adds the counting middleware to a client's options.
func (c *opCounter) install(o *sqs.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("wiresk-count-operations",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.ops = append(c.ops, awsmiddleware.GetOperationName(ctx))
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// take returns the operations recorded since the last take.
func (c *opCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops
}

func TestSendIsOneSendMessage(t *testing.T) {
	t.Parallel()
	var count opCounter
	client := newClient(endpoint, count.install)
	url, dlqURL := createQueues(t, client, 5)
	q := sqsqueue.New(client, url, dlqURL)
	count.take()

	id, err := q.Send(t.Context(), []byte(`{"runId":"run_1"}`), map[string]string{"runId": "run_1", "groupId": "grp_1"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got, want := count.take(), []string{"SendMessage"}; !slices.Equal(got, want) {
		t.Errorf("Send made the operations %v, want %v", got, want)
	}
	msgs, err := q.Receive(t.Context(), 10, time.Minute, 5*time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got, want := len(msgs), 1; got != want {
		t.Fatalf("Receive returned %d messages, want %d", got, want)
	}
	if got, want := msgs[0].ID, id; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := count.take(), []string{"ReceiveMessage"}; !slices.Equal(got, want) {
		t.Errorf("Receive made the operations %v, want %v", got, want)
	}
}

func TestMessageAttributesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := newClient(endpoint)
	url, dlqURL := createQueues(t, client, 5)
	q := sqsqueue.New(client, url, dlqURL)

	// Ten attributes, the most SQS allows.
	attrs := map[string]string{
		"runId":        "run_01J9Z",
		"groupId":      "grp_7",
		"content-type": "application/json; charset=utf-8",
		"note":         "héllo ✓ 日本",
		"spaces":       "  padded  ",
		"json":         `{"a":[1,2],"b":"\"q\""}`,
		"a.b_c-d":      "dots, dashes and underscores in the name",
		"number-ish":   "42",
		"newline":      "line 1\nline 2",
		"long":         strings.Repeat("x", 1024),
	}
	if _, err := q.Send(ctx, []byte("with attributes"), attrs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// Number attributes come back as strings; Binary ones are left out.
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String("typed attributes"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"n": {DataType: aws.String("Number"), StringValue: aws.String("3.5")},
			"s": {DataType: aws.String("String.custom"), StringValue: aws.String("v")},
		},
	}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got := map[string]map[string]string{}
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		msgs, err := q.Receive(ctx, 10, time.Minute, 2*time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range msgs {
			got[string(m.Body)] = m.Attributes
		}
	}
	want := map[string]map[string]string{
		"with attributes":  attrs,
		"typed attributes": {"n": "3.5", "s": "v"},
	}
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("received attributes = %v, want %v", got, want)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	q := newQueue(t, 5)

	if got, want := q.Delete(ctx, "no-such-handle"), wiresk.ErrNotFound; !errors.Is(got, want) {
		t.Errorf("Delete(unknown handle) = %v, want an error wrapping %v", got, want)
	}
	if got, want := q.ChangeVisibility(ctx, "no-such-handle", 0), wiresk.ErrNotFound; !errors.Is(got, want) {
		t.Errorf("ChangeVisibility(unknown handle) = %v, want an error wrapping %v", got, want)
	}

	// A missing queue is an error, not a missing message, and the error
	// does not repeat the body.
	client := newClient(endpoint)
	missing := sqsqueue.New(client, endpoint+"/000000000000/no-such-queue", endpoint+"/000000000000/no-such-queue-dlq")
	const body = "secret-payload-7c1f"
	_, err := missing.Send(ctx, []byte(body), map[string]string{"k": body})
	if err == nil {
		t.Fatal("Send to a missing queue succeeded, want an error")
	}
	if errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Send to a missing queue = %v, want an error not wrapping %v", err, wiresk.ErrNotFound)
	}
	if strings.Contains(err.Error(), body) {
		t.Errorf("Send error %q contains the message body", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Errorf("Send to a missing queue = %v, want it to wrap a smithy.APIError", err)
	}
	if _, err := missing.Stats(ctx); err == nil {
		t.Error("Stats of a missing queue succeeded, want an error")
	}

	// A done context is ctx.Err().
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Receive(cctx, 1, time.Second, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive(cancelled ctx) = %v, want %v", err, context.Canceled)
	}
	tctx, tcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer tcancel()
	start := time.Now()
	msgs, err := q.Receive(tctx, 1, time.Second, 10*time.Second)
	if got, want := err, context.DeadlineExceeded; !errors.Is(got, want) {
		t.Errorf("Receive(ctx done during the wait) = %v, %v, want %v", msgs, got, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Receive returned %v after its ctx was done, want at once", took)
	}
}

func TestCreateQueuesRefusesBadArguments(t *testing.T) {
	t.Parallel()
	client := newClient(endpoint)
	for _, tc := range []struct {
		maxReceives int
		visibility  time.Duration
	}{
		{0, time.Second},
		{1001, time.Second},
		{1, -time.Second},
		{1, 13 * time.Hour},
	} {
		if _, _, err := sqsqueue.CreateQueues(t.Context(), client, "bad-arguments", tc.maxReceives, tc.visibility); err == nil {
			t.Errorf("CreateQueues(maxReceives %d, visibility %v) succeeded, want an error", tc.maxReceives, tc.visibility)
		}
	}
}

func TestDeadLettersLeavesThemThere(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	q := newQueue(t, 1)
	id, err := q.Send(ctx, []byte("poison"), map[string]string{"kind": "poison"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := q.Receive(ctx, 1, time.Second, 5*time.Second); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var dead []queue.DeadLetter
	deadline := time.Now().Add(15 * time.Second)
	for len(dead) == 0 && time.Now().Before(deadline) {
		if _, err := q.Receive(ctx, 1, time.Second, time.Second); err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if dead, err = q.DeadLetters(ctx, 10); err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
	}
	// Read again at once: the first read must have left them visible.
	for i := range 2 {
		again, err := q.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		if got, want := len(again), 1; got != want {
			t.Fatalf("read %d: len(DeadLetters) = %d, want %d", i+2, got, want)
		}
		d := again[0]
		if got, want := d.ID, id; got != want {
			t.Errorf("dead letter ID = %q, want %q", got, want)
		}
		if got, want := d.Reason, "moved by the redrive policy after 1 receive"; got != want {
			t.Errorf("dead letter Reason = %q, want %q", got, want)
		}
		if got, want := d.Attributes, map[string]string{"kind": "poison"}; !maps.Equal(got, want) {
			t.Errorf("dead letter Attributes = %v, want %v", got, want)
		}
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got, want := s, (queue.Stats{Dead: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// TestPump drives the worker's kind of handler from goaws through queue.Pump:
// the message it handles is deleted, the one it reports failed comes back
// and is deleted once handled.
func TestPump(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	q := newQueue(t, 5)
	attrs := map[string]string{"runId": "run_1", "groupId": "grp_1"}
	okID, err := q.Send(ctx, []byte("ok"), attrs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	failID, err := q.Send(ctx, []byte("fail once"), attrs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}

	var mu sync.Mutex
	seen := map[string][]events.SQSMessage{} // by message id
	retried := make(chan struct{})
	handler := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			seen[r.MessageId] = append(seen[r.MessageId], r)
			if r.MessageId != failID {
				continue
			}
			switch len(seen[r.MessageId]) {
			case 1:
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			case 2:
				close(retried)
			}
		}
		return resp, nil
	}
	p := &queue.Pump{
		Queue:      q,
		Handler:    handler,
		Workers:    2,
		Visibility: 30 * time.Second,
		Wait:       time.Second,
		RetryDelay: func(int) time.Duration { return time.Second },
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	select {
	case <-retried:
	case <-time.After(20 * time.Second):
		t.Fatal("the failed message was not redelivered within 20s")
	}
	// Both end up deleted: nothing visible, in flight or dead. With a
	// visibility of 30s, a message the Pump failed to delete would still be
	// in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := q.Stats(ctx)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if s == (queue.Stats{}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want %+v", s, queue.Stats{})
		}
		time.Sleep(100 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	if got, want := len(seen[okID]), 1; got != want {
		t.Errorf("handled message delivered %d times, want %d", got, want)
	}
	if got, want := len(seen[failID]), 2; got != want {
		t.Fatalf("failed message delivered %d times, want %d", got, want)
	}
	if a, b := seen[failID][0].ReceiptHandle, seen[failID][1].ReceiptHandle; a == b {
		t.Errorf("redelivery has the receipt handle of the first delivery %q", a)
	}
	for _, r := range append(seen[okID], seen[failID]...) {
		if got, want := r.EventSource, "aws:sqs"; got != want {
			t.Errorf("EventSource = %q, want %q", got, want)
		}
		got := map[string]string{}
		for k, v := range r.MessageAttributes {
			got[k] = aws.ToString(v.StringValue)
		}
		if !maps.Equal(got, attrs) {
			t.Errorf("record %s MessageAttributes = %v, want %v", r.MessageId, got, attrs)
		}
		if r.Attributes["ApproximateReceiveCount"] == "" || r.Attributes["SentTimestamp"] == "" {
			t.Errorf("record %s Attributes = %v, want ApproximateReceiveCount and SentTimestamp", r.MessageId, r.Attributes)
		}
	}
}

// attemptCounter counts the HTTP attempts of the operations of the clients
// it is installed in, retries included.
type attemptCounter struct {
	n atomic.Int64
}

// install adds the counting middleware to a client's options, after the
// retry middleware.
func (c *attemptCounter) install(o *sqs.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("wiresk-count-attempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.n.Add(1)
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

// TestAvoidRequestBodyRace receives batches of ten messages many times on
// loopback, where goaws answers within microseconds, and checks that no
// operation needed a retry, which the race that AvoidRequestBodyRace avoids
// causes: without it, about one run in two has a retry.
func TestAvoidRequestBodyRace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var attempts attemptCounter
	client := newClient(endpoint, attempts.install)
	url, dlqURL := createQueues(t, client, 1000)
	q := sqsqueue.New(client, url, dlqURL)
	body := []byte(strings.Repeat("x", 400))
	for range 10 {
		if _, err := q.Send(ctx, body, map[string]string{"k": "v"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	const rounds = 100
	attempts.n.Store(0)
	ops := 0
	for range rounds {
		// No wait: after a retry, the messages of the lost response stay
		// hidden and the loop must not stall on them.
		msgs, err := q.Receive(ctx, 10, time.Minute, 0)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		ops++
		for _, m := range msgs {
			if err := q.ChangeVisibility(ctx, m.ReceiptHandle, 0); err != nil {
				t.Fatalf("ChangeVisibility: %v", err)
			}
			ops++
		}
	}
	if got, want := attempts.n.Load(), int64(ops); got != want {
		t.Errorf("%d operations took %d HTTP attempts, want %d", ops, got, want)
	}
}

// TestRedriveKeepsAttributeTypes: a redriven message keeps its message
// attributes with their data types (a Number stays a Number), and a queue
// told its maxReceiveCount lists and redrives dead letters with calls on the
// dead-letter queue only, besides the send to the queue (what the manage
// function is allowed).
func TestRedriveKeepsAttributeTypes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var count opCounter
	client := newClient(endpoint, count.install)
	url, dlqURL := createQueues(t, client, 1)
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String(`{"runId":"run_1"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"groupId": {DataType: aws.String("String"), StringValue: aws.String("grp_1")},
			"n":       {DataType: aws.String("Number"), StringValue: aws.String("3.5")},
		},
	}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	q := sqsqueue.New(client, url, dlqURL)
	var dead []queue.DeadLetter
	deadline := time.Now().Add(15 * time.Second)
	for len(dead) == 0 && time.Now().Before(deadline) {
		if _, err := q.Receive(ctx, 1, time.Second, time.Second); err != nil {
			t.Fatalf("Receive: %v", err)
		}
		var err error
		if dead, err = q.DeadLetters(ctx, 10); err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
	}
	if got, want := len(dead), 1; got != want {
		t.Fatalf("len(DeadLetters) = %d, want %d", got, want)
	}

	// Told its maxReceiveCount, the queue reads no attribute of the run queue.
	known := q.WithMaxReceives(1)
	calls := func() []string {
		var out []string
		for _, op := range count.take() {
			if !slices.Contains(out, op) {
				out = append(out, op)
			}
		}
		slices.Sort(out)
		return out
	}
	calls()
	again, err := known.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if got, want := len(again), 1; got != want {
		t.Fatalf("len(DeadLetters) = %d, want %d", got, want)
	}
	if got, want := again[0].Reason, "moved by the redrive policy after 1 receive"; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
	if got, want := calls(), []string{"ChangeMessageVisibility", "ReceiveMessage"}; !slices.Equal(got, want) {
		t.Errorf("DeadLetters made the operations %v, want only %v", got, want)
	}
	res, err := known.Redrive(ctx, []string{dead[0].ID}, 10)
	if err != nil {
		t.Fatalf("Redrive: %v", err)
	}
	if got, want := len(res.Moved), 1; got != want {
		t.Fatalf("Redrive moved %+v, want %d", res.Moved, want)
	}
	if got, want := calls(), []string{"DeleteMessage", "ReceiveMessage", "SendMessage"}; !slices.Equal(got, want) {
		t.Errorf("Redrive made the operations %v, want only %v", got, want)
	}

	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 5, VisibilityTimeout: 60,
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if got, want := len(out.Messages), 1; got != want {
		t.Fatalf("ReceiveMessage returned %d messages, want %d", got, want)
	}
	m := out.Messages[0]
	if got, want := aws.ToString(m.MessageId), res.Moved[0].NewID; got != want {
		t.Errorf("MessageId = %q, want %q", got, want)
	}
	if got, want := aws.ToString(m.Body), `{"runId":"run_1"}`; got != want {
		t.Errorf("Body = %q, want %q", got, want)
	}
	typed := map[string]string{}
	for k, v := range m.MessageAttributes {
		typed[k] = aws.ToString(v.DataType) + ":" + aws.ToString(v.StringValue)
	}
	if got, want := typed, map[string]string{"groupId": "String:grp_1", "n": "Number:3.5"}; !maps.Equal(got, want) {
		t.Errorf("redriven attributes = %v, want %v", got, want)
	}
}
