package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"wiresk/internal/logctx"
	"wiresk/internal/metrics"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/testkit/jsonlines"
)

// TestLambdaRequestIDs: what the functions log and count while serving an
// API Gateway request carries its request id (the access log's), and
// while running an SQS batch the invocation's.
func TestLambdaRequestIDs(t *testing.T) {
	db, store := embedded.MustStore(t)
	var logs, ms bytes.Buffer
	a := Build(Config{MaxBody: 1024, MaxReceives: 1}, Deps{Store: store, Queue: embedded.MustQueue(t, db, 1),
		Logger: slog.New(logctx.NewHandler(slog.NewJSONHandler(&logs, nil))), Metrics: metrics.New("Wiresk/test", &ms)})

	ev := events.APIGatewayV2HTTPRequest{RawPath: "/v1/hooks/unknown", Headers: map[string]string{"x-api-key": "wsk_x"}}
	ev.RequestContext.RequestID = "apigw-req-1"
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = "POST", ev.RawPath
	resp, err := a.Trigger()(context.Background(), ev)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("webhook with a malformed key: %d %v", resp.StatusCode, err)
	}
	if l := jsonlines.MustDecode(t, ms.String()); len(l) != 1 || l[0]["WebhooksRefused"] != 1.0 || l[0]["Reason"] != "invalid_api_key" || l[0]["requestId"] != "apigw-req-1" {
		t.Fatalf("metrics = %v, want WebhooksRefused with API Gateway's request id", l)
	}

	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	if _, err := a.Worker()(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1", Body: "junk"}}}); err != nil {
		t.Fatal(err)
	}
	var notJob map[string]any
	for _, l := range jsonlines.MustDecode(t, logs.String()) {
		if l["msg"] == "message is not a job" {
			notJob = l
		}
	}
	if notJob == nil || notJob["requestId"] != "lambda-req-1" || notJob["messageId"] != "m-1" {
		t.Errorf("worker line = %v, want the invocation's request id and the message id", notJob)
	}
}

func TestMetricsNamespaceIsChecked(t *testing.T) {
	env := func(ns string) func(string) string {
		return func(k string) string {
			switch k {
			case "WIRESK_TABLE":
				return "t"
			case "WIRESK_SECRET_PREFIX":
				return "wiresk/test"
			case "WIRESK_METRICS_NAMESPACE":
				return ns
			}
			return ""
		}
	}
	for ns, ok := range map[string]bool{"": true, "Wiresk/prod": true, "AWS/Lambda": false, "bad\nname": false, strings.Repeat("x", 256): false} {
		cfg, err := Load(Connections, env(ns))
		if (err == nil) != ok || ok && cfg.MetricsNamespace != ns {
			t.Errorf("WIRESK_METRICS_NAMESPACE=%q: %v, namespace %q", ns, err, cfg.MetricsNamespace)
		}
	}
}
