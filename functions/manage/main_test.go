package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"wiresk/internal/testkit/embedded"
	"wiresk/internal/testkit/lambdatest"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/httpapi"
	"wiresk/internal/trigger"
)

// readEvent decodes events/<name>, the sample used by sam local invoke.
func readEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return lambdatest.Event[events.APIGatewayV2HTTPRequest](t, name)
}

const (
	groupID = "grp_dev"
	flowID  = "flw_sample"
	owner   = "owner-1"
)

// newStore returns an embedded store with Group grp_dev, owned by another
// user than the sample's sub, and one Flow with one HTTP trigger.
func newStore(t *testing.T) (*bolt.Store, *bolt.Queue) {
	t.Helper()
	db, store := embedded.MustStore(t)
	q := embedded.MustQueue(t, db, 5)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.CreateGroup(ctx, group.Group{ID: groupID, Name: "Development", CreatedAt: now},
		group.Member{GroupID: groupID, UserID: owner, Role: group.RoleOwner, AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateFlow(ctx, flow.Flow{ID: flowID, GroupID: groupID, Name: "New lead", Enabled: true, Version: 1, CreatedAt: now, UpdatedAt: now,
		Steps: []flow.Step{{ID: "notify", App: "http", Method: "request", Input: map[string]any{"method": "POST", "url": "https://crm.example/contacts"}}}}); err != nil {
		t.Fatal(err)
	}
	rk, err := trigger.NewRoutingKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_sample", GroupID: groupID, FlowID: flowID, RoutingKey: rk, APIKeyIDs: []string{"key_sample"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return store, q
}

func newTestHandler(t *testing.T, publicURL string) handler {
	t.Helper()
	store, q := newStore(t)
	return newHandler(config{GroupsClaim: "groups", PublicURL: publicURL, RunOnceWait: time.Second}, deps{Store: store, Queue: q})
}

func TestListFlowsEvent(t *testing.T) {
	h := newTestHandler(t, "")
	ev := readEvent(t, "manage-list-flows.json")
	if got, want := ev.RouteKey, "GET /v1/groups/{g}/flows"; got != want {
		t.Fatalf("routeKey: got %q, want %q", got, want)
	}
	// The sample's sub is not a stored member: its groups claim alone
	// grants member access.
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	var out struct {
		Flows []flow.Flow `json:"flows"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Flows) != 1 || out.Flows[0].ID != flowID {
		t.Errorf("flows: got %s, want the one Flow %s", resp.Body, flowID)
	}
}

func TestIdentityComesFromClaims(t *testing.T) {
	h := newTestHandler(t, "")
	tests := []struct {
		name   string
		claims map[string]string
		status int
	}{
		{"stored owner without groups claim", map[string]string{"sub": owner, "groups": ""}, http.StatusOK},
		{"other group in claim", map[string]string{"groups": "[grp_other]"}, http.StatusNotFound},
		{"no groups claim", map[string]string{"groups": ""}, http.StatusNotFound},
		{"no sub", map[string]string{"sub": ""}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := readEvent(t, "manage-list-flows.json")
			for k, v := range tt.claims {
				if v == "" {
					delete(ev.RequestContext.Authorizer.JWT.Claims, k)
				} else {
					ev.RequestContext.Authorizer.JWT.Claims[k] = v
				}
			}
			resp, err := h(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Errorf("status: got %d, want %d (%s)", got, want, resp.Body)
			}
		})
	}
	t.Run("no authorizer context", func(t *testing.T) {
		ev := readEvent(t, "manage-list-flows.json")
		ev.RequestContext.Authorizer = nil
		resp, err := h(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
			t.Errorf("status: got %d, want %d (%s)", got, want, resp.Body)
		}
	})
}

// listTriggers turns the sample into GET /v1/groups/grp_dev/flows/{f}/http-triggers.
func listTriggers(t *testing.T, domain string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	ev := readEvent(t, "manage-list-flows.json")
	path := "/v1/groups/" + groupID + "/flows/" + flowID + "/http-triggers"
	ev.RawPath, ev.RequestContext.HTTP.Path = path, path
	ev.RouteKey, ev.RequestContext.RouteKey = "GET /v1/groups/{g}/flows/{f}/http-triggers", "GET /v1/groups/{g}/flows/{f}/http-triggers"
	ev.PathParameters = map[string]string{"g": groupID, "f": flowID}
	ev.RequestContext.DomainName = domain
	return ev
}

func TestWebhookURLs(t *testing.T) {
	tests := []struct {
		name, publicURL, domain, want string
	}{
		{"from the request's domain", "", "abc123.execute-api.eu-west-1.amazonaws.com", "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/hooks/"},
		{"from another domain of the same API", "", "hooks.example.com", "https://hooks.example.com/v1/hooks/"},
		{"from WIRESK_PUBLIC_URL", "https://hooks.example.org/", "abc123.execute-api.eu-west-1.amazonaws.com", "https://hooks.example.org/v1/hooks/"},
	}
	h := newTestHandler(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.publicURL != "" {
				h = newTestHandler(t, tt.publicURL)
			}
			resp, err := h(context.Background(), listTriggers(t, tt.domain))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode, http.StatusOK; got != want {
				t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
			}
			var out struct {
				HTTPTriggers []struct {
					URL string `json:"url"`
				} `json:"httpTriggers"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
				t.Fatal(err)
			}
			if len(out.HTTPTriggers) != 1 || !strings.HasPrefix(out.HTTPTriggers[0].URL, tt.want) {
				t.Errorf("trigger URL: got %s, want one starting with %s", resp.Body, tt.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{
			"WIRESK_TABLE": "wiresk", "WIRESK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/runs", "WIRESK_SECRET_PREFIX": "wiresk/dev",
			"WIRESK_SCHEDULE_GROUP":     "wiresk-dev",
			"WIRESK_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/wiresk-dev-scheduler",
			"WIRESK_RUN_QUEUE_ARN":      "arn:aws:sqs:eu-west-1:123456789012:runs",
			"WIRESK_DEAD_LETTER_ARN":    "arn:aws:sqs:eu-west-1:123456789012:runs-dlq",
			"WIRESK_DLQ_URL":            "https://sqs.eu-west-1.amazonaws.com/123456789012/runs-dlq",
			"WIRESK_MAX_RECEIVES":       "5",
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := loadConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GroupsClaim != "groups" || cfg.RunOnceWait != 25*time.Second || cfg.PublicURL != "" {
		t.Errorf("defaults: got claim %q, wait %s, public URL %q; want groups, 25s, empty", cfg.GroupsClaim, cfg.RunOnceWait, cfg.PublicURL)
	}
	if cfg.DeadLetterURL != "https://sqs.eu-west-1.amazonaws.com/123456789012/runs-dlq" || cfg.MaxReceives != 5 {
		t.Errorf("dead jobs: got queue %q, max receives %d; want those of the environment", cfg.DeadLetterURL, cfg.MaxReceives)
	}
	if cfg.ScheduleGroup != "wiresk-dev" || cfg.SchedulerRoleARN != "arn:aws:iam::123456789012:role/wiresk-dev-scheduler" ||
		cfg.RunQueueARN != "arn:aws:sqs:eu-west-1:123456789012:runs" || cfg.DeadLetterARN != "arn:aws:sqs:eu-west-1:123456789012:runs-dlq" {
		t.Errorf("schedules: got group %q, role %q, queue %q, dead-letter queue %q; want those of the environment",
			cfg.ScheduleGroup, cfg.SchedulerRoleARN, cfg.RunQueueARN, cfg.DeadLetterARN)
	}
	if cfg, err := loadConfig(env("WIRESK_DEAD_LETTER_ARN", "")); err != nil || cfg.DeadLetterARN != "" {
		t.Errorf("without a dead-letter queue: got %q, %v; want none, nil", cfg.DeadLetterARN, err)
	}
	cfg, err = loadConfig(env("WIRESK_GROUPS_CLAIM", "cognito:groups", "WIRESK_RUN_ONCE_WAIT", "10s", "WIRESK_PUBLIC_URL", "https://hooks.example.com"))
	if err != nil || cfg.GroupsClaim != "cognito:groups" || cfg.RunOnceWait != 10*time.Second || cfg.PublicURL != "https://hooks.example.com" {
		t.Errorf("got %+v, %v; want cognito:groups, 10s, https://hooks.example.com", cfg, err)
	}
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"no table", "WIRESK_TABLE", "", "WIRESK_TABLE is required"},
		{"no queue", "WIRESK_QUEUE_URL", "", "WIRESK_QUEUE_URL is required"},
		{"relative public URL", "WIRESK_PUBLIC_URL", "hooks.example.com", "WIRESK_PUBLIC_URL"},
		{"wait over API Gateway's limit", "WIRESK_RUN_ONCE_WAIT", "45s", "WIRESK_RUN_ONCE_WAIT"},
		{"wait without unit", "WIRESK_RUN_ONCE_WAIT", "25", "WIRESK_RUN_ONCE_WAIT"},
		{"bad level", "WIRESK_LOG_LEVEL", "loud", "WIRESK_LOG_LEVEL"},
		{"no schedule group", "WIRESK_SCHEDULE_GROUP", "", "WIRESK_SCHEDULE_GROUP is required"},
		{"bad schedule group", "WIRESK_SCHEDULE_GROUP", "wiresk/dev", "WIRESK_SCHEDULE_GROUP"},
		{"no scheduler role", "WIRESK_SCHEDULER_ROLE_ARN", "", "WIRESK_SCHEDULER_ROLE_ARN is required"},
		{"scheduler role not an ARN", "WIRESK_SCHEDULER_ROLE_ARN", "wiresk-dev-scheduler", "WIRESK_SCHEDULER_ROLE_ARN"},
		{"no run queue ARN", "WIRESK_RUN_QUEUE_ARN", "", "WIRESK_RUN_QUEUE_ARN is required"},
		{"run queue URL for its ARN", "WIRESK_RUN_QUEUE_ARN", "https://sqs.eu-west-1.amazonaws.com/123456789012/runs", "WIRESK_RUN_QUEUE_ARN"},
		{"dead-letter queue not an ARN", "WIRESK_DEAD_LETTER_ARN", "runs-dlq", "WIRESK_DEAD_LETTER_ARN"},
		{"no dead-letter queue URL", "WIRESK_DLQ_URL", "", "WIRESK_DLQ_URL is required"},
		{"no max receives", "WIRESK_MAX_RECEIVES", "", "WIRESK_MAX_RECEIVES is required"},
		{"max receives out of bounds", "WIRESK_MAX_RECEIVES", "0", "WIRESK_MAX_RECEIVES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(env(tt.key, tt.value))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error: got %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestOpenAPIEvent sends GET /v1/openapi.json as API Gateway does for a
// route without an authorizer (no JWT claims in the context): the function
// answers the OpenAPI document.
func TestOpenAPIEvent(t *testing.T) {
	h := newTestHandler(t, "")
	ev := readEvent(t, "manage-list-flows.json")
	ev.RouteKey, ev.RequestContext.RouteKey = "GET /v1/openapi.json", "GET /v1/openapi.json"
	ev.RawPath, ev.RequestContext.HTTP.Path = "/v1/openapi.json", "/v1/openapi.json"
	ev.RequestContext.HTTP.Method = http.MethodGet
	ev.PathParameters, ev.RawQueryString = nil, ""
	ev.RequestContext.Authorizer = nil
	delete(ev.Headers, "authorization")
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d (%s)", got, want, resp.Body)
	}
	if got, want := resp.Headers["Content-Type"], "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if resp.IsBase64Encoded {
		t.Errorf("the document is base64-encoded; API Gateway would serve it as text only without")
	}
	if got, want := resp.Body, string(httpapi.OpenAPIDocument()); got != want {
		t.Errorf("body: got %d bytes, want the %d of the OpenAPI document", len(got), len(want))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Errorf("body: openapi %q (%v), want 3.1.0", doc.OpenAPI, err)
	}
	// The management routes still need the JWT.
	flows := readEvent(t, "manage-list-flows.json")
	flows.RequestContext.Authorizer = nil
	resp, err = h(context.Background(), flows)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Errorf("GET /v1/groups/{g}/flows without claims: got %d, want %d", got, want)
	}
}
