// Package sqsqueue is the Amazon SQS adapter of the queue port: a standard
// queue whose redrive policy moves a message to a dead-letter queue after
// maxReceiveCount receives. In AWS the SAM template creates both queues;
// CreateQueues creates them for tests and local setups.
//
// The adapter is written for Amazon SQS. The tests run it against goaws
// v0.5.4, which deviates from SQS in ways the adapter does not imitate:
//
//   - goaws reports an ApproximateReceiveCount of 1 on every receive, and a
//     SentTimestamp that is the time of the receive, not of the send.
//   - goaws's ApproximateNumberOfMessages counts the messages in flight too;
//     in SQS it counts only the visible ones, which is what Stats.Visible
//     reports.
//   - goaws answers a DeleteMessage with an unknown or stale receipt handle
//     with the code AWS.SimpleQueueService.QueueExists (its
//     MessageDoesNotExist error, mislabelled), and a ChangeMessageVisibility
//     with one with AWS.SimpleQueueService.MessageNotInFlight; its errors
//     carry no __type, so the SDK's typed errors never match and the adapter
//     matches error codes (smithy.APIError.ErrorCode) instead.
//   - goaws makes a message visible again, and moves it to the dead-letter
//     queue once it has been received maxReceiveCount times, from a task
//     that runs every second, so a visibility timeout may last up to a
//     second longer; SQS moves the message when a receive finds it.
//   - goaws's SendMessageBatch result lists the sent entries under
//     SendMessageBatchResultEntry instead of Successful; the adapter does not
//     use batch sends.
//
// The package's tests pin these deviations, and correct the first two where
// they run the port's contract suite.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"wiresk/internal/queue"
	"wiresk/internal/wiresk"
)

// Limits of Amazon SQS that the adapter applies.
const (
	// maxBatch is the most messages one ReceiveMessage returns.
	maxBatch = 10
	// maxWait is the longest long poll of one ReceiveMessage.
	maxWait = 20 * time.Second
	// maxVisibility is the longest visibility timeout.
	maxVisibility = 12 * time.Hour
	// peekVisibility hides the dead letters DeadLetters reads until it has
	// read them all and made them visible again; if the process dies in
	// between, they come back after it.
	peekVisibility = 30 * time.Second
	// peekWait is the long poll of DeadLetters' receives: long enough that
	// SQS looks at all its servers rather than a sample of them.
	peekWait = time.Second
)

// Queue is an Amazon SQS standard queue with its dead-letter queue, seen
// through the queue port. It is safe for concurrent use.
//
// Errors: a receipt handle that SQS reports invalid, unknown or not in
// flight is an error wrapping wiresk.ErrNotFound; a done context is
// ctx.Err(); any other failure is an error with the operation as context,
// wrapping the SDK's error (a smithy.APIError for an error SQS answered).
// Errors never contain message bodies.
type Queue struct {
	client API
	url    string
	dlqURL string
	// maxReceives is the queue's maxReceiveCount when the caller knows it
	// (WithMaxReceives); 0: DeadLetters reads it from the redrive policy.
	maxReceives int
}

// API is the part of the SQS client the queue uses: *sqs.Client implements
// it, and a test may wrap it.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ API = (*sqs.Client)(nil)

// New returns the queue at queueURL whose redrive policy moves messages to
// the dead-letter queue at deadLetterURL. It makes no call to SQS. Make
// client with the option AvoidRequestBodyRace, lest an SDK race now and then
// send a message twice or hide received messages until their visibility
// timeout ends.
func New(client API, queueURL, deadLetterURL string) *Queue {
	return &Queue{client: client, url: queueURL, dlqURL: deadLetterURL}
}

// WithMaxReceives returns a copy of q that takes n for the queue's
// maxReceiveCount: DeadLetters then gives its Reason without reading the
// queue's redrive policy, so that a caller allowed to read the dead-letter
// queue needs no sqs:GetQueueAttributes on the queue itself. n < 1 leaves q
// reading the policy.
func (q *Queue) WithMaxReceives(n int) *Queue {
	c := *q
	c.maxReceives = max(n, 0)
	return &c
}

// Send enqueues a message with one SendMessage call, nothing else, and
// returns the id SQS gave it once SQS has stored it. Each attribute is sent
// as a String message attribute. SQS refuses, with an error, a body that is
// not valid UTF-8 or holds characters outside those XML allows, an empty
// attribute value, more than 10 attributes, and a message over the queue's
// maximum size (256 KiB by default).
func (q *Queue) Send(ctx context.Context, body []byte, attrs map[string]string) (string, error) {
	in := &sqs.SendMessageInput{
		QueueUrl:    &q.url,
		MessageBody: aws.String(string(body)),
	}
	if len(attrs) > 0 {
		in.MessageAttributes = make(map[string]types.MessageAttributeValue, len(attrs))
		for k, v := range attrs {
			in.MessageAttributes[k] = types.MessageAttributeValue{
				DataType:    aws.String("String"),
				StringValue: aws.String(v),
			}
		}
	}
	out, err := q.client.SendMessage(ctx, in)
	if err != nil {
		return "", fail(ctx, "send message", err, nil)
	}
	if out.MessageId == nil || *out.MessageId == "" {
		return "", errors.New("send message: SQS returned no message id")
	}
	return *out.MessageId, nil
}

// Receive returns up to limit visible messages (limit is capped at 10, as
// SQS allows; below 1 it counts as 1) and hides them for visibility, in
// whole seconds rounded up, at least one second (the SDK cannot send a
// visibility of 0, which would give the queue's default) and at most 12
// hours. If none is visible it long-polls for up to wait, in whole seconds
// rounded down and at most 20 seconds; a wait under a second is a short poll
// if the queue's ReceiveMessageWaitTimeSeconds is 0 (CreateQueues makes it
// so) and a long poll of that many seconds otherwise, as the SDK cannot send
// a wait of 0 either. SQS, unlike the port, may return fewer messages than
// are visible, even none.
//
// Each message carries its String and Number message attributes (Binary
// ones are left out), its ReceiveCount (SQS's ApproximateReceiveCount, 0 if
// SQS did not report it) and its SentAt (SQS's SentTimestamp, zero if not
// reported). A message received maxReceiveCount times is moved to the
// dead-letter queue by SQS itself. If ctx is done first Receive returns
// ctx.Err().
func (q *Queue) Receive(ctx context.Context, limit int, visibility, wait time.Duration) ([]queue.Message, error) {
	msgs, err := q.receive(ctx, q.url, limit, visibility, wait)
	if err != nil {
		return nil, fail(ctx, "receive messages", err, nil)
	}
	out := make([]queue.Message, len(msgs))
	for i, m := range msgs {
		out[i] = message(m)
	}
	return out, nil
}

// receive calls ReceiveMessage on the queue at url, asking for the message
// attributes and the system attributes that message reads.
func (q *Queue) receive(ctx context.Context, url string, limit int, visibility, wait time.Duration) ([]types.Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              &url,
		MaxNumberOfMessages:   int32(min(max(limit, 1), maxBatch)),
		VisibilityTimeout:     max(seconds(visibility), 1),
		WaitTimeSeconds:       int32(min(max(wait, 0), maxWait) / time.Second),
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Delete deletes the message received with receiptHandle. A handle SQS
// reports invalid or unknown is an error wrapping wiresk.ErrNotFound.
//
// SQS accepts a stale handle (one from a receive before the latest): it
// answers success and does not delete the message, which comes back when
// its current visibility timeout ends. goaws refuses a stale handle, which
// the adapter reports as wrapping wiresk.ErrNotFound.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      &q.url,
		ReceiptHandle: &receiptHandle,
	})
	if err != nil {
		return fail(ctx, "delete message", err, deleteNotFound)
	}
	return nil
}

// ChangeVisibility makes the message received with receiptHandle visible d
// from now, in whole seconds rounded up; d <= 0 makes it visible at once,
// and d is capped at 12 hours (SQS also refuses a visibility that would end
// more than 12 hours after the receive). A handle SQS reports invalid or
// not in flight is an error wrapping wiresk.ErrNotFound.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	if err := q.changeVisibility(ctx, q.url, receiptHandle, d); err != nil {
		return fail(ctx, "change message visibility", err, visibilityNotFound)
	}
	return nil
}

// changeVisibility calls ChangeMessageVisibility on the queue at url.
func (q *Queue) changeVisibility(ctx context.Context, url, receiptHandle string, d time.Duration) error {
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          &url,
		ReceiptHandle:     &receiptHandle,
		VisibilityTimeout: seconds(d),
	})
	return err
}

// DeadLetters returns up to limit messages of the dead-letter queue (below 1
// counts as 1), in no particular order, without removing them: it receives
// them, then makes them visible again at once. SQS keeps neither a reason
// nor a time for the move, so Reason is "moved by the redrive policy after N
// receives", N being the queue's maxReceiveCount (read from its redrive
// policy, unless given to WithMaxReceives), and DeadAt is the time
// DeadLetters read the message, which is no earlier than the move.
// ReceiveCount is SQS's count, which keeps counting in the dead-letter
// queue, DeadLetters' own receives included.
//
// Like any receive of SQS it may return fewer dead letters than there are,
// and while it runs the dead letters it has read are invisible to other
// readers of the dead-letter queue.
func (q *Queue) DeadLetters(ctx context.Context, limit int) (dead []queue.DeadLetter, err error) {
	limit = max(limit, 1)
	var handles []string
	defer func() {
		// Make what was read visible again, even if a later step failed.
		if rerr := q.release(context.WithoutCancel(ctx), handles); rerr != nil && err == nil {
			dead, err = nil, rerr
		}
	}()
	seen := make(map[string]bool)
	for len(dead) < limit {
		msgs, err := q.receive(ctx, q.dlqURL, limit-len(dead), peekVisibility, peekWait)
		if err != nil {
			return nil, fail(ctx, "list dead letters", err, nil)
		}
		now := time.Now()
		fresh := 0
		for _, m := range msgs {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
			msg := message(m)
			if seen[msg.ID] || len(dead) == limit {
				continue
			}
			seen[msg.ID] = true
			fresh++
			dead = append(dead, queue.DeadLetter{Message: msg, DeadAt: now})
		}
		if fresh == 0 {
			break
		}
	}
	if len(dead) == 0 {
		return nil, nil
	}
	reason, err := q.deadReason(ctx)
	if err != nil {
		return nil, err
	}
	for i := range dead {
		dead[i].Reason = reason
	}
	return dead, nil
}

// Redrive sends the dead letters ids back to the queue and deletes them
// from the dead-letter queue. SQS can only find a message by receiving it,
// so Redrive receives from the dead-letter queue, up to limit distinct
// messages (below 1 counts as 1) or until it has found every id, and for
// each message asked for sends a new message to the queue with the same
// body and message attributes (with their data types), then deletes the
// dead letter; the others are made visible again before it returns. A crash
// between the send and the delete leaves the job in both queues (the dead
// letter comes back after 30 seconds), never in neither. The new message
// has a new id and a ReceiveCount of 0, as with SQS's own redrive.
//
// An id Redrive does not find is reported in NotFound, not as an error:
// like any receive of SQS it may miss some dead letters, and while it runs
// the dead letters it has read are invisible to other readers. On an error,
// the result lists what was moved before it.
func (q *Queue) Redrive(ctx context.Context, ids []string, limit int) (res queue.Redriven, err error) {
	limit = max(limit, 1)
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var handles []string
	defer func() {
		if rerr := q.release(context.WithoutCancel(ctx), handles); rerr != nil && err == nil {
			err = rerr
		}
		moved := make(map[string]bool, len(res.Moved))
		for _, m := range res.Moved {
			moved[m.ID] = true
		}
		for _, id := range ids {
			if !moved[id] && !slices.Contains(res.NotFound, id) {
				res.NotFound = append(res.NotFound, id)
			}
		}
	}()
	seen := make(map[string]bool)
	for len(seen) < limit && len(res.Moved) < len(want) {
		msgs, err := q.receive(ctx, q.dlqURL, limit-len(seen), peekVisibility, peekWait)
		if err != nil {
			return res, fail(ctx, "redrive dead letters", err, nil)
		}
		fresh := 0
		for i, m := range msgs {
			id, h := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle)
			if seen[id] || len(seen) == limit {
				handles = append(handles, h)
				continue
			}
			seen[id] = true
			fresh++
			if !want[id] {
				handles = append(handles, h)
				continue
			}
			newID, err := q.resend(ctx, m)
			if err != nil {
				for _, rest := range msgs[i:] {
					handles = append(handles, aws.ToString(rest.ReceiptHandle))
				}
				return res, err
			}
			// Sent: from here on the job is in the queue, whatever happens
			// to the dead letter.
			res.Moved = append(res.Moved, queue.Moved{ID: id, NewID: newID})
			if _, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.dlqURL, ReceiptHandle: &h}); err != nil {
				for _, rest := range msgs[i+1:] {
					handles = append(handles, aws.ToString(rest.ReceiptHandle))
				}
				return res, fail(ctx, "redrive dead letters: delete "+id+" from the dead-letter queue (it was sent to the queue)", err, nil)
			}
		}
		if fresh == 0 {
			break
		}
	}
	return res, nil
}

// resend sends the queue a copy of the dead letter m: its body and message
// attributes as received.
func (q *Queue) resend(ctx context.Context, m types.Message) (string, error) {
	in := &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: m.Body}
	if len(m.MessageAttributes) > 0 {
		in.MessageAttributes = m.MessageAttributes
	}
	out, err := q.client.SendMessage(ctx, in)
	if err != nil {
		return "", fail(ctx, "redrive dead letters: send "+aws.ToString(m.MessageId)+" to the queue", err, nil)
	}
	if out.MessageId == nil || *out.MessageId == "" {
		return "", errors.New("redrive dead letters: SQS returned no message id")
	}
	return *out.MessageId, nil
}

// release makes the messages received from the dead-letter queue with
// handles visible again. A handle no longer in flight is fine: its message
// is visible already, or was deleted meanwhile.
func (q *Queue) release(ctx context.Context, handles []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(handles))
	for i, h := range handles {
		wg.Go(func() {
			err := q.changeVisibility(ctx, q.dlqURL, h, 0)
			if err != nil && !hasCode(err, visibilityNotFound) {
				errs[i] = fail(ctx, "list dead letters: make them visible again", err, nil)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deadReason returns the Reason of the dead letters, from the redrive
// policy of the queue.
func (q *Queue) deadReason(ctx context.Context) (string, error) {
	if q.maxReceives > 0 {
		return receivesReason(q.maxReceives), nil
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       &q.url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return "", fail(ctx, "list dead letters: read the redrive policy", err, nil)
	}
	n, err := maxReceiveCount(out.Attributes[string(types.QueueAttributeNameRedrivePolicy)])
	if err != nil {
		return "moved by the redrive policy", nil
	}
	return receivesReason(n), nil
}

// receivesReason is the Reason of a dead letter moved after n receives.
func receivesReason(n int) string {
	if n == 1 {
		return "moved by the redrive policy after 1 receive"
	}
	return fmt.Sprintf("moved by the redrive policy after %d receives", n)
}

// maxReceiveCount reads the maxReceiveCount of a redrive policy, which SQS
// gives as a number and goaws as a string.
func maxReceiveCount(policy string) (int, error) {
	var p struct {
		MaxReceiveCount json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.Trim(string(p.MaxReceiveCount), `"`))
}

// Stats reads SQS's approximate counts, with one GetQueueAttributes call on
// each queue: Visible is the queue's ApproximateNumberOfMessages, InFlight
// its ApproximateNumberOfMessagesNotVisible, Dead the dead-letter queue's
// ApproximateNumberOfMessages. SQS updates them about a minute behind at
// worst. A dead letter in flight (being read by DeadLetters, or by a
// redrive) is not counted.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	main, err := q.counts(ctx, q.url,
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	if err != nil {
		return queue.Stats{}, err
	}
	dead, err := q.counts(ctx, q.dlqURL, types.QueueAttributeNameApproximateNumberOfMessages)
	if err != nil {
		return queue.Stats{}, err
	}
	return queue.Stats{Visible: main[0], InFlight: main[1], Dead: dead[0]}, nil
}

// counts reads the integer attributes names of the queue at url.
func (q *Queue) counts(ctx context.Context, url string, names ...types.QueueAttributeName) ([]int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       &url,
		AttributeNames: names,
	})
	if err != nil {
		return nil, fail(ctx, "read queue stats", err, nil)
	}
	n := make([]int, len(names))
	for i, name := range names {
		v, ok := out.Attributes[string(name)]
		if !ok {
			return nil, fmt.Errorf("read queue stats: SQS did not return %s", name)
		}
		if n[i], err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("read queue stats: %s: %w", name, err)
		}
	}
	return n, nil
}

// message converts a received SQS message.
func message(m types.Message) queue.Message {
	msg := queue.Message{
		ID:            aws.ToString(m.MessageId),
		Body:          []byte(aws.ToString(m.Body)),
		ReceiptHandle: aws.ToString(m.ReceiptHandle),
	}
	for k, v := range m.MessageAttributes {
		t := aws.ToString(v.DataType)
		if v.StringValue == nil || !(strings.HasPrefix(t, "String") || strings.HasPrefix(t, "Number")) {
			continue
		}
		if msg.Attributes == nil {
			msg.Attributes = make(map[string]string, len(m.MessageAttributes))
		}
		msg.Attributes[k] = *v.StringValue
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		msg.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(ms)
	}
	return msg
}

// seconds converts d to whole seconds for SQS, rounding up, between 0 and
// 12 hours.
func seconds(d time.Duration) int32 {
	d = min(max(d, 0), maxVisibility)
	return int32((d + time.Second - 1) / time.Second)
}

// Error codes that mean a receipt handle names no message the operation can
// act on, as SQS and goaws spell them, without the
// "AWS.SimpleQueueService." prefix and lower-cased.
var (
	// deleteNotFound are DeleteMessage's. goaws answers an unknown handle
	// with "QueueExists" (its MessageDoesNotExist error, mislabelled).
	deleteNotFound = []string{"receipthandleisinvalid", "invalididformat", "messagedoesnotexist", "queueexists"}
	// visibilityNotFound are ChangeMessageVisibility's. SQS spells
	// MessageNotInflight, goaws MessageNotInFlight.
	visibilityNotFound = []string{"receipthandleisinvalid", "invalididformat", "messagenotinflight", "messagedoesnotexist"}
)

// hasCode reports whether err is an error SQS answered with one of codes.
func hasCode(err error, codes []string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	code := strings.ToLower(ae.ErrorCode())
	code = strings.TrimPrefix(code, "aws.simplequeueservice.")
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// fail returns the error of operation op: ctx.Err() if ctx is done, an
// error wrapping wiresk.ErrNotFound and err if err has one of notFound's
// codes, else err with op as context.
func fail(ctx context.Context, op string, err error, notFound []string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if hasCode(err, notFound) {
		return fmt.Errorf("%s: receipt handle: %w (%w)", op, wiresk.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
