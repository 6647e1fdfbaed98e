// Package queue provides the message type shared by the queue adapters and
// the Pump that drains a queue into an SQS-event handler, the way Lambda's
// SQS event source does in AWS.
package queue

import "time"

// Message is one received message.
type Message struct {
	// ID is the queue-assigned message id.
	ID string
	// Body is the payload as sent.
	Body []byte
	// Attributes are the string message attributes given to Send.
	Attributes map[string]string
	// ReceiptHandle identifies this receive; Delete and ChangeVisibility take
	// it. A handle from an earlier receive of the same message is stale.
	ReceiptHandle string
	// ReceiveCount is how many times the message has been received,
	// including this time (SQS's ApproximateReceiveCount).
	ReceiveCount int
	// SentAt is when the message was first sent.
	SentAt time.Time
}

// DeadLetter is a message moved to the dead-letter list because it was
// received the maximum number of times without being deleted, the way an SQS
// redrive policy moves it to a dead-letter queue.
type DeadLetter struct {
	Message
	// Reason says why the message was given up on, for people to read.
	Reason string
	// DeadAt is when the message was moved to the dead-letter list.
	DeadAt time.Time
}

// Stats counts the messages of a queue. Counts may be approximate for
// remote queues, as SQS's are.
type Stats struct {
	// Visible is the number of messages that a Receive could return now.
	Visible int
	// InFlight is the number of received messages whose visibility timeout
	// has not expired yet.
	InFlight int
	// Dead is the number of messages in the dead-letter list.
	Dead int
}

// Redriven is what a Redrive did: the dead letters it sent back to the queue
// and the ids it was asked for but did not find.
type Redriven struct {
	// Moved are the dead letters sent back to the queue, in the order they
	// were found.
	Moved []Moved
	// NotFound are the ids asked for that were not among the dead letters
	// Redrive looked at, in the order they were asked for: unknown, redriven
	// already, or beyond what it looked at.
	NotFound []string
}

// Moved is one dead letter sent back to the queue.
type Moved struct {
	// ID is the dead letter's message id.
	ID string
	// NewID is the id of the message sent to the queue in its place, with
	// the same body and attributes; its ReceiveCount starts again from 0.
	NewID string
}
