package deploy_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/infra/deploy"
	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/connect"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/run"
)

// root is the repository root, where template.yaml and the Makefile are.
const root = "../.."

// functions maps each function of the template to its folder under
// functions/.
var functions = map[string]string{
	"TriggerFunction":       "trigger",
	"ManageFunction":        "manage",
	"WorkerFunction":        "worker",
	"ConnectionsFunction":   "connections",
	"OAuthCallbackFunction": "oauthcallback",
	"HealthFunction":        "health",
}

// hookRoute is the webhook route of the trigger function, hookHandshake
// the GET it answers Meta's subscription handshake on.
const (
	hookRoute     = "POST /v1/hooks/{routingKey}"
	hookHandshake = "GET /v1/hooks/{routingKey}"
)

var parsed = sync.OnceValues(func() (*deploy.Template, error) {
	return deploy.Open(filepath.Join(root, "template.yaml"))
})

func template(t *testing.T) *deploy.Template {
	t.Helper()
	tmpl, err := parsed()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// lookup returns the Raw value at path, failing the test if it is missing.
func lookup(t *testing.T, path ...any) any {
	t.Helper()
	v, ok := template(t).Lookup(path...)
	if !ok {
		t.Fatalf("template: nothing at %v", path)
	}
	return v
}

// jsonEqual compares a Raw value with a Go value through their JSON.
func jsonEqual(t *testing.T, got, want any) bool {
	t.Helper()
	var w any
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(got, w)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTemplateIsSAM(t *testing.T) {
	tmpl := template(t)
	if got, want := tmpl.AWSTemplateFormatVersion, "2010-09-09"; got != want {
		t.Errorf("AWSTemplateFormatVersion: got %q, want %q", got, want)
	}
	if tmpl.Transform == nil || tmpl.Transform.String == nil || *tmpl.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform: got %v, want AWS::Serverless-2016-10-31", lookup(t, "Transform"))
	}
}

func TestTemplateMatchesSAMSchema(t *testing.T) {
	errs, err := deploy.ValidateSAM(template(t).Raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.String())
	}
	if len(got) > 0 {
		t.Errorf("schema errors:\n %s", strings.Join(got, "\n "))
	}
}

func TestParameters(t *testing.T) {
	tmpl := template(t)
	want := map[string]any{
		"Stage": "dev", "JwtIssuer": nil, "JwtAudience": nil, "GroupsClaim": "groups", "PublicUrl": "",
		"RunRetentionDays": "30", "LogLevel": "info", "MaxReceives": "5", "HttpAllowCidrs": "", "WorkerMaxConcurrency": "10",
		"OAuthReturnUrl": "", "HealthSchedule": "rate(5 minutes)", "LogRetentionDays": "30",
		"ApiThrottlingRateLimit": "500", "ApiThrottlingBurstLimit": "1000", "AlarmTopicArn": "", "RunQueueAgeThreshold": "900",
	}
	for name, def := range want {
		p, ok := tmpl.Parameters[name]
		if !ok {
			t.Errorf("parameter %s: missing", name)
			continue
		}
		if got := p.Default; !reflect.DeepEqual(got, def) {
			t.Errorf("parameter %s default: got %v, want %v", name, got, def)
		}
	}
	for name := range tmpl.Parameters {
		if _, ok := want[name]; !ok {
			t.Errorf("parameter %s: unexpected (add it to this test)", name)
		}
	}
}

func TestGlobals(t *testing.T) {
	g, err := template(t).GetServerlessGlobalFunction()
	if err != nil {
		t.Fatal(err)
	}
	if g.Runtime == nil || *g.Runtime != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime: got %v, want provided.al2023", lookup(t, "Globals", "Function", "Runtime"))
	}
	if g.Handler == nil || *g.Handler != "bootstrap" {
		t.Errorf("Globals.Function.Handler: got %v, want bootstrap", lookup(t, "Globals", "Function", "Handler"))
	}
	if got, want := lookup(t, "Globals", "Function", "Architectures"), []string{"arm64"}; !jsonEqual(t, got, want) {
		t.Errorf("Globals.Function.Architectures: got %v, want %v", got, want)
	}
	if got, want := lookup(t, "Globals", "Function", "Tracing"), "Active"; got != want {
		t.Errorf("Globals.Function.Tracing: got %v, want %v", got, want)
	}
	env := map[string]string{"WIRESK_TABLE": deploy.Ref("Table"), "WIRESK_LOG_LEVEL": deploy.Ref("LogLevel"),
		"WIRESK_METRICS_NAMESPACE": deploy.Sub("Wiresk/${Stage}")}
	if got := lookup(t, "Globals", "Function", "Environment", "Variables"); !jsonEqual(t, got, env) {
		t.Errorf("Globals.Function.Environment: got %v, want %v", got, env)
	}
}

// TestFunctions checks one function per folder, each built by its Makefile
// target for linux/arm64 as SAM's makefile build method runs it.
func TestFunctions(t *testing.T) {
	tmpl := template(t)
	fns := tmpl.GetAllServerlessFunctionResources()
	var names []string
	for name := range fns {
		names = append(names, name)
	}
	sort.Strings(names)
	if got, want := strings.Join(names, " "), "ConnectionsFunction HealthFunction ManageFunction OAuthCallbackFunction TriggerFunction WorkerFunction"; got != want {
		t.Fatalf("functions: got %s, want %s", got, want)
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if got, want := strings.Join(dirs, " "), "connections health manage oauthcallback trigger worker"; got != want {
		t.Errorf("folders under functions/: got %s, want %s (one per function of the template)", got, want)
	}
	// make build builds every folder.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for line := range strings.Lines(string(mk)) {
		if rest, ok := strings.CutPrefix(line, "LAMBDA_FUNCTIONS := "); ok {
			built = strings.Fields(rest)
		}
	}
	sort.Strings(built)
	if got, want := built, dirs; !slices.Equal(got, want) {
		t.Errorf("Makefile LAMBDA_FUNCTIONS (make build): got %q, want %q", got, want)
	}
	// Compile what the functions share once, in one go command, as the
	// Makefile's targets compile it (GOOS, GOARCH, CGO_ENABLED, tags and
	// -trimpath, which key the build cache): the make runs below then find
	// it in the cache instead of each compiling all of it at the same time.
	warm := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}", "-tags", "lambda.norpc", "-trimpath", "./functions/...")
	warm.Dir = root
	warm.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := warm.CombinedOutput(); err != nil {
		t.Fatalf("go list -export ./functions/... for linux/arm64: %v\n%s", err, b)
	}
	for name, dir := range functions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fns[name]
			if f.CodeUri == nil || f.CodeUri.String == nil || *f.CodeUri.String != "." {
				t.Errorf("CodeUri: got %v, want .", lookup(t, "Resources", name, "Properties", "CodeUri"))
			}
			if got, want := f.AWSCloudFormationMetadata["BuildMethod"], "makefile"; got != want {
				t.Errorf("Metadata.BuildMethod: got %v, want %v", got, want)
			}
			out := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "-C", root, "build-"+name, "ARTIFACTS_DIR="+out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", name, err, b)
			}
			bin := filepath.Join(out, "bootstrap")
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			if got, want := ef.Machine, elf.EM_AARCH64; got != want {
				t.Errorf("bootstrap machine: got %v, want %v", got, want)
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := info.Path, "wiresk/functions/"+dir; got != want {
				t.Errorf("bootstrap package: got %s, want %s", got, want)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, want := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-tags": "lambda.norpc", "-trimpath": "true"} {
				if got := settings[k]; got != want {
					t.Errorf("bootstrap build setting %s: got %q, want %q", k, got, want)
				}
			}
			// -ldflags='-s -w' (not recorded under -trimpath): no symbol
			// table, no DWARF.
			if _, err := ef.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
				t.Errorf("bootstrap symbol table: got %v, want none (-s)", err)
			}
			for _, sec := range ef.Sections {
				if strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
					t.Errorf("bootstrap has section %s, want no DWARF (-w)", sec.Name)
				}
			}
		})
	}
}

// event is an HttpApi event of a function.
type event struct {
	function, route, authorizer string
}

func httpEvents(t *testing.T) []event {
	t.Helper()
	var out []event
	for name, f := range template(t).GetAllServerlessFunctionResources() {
		for evName, ev := range f.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			h := ev.Properties.HttpApiEvent
			if h == nil || h.Method == nil || h.Path == nil {
				t.Errorf("%s event %s: not a complete HttpApi event", name, evName)
				continue
			}
			if h.ApiId == nil || *h.ApiId != deploy.Ref("HttpApi") {
				t.Errorf("%s event %s: ApiId %v, want %s", name, evName, h.ApiId, deploy.Ref("HttpApi"))
			}
			e := event{function: name, route: *h.Method + " " + *h.Path}
			if h.Auth != nil && h.Auth.Authorizer != nil {
				e.authorizer = *h.Auth.Authorizer
			}
			out = append(out, e)
		}
	}
	return out
}

func TestRoutesMatchHandlers(t *testing.T) {
	byFunction := map[string][]string{}
	seen := map[string]string{}
	for _, e := range httpEvents(t) {
		byFunction[e.function] = append(byFunction[e.function], e.route)
		if other, ok := seen[e.route]; ok {
			t.Errorf("route %s is declared by %s and %s; API Gateway takes one integration per route", e.route, other, e.function)
		}
		seen[e.route] = e.function
		switch e.function {
		case "TriggerFunction":
			if got, want := e.authorizer, "NONE"; got != want {
				t.Errorf("%s %s: Auth.Authorizer %q, want %q (webhooks carry an API key, not a JWT)", e.function, e.route, got, want)
			}
		case "OAuthCallbackFunction":
			if got, want := e.authorizer, "NONE"; got != want {
				t.Errorf("%s %s: Auth.Authorizer %q, want %q (a browser opens these routes, and has no JWT; the signed link, the state and the cookie are the checks)", e.function, e.route, got, want)
			}
		case "ManageFunction", "ConnectionsFunction":
			if slices.Contains(httpapi.OpenAPI{}.Routes(), e.route) {
				if got, want := e.authorizer, "NONE"; got != want {
					t.Errorf("%s %s: Auth.Authorizer %q, want %q (the OpenAPI document is public)", e.function, e.route, got, want)
				}
				break
			}
			if e.authorizer != "" {
				t.Errorf("%s %s: Auth.Authorizer %q, want the default JWT authorizer", e.function, e.route, e.authorizer)
			}
		default:
			t.Errorf("%s has an HTTP route %s; only TriggerFunction, ManageFunction, ConnectionsFunction and OAuthCallbackFunction serve HTTP", e.function, e.route)
		}
	}
	if got, want := slices.Sorted(slices.Values(byFunction["TriggerFunction"])), []string{hookHandshake, httpapi.AppHooksPattern, hookRoute}; !slices.Equal(got, want) {
		t.Errorf("TriggerFunction routes: got %q, want %q", got, want)
	}
	mgmt := httpapi.NewManagement(manage.Services{}, auth.APIGateway{}, "https://hooks.example", nil)
	conns := httpapi.NewConnections(nil, auth.APIGateway{}, nil)
	browser := httpapi.NewOAuthBrowser(connect.New(connect.Config{}).Authorizations, nil)
	// The manage function also serves the OpenAPI document (app.App.Manage).
	manageRoutes := append(mgmt.Routes(), httpapi.OpenAPI{}.Routes()...)
	for name, want := range map[string][]string{"ManageFunction": manageRoutes, "ConnectionsFunction": conns.Routes(), "OAuthCallbackFunction": browser.Routes()} {
		got := slices.Clone(byFunction[name])
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s routes differ from its handler's Routes():\n got  %q\n want %q", name, got, want)
		}
	}

	// Every route of the template reaches a handler route: without an
	// identity the management and Connections APIs answer 401 and the
	// webhook ingress 401 (no API key), where an unknown route would answer
	// 404.
	serve := func(h http.Handler, route string) int {
		method, path, _ := strings.Cut(route, " ")
		for _, p := range []string{"{g}", "{f}", "{k}", "{t}", "{r}", "{c}", "{userId}"} {
			path = strings.ReplaceAll(path, p, "x1")
		}
		path = strings.ReplaceAll(path, "{routingKey}", strings.Repeat("A", 32))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
		return rec.Code
	}
	for name, h := range map[string]http.Handler{"ManageFunction": mgmt, "ConnectionsFunction": conns} {
		for _, r := range byFunction[name] {
			if slices.Contains(httpapi.OpenAPI{}.Routes(), r) {
				if got, want := serve(httpapi.OpenAPI{}, r), http.StatusOK; got != want {
					t.Errorf("OpenAPI handler, %s without credentials: got %d, want %d", r, got, want)
				}
				continue
			}
			if got, want := serve(h, r), http.StatusUnauthorized; got != want {
				t.Errorf("%s handler, %s: got %d, want %d", name, r, got, want)
			}
		}
		if got, want := serve(h, "GET /v1/no-such-route"), http.StatusNotFound; got != want {
			t.Errorf("%s handler, unknown route: got %d, want %d", name, got, want)
		}
	}
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	hooks := &httpapi.Hooks{Ingest: &ingest.Service{Store: store}}
	if got, want := serve(hooks, hookRoute), http.StatusUnauthorized; got != want {
		t.Errorf("hooks handler, %s: got %d, want %d", hookRoute, got, want)
	}
	// A GET without Meta's handshake is refused before any read; with it,
	// an unknown routing key is not found.
	if got, want := serve(hooks, hookHandshake), http.StatusMethodNotAllowed; got != want {
		t.Errorf("hooks handler, %s: got %d, want %d", hookHandshake, got, want)
	}
	if got, want := serve(hooks, hookHandshake+"?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"), http.StatusNotFound; got != want {
		t.Errorf("hooks handler, %s with Meta's handshake: got %d, want %d", hookHandshake, got, want)
	}
	// The OAuth routes reach the start and the callback: without a signed
	// link or a state they answer 400 (a page saying so), or 503 when the
	// state key is missing; they answer their paths and method only.
	for _, r := range byFunction["OAuthCallbackFunction"] {
		if got := serve(browser, r); got != http.StatusBadRequest && got != http.StatusServiceUnavailable {
			t.Errorf("OAuth handler, %s without a link or state: got %d, want 400 or 503", r, got)
		}
	}
	for _, p := range []string{httpapi.OAuthStartPath, httpapi.OAuthCallbackPath} {
		if got, want := serve(browser, "POST "+p), http.StatusMethodNotAllowed; got != want {
			t.Errorf("OAuth handler, POST %s: got %d, want %d", p, got, want)
		}
	}
	if got, want := serve(browser, "GET /v1/oauth/other"), http.StatusNotFound; got != want {
		t.Errorf("OAuth handler, another path: got %d, want %d", got, want)
	}
}

// TestRoutesAreDocumented checks the template's routes against the OpenAPI
// document: every route API Gateway serves is in it, and every route in it
// is a route of the template but the local runner's own (GET /healthz).
func TestRoutesAreDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if m := strings.ToUpper(method); slices.Contains([]string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"}, m) {
				documented[m+" "+path] = true
			}
		}
	}
	deployed := map[string]bool{}
	for _, e := range httpEvents(t) {
		deployed[e.route] = true
		if !documented[e.route] {
			t.Errorf("%s route %s is not in the OpenAPI document (internal/httpapi/openapi.json)", e.function, e.route)
		}
	}
	localOnly := httpapi.Healthz{}.Routes()
	for r := range documented {
		if !deployed[r] && !slices.Contains(localOnly, r) {
			t.Errorf("the OpenAPI document has %s, which no function of the template serves", r)
		}
	}
	for _, r := range localOnly {
		if deployed[r] {
			t.Errorf("%s is the local runner's only, yet the template routes it", r)
		}
	}
}

func TestHttpAPIAuthorizer(t *testing.T) {
	api, err := template(t).GetServerlessHttpApiWithName("HttpApi")
	if err != nil {
		t.Fatal(err)
	}
	if api.Auth == nil || api.Auth.DefaultAuthorizer == nil || *api.Auth.DefaultAuthorizer != "JwtAuthorizer" {
		t.Errorf("HttpApi default authorizer: got %v, want JwtAuthorizer", lookup(t, "Resources", "HttpApi", "Properties", "Auth"))
	}
	want := map[string]any{
		"JwtAuthorizer": map[string]any{
			"IdentitySource": "$request.header.Authorization",
			"JwtConfiguration": map[string]any{
				"issuer":   deploy.Ref("JwtIssuer"),
				"audience": []string{deploy.Ref("JwtAudience")},
			},
		},
	}
	if got := lookup(t, "Resources", "HttpApi", "Properties", "Auth", "Authorizers"); !jsonEqual(t, got, want) {
		t.Errorf("HttpApi authorizers: got %s, want %s", show(got), show(want))
	}
	if _, ok := template(t).Lookup("Resources", "HttpApi", "Properties", "StageName"); ok {
		t.Errorf("HttpApi has a StageName: a named stage prefixes every path, which the handlers do not expect; use the $default stage")
	}
}

func TestPoliciesAreLeastPrivilege(t *testing.T) {
	secretsArn := deploy.Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:wiresk/${Stage}/*")
	sendToRunQueue := map[string]any{"SQSSendMessagePolicy": map[string]any{"QueueName": deploy.GetAtt("RunQueue", "QueueName")}}
	tableCrud := map[string]any{"DynamoDBCrudPolicy": map[string]any{"TableName": deploy.Ref("Table")}}
	// Connection credentials, the platform's OAuth apps and the OAuth state
	// key: only under the stage's own prefix.
	connectionTokens := map[string]any{"Statement": []any{map[string]any{
		"Sid": "ConnectionTokens", "Effect": "Allow",
		"Action": []string{
			"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:CreateSecret",
			"secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret", "secretsmanager:RestoreSecret",
		},
		"Resource": secretsArn,
	}}}
	manageSchedules := map[string]any{"Statement": []any{
		map[string]any{
			"Sid": "ScheduleTriggers", "Effect": "Allow",
			"Action":   scheduleActions,
			"Resource": groupSchedulesArn,
		},
		map[string]any{
			"Sid": "PassSchedulerRole", "Effect": "Allow",
			"Action":    []string{"iam:PassRole"},
			"Resource":  deploy.GetAtt("SchedulerRole", "Arn"),
			"Condition": map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}},
		},
	}}
	// HTTP triggers' signing secrets: the management API writes them, the
	// internet-facing trigger function only reads them, and neither may
	// touch any other secret (Connection tokens).
	signingArn := deploy.Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:wiresk/${Stage}/signing/*")
	manageSchedules["Statement"] = append(manageSchedules["Statement"].([]any), map[string]any{
		"Sid": "SigningSecrets", "Effect": "Allow",
		"Action": []string{
			"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:CreateSecret",
			"secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret", "secretsmanager:RestoreSecret",
		},
		"Resource": signingArn,
	})
	want := map[string][]any{
		"TriggerFunction": {
			map[string]any{"Statement": []any{map[string]any{
				"Sid": "ReadKeysAndRoutes", "Effect": "Allow",
				"Action":   []string{"dynamodb:BatchGetItem", "dynamodb:GetItem"},
				"Resource": deploy.GetAtt("Table", "Arn"),
			}, map[string]any{
				"Sid": "ReadSigningSecrets", "Effect": "Allow",
				"Action":   []string{"secretsmanager:GetSecretValue"},
				"Resource": signingArn,
			}}},
			sendToRunQueue,
			// Large bodies: written under bodies/ only, never read.
			map[string]any{"Statement": []any{map[string]any{
				"Sid": "StoreBodies", "Effect": "Allow",
				"Action":   []string{"s3:PutObject"},
				"Resource": deploy.Sub("${BodyBucket.Arn}/bodies/*"),
			}}},
		},
		// Run Once and replay enqueue jobs (a replay reuses the body's
		// reference: no S3 access): the management API sends to the
		// run queue too. It manages the schedule triggers' schedules, in
		// the stack's group only, and passes them the Scheduler role only.
		// It lists and redrives dead jobs: receive, delete and change the
		// visibility of the dead-letter queue's messages, nothing more (the
		// redrive's send is sendToRunQueue; told MaxReceives, it reads no
		// queue attribute).
		"ManageFunction": {tableCrud, sendToRunQueue, map[string]any{"Statement": []any{map[string]any{
			"Sid": "DeadJobs", "Effect": "Allow",
			"Action":   []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
			"Resource": deploy.GetAtt("DeadLetterQueue", "Arn"),
		}}}, manageSchedules},
		// The event source mapping (TestWorkerEventSource) consumes the
		// run queue as the worker's role: these four actions, on the run
		// queue only; the worker shortens failed jobs' visibility.
		"WorkerFunction": {
			tableCrud,
			map[string]any{"Statement": []any{map[string]any{
				"Sid": "ConsumeRunQueue", "Effect": "Allow",
				"Action":   []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"},
				"Resource": deploy.GetAtt("RunQueue", "Arn"),
			}}},
			// An app trigger's poll sends one job per new item.
			map[string]any{"Statement": []any{map[string]any{
				"Sid": "AppTriggerItems", "Effect": "Allow",
				"Action":   []string{"sqs:SendMessage"},
				"Resource": deploy.GetAtt("RunQueue", "Arn"),
			}}},
			connectionTokens,
			// The large bodies: read only; ListBucket (of names, on this
			// bucket only) makes S3 answer a missing body 404, not 403.
			map[string]any{"Statement": []any{map[string]any{
				"Sid": "ReadBodies", "Effect": "Allow",
				"Action":   []string{"s3:GetObject"},
				"Resource": deploy.Sub("${BodyBucket.Arn}/bodies/*"),
			}, map[string]any{
				"Sid": "MissingBodiesAre404", "Effect": "Allow",
				"Action":   []string{"s3:ListBucket"},
				"Resource": deploy.GetAtt("BodyBucket", "Arn"),
			}}},
		},
		"ConnectionsFunction":   {tableCrud, connectionTokens},
		"OAuthCallbackFunction": {tableCrud, connectionTokens},
		"HealthFunction":        {tableCrud, connectionTokens},
	}
	// Every function's policies are listed here: none may touch Secrets
	// Manager unless this test says so.
	for name := range template(t).GetAllServerlessFunctionResources() {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: its policies are not checked (add it to this test)", name)
		}
	}
	for name, policies := range want {
		if got := lookup(t, "Resources", name, "Properties", "Policies"); !jsonEqual(t, got, policies) {
			t.Errorf("%s policies:\n got  %s\n want %s", name, show(got), show(policies))
		}
		for _, prop := range []string{"Role", "Connectors", "PermissionsBoundary"} {
			if _, ok := template(t).Lookup("Resources", name, "Properties", prop); ok {
				t.Errorf("%s has %s; its permissions must come from Policies alone", name, prop)
			}
		}
	}
	if _, ok := template(t).Lookup("Globals", "Function", "Policies"); ok {
		t.Errorf("Globals.Function has Policies; each function's must be its own")
	}
}

func TestEnvironment(t *testing.T) {
	want := map[string]map[string]any{
		"TriggerFunction": {"WIRESK_QUEUE_URL": deploy.Ref("RunQueue"), "WIRESK_MAX_BODY_BYTES": "6291456", "WIRESK_GROUP_RUNS_PER_MINUTE": "3000",
			"WIRESK_BODY_BUCKET":   deploy.Ref("BodyBucket"),
			"WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"), "WIRESK_PUBLIC_URL": deploy.Ref("PublicUrl")},
		"ManageFunction": {"WIRESK_QUEUE_URL": deploy.Ref("RunQueue"), "WIRESK_PUBLIC_URL": deploy.Ref("PublicUrl"), "WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"),
			"WIRESK_GROUPS_CLAIM": deploy.Ref("GroupsClaim"), "WIRESK_RUN_ONCE_WAIT": "25s",
			"WIRESK_SCHEDULE_GROUP": deploy.Ref("ScheduleGroup"), "WIRESK_SCHEDULER_ROLE_ARN": deploy.GetAtt("SchedulerRole", "Arn"),
			"WIRESK_RUN_QUEUE_ARN": deploy.GetAtt("RunQueue", "Arn"), "WIRESK_DEAD_LETTER_ARN": deploy.GetAtt("DeadLetterQueue", "Arn"),
			"WIRESK_DLQ_URL": deploy.Ref("DeadLetterQueue"), "WIRESK_MAX_RECEIVES": deploy.Ref("MaxReceives")},
		"WorkerFunction": {"WIRESK_QUEUE_URL": deploy.Ref("RunQueue"), "WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"), "WIRESK_MAX_RECEIVES": deploy.Ref("MaxReceives"), "WIRESK_HTTP_ALLOW_CIDRS": deploy.Ref("HttpAllowCidrs"),
			"WIRESK_RUN_RETENTION_DAYS": deploy.Ref("RunRetentionDays"), "WIRESK_PUBLIC_URL": deploy.Ref("PublicUrl"), "WIRESK_BODY_BUCKET": deploy.Ref("BodyBucket"),
			"WIRESK_API_URL": deploy.Sub("https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}")},
		"ConnectionsFunction": {"WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"), "WIRESK_PUBLIC_URL": deploy.Ref("PublicUrl"),
			"WIRESK_GROUPS_CLAIM": deploy.Ref("GroupsClaim"), "WIRESK_HTTP_ALLOW_CIDRS": deploy.Ref("HttpAllowCidrs"),
			"WIRESK_OAUTH_RETURN_URL": deploy.Ref("OAuthReturnUrl")},
		"OAuthCallbackFunction": {"WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"), "WIRESK_PUBLIC_URL": deploy.Ref("PublicUrl"),
			"WIRESK_HTTP_ALLOW_CIDRS": deploy.Ref("HttpAllowCidrs"), "WIRESK_OAUTH_RETURN_URL": deploy.Ref("OAuthReturnUrl")},
		"HealthFunction": {"WIRESK_SECRET_PREFIX": deploy.Sub("wiresk/${Stage}"), "WIRESK_HTTP_ALLOW_CIDRS": deploy.Ref("HttpAllowCidrs")},
	}
	for name, env := range want {
		if got := lookup(t, "Resources", name, "Properties", "Environment", "Variables"); !jsonEqual(t, got, env) {
			t.Errorf("%s environment:\n got  %s\n want %s", name, show(got), show(env))
		}
	}
	// Run Once waits 25 s: the function must outlive the wait, and API
	// Gateway gives up at 30 s.
	if got := timeout(t, "ManageFunction"); got <= 25 || got > 30 {
		t.Errorf("ManageFunction Timeout: got %d, want 26 to 30 s", got)
	}
	// A Connection test or a token exchange may retry a slow app; API
	// Gateway gives up at 30 s.
	for _, name := range []string{"ConnectionsFunction", "OAuthCallbackFunction"} {
		if got := timeout(t, name); got < 20 || got > 30 {
			t.Errorf("%s Timeout: got %d, want 20 to 30 s", name, got)
		}
	}
	// The health check ends before the next one starts (default schedule).
	if got := timeout(t, "HealthFunction"); got >= 5*60 {
		t.Errorf("HealthFunction Timeout: got %d, want under the 5-minute schedule", got)
	}
}

// timeout returns a function's Timeout, or the global one.
func timeout(t *testing.T, name string) int {
	t.Helper()
	tmpl := template(t)
	f, err := tmpl.GetServerlessFunctionWithName(name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timeout != nil {
		return *f.Timeout
	}
	g, err := tmpl.GetServerlessGlobalFunction()
	if err != nil || g.Timeout == nil {
		t.Fatalf("%s has no Timeout and Globals has none", name)
	}
	return *g.Timeout
}

// TestWorkerEventSource: the run queue invokes the worker through an
// explicit event source mapping, not SAM's SQS event, whose managed policy
// (AWSLambdaSQSQueueExecutionRole) reads and deletes on every queue of the
// account; the mapping is made once the worker's role holds the run queue
// statement TestPoliciesAreLeastPrivilege checks.
func TestWorkerEventSource(t *testing.T) {
	tmpl := template(t)
	// No function has an SQS event: SAM would add the managed policy back.
	for name, f := range tmpl.GetAllServerlessFunctionResources() {
		for evName, ev := range f.Events {
			if ev.Type == "SQS" {
				t.Errorf("%s has an SQS event %s: SAM gives its role AWSLambdaSQSQueueExecutionRole (every queue); map the queue with an AWS::Lambda::EventSourceMapping", name, evName)
			}
		}
	}
	if _, ok := tmpl.Lookup("Resources", "WorkerFunction", "Properties", "Events"); ok {
		t.Errorf("WorkerFunction has Events %s, want none (the run queue is mapped by WorkerFunctionRuns)", show(lookup(t, "Resources", "WorkerFunction", "Properties", "Events")))
	}
	// Exactly one mapping, of the run queue to the worker.
	resources := lookup(t, "Resources").(map[string]any)
	var mappings []string
	for name, r := range resources {
		if r.(map[string]any)["Type"] == "AWS::Lambda::EventSourceMapping" {
			mappings = append(mappings, name)
		}
	}
	// The logical id SAM gave the former SQS event: a stack deployed with
	// it updates the mapping in place (Lambda refuses a second mapping of a
	// queue to the same function, which a new id would make first).
	if got, want := mappings, []string{"WorkerFunctionRuns"}; !slices.Equal(got, want) {
		t.Fatalf("event source mappings: got %q, want %q", got, want)
	}
	want := map[string]any{
		"Type": "AWS::Lambda::EventSourceMapping",
		// SAM names the role it makes for a function <function>Role: the
		// mapping waits for it, and with it for its ConsumeRunQueue
		// statement.
		"DependsOn": "WorkerFunctionRole",
		"Properties": map[string]any{
			"EventSourceArn":        deploy.GetAtt("RunQueue", "Arn"),
			"FunctionName":          deploy.Ref("WorkerFunction"),
			"BatchSize":             10,
			"FunctionResponseTypes": []string{"ReportBatchItemFailures"},
			"ScalingConfig":         map[string]any{"MaximumConcurrency": deploy.Ref("WorkerMaxConcurrency")},
		},
	}
	if got := resources["WorkerFunctionRuns"]; !jsonEqual(t, got, want) {
		t.Errorf("WorkerFunctionRuns:\n got  %s\n want %s", show(got), show(want))
	}
	// The role the mapping waits for is SAM's role of the worker, made
	// from its Policies, not one of the template's.
	if _, ok := resources["WorkerFunctionRole"]; ok {
		t.Errorf("the template declares WorkerFunctionRole; it must be the role SAM makes from WorkerFunction's Policies")
	}
}

func TestHealthSchedule(t *testing.T) {
	events := lookup(t, "Resources", "HealthFunction", "Properties", "Events").(map[string]any)
	if len(events) != 1 {
		t.Fatalf("HealthFunction events: got %s, want one Schedule event", show(events))
	}
	want := map[string]any{
		"Type": "Schedule",
		"Properties": map[string]any{
			"Schedule":    deploy.Ref("HealthSchedule"),
			"Description": deploy.Sub("Wiresk ${Stage} Connection health check"),
			"Enabled":     true,
		},
	}
	for _, got := range events {
		if !jsonEqual(t, got, want) {
			t.Errorf("HealthFunction event:\n got  %s\n want %s", show(got), show(want))
		}
	}
	// The typed model reads it as a Schedule event too.
	f, err := template(t).GetServerlessFunctionWithName("HealthFunction")
	if err != nil {
		t.Fatal(err)
	}
	for name, ev := range f.Events {
		if ev.Type != "Schedule" || ev.Properties.ScheduleEvent == nil || ev.Properties.ScheduleEvent.Schedule != deploy.Ref("HealthSchedule") {
			t.Errorf("HealthFunction event %s: not a Schedule event on %s", name, deploy.Ref("HealthSchedule"))
		}
	}
	p := template(t).Parameters["HealthSchedule"]
	if got, want := p.Default, "rate(5 minutes)"; got != want {
		t.Errorf("HealthSchedule default: got %v, want %v", got, want)
	}
}

func TestQueues(t *testing.T) {
	tmpl := template(t)
	q, err := tmpl.GetSQSQueueWithName("RunQueue")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"deadLetterTargetArn": deploy.GetAtt("DeadLetterQueue", "Arn"), "maxReceiveCount": deploy.Ref("MaxReceives")}
	if got := q.RedrivePolicy; !jsonEqual(t, got, want) {
		t.Errorf("RunQueue RedrivePolicy: got %s, want %s", show(got), show(want))
	}
	wt := timeout(t, "WorkerFunction")
	if q.VisibilityTimeout == nil || *q.VisibilityTimeout < 6*wt {
		t.Errorf("RunQueue VisibilityTimeout: got %v, want at least 6 x the worker's Timeout (%d s) = %d s", lookup(t, "Resources", "RunQueue", "Properties", "VisibilityTimeout"), wt, 6*wt)
	}
	dlq, err := tmpl.GetSQSQueueWithName("DeadLetterQueue")
	if err != nil {
		t.Fatal(err)
	}
	if dlq.MessageRetentionPeriod == nil || *dlq.MessageRetentionPeriod != 14*24*3600 {
		t.Errorf("DeadLetterQueue MessageRetentionPeriod: got %v, want %d (14 days)", dlq.MessageRetentionPeriod, 14*24*3600)
	}
	if q.MessageRetentionPeriod != nil && *q.MessageRetentionPeriod >= *dlq.MessageRetentionPeriod {
		t.Errorf("RunQueue keeps messages %d s, not less than its dead-letter queue (%d s): SQS keeps a message's first enqueue time, so it could expire there at once", *q.MessageRetentionPeriod, *dlq.MessageRetentionPeriod)
	}
	// A job carries a webhook body base64-encoded up to run.MaxJobBytes in
	// all (a larger one by reference), and message attributes: it must fit,
	// in both queues (a redriven job too).
	need := run.MaxJobBytes + 16<<10
	for name, size := range map[string]*int{"RunQueue": q.MaximumMessageSize, "DeadLetterQueue": dlq.MaximumMessageSize} {
		if size == nil || *size < need {
			t.Errorf("%s MaximumMessageSize: got %v, want at least %d (a job of run.MaxJobBytes and its attributes)", name, lookup(t, "Resources", name, "Properties"), need)
		}
	}
	for name, queue := range map[string]*bool{"RunQueue": q.SqsManagedSseEnabled, "DeadLetterQueue": dlq.SqsManagedSseEnabled} {
		if queue == nil || !*queue {
			t.Errorf("%s: SqsManagedSseEnabled is not true", name)
		}
	}
}

// TestQueuesAreKeptOnStackDeletion: deleting the stack (or replacing a
// queue) keeps the run queue and the dead-letter queue, with the jobs in
// them, as it keeps the table.
func TestQueuesAreKeptOnStackDeletion(t *testing.T) {
	for _, q := range []string{"RunQueue", "DeadLetterQueue"} {
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if got := lookup(t, "Resources", q, policy); got != "Retain" {
				t.Errorf("%s %s: got %v, want Retain", q, policy, got)
			}
		}
	}
}

func TestTable(t *testing.T) {
	tmpl := template(t)
	tbl, err := tmpl.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tbl.AWSCloudFormationDeletionPolicy), "Retain"; got != want {
		t.Errorf("Table DeletionPolicy: got %q, want %q", got, want)
	}
	if got, want := string(tbl.AWSCloudFormationUpdateReplacePolicy), "Retain"; got != want {
		t.Errorf("Table UpdateReplacePolicy: got %q, want %q", got, want)
	}
	if tbl.BillingMode == nil || *tbl.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("Table BillingMode: got %v, want PAY_PER_REQUEST", tbl.BillingMode)
	}
	keys := func(ks any) string {
		b, _ := json.Marshal(ks)
		return string(b)
	}
	if got, want := keys(tbl.KeySchema), `[{"AttributeName":"PK","KeyType":"HASH"},{"AttributeName":"SK","KeyType":"RANGE"}]`; got != want {
		t.Errorf("Table KeySchema: got %s, want %s", got, want)
	}
	var attrs []string
	for _, a := range tbl.AttributeDefinitions {
		attrs = append(attrs, a.AttributeName+":"+a.AttributeType)
	}
	if got, want := strings.Join(attrs, " "), "PK:S SK:S GSI1PK:S GSI1SK:S GSI2PK:S GSI2SK:S"; got != want {
		t.Errorf("Table AttributeDefinitions: got %s, want %s", got, want)
	}
	if got, want := len(tbl.GlobalSecondaryIndexes), 2; got != want {
		t.Fatalf("Table GSIs: got %d, want %d", got, want)
	}
	for i, gsi := range tbl.GlobalSecondaryIndexes {
		name := []string{"GSI1", "GSI2"}[i]
		if got, want := gsi.IndexName, name; got != want {
			t.Errorf("GSI %d name: got %s, want %s", i, got, want)
		}
		if got, want := keys(gsi.KeySchema), `[{"AttributeName":"`+name+`PK","KeyType":"HASH"},{"AttributeName":"`+name+`SK","KeyType":"RANGE"}]`; got != want {
			t.Errorf("%s KeySchema: got %s, want %s", name, got, want)
		}
		if gsi.Projection.ProjectionType == nil || *gsi.Projection.ProjectionType != "ALL" {
			t.Errorf("%s projection: got %v, want ALL", name, gsi.Projection.ProjectionType)
		}
	}
	if ttl := tbl.TimeToLiveSpecification; ttl == nil || ttl.AttributeName == nil || *ttl.AttributeName != "ttl" || !ttl.Enabled {
		t.Errorf("Table TimeToLiveSpecification: got %v, want ttl enabled", lookup(t, "Resources", "Table", "Properties", "TimeToLiveSpecification"))
	}
	if p := tbl.PointInTimeRecoverySpecification; p == nil || p.PointInTimeRecoveryEnabled == nil || !*p.PointInTimeRecoveryEnabled {
		t.Errorf("Table PointInTimeRecoverySpecification: not enabled")
	}
	if s := tbl.SSESpecification; s == nil || !s.SSEEnabled {
		t.Errorf("Table SSESpecification: not enabled")
	}
}

func TestAlarms(t *testing.T) {
	tmpl := template(t)
	want := map[string]struct {
		namespace, metric, dimension, value string
	}{
		"DeadLetterQueueAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", deploy.GetAtt("DeadLetterQueue", "QueueName")},
		"WorkerErrorsAlarm":    {"AWS/Lambda", "Errors", "FunctionName", deploy.Ref("WorkerFunction")},
		"HealthErrorsAlarm":    {"AWS/Lambda", "Errors", "FunctionName", deploy.Ref("HealthFunction")},
		"TriggerErrorsAlarm":   {"AWS/Lambda", "Errors", "FunctionName", deploy.Ref("TriggerFunction")},
		"ManageErrorsAlarm":    {"AWS/Lambda", "Errors", "FunctionName", deploy.Ref("ManageFunction")},
		"ApiErrorsAlarm":       {"AWS/ApiGateway", "5xx", "ApiId", deploy.Ref("HttpApi")},
		"RunQueueAgeAlarm":     {"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", deploy.GetAtt("RunQueue", "QueueName")},
	}
	// Every alarm notifies AlarmTopicArn when it is set, and nothing
	// otherwise.
	notify := map[string]any{"Fn::If": []any{"HasAlarmTopic", []any{deploy.Ref("AlarmTopicArn")}, deploy.Ref("AWS::NoValue")}}
	if got := lookup(t, "Conditions", "HasAlarmTopic"); !jsonEqual(t, got, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{deploy.Ref("AlarmTopicArn"), ""}}}}) {
		t.Errorf("condition HasAlarmTopic: got %s, want AlarmTopicArn not empty", show(got))
	}
	alarms := 0
	for _, r := range lookup(t, "Resources").(map[string]any) {
		if r.(map[string]any)["Type"] == "AWS::CloudWatch::Alarm" {
			alarms++
		}
	}
	if alarms != len(want) {
		t.Errorf("%d alarms in the template, want %d (add the new one to this test)", alarms, len(want))
	}
	for name, w := range want {
		a, err := tmpl.GetCloudWatchAlarmWithName(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if a.Namespace == nil || *a.Namespace != w.namespace || a.MetricName == nil || *a.MetricName != w.metric {
			t.Errorf("%s metric: got %v %v, want %s %s", name, a.Namespace, a.MetricName, w.namespace, w.metric)
		}
		if len(a.Dimensions) != 1 || a.Dimensions[0].Name != w.dimension || a.Dimensions[0].Value != w.value {
			t.Errorf("%s dimensions: got %s, want %s=%s", name, show(a.Dimensions), w.dimension, w.value)
		}
		threshold := any(1.0)
		if name == "RunQueueAgeAlarm" {
			threshold = deploy.Ref("RunQueueAgeThreshold")
		}
		if a.Threshold != threshold || a.ComparisonOperator != "GreaterThanOrEqualToThreshold" {
			t.Errorf("%s: got %v %v, want >= %v", name, a.ComparisonOperator, a.Threshold, threshold)
		}
		if !jsonEqual(t, a.AlarmActions, notify) {
			t.Errorf("%s AlarmActions: got %s, want %s", name, show(a.AlarmActions), show(notify))
		}
	}
}

func TestOutputs(t *testing.T) {
	want := map[string]string{
		"ApiUrl":             deploy.Sub("https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
		"TableName":          deploy.Ref("Table"),
		"TableArn":           deploy.GetAtt("Table", "Arn"),
		"QueueUrl":           deploy.Ref("RunQueue"),
		"QueueArn":           deploy.GetAtt("RunQueue", "Arn"),
		"DeadLetterQueueUrl": deploy.Ref("DeadLetterQueue"),
		"DeadLetterQueueArn": deploy.GetAtt("DeadLetterQueue", "Arn"),
		"DashboardUrl":       deploy.Sub("https://${AWS::Region}.console.${AWS::URLSuffix}/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"),
		"BodyBucketName":     deploy.Ref("BodyBucket"),
	}
	outs := template(t).Outputs
	for name, value := range want {
		if got := outs[name].Value; got != value {
			t.Errorf("output %s: got %v, want %s", name, got, value)
		}
	}
	if got, want := len(outs), len(want); got != want {
		t.Errorf("outputs: got %d, want %d", got, want)
	}
}

// TestSampleEvents decodes every events/*.json into aws-lambda-go's own
// type (unknown fields refused), checks that the HTTP ones name a route of
// the template's function they are for, and that every function has one.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]string{}
	for _, e := range httpEvents(t) {
		routes[e.route] = e.function
	}
	prefixes := map[string]string{
		"trigger-": "TriggerFunction", "manage-": "ManageFunction", "worker-": "WorkerFunction",
		"connections-": "ConnectionsFunction", "oauthcallback": "OAuthCallbackFunction", "health-": "HealthFunction",
	}
	covered := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		fn := ""
		for p, f := range prefixes {
			if strings.HasPrefix(name, p) {
				fn = f
			}
		}
		covered[fn] = true
		t.Run(name, func(t *testing.T) {
			if fn == "" {
				t.Fatalf("%s: want a name starting with one of %v", name, slices.Sorted(maps.Keys(prefixes)))
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			switch fn {
			case "WorkerFunction":
				var ev events.SQSEvent
				if err := dec.Decode(&ev); err != nil {
					t.Fatal(err)
				}
				if len(ev.Records) == 0 {
					t.Errorf("no records")
				}
				return
			case "HealthFunction":
				// What an EventBridge schedule rule sends.
				var ev events.CloudWatchEvent
				if err := dec.Decode(&ev); err != nil {
					t.Fatal(err)
				}
				if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || len(ev.Resources) != 1 || ev.Time.IsZero() {
					t.Errorf("got %+v, want a scheduled event of aws.events naming its rule", ev)
				}
				return
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := dec.Decode(&ev); err != nil {
				t.Fatal(err)
			}
			if got, want := routes[ev.RouteKey], fn; got != want {
				t.Errorf("routeKey %q is a route of %q, want one of %s", ev.RouteKey, got, want)
			}
			if got, want := ev.RequestContext.RouteKey, ev.RouteKey; got != want {
				t.Errorf("requestContext.routeKey: got %q, want %q", got, want)
			}
			if got, want := ev.RequestContext.HTTP.Path, ev.RawPath; got != want {
				t.Errorf("requestContext.http.path: got %q, want rawPath %q", got, want)
			}
			if got, want := ev.RequestContext.HTTP.Method+" "+ev.RawPath, ev.RouteKey; !routeMatches(want, got) {
				t.Errorf("request %s does not match its routeKey %s", got, want)
			}
			hasJWT := ev.RequestContext.Authorizer != nil && ev.RequestContext.Authorizer.JWT != nil
			if want := fn == "ManageFunction" || fn == "ConnectionsFunction"; hasJWT != want {
				t.Errorf("JWT authorizer context present: got %v, want %v", hasJWT, want)
			}
		})
	}
	for name := range template(t).GetAllServerlessFunctionResources() {
		if !covered[name] {
			t.Errorf("%s has no sample event in events/ (for sam local invoke and its tests)", name)
		}
	}
}

// routeMatches reports whether the request "METHOD /path" matches the
// route key "METHOD /pattern" with {name} segments.
func routeMatches(routeKey, request string) bool {
	rm, rp, _ := strings.Cut(routeKey, " ")
	qm, qp, _ := strings.Cut(request, " ")
	rs, qs := strings.Split(rp, "/"), strings.Split(qp, "/")
	if rm != qm || len(rs) != len(qs) {
		return false
	}
	for i := range rs {
		if rs[i] != qs[i] && !(strings.HasPrefix(rs[i], "{") && strings.HasSuffix(rs[i], "}") && qs[i] != "") {
			return false
		}
	}
	return true
}

func TestSAMConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`stack_name = "wiresk-dev"`,
		`capabilities = "CAPABILITY_IAM"`,
		`resolve_s3 = true`,
		`parameter_overrides = "Stage=dev"`,
	} {
		if !bytes.Contains(data, []byte("\n"+line+"\n")) {
			t.Errorf("samconfig.toml: no line %s", line)
		}
	}
}
