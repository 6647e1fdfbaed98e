package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/queue"
)

// visibility is a fake: ChangeVisibility through a function field.
type visibility struct {
	fn func(ctx context.Context, handle string, d time.Duration) error
}

func (v visibility) ChangeVisibility(ctx context.Context, handle string, d time.Duration) error {
	return v.fn(ctx, handle, d)
}

func TestWithRetryBackoff(t *testing.T) {
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "ok", ReceiptHandle: "h-ok", Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
		{MessageId: "bad", ReceiptHandle: "h-bad", Attributes: map[string]string{"ApproximateReceiveCount": "3"}},
	}}
	got := map[string]time.Duration{}
	h := queue.WithRetryBackoff(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "bad"}}}, nil
	}, visibility{fn: func(_ context.Context, handle string, d time.Duration) error {
		got[handle] = d
		return errors.New("throttled") // logged, and the failure is still reported
	}}, nil, nil)
	resp, err := h(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "bad" {
		t.Fatalf("failures = %+v, want only bad", resp.BatchItemFailures)
	}
	if len(got) != 1 || got["h-bad"] != queue.DefaultRetryDelay(3) {
		t.Fatalf("visibility changes = %v, want h-bad → %s", got, queue.DefaultRetryDelay(3))
	}
}
