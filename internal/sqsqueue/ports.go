package sqsqueue

import (
	"wiresk/internal/queue"
	"wiresk/internal/run"
)

// The queue ports this adapter implements, as their consumers declare them.
var (
	_ run.Enqueuer            = (*Queue)(nil)
	_ queue.VisibilityChanger = (*Queue)(nil)
)
