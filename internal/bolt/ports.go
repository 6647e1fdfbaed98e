package bolt

import (
	"wiresk/internal/connection"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/worker"
)

// The store ports this adapter implements, as their consumers declare them.
var (
	_ ingest.Lookup    = (*Store)(nil)
	_ manage.Store     = (*Store)(nil)
	_ worker.Store     = (*Store)(nil)
	_ connection.Store = (*Store)(nil)
)

// The queue ports.
var (
	_ run.Enqueuer            = (*Queue)(nil)
	_ queue.VisibilityChanger = (*Queue)(nil)
	_ manage.DeadLetterQueue  = (*Queue)(nil)
)
