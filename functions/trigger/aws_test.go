package main

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"wiresk/internal/apikey"
	"wiresk/internal/dynamo"
	"wiresk/internal/flow"
	"wiresk/internal/httpapi"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/testkit/emulator"
	"wiresk/internal/trigger"
)

// opLog records the SDK operations a client performs, through a real SDK
// middleware (not a mock): one entry per operation call.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("wiresk-count",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			l.mu.Lock()
			l.ops = append(l.ops, awsmiddleware.GetOperationName(ctx))
			l.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ops
	l.ops = nil
	return out
}

// TestAcceptedWebhookCostsOneReadAndOneSend drives the trigger function's
// real handler on DynamoDB Local and goaws with the sample event: an
// accepted webhook costs exactly one DynamoDB call (BatchGetItem) and one
// SQS call (SendMessage), and no write to the table.
func TestAcceptedWebhookCostsOneReadAndOneSend(t *testing.T) {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("wiresk", "wiresk", "")
	ddbOps, sqsOps := &opLog{}, &opLog{}
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(emulator.DynamoDB(t)),
		APIOptions: []func(*middleware.Stack) error{ddbOps.middleware}}, dynamo.ValidateResponseChecksum)
	sq := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(emulator.GoAWS(t)),
		APIOptions: []func(*middleware.Stack) error{sqsOps.middleware}}, sqsqueue.AvoidRequestBodyRace)
	if err := dynamo.CreateTable(ctx, ddb, "wiresk-test"); err != nil {
		t.Fatal(err)
	}
	queueURL, dlqURL, err := sqsqueue.CreateQueues(ctx, sq, "wiresk-test", 5, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(ddb, "wiresk-test", dynamo.Options{})
	q := sqsqueue.New(sq, queueURL, dlqURL)

	ev := readEvent(t, "trigger-webhook.json")
	seedSample(t, store, ev, "New contact", []flow.Step{{ID: "notify", App: "http", Method: "request", Input: map[string]any{"url": "https://crm.example/contacts"}}})
	ddbOps.take()
	sqsOps.take()

	h := newHandler(config{MaxBody: httpapi.DefaultMaxBody}, deps{Store: store, Queue: q})
	resp, err := h(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status: got %d %s, want 202", resp.StatusCode, resp.Body)
	}
	if got, want := ddbOps.take(), []string{"BatchGetItem"}; !slices.Equal(got, want) {
		t.Errorf("DynamoDB calls: got %v, want %v", got, want)
	}
	if got, want := sqsOps.take(), []string{"SendMessage"}; !slices.Equal(got, want) {
		t.Errorf("SQS calls: got %v, want %v", got, want)
	}

	// The job is really on the queue.
	msgs, err := q.Receive(ctx, 10, time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Attributes["groupId"] != "grp_sample" {
		t.Fatalf("queue holds %d messages (%+v), want the one job", len(msgs), msgs)
	}

	sqsOps.take()

	// A mistyped key is refused before any AWS call.
	key := ev.Headers["x-api-key"]
	last := "x"
	if key[len(key)-1] == 'x' {
		last = "y"
	}
	ev.Headers["x-api-key"] = key[:len(key)-1] + last
	resp, err = h(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("mistyped key: got %d, want 401", resp.StatusCode)
	}
	if got := append(ddbOps.take(), sqsOps.take()...); len(got) != 0 {
		t.Errorf("a mistyped key cost AWS calls %v, want none", got)
	}
}

// seedSample stores the API key, an enabled Flow of steps named flowName,
// and the HTTP trigger that events/trigger-webhook.json (ev) uses.
func seedSample(t *testing.T, store *dynamo.Store, ev events.APIGatewayV2HTTPRequest, flowName string, steps []flow.Step) {
	t.Helper()
	ctx, now := context.Background(), time.Now().UTC()
	if err := store.CreateAPIKey(ctx, apikey.Key{ID: "key_sample", GroupID: "grp_sample", Name: "HubSpot", Hash: apikey.HashOf(ev.Headers["x-api-key"]), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateFlow(ctx, flow.Flow{ID: "flw_sample", GroupID: "grp_sample", Name: flowName, Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_sample", GroupID: "grp_sample", FlowID: "flw_sample",
		RoutingKey: ev.PathParameters["routingKey"], APIKeyIDs: []string{"key_sample"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
}
