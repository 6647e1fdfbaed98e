package queue

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/backoff"
)

// Receiver is the part of a queue the Pump uses. The bolt Queue and the SQS
// adapter implement it.
type Receiver interface {
	// Receive returns up to limit visible messages and hides them for
	// visibility, waiting up to wait for one if none is visible. An empty
	// wait returns no messages and a nil error; if ctx is done first it
	// returns ctx.Err(). Any other error means the queue is unavailable.
	Receive(ctx context.Context, limit int, visibility, wait time.Duration) ([]Message, error)
	// Delete removes the message received with receiptHandle for good. A
	// stale or unknown handle either fails with an error wrapping
	// wiresk.ErrNotFound or, as in Amazon SQS, succeeds without deleting.
	Delete(ctx context.Context, receiptHandle string) error
	// ChangeVisibility makes the message received with receiptHandle visible
	// d from now (at once if d <= 0). A stale or unknown handle is an error
	// wrapping wiresk.ErrNotFound.
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Handler processes one batch, as a Lambda function with an SQS trigger and
// ReportBatchItemFailures does: the records listed in the response's
// BatchItemFailures (by MessageId) are retried, the others are deleted; a
// non-nil error retries the whole batch.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// DefaultQueueARN is the EventSourceARN of the records when Pump.QueueARN is
// empty.
const DefaultQueueARN = "arn:aws:sqs:local:000000000000:wiresk"

// Pump receives batches of messages from a queue and hands each, as an
// events.SQSEvent, to a Handler, the way Lambda's SQS event source mapping
// does in AWS. Zero fields take their defaults; Queue and Handler are
// required.
type Pump struct {
	// Queue is the queue to drain.
	Queue Receiver
	// Handler processes each batch.
	Handler Handler
	// QueueARN is put in each record's EventSourceARN. Default
	// DefaultQueueARN.
	QueueARN string
	// BatchSize is the most messages in one batch. Default 10.
	BatchSize int
	// Workers is how many batches are processed at once. Default 4.
	Workers int
	// Visibility is how long received messages stay hidden; it is also the
	// handler's deadline, as a Lambda timeout would be. Default 30s.
	Visibility time.Duration
	// Wait is how long one Receive waits for messages. Default 1s.
	Wait time.Duration
	// RetryDelay gives the visibility timeout of a failed message from its
	// receive count (1 on the first delivery). Default DefaultRetryDelay.
	RetryDelay func(receiveCount int) time.Duration
	// Logger receives the errors that Run retries past. Default
	// slog.Default().
	Logger *slog.Logger
}

// redelivery is the backoff of failed messages: predictable, without
// jitter, so that a message's next delivery can be told.
var redelivery = backoff.Policy{Base: time.Second, Max: time.Minute}

// receiveBackoff spaces the tries of a queue that failed to deliver.
var receiveBackoff = backoff.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second}

// DefaultRetryDelay doubles from 1s on the first failure and caps at 60s.
func DefaultRetryDelay(receiveCount int) time.Duration {
	return redelivery.Ceiling(receiveCount)
}

// Run drains the queue until ctx is cancelled, then waits for the batches
// already received to be handled and deleted or released, and returns nil.
// Queue errors are logged and retried with a backoff; Run fails at once only
// if Queue or Handler is nil.
func (p *Pump) Run(ctx context.Context) error {
	if p.Queue == nil || p.Handler == nil {
		return errors.New("pump: Queue and Handler are required")
	}
	c := *p
	if c.QueueARN == "" {
		c.QueueARN = DefaultQueueARN
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Visibility <= 0 {
		c.Visibility = 30 * time.Second
	}
	if c.Wait <= 0 {
		c.Wait = time.Second
	}
	if c.RetryDelay == nil {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var wg sync.WaitGroup
	for range c.Workers {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
	return nil
}

// work receives and processes batches until ctx is cancelled.
func (p *Pump) work(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		msgs, err := p.Queue.Receive(ctx, p.BatchSize, p.Visibility, p.Wait)
		if err != nil && ctx.Err() == nil {
			failures++
			wait := receiveBackoff.Delay(failures)
			p.Logger.ErrorContext(ctx, "pump: receive messages", "err", err, "retry_in", wait)
			_ = backoff.Sleep(ctx, wait)
			continue
		}
		failures = 0
		if len(msgs) > 0 {
			// The batch is ours now: finish it even if ctx is cancelled
			// meanwhile, so that handled messages are deleted.
			p.process(context.WithoutCancel(ctx), msgs, time.Now())
		}
	}
}

// process hands one batch to the handler, then deletes the records that
// succeeded and delays the retry of those that failed.
func (p *Pump) process(ctx context.Context, msgs []Message, receivedAt time.Time) {
	ev := p.event(msgs, receivedAt)
	resp, err := p.call(ctx, ev)
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	if err != nil {
		p.Logger.ErrorContext(ctx, "pump: handler failed, retrying the batch", "err", err, "messages", len(msgs))
		for _, m := range msgs {
			failed[m.ID] = true
		}
	} else {
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for id := range failed {
			if !hasID(msgs, id) {
				// As Lambda does: an unknown identifier fails the batch.
				p.Logger.ErrorContext(ctx, "pump: handler reported a failure for a message not in the batch, retrying the batch", "item_identifier", id)
				for _, m := range msgs {
					failed[m.ID] = true
				}
				break
			}
		}
	}
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Go(func() {
			if failed[m.ID] {
				d := p.RetryDelay(m.ReceiveCount)
				if err := p.Queue.ChangeVisibility(ctx, m.ReceiptHandle, d); err != nil {
					p.Logger.WarnContext(ctx, "pump: delay retry of failed message", "message_id", m.ID, "err", err)
				}
				return
			}
			if err := p.Queue.Delete(ctx, m.ReceiptHandle); err != nil {
				p.Logger.WarnContext(ctx, "pump: delete handled message", "message_id", m.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// call runs the handler with the Visibility as deadline, turning a panic into
// an error.
func (p *Pump) call(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.Visibility)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return p.Handler(ctx, ev)
}

// event builds the SQS event of a batch.
func (p *Pump) event(msgs []Message, receivedAt time.Time) events.SQSEvent {
	received := strconv.FormatInt(receivedAt.UnixMilli(), 10)
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		sum := md5.Sum(m.Body)
		r := events.SQSMessage{
			MessageId:     m.ID,
			ReceiptHandle: m.ReceiptHandle,
			Body:          string(m.Body),
			Md5OfBody:     hex.EncodeToString(sum[:]),
			Attributes: map[string]string{
				"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount),
				"SentTimestamp":           strconv.FormatInt(m.SentAt.UnixMilli(), 10),
				// Message does not carry the first receive time; this
				// receive's time is exact on the first delivery only.
				"ApproximateFirstReceiveTimestamp": received,
			},
			EventSource:    "aws:sqs",
			EventSourceARN: p.QueueARN,
			AWSRegion:      "local",
		}
		if len(m.Attributes) > 0 {
			r.MessageAttributes = make(map[string]events.SQSMessageAttribute, len(m.Attributes))
			for k, v := range m.Attributes {
				r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
			}
		}
		ev.Records[i] = r
	}
	return ev
}

// hasID reports whether a message of msgs has id.
func hasID(msgs []Message, id string) bool {
	for _, m := range msgs {
		if m.ID == id {
			return true
		}
	}
	return false
}
