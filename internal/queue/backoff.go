package queue

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// VisibilityChanger changes how long a received message stays hidden.
// ChangeVisibility errors are reported as-is; a stale handle may fail.
type VisibilityChanger interface {
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// WithRetryBackoff wraps an SQS-event handler for Lambda: every record the
// handler reports as failed gets the visibility delay(receiveCount), so that
// it is redelivered after a backoff (1 s, 2 s, 4 s, … by default) instead of
// after the queue's whole visibility timeout, as the local Pump does. A
// failed visibility change is logged and changes nothing else: the record
// is still reported failed and comes back after the visibility timeout.
func WithRetryBackoff(h Handler, q VisibilityChanger, delay func(receiveCount int) time.Duration, log *slog.Logger) Handler {
	if delay == nil {
		delay = DefaultRetryDelay
	}
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := h(ctx, ev)
		if err != nil {
			return resp, err
		}
		failed := make(map[string]bool, len(resp.BatchItemFailures))
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, rec := range ev.Records {
			if !failed[rec.MessageId] {
				continue
			}
			n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
			if err := q.ChangeVisibility(ctx, rec.ReceiptHandle, delay(max(n, 1))); err != nil {
				log.WarnContext(ctx, "could not shorten the retry delay", "messageId", rec.MessageId, "err", err)
			}
		}
		return resp, nil
	}
}
