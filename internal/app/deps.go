package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
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
	"wiresk/internal/run"
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
	run.Enqueuer
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

// An adapter builds one of the adapters from the SDK configuration into d.
// Each Lambda entry point names the ones its function uses, so that a
// bootstrap links (and a cold start pays for) nothing else.
type adapter func(awsCfg aws.Config, cfg Config, d *Deps) error

// store builds the DynamoDB store.
func store(awsCfg aws.Config, cfg Config, d *Deps) error {
	d.Store = dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	return nil
}

// runQueue builds the SQS run queue.
func runQueue(awsCfg aws.Config, cfg Config, d *Deps) error {
	d.Queue = sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, "")
	return nil
}

// vault builds the Secrets Manager vault under cfg.SecretPrefix and loads
// the embedded app catalog, which every user of Connections needs.
func vault(awsCfg aws.Config, cfg Config, d *Deps) error {
	v, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretPrefix, secrets.Options{})
	if err != nil {
		return fmt.Errorf("WIRESK_SECRET_PREFIX: %w", err)
	}
	d.Vault, d.Catalog = v, catalog.MustLoad()
	return nil
}

// stateKey loads the OAuth state key from (or makes it in) the vault on
// first use; after vault.
func stateKey(_ aws.Config, _ Config, d *Deps) error {
	v := d.Vault
	d.StateKey = func(ctx context.Context) ([]byte, error) { return connect.LoadStateKey(ctx, v) }
	return nil
}

// forLambda is a Lambda function's start: it reads role's configuration
// through getenv, takes the SDK configuration main loaded (and its error),
// builds the adapters and wires them. Any problem ends the process with a
// clear message, before the function takes its first event.
func forLambda(role Role, getenv func(string) string, awsCfg aws.Config, awsErr error, adapters ...adapter) *App {
	cfg, err := Load(role, getenv)
	Exit(string(role)+": configuration", err)
	Exit(string(role)+": AWS configuration", awsErr)
	d := Deps{Logger: NewLogger(cfg)}
	for _, build := range adapters {
		Exit(string(role), build(awsCfg, cfg, &d))
	}
	return Build(cfg, d)
}

// TriggerLambda is the trigger function's handler (App.Trigger).
func TriggerLambda(getenv func(string) string, awsCfg aws.Config, err error) HTTPHandler {
	return forLambda(Trigger, getenv, awsCfg, err, store, runQueue).Trigger()
}

// ManageLambda is the manage function's handler (App.Manage).
func ManageLambda(getenv func(string) string, awsCfg aws.Config, err error) HTTPHandler {
	return forLambda(Manage, getenv, awsCfg, err, store, runQueue).Manage()
}

// ConnectionsLambda is the connections function's handler (App.Connections).
func ConnectionsLambda(getenv func(string) string, awsCfg aws.Config, err error) HTTPHandler {
	return forLambda(Connections, getenv, awsCfg, err, store, vault, stateKey).Connections()
}

// OAuthCallbackLambda is the oauthcallback function's handler
// (App.OAuthBrowser).
func OAuthCallbackLambda(getenv func(string) string, awsCfg aws.Config, err error) HTTPHandler {
	return forLambda(OAuthCallback, getenv, awsCfg, err, store, vault, stateKey).OAuthBrowser()
}

// WorkerLambda is the worker function's handler (App.Worker).
func WorkerLambda(getenv func(string) string, awsCfg aws.Config, err error) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return forLambda(Worker, getenv, awsCfg, err, store, runQueue, vault).Worker()
}

// HealthLambda is the health function's handler (App.Health).
func HealthLambda(getenv func(string) string, awsCfg aws.Config, err error) func(context.Context, events.CloudWatchEvent) (connect.HealthReport, error) {
	return forLambda(Health, getenv, awsCfg, err, store, vault).Health()
}

// Exit prints err as what went wrong while starting the function name, and
// exits with status 1; it does nothing for a nil err.
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "wiresk %s: %v\n", name, err)
		os.Exit(1)
	}
}
