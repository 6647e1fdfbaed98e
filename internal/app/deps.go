package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/queue"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/worker"
)

// Store is the store port as the functions use it: each use case's
// consumer-side Store, which the DynamoDB and bbolt stores both implement.
type Store interface {
	manage.Store
	worker.Store
	ingest.Lookup
	connect.Store
}

// Queue is the run queue as the functions use it: jobs are sent to it, and
// failed ones get a shorter visibility (the worker's retry backoff).
type Queue interface {
	ingest.Enqueuer
	queue.VisibilityChanger
}

// Deps are the adapters an App runs on: DynamoDB, SQS and Secrets Manager
// in Lambda (AWSDeps), the embedded ones in tests. A function uses only the
// fields its Role needs.
type Deps struct {
	Store   Store
	Queue   Queue
	Vault   connect.Vault
	Catalog *catalog.Catalog
	// StateKey returns the OAuth state key (connections, oauthcallback);
	// it is called until it succeeds once.
	StateKey func(context.Context) ([]byte, error)
	// Connections authenticates the worker's steps; nil: connect's Credentials
	// over Store, Vault and Catalog.
	Connections worker.Connections
	Logger      *slog.Logger
}

// NewLogger returns the JSON logger of cfg's level, also made the default.
func NewLogger(cfg Config) *slog.Logger {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	return log
}

// AWSDeps builds, from one SDK configuration, the adapters cfg's Role
// uses, and nothing else (a cold start pays only for what it serves): the
// DynamoDB store, the SQS run queue, the Secrets Manager vault under
// cfg.SecretPrefix, the embedded app catalog, and the OAuth state key
// loaded from (or made in) that vault on first use.
func AWSDeps(awsCfg aws.Config, cfg Config, log *slog.Logger) (Deps, error) {
	d := Deps{
		Store:  dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention}),
		Logger: log,
	}
	if cfg.Role.queue() {
		d.Queue = sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, "")
	}
	if cfg.Role.secrets() {
		vault, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretPrefix, secrets.Options{})
		if err != nil {
			return Deps{}, fmt.Errorf("WIRESK_SECRET_PREFIX: %w", err)
		}
		d.Vault, d.Catalog = vault, catalog.MustLoad()
		if cfg.Role == Connections || cfg.Role == OAuthCallback {
			d.StateKey = func(ctx context.Context) ([]byte, error) { return connect.LoadStateKey(ctx, vault) }
		}
	}
	return d, nil
}

// Exit prints err as what went wrong while starting the function name, and
// exits with status 1; it does nothing for a nil err.
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "wiresk %s: %v\n", name, err)
		os.Exit(1)
	}
}
