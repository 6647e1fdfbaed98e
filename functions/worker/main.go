// Command worker is the Lambda function that runs the jobs of the SQS run
// queue: worker.Worker over the DynamoDB store and the step catalog. Its SQS
// event source uses ReportBatchItemFailures, so only the failed records of a
// batch are redelivered.
//
// Environment:
//
//	WIRESK_TABLE               DynamoDB table (required)
//	WIRESK_SECRET_PREFIX       Secrets Manager prefix of Connection secrets
//	                           (required, like wiresk/dev)
//	WIRESK_QUEUE_URL           SQS run queue URL (required): failed jobs get a
//	                           short visibility (retry backoff)
//	WIRESK_MAX_RECEIVES        the run queue's maxReceiveCount (required): on
//	                           that delivery a failure is final
//	WIRESK_HTTP_ALLOW_CIDRS    private CIDRs HTTP steps may call (default
//	                           none: no loopback, private or metadata address)
//	WIRESK_RUN_RETENTION_DAYS  days a Run is kept before TTL deletes it
//	                           (default 30; 0 keeps Runs forever)
//	WIRESK_RENDER_MEMORY_MB    MiB that the step templates rendered at once
//	                           may use (default 128: see package template)
//	WIRESK_LOG_LEVEL           debug, info, warn or error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/egress"
	"wiresk/internal/queue"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/step"
	"wiresk/internal/template"
	"wiresk/internal/worker"
)

type config struct {
	Table        string
	QueueURL     string
	SecretPrefix string
	MaxReceives  int
	Guard        *egress.Guard
	RunRetention time.Duration
	RenderBudget int64 // units, for template.SetProcessBudget
	LogLevel     slog.Level
}

// deps are the adapters the handler runs on: DynamoDB in Lambda, the
// embedded store in tests.
type deps struct {
	Store worker.Store
	// Queue shortens the visibility of failed jobs (retry backoff).
	Queue queue.VisibilityChanger
	// Connections authenticates steps that name a Connection.
	Connections worker.Connections
	Logger      *slog.Logger
}

// handler is what lambda.Start runs.
type handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk worker: configuration:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	template.SetProcessBudget(cfg.RenderBudget)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	vault, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretPrefix, secrets.Options{})
	if err != nil {
		log.Error("secrets", "err", err)
		os.Exit(1)
	}
	guarded := egress.NewClient(cfg.Guard)
	lambda.Start(newHandler(cfg, deps{
		Store: store,
		Queue: sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, ""),
		// Only Credential and Authenticator are used here: no Group
		// checks, no authorizations started.
		Connections: &connect.Service{Store: store, Vault: vault, Catalog: catalog.MustLoad(),
			Apps: &appcall.Client{Engine: egress.Engine{Client: guarded}}, HTTPClient: guarded, Logger: log},
		Logger: log,
	}))
}

// newHandler returns the Lambda handler: the worker's SQS batch handler with
// the step catalog, whose HTTP steps go through the SSRF guard.
func newHandler(cfg config, d deps) handler {
	steps := step.Catalog{"http": {"request": &step.HTTP{Engine: egress.Engine{Client: egress.NewClient(cfg.Guard), Guard: cfg.Guard}}}}
	w := &worker.Worker{Store: d.Store, Steps: steps, Connections: d.Connections, MaxReceives: cfg.MaxReceives, Logger: d.Logger}
	return queue.WithRetryBackoff(w.Handle, d.Queue, queue.DefaultRetryDelay, d.Logger)
}

// loadConfig reads the configuration through getenv (os.Getenv).
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{Table: getenv("WIRESK_TABLE"), QueueURL: getenv("WIRESK_QUEUE_URL"), SecretPrefix: getenv("WIRESK_SECRET_PREFIX"), RunRetention: 30 * 24 * time.Hour}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("WIRESK_TABLE is required (the DynamoDB table name)"))
	}
	if cfg.SecretPrefix == "" {
		errs = append(errs, errors.New("WIRESK_SECRET_PREFIX is required (like wiresk/dev: Connection secrets are read under it)"))
	}
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("WIRESK_QUEUE_URL is required (the SQS run queue URL, for the retry backoff)"))
	}
	if v := getenv("WIRESK_MAX_RECEIVES"); v == "" {
		errs = append(errs, errors.New("WIRESK_MAX_RECEIVES is required: the run queue's maxReceiveCount"))
	} else if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
		errs = append(errs, fmt.Errorf("WIRESK_MAX_RECEIVES=%q: want the run queue's maxReceiveCount, 1 to 1000", v))
	} else {
		cfg.MaxReceives = n
	}
	guard, err := egress.NewGuard(getenv(egress.AllowEnv))
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Guard = guard
	if v := getenv("WIRESK_RUN_RETENTION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3650 {
			errs = append(errs, fmt.Errorf("WIRESK_RUN_RETENTION_DAYS=%q: want a number of days from 0 (keep Runs forever) to 3650", v))
		}
		cfg.RunRetention = time.Duration(n) * 24 * time.Hour
	}
	if cfg.RenderBudget, err = template.ParseMemoryEnv(getenv(template.MemoryEnv)); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("WIRESK_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return cfg, errors.Join(errs...)
}
