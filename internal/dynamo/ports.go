package dynamo

import (
	"wiresk/internal/connection"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/worker"
)

// The store ports this adapter implements, as their consumers declare them.
var (
	_ ingest.Lookup    = (*Store)(nil)
	_ manage.Store     = (*Store)(nil)
	_ worker.Store     = (*Store)(nil)
	_ connection.Store = (*Store)(nil)
)
