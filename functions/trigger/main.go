// Command trigger is the webhook ingress Lambda function: API Gateway's
// POST /v1/hooks/{routingKey} route, served by httpapi.Hooks over the
// DynamoDB store and the SQS run queue. It answers 202 {"runId"} only once
// SQS has accepted the job.
//
// Environment:
//
//	WIRESK_TABLE           DynamoDB table (required)
//	WIRESK_QUEUE_URL       SQS run queue URL (required)
//	WIRESK_MAX_BODY_BYTES  webhook body limit in bytes (default 262144)
//	WIRESK_GROUP_RUNS_PER_MINUTE  Runs each Group's webhooks may start a
//	                       minute in one instance, 429 above (default 3000, 0: no cap)
//	WIRESK_LOG_LEVEL       debug, info, warn or error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/dynamo"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/ratelimit"
	"wiresk/internal/sqsqueue"
)

// maxLambdaBody is Lambda's limit on a synchronous invocation's payload; a
// larger webhook body limit could never be reached.
const maxLambdaBody = 6 << 20

type config struct {
	Table    string
	QueueURL string
	MaxBody  int64
	// RunsPerMinute caps the Runs a Group starts a minute, per instance.
	RunsPerMinute int
	LogLevel      slog.Level
}

// deps are the adapters the handler runs on: DynamoDB and SQS in Lambda,
// the embedded ones in tests.
type deps struct {
	Store  ingest.Lookup
	Queue  ingest.Enqueuer
	Logger *slog.Logger
}

// handler is what lambda.Start runs.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk trigger: configuration:", err)
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

// newHandler returns the Lambda handler: the Hooks HTTP handler behind the
// API Gateway v2 adapter.
func newHandler(cfg config, d deps) handler {
	hooks := &httpapi.Hooks{
		Ingest:  &ingest.Service{Store: d.Store, Queue: d.Queue, Limit: &ratelimit.PerGroup{PerMinute: cfg.RunsPerMinute}, Logger: d.Logger},
		MaxBody: cfg.MaxBody,
		Logger:  d.Logger,
	}
	proxy := httpadapter.NewV2(exactHeaders{hooks}).ProxyWithContext
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return proxy(context.WithValue(ctx, eventHeadersKey{}, ev.Headers), ev)
	}
}

type eventHeadersKey struct{}

// exactHeaders gives next each header value as API Gateway passed it on.
// The adapter splits values at every comma (and trims the parts), which
// would turn a signature header such as Stripe's "t=…,v1=…" into
// "t=…, v1=…" once stored; the webhook must be kept as it was sent.
type exactHeaders struct{ next http.Handler }

// ServeHTTP implements http.Handler.
func (e exactHeaders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hs, ok := r.Context().Value(eventHeadersKey{}).(map[string]string); ok {
		for k, v := range hs {
			r.Header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
		}
	}
	e.next.ServeHTTP(w, r)
}

// loadConfig reads the configuration through getenv (os.Getenv).
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{Table: getenv("WIRESK_TABLE"), QueueURL: getenv("WIRESK_QUEUE_URL"), MaxBody: httpapi.DefaultMaxBody, RunsPerMinute: ratelimit.DefaultPerMinute}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("WIRESK_TABLE is required (the DynamoDB table name)"))
	}
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("WIRESK_QUEUE_URL is required (the SQS run queue URL)"))
	}
	if v := getenv("WIRESK_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > maxLambdaBody {
			errs = append(errs, fmt.Errorf("WIRESK_MAX_BODY_BYTES=%q: want a number of bytes from 1 to %d (Lambda's payload limit)", v, maxLambdaBody))
		}
		cfg.MaxBody = n
	}
	if v := getenv("WIRESK_GROUP_RUNS_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("WIRESK_GROUP_RUNS_PER_MINUTE=%q: want a number of Runs a minute, 0 for no cap", v))
		}
		cfg.RunsPerMinute = n
	}
	if v := getenv("WIRESK_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return cfg, errors.Join(errs...)
}
