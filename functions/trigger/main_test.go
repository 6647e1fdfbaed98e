package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"wiresk/internal/testkit/lambdatest"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/apikey"
	"wiresk/internal/bolt"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/httpapi"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
)

// readEvent decodes events/<name>, the sample used by sam local invoke.
func readEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return lambdatest.Event[events.APIGatewayV2HTTPRequest](t, name)
}

// system is the trigger's handler on the embedded adapters, seeded with the
// API key and the route that events/trigger-webhook.json uses.
type system struct {
	handler handler
	store   *bolt.Store
	queue   *bolt.Queue
	groupID string
	flowID  string
	keyID   string
	trigID  string
}

func newSystem(t *testing.T, ev events.APIGatewayV2HTTPRequest) *system {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := &system{store: store, queue: q, groupID: "grp_sample", flowID: "flw_sample", keyID: "key_sample", trigID: "trg_sample"}
	ctx := context.Background()
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key := ev.Headers["x-api-key"]
	must(store.CreateGroup(ctx, group.Group{ID: s.groupID, Name: "Sample", CreatedAt: now},
		group.Member{GroupID: s.groupID, UserID: "owner", Role: group.RoleOwner, AddedAt: now}))
	must(store.CreateAPIKey(ctx, apikey.Key{ID: s.keyID, GroupID: s.groupID, Name: "HubSpot", Hint: apikey.HintOf(key), Hash: apikey.HashOf(key), CreatedAt: now}))
	must(store.CreateFlow(ctx, flow.Flow{ID: s.flowID, GroupID: s.groupID, Name: "New contact", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
		Steps: []flow.Step{{ID: "notify", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": "https://crm.example/contacts"}}}}))
	must(store.CreateTrigger(ctx, trigger.HTTPTrigger{ID: s.trigID, GroupID: s.groupID, FlowID: s.flowID,
		RoutingKey: ev.PathParameters["routingKey"], APIKeyIDs: []string{s.keyID}, CreatedAt: now}))
	s.handler = newHandler(config{MaxBody: httpapi.DefaultMaxBody}, deps{Store: store, Queue: q})
	return s
}

func TestSampleEventIsWellFormed(t *testing.T) {
	ev := readEvent(t, "trigger-webhook.json")
	if got, want := ev.RouteKey, "POST /v1/hooks/{routingKey}"; got != want {
		t.Errorf("routeKey: got %q, want %q", got, want)
	}
	if _, err := apikey.Parse(ev.Headers["x-api-key"]); err != nil {
		t.Errorf("the sample's X-API-Key is not a well-formed key: %v", err)
	}
	if rk := ev.PathParameters["routingKey"]; !trigger.WellFormedRoutingKey(rk) {
		t.Errorf("the sample's routing key %q is not well formed", rk)
	}
	if got, want := ev.RawPath, "/v1/hooks/"+ev.PathParameters["routingKey"]; got != want {
		t.Errorf("rawPath: got %q, want %q", got, want)
	}
	if !json.Valid([]byte(ev.Body)) {
		t.Errorf("the sample's body is not JSON")
	}
}

func TestWebhookEventIsQueued(t *testing.T) {
	ev := readEvent(t, "trigger-webhook.json")
	s := newSystem(t, ev)
	ctx := context.Background()

	resp, err := s.handler(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusAccepted; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	var out struct {
		RunID string `json:"runId"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || !strings.HasPrefix(out.RunID, "run_") {
		t.Fatalf("body: got %s, want {\"runId\":\"run_…\"}", resp.Body)
	}

	msgs, err := s.queue.Receive(ctx, 10, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(msgs), 1; got != want {
		t.Fatalf("enqueued messages: got %d, want %d", got, want)
	}
	var job run.Job
	if err := json.Unmarshal(msgs[0].Body, &job); err != nil {
		t.Fatal(err)
	}
	if job.RunID != out.RunID || job.GroupID != s.groupID || job.FlowID != s.flowID || job.TriggerID != s.trigID || job.APIKeyID != s.keyID {
		t.Errorf("job: got run %s group %s flow %s trigger %s key %s, want %s %s %s %s %s",
			job.RunID, job.GroupID, job.FlowID, job.TriggerID, job.APIKeyID, out.RunID, s.groupID, s.flowID, s.trigID, s.keyID)
	}
	req := job.TriggerRequest()
	if got, want := string(req.RawBody()), ev.Body; got != want {
		t.Errorf("queued body: got %q, want the sample's body byte for byte %q", got, want)
	}
	for _, h := range []string{"x-hubspot-signature", "x-hubspot-signature-version", "content-type", "user-agent"} {
		if got, want := req.Headers[h], ev.Headers[h]; got != want {
			t.Errorf("queued %s: got %q, want %q", h, got, want)
		}
	}
	if v, ok := req.Headers["x-api-key"]; ok {
		t.Errorf("queued headers keep the API key %q; want it dropped", v)
	}
}

func TestHeadersAreKeptAsSent(t *testing.T) {
	// The adapter splits header values at commas; a signature header must
	// reach the Run as the sender signed it. Stripe's, from the webhook
	// samples (stripe/sdk-test-evt_test_webhook).
	ev := readEvent(t, "trigger-webhook.json")
	s := newSystem(t, ev)
	const sig = "t=1492774577,v1=c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812"
	ev.Headers["stripe-signature"] = sig
	ev.Headers["accept"] = "application/json,text/plain"
	resp, err := s.handler(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusAccepted; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	msgs, err := s.queue.Receive(context.Background(), 10, time.Minute, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: got %d messages, %v; want 1", len(msgs), err)
	}
	var job run.Job
	if err := json.Unmarshal(msgs[0].Body, &job); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{"stripe-signature": sig, "accept": "application/json,text/plain"} {
		if got := job.Request.Headers[h]; got != want {
			t.Errorf("queued %s: got %q, want %q", h, got, want)
		}
	}
}

func TestWebhookEventRefusals(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ev *events.APIGatewayV2HTTPRequest)
		status int
	}{
		{"no key", func(ev *events.APIGatewayV2HTTPRequest) { delete(ev.Headers, "x-api-key") }, http.StatusUnauthorized},
		{"mistyped key", func(ev *events.APIGatewayV2HTTPRequest) {
			k := []byte(ev.Headers["x-api-key"])
			k[10] ^= 1
			ev.Headers["x-api-key"] = string(k)
		}, http.StatusUnauthorized},
		{"unknown routing key", func(ev *events.APIGatewayV2HTTPRequest) {
			rk := strings.Repeat("A", len(ev.PathParameters["routingKey"]))
			ev.RawPath, ev.RequestContext.HTTP.Path = "/v1/hooks/"+rk, "/v1/hooks/"+rk
		}, http.StatusNotFound},
		{"body over the limit", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = `{"pad":"` + strings.Repeat("x", httpapi.DefaultMaxBody) + `"}`
		}, http.StatusRequestEntityTooLarge},
		{"base64 body over the limit", func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body, ev.IsBase64Encoded = strings.Repeat("QUFB", httpapi.DefaultMaxBody/3+1), true
		}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := readEvent(t, "trigger-webhook.json")
			s := newSystem(t, ev)
			tt.edit(&ev)
			resp, err := s.handler(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
			}
			st, err := s.queue.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Visible, 0; got != want {
				t.Errorf("enqueued messages: got %d, want %d", got, want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"WIRESK_TABLE": "wiresk", "WIRESK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/runs", "WIRESK_SECRET_PREFIX": "wiresk/test"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := loadConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	// Without a body bucket, only what a queue message carries; with one,
	// Lambda's payload limit.
	if got, want := cfg.MaxBody, int64(163840); got != want || cfg.BodyBucket != "" {
		t.Errorf("default MaxBody without WIRESK_BODY_BUCKET: got %d (bucket %q), want %d", got, cfg.BodyBucket, want)
	}
	if cfg, err := loadConfig(env("WIRESK_BODY_BUCKET", "wiresk-bodies")); err != nil || cfg.MaxBody != 6<<20 || cfg.BodyBucket != "wiresk-bodies" {
		t.Errorf("with a body bucket: MaxBody %d, bucket %q, %v; want 6291456", cfg.MaxBody, cfg.BodyBucket, err)
	}
	if cfg, err := loadConfig(env("WIRESK_MAX_BODY_BYTES", "1024", "WIRESK_LOG_LEVEL", "debug")); err != nil || cfg.MaxBody != 1024 || cfg.LogLevel.String() != "DEBUG" {
		t.Errorf("got %+v, %v; want MaxBody 1024 and level DEBUG", cfg, err)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no queue", "WIRESK_QUEUE_URL", "", "WIRESK_QUEUE_URL is required"},
		{"bad body limit", "WIRESK_MAX_BODY_BYTES", "256k", "WIRESK_MAX_BODY_BYTES"},
		{"body limit over Lambda's", "WIRESK_MAX_BODY_BYTES", "7000000", "Lambda's payload limit"},
		{"large bodies without a bucket", "WIRESK_MAX_BODY_BYTES", "1000000", "needs WIRESK_BODY_BUCKET"},
		{"bad level", "WIRESK_LOG_LEVEL", "loud", "WIRESK_LOG_LEVEL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(env(tt.key, tt.value))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error: got %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
