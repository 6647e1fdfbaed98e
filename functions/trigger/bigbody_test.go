package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"wiresk/internal/dynamo"
	"wiresk/internal/flow"
	"wiresk/internal/run"
	"wiresk/internal/s3blob"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/testkit/emulator"
)

// TestFiveMiBBinaryEventIsStoredInS3: the trigger function's handler, on
// DynamoDB Local, goaws and the S3 emulator, given API Gateway's event for
// a 5 MiB binary body (base64, isBase64Encoded), answers 202 after one
// PutObject and one SendMessage; the Job names the object, which holds the
// bytes exactly.
func TestFiveMiBBinaryEventIsStoredInS3(t *testing.T) {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("wiresk", "wiresk", "")
	ddbOps, sqsOps, s3Ops := &opLog{}, &opLog{}, &opLog{}
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(emulator.DynamoDB(t)),
		APIOptions: []func(*middleware.Stack) error{ddbOps.middleware}}, dynamo.ValidateResponseChecksum)
	sq := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(emulator.GoAWS(t)),
		APIOptions: []func(*middleware.Stack) error{sqsOps.middleware}}, sqsqueue.AvoidRequestBodyRace)
	s3c := s3.New(s3.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(emulator.S3(t)), UsePathStyle: true,
		APIOptions: []func(*middleware.Stack) error{s3Ops.middleware}})
	if err := dynamo.CreateTable(ctx, ddb, "wiresk-test"); err != nil {
		t.Fatal(err)
	}
	queueURL, dlqURL, err := sqsqueue.CreateQueues(ctx, sq, "wiresk-test", 5, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3blob.CreateBucket(ctx, s3c, "wiresk-bodies"); err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(ddb, "wiresk-test", dynamo.Options{})
	q := sqsqueue.New(sq, queueURL, dlqURL)

	ev := readEvent(t, "trigger-webhook.json")
	seedSample(t, store, ev, "Files", []flow.Step{{ID: "forward", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": "https://files.example/in", "forwardTriggerBody": true}}})
	// The configuration as the template gives it.
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"WIRESK_TABLE": "wiresk-test", "WIRESK_QUEUE_URL": queueURL, "WIRESK_SECRET_PREFIX": "wiresk/test", "WIRESK_BODY_BUCKET": "wiresk-bodies"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(cfg, deps{Store: store, Queue: q, Bodies: s3blob.New(s3c, cfg.BodyBucket)})
	ddbOps.take()
	sqsOps.take()
	s3Ops.take()

	body := blobtest.Random(99, 5<<20)
	ev.Headers["content-type"] = "application/pdf"
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	resp, err := h(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status: got %d %s, want 202", resp.StatusCode, resp.Body)
	}
	var out struct{ RunID string }
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := s3Ops.take(), []string{"PutObject"}; !slices.Equal(got, want) {
		t.Errorf("S3 calls: got %v, want %v", got, want)
	}
	if got, want := sqsOps.take(), []string{"SendMessage"}; !slices.Equal(got, want) {
		t.Errorf("SQS calls: got %v, want %v", got, want)
	}
	if got, want := ddbOps.take(), []string{"BatchGetItem"}; !slices.Equal(got, want) {
		t.Errorf("DynamoDB calls: got %v, want %v", got, want)
	}
	msgs, err := q.Receive(ctx, 10, time.Second, 5*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("queue: %d messages, %v", len(msgs), err)
	}
	var j run.Job
	if err := json.Unmarshal(msgs[0].Body, &j); err != nil {
		t.Fatal(err)
	}
	want := run.StoredBody("grp_sample", out.RunID, body)
	if j.Request.BodyRef == nil || *j.Request.BodyRef != want || j.Body != nil || j.Request.Headers["content-type"] != "application/pdf" {
		t.Fatalf("Job: ref %+v, %d inline bytes, headers %v; want ref %+v", j.Request.BodyRef, len(j.Body), j.Request.Headers, want)
	}
	got, err := s3blob.New(s3c, "wiresk-bodies").Get(ctx, want.Key)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the object: %d bytes, %v; want the %d bytes sent", len(got), err, len(body))
	}
}
