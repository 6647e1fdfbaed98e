package sqsqueue

import (
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/queue"
)

// The queue ports this adapter implements, as their consumers declare them.
var (
	_ ingest.Enqueuer         = (*Queue)(nil)
	_ manage.Enqueuer         = (*Queue)(nil)
	_ queue.VisibilityChanger = (*Queue)(nil)
)
