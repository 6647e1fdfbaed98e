package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/ingest"
	"wiresk/internal/logctx"
	"wiresk/internal/manage"
	"wiresk/internal/metrics"
	"wiresk/internal/poll"
	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/worker"
)

// Store is the store port as the functions use it: each use case's
// consumer-side Store, which the DynamoDB and bbolt stores both implement.
type Store interface {
	manage.Store
	worker.Store
	worker.Schedules
	poll.Store
	ScheduleLister
	ingest.Lookup
	connect.Store
}

// Queue is the run queue as the functions use it: jobs are sent to it, and
// failed ones get a shorter visibility (the worker's retry backoff).
type Queue interface {
	run.Enqueuer
	queue.VisibilityChanger
}

// Bodies is the body store as the functions use it: the trigger puts the
// webhook bodies too large for a queue message, the worker gets them
// (S3 in Lambda, the data directory locally).
type Bodies interface {
	ingest.Bodies
	worker.Bodies
}

// Deps are the adapters an App runs on: DynamoDB, SQS and Secrets Manager
// in Lambda (built by each function's main), the embedded ones locally and
// in tests. A function uses only the fields its Role needs.
type Deps struct {
	Store Store
	Queue Queue
	Vault connect.Vault
	// Bodies keeps the webhook bodies stored by reference (trigger,
	// worker); nil: bodies over run.InlineBodyMax are refused 413.
	Bodies  Bodies
	Catalog *catalog.Catalog
	// StateKey returns the OAuth state key (connections, oauthcallback);
	// it is called until it succeeds once.
	StateKey func(context.Context) ([]byte, error)
	// Connections authenticates the worker's steps; nil: connect's Credentials
	// over Store, Vault and Catalog.
	Connections worker.Connections
	// Scheduler holds the schedules of schedule triggers (manage: EventBridge
	// Scheduler); nil when nothing does, as in the local runner, whose
	// scheduler reads the store.
	Scheduler manage.Scheduler
	// DeadLetters is the run queue's dead-letter queue, which the
	// management API lists and redrives (manage: SQS's, told the queue's
	// maxReceiveCount; locally the bolt queue's); nil: none, and the
	// dead-job routes answer 503.
	DeadLetters manage.DeadLetterQueue
	Logger      *slog.Logger
	// Metrics receives the use cases' metrics; nil: EMF lines on stdout
	// when Config.MetricsNamespace is set, none otherwise.
	Metrics *metrics.Emitter
}

// NewLogger returns the JSON logger of cfg's level, also made the default;
// each line carries the ids its context holds (package logctx).
func NewLogger(cfg Config) *slog.Logger {
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel})))
	slog.SetDefault(log)
	return log
}

// MustLoad reads role's configuration through getenv and sets up the
// process's JSON logger at its level; a bad configuration ends the process
// with a message naming every problem.
func MustLoad(role Role, getenv func(string) string) (Config, *slog.Logger) {
	cfg, err := Load(role, getenv)
	Exit(string(role)+": configuration", err)
	return cfg, NewLogger(cfg)
}

// StateKey returns the loader of the OAuth state key from (or made in) v,
// for Deps.StateKey: it runs on first use.
func StateKey(v connect.StateKeyVault) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return connect.LoadStateKey(ctx, v) }
}

// Exit prints err as what went wrong while starting the function name, and
// exits with status 1; it does nothing for a nil err.
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "wiresk %s: %v\n", name, err)
		os.Exit(1)
	}
}
