// Command manage is the management API Lambda function: every /v1 route of
// httpapi.Management behind API Gateway's JWT authorizer, over the DynamoDB
// store and the SQS run queue (Run Once and replay enqueue jobs). The caller
// is the authorizer's verified sub claim; its groups claim grants member
// access.
//
// Environment:
//
//	WIRESK_TABLE          DynamoDB table (required)
//	WIRESK_QUEUE_URL      SQS run queue URL (required)
//	WIRESK_PUBLIC_URL     base of the webhook URLs shown on triggers; empty:
//	                      https://<domain the request came in on>
//	WIRESK_GROUPS_CLAIM   JWT claim listing Group ids (default groups)
//	WIRESK_RUN_ONCE_WAIT  how long Run Once waits for its Run (default 25s,
//	                      below API Gateway's 30 s)
//	WIRESK_LOG_LEVEL      debug, info, warn or error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/auth"
	"wiresk/internal/dynamo"
	"wiresk/internal/httpapi"
	"wiresk/internal/lambdaweb"
	"wiresk/internal/manage"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/step"
)

// maxRunOnceWait keeps Run Once under API Gateway's 30 s integration
// timeout.
const maxRunOnceWait = 29 * time.Second

type config struct {
	Table       string
	QueueURL    string
	PublicURL   string
	GroupsClaim string
	RunOnceWait time.Duration
	LogLevel    slog.Level
}

// deps are the adapters the handler runs on: DynamoDB and SQS in Lambda,
// the embedded ones in tests.
type deps struct {
	Store  manage.Store
	Queue  manage.Enqueuer
	Logger *slog.Logger
}

// handler is what lambda.Start runs.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk manage: configuration:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(newHandler(cfg, deps{
		Store:  dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{}),
		Queue:  sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, ""),
		Logger: log,
	}))
}

// newHandler returns the Lambda handler: the Management HTTP handler, with
// identities from the JWT authorizer, behind the API Gateway v2 adapter.
func newHandler(cfg config, d deps) handler {
	svc := &manage.Service{
		Store: d.Store,
		Queue: d.Queue,
		// The management API only validates steps; the worker runs them
		// (with its own SSRF guard).
		Kinds:       step.NewCatalog(&step.HTTP{}),
		RunOnceWait: cfg.RunOnceWait,
		Logger:      d.Logger,
	}
	authn := auth.APIGateway{GroupsClaim: cfg.GroupsClaim}
	var h http.Handler
	if cfg.PublicURL != "" {
		h = httpapi.NewManagement(svc, authn, cfg.PublicURL, d.Logger)
	} else {
		h = lambdaweb.ByDomain(func(public string) http.Handler { return httpapi.NewManagement(svc, authn, public, d.Logger) })
	}
	return httpadapter.NewV2(h).ProxyWithContext
}

// loadConfig reads the configuration through getenv (os.Getenv).
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Table:       getenv("WIRESK_TABLE"),
		QueueURL:    getenv("WIRESK_QUEUE_URL"),
		PublicURL:   getenv("WIRESK_PUBLIC_URL"),
		GroupsClaim: getenv("WIRESK_GROUPS_CLAIM"),
		RunOnceWait: 25 * time.Second,
	}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("WIRESK_TABLE is required (the DynamoDB table name)"))
	}
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("WIRESK_QUEUE_URL is required (the SQS run queue URL)"))
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("WIRESK_PUBLIC_URL=%q: want an absolute http(s) URL such as https://hooks.example.com, or nothing", cfg.PublicURL))
		}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if v := getenv("WIRESK_RUN_ONCE_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxRunOnceWait {
			errs = append(errs, fmt.Errorf("WIRESK_RUN_ONCE_WAIT=%q: want a duration such as 25s, at most %s (API Gateway gives up after 30 s)", v, maxRunOnceWait))
		}
		cfg.RunOnceWait = d
	}
	if v := getenv("WIRESK_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return cfg, errors.Join(errs...)
}
