// Package app is the composition root: the one place that reads a
// function's configuration from the environment (Load, MustLoad) and wires
// the use cases on the adapters it is given (Build) into what each Lambda
// function serves (the App's handlers) and what the local runner mounts.
// Each functions/<name>/main.go loads its configuration, builds the SDK
// clients it uses (and only those, so that its bootstrap links no other),
// and starts the App's handler; tests build an App on the embedded
// adapters with the same Build.
//
// Environment (each function reads the part its Role needs):
//
//	WIRESK_TABLE                  DynamoDB table (required)
//	WIRESK_QUEUE_URL              SQS run queue URL (trigger, manage, worker: required)
//	WIRESK_SECRET_PREFIX          Secrets Manager name prefix, wiresk/<Stage>
//	                              (connections, oauthcallback, worker, health: required)
//	WIRESK_DLQ_URL                SQS URL of the run queue's dead-letter queue, whose
//	                              jobs the management API lists and redrives (manage: required)
//	WIRESK_MAX_RECEIVES           the run queue's maxReceiveCount (worker, manage: required):
//	                              on that delivery a failure is final; the reason
//	                              the management API gives dead jobs
//	WIRESK_SCHEDULE_GROUP         EventBridge Scheduler schedule group of the schedule
//	                              triggers (manage: required)
//	WIRESK_SCHEDULER_ROLE_ARN     IAM role EventBridge Scheduler assumes to send a
//	                              schedule trigger's fires to the run queue (manage: required)
//	WIRESK_RUN_QUEUE_ARN          the run queue's ARN, the schedules' target (manage: required)
//	WIRESK_DEAD_LETTER_ARN        SQS queue ARN of the fires Scheduler could not deliver
//	                              (manage; empty: they are dropped)
//	WIRESK_PUBLIC_URL             base of webhook URLs, of the OAuth redirect URI and
//	                              of instant app triggers' notification URLs;
//	                              empty: https://<domain the request came in on>
//	WIRESK_API_URL                the API's own URL, the notification base when
//	                              WIRESK_PUBLIC_URL is empty (worker)
//	WIRESK_GROUPS_CLAIM           JWT claim listing Group ids (default groups)
//	WIRESK_OAUTH_RETURN_URL       where the OAuth callback sends the browser when
//	                              done; empty: a page of its own
//	WIRESK_HTTP_ALLOW_CIDRS       private CIDRs steps, app calls and token requests
//	                              may reach (default none)
//	WIRESK_BODY_BUCKET            S3 bucket of the webhook bodies too large for a queue
//	                              message, stored by reference (trigger, worker; empty:
//	                              none, and the trigger accepts at most 163840 bytes)
//	WIRESK_MAX_BODY_BYTES         webhook body limit (default 6291456 with a body
//	                              bucket, 163840 without; at most 6291456)
//	WIRESK_GROUP_RUNS_PER_MINUTE  Runs each Group's webhooks may start a minute in
//	                              one instance, 429 above (default 3000, 0: no cap)
//	WIRESK_RUN_ONCE_WAIT          how long Run Once waits for its Run (default 25s)
//	WIRESK_RUN_RETENTION_DAYS     days a Run is kept before TTL deletes it
//	                              (default 30; 0 keeps Runs forever)
//	WIRESK_RENDER_MEMORY_MB       MiB the step templates rendered at once may use
//	                              (default 128: see package template)
//	WIRESK_LOG_LEVEL              debug, info, warn or error (default info)
//	WIRESK_METRICS_NAMESPACE      CloudWatch namespace of the metrics, written to
//	                              stdout in the Embedded Metric Format, such as
//	                              Wiresk/prod (empty: no metrics)
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"wiresk/internal/egress"
	"wiresk/internal/httpapi"
	"wiresk/internal/ratelimit"
	"wiresk/internal/run"
	"wiresk/internal/template"
)

// Role names a Lambda function: what it serves decides what it reads of
// the environment and which adapters it builds.
type Role string

// The functions of the stack.
const (
	Trigger       Role = "trigger"
	Manage        Role = "manage"
	Connections   Role = "connections"
	OAuthCallback Role = "oauthcallback"
	Worker        Role = "worker"
	Health        Role = "health"
)

func (r Role) queue() bool { return r == Trigger || r == Manage || r == Worker }
func (r Role) egress() bool {
	return r == Connections || r == OAuthCallback || r == Worker || r == Health
}

// secrets: the egress roles hold Connection tokens; trigger reads and
// manage writes HTTP triggers' signing secrets (only those, by IAM).
func (r Role) secrets() bool { return r.egress() || r == Trigger || r == Manage }
func (r Role) web() bool     { return r == Manage || r == Connections || r == OAuthCallback }

// Config is the configuration of a function, read once by Load.
type Config struct {
	Role     Role
	Table    string
	QueueURL string
	// DeadLetterURL is the run queue's dead-letter queue (manage).
	DeadLetterURL string
	SecretPrefix  string
	// PublicURL is the base of webhook URLs and of the OAuth redirect URI;
	// empty: the domain API Gateway received the request on.
	PublicURL   string
	GroupsClaim string
	// ReturnURL is where the OAuth callback sends the browser; empty: a page.
	ReturnURL string
	// NotifyBase is the public base URL of instant app triggers'
	// notifications (worker); empty: instant triggers poll only.
	NotifyBase string
	// Guard decides where steps, app calls and token requests may go.
	Guard *egress.Guard
	// BodyBucket is the S3 bucket of the bodies stored by reference
	// (trigger, worker); empty: none.
	BodyBucket    string
	MaxBody       int64
	RunsPerMinute int
	RunOnceWait   time.Duration
	MaxReceives   int
	RunRetention  time.Duration
	RenderBudget  int64 // units, for template.SetProcessBudget
	// Lease is how long the worker holds a Run (worker.Worker.Lease); 0:
	// the invocation's deadline in Lambda.
	Lease    time.Duration
	LogLevel slog.Level
	// MetricsNamespace is the CloudWatch namespace of the EMF metrics;
	// empty: none are written.
	MetricsNamespace string

	// The EventBridge Scheduler schedules of schedule triggers (manage):
	// their group, the role Scheduler assumes, their target (the run
	// queue) and where the fires it could not deliver go ("": nowhere).
	ScheduleGroup    string
	SchedulerRoleARN string
	RunQueueARN      string
	DeadLetterARN    string
}

// maxLambdaBody is Lambda's limit on a synchronous invocation's payload; a
// larger webhook body limit could never be reached.
const maxLambdaBody = 6 << 20

// maxRunOnceWait keeps Run Once under API Gateway's 30 s integration
// timeout.
const maxRunOnceWait = 29 * time.Second

// Load reads role's configuration through getenv (os.Getenv), reporting
// every problem at once.
func Load(role Role, getenv func(string) string) (Config, error) {
	cfg := Config{Role: role, Table: getenv("WIRESK_TABLE"), GroupsClaim: "groups"}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Table == "" {
		bad("WIRESK_TABLE is required (the DynamoDB table name)")
	}
	if role.queue() {
		if cfg.QueueURL = getenv("WIRESK_QUEUE_URL"); cfg.QueueURL == "" {
			bad("WIRESK_QUEUE_URL is required (the SQS run queue URL)")
		}
	}
	if role.secrets() {
		if cfg.SecretPrefix = getenv("WIRESK_SECRET_PREFIX"); cfg.SecretPrefix == "" {
			bad("WIRESK_SECRET_PREFIX is required (the Secrets Manager name prefix, like wiresk/dev)")
		}
	}
	if role.egress() {
		guard, err := egress.NewGuard(getenv(egress.AllowEnv))
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Guard = guard
	}
	// The trigger function reads the public URL too: it is the URL Twilio
	// and HubSpot sign.
	if role.web() || role == Trigger {
		if cfg.PublicURL = getenv("WIRESK_PUBLIC_URL"); cfg.PublicURL != "" && !BaseURL(cfg.PublicURL) {
			bad("WIRESK_PUBLIC_URL=%q: want an absolute http(s) URL such as https://hooks.example.com, or nothing", cfg.PublicURL)
		}
	}
	if role.web() {
		if v := getenv("WIRESK_GROUPS_CLAIM"); v != "" {
			cfg.GroupsClaim = v
		}
	}
	if role == Worker || role == Manage {
		if v := getenv("WIRESK_MAX_RECEIVES"); v == "" {
			bad("WIRESK_MAX_RECEIVES is required: the run queue's maxReceiveCount")
		} else if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			bad("WIRESK_MAX_RECEIVES=%q: want the run queue's maxReceiveCount, 1 to 1000", v)
		} else {
			cfg.MaxReceives = n
		}
	}
	if role == Trigger || role == Worker {
		cfg.BodyBucket = getenv("WIRESK_BODY_BUCKET")
	}
	switch role {
	case Trigger:
		cfg.MaxBody, cfg.RunsPerMinute = httpapi.DefaultMaxBody, ratelimit.DefaultPerMinute
		if cfg.BodyBucket == "" {
			// Without a body store only what a queue message carries.
			cfg.MaxBody = run.InlineBodyMax
		}
		if v := getenv("WIRESK_MAX_BODY_BYTES"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			switch {
			case err != nil || n < 1 || n > maxLambdaBody:
				bad("WIRESK_MAX_BODY_BYTES=%q: want a number of bytes from 1 to %d (Lambda's payload limit)", v, maxLambdaBody)
			case n > run.InlineBodyMax && cfg.BodyBucket == "":
				bad("WIRESK_MAX_BODY_BYTES=%q: bodies over %d bytes are stored by reference, which needs WIRESK_BODY_BUCKET", v, run.InlineBodyMax)
			}
			cfg.MaxBody = n
		}
		if v := getenv("WIRESK_GROUP_RUNS_PER_MINUTE"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				bad("WIRESK_GROUP_RUNS_PER_MINUTE=%q: want a number of Runs a minute, 0 for no cap", v)
			}
			cfg.RunsPerMinute = n
		}
	case Manage:
		cfg.RunOnceWait = 25 * time.Second
		if v := getenv("WIRESK_RUN_ONCE_WAIT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxRunOnceWait {
				bad("WIRESK_RUN_ONCE_WAIT=%q: want a duration such as 25s, at most %s (API Gateway gives up after 30 s)", v, maxRunOnceWait)
			}
			cfg.RunOnceWait = d
		}
		if cfg.DeadLetterURL = getenv("WIRESK_DLQ_URL"); cfg.DeadLetterURL == "" {
			bad("WIRESK_DLQ_URL is required (the SQS URL of the run queue's dead-letter queue)")
		}
		if cfg.ScheduleGroup = getenv("WIRESK_SCHEDULE_GROUP"); cfg.ScheduleGroup == "" {
			bad("WIRESK_SCHEDULE_GROUP is required (the EventBridge Scheduler schedule group of schedule triggers)")
		} else if !scheduleGroupName(cfg.ScheduleGroup) {
			bad("WIRESK_SCHEDULE_GROUP=%q: want a schedule group name, 1 to 64 letters, digits, dashes, underscores or dots", cfg.ScheduleGroup)
		}
		for _, v := range []struct {
			key, what string
			dst       *string
			required  bool
		}{
			{"WIRESK_SCHEDULER_ROLE_ARN", "the IAM role EventBridge Scheduler assumes", &cfg.SchedulerRoleARN, true},
			{"WIRESK_RUN_QUEUE_ARN", "the SQS run queue's ARN", &cfg.RunQueueARN, true},
			{"WIRESK_DEAD_LETTER_ARN", "the SQS dead-letter queue's ARN", &cfg.DeadLetterARN, false},
		} {
			switch *v.dst = getenv(v.key); {
			case *v.dst == "" && v.required:
				bad("%s is required (%s)", v.key, v.what)
			case *v.dst != "" && !strings.HasPrefix(*v.dst, "arn:"):
				bad("%s=%q: want an ARN (%s)", v.key, *v.dst, v.what)
			}
		}
	case Connections, OAuthCallback:
		if cfg.ReturnURL = getenv("WIRESK_OAUTH_RETURN_URL"); cfg.ReturnURL != "" && !AbsoluteURL(cfg.ReturnURL) {
			bad("WIRESK_OAUTH_RETURN_URL=%q: want an absolute http(s) URL such as https://app.example.com/connections, or nothing", cfg.ReturnURL)
		}
	case Worker:
		// Where instant app triggers' notifications are sent: the public
		// URL, else the API's own.
		if cfg.NotifyBase = getenv("WIRESK_PUBLIC_URL"); cfg.NotifyBase == "" {
			cfg.NotifyBase = getenv("WIRESK_API_URL")
		}
		if cfg.NotifyBase != "" && !BaseURL(cfg.NotifyBase) {
			bad("WIRESK_PUBLIC_URL or WIRESK_API_URL=%q: want an absolute http(s) URL such as https://hooks.example.com", cfg.NotifyBase)
		}
		cfg.RunRetention = 30 * 24 * time.Hour
		if v := getenv("WIRESK_RUN_RETENTION_DAYS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 3650 {
				bad("WIRESK_RUN_RETENTION_DAYS=%q: want a number of days from 0 (keep Runs forever) to 3650", v)
			}
			cfg.RunRetention = time.Duration(n) * 24 * time.Hour
		}
		var err error
		if cfg.RenderBudget, err = template.ParseMemoryEnv(getenv(template.MemoryEnv)); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.MetricsNamespace = getenv("WIRESK_METRICS_NAMESPACE"); cfg.MetricsNamespace != "" && !metricsNamespace(cfg.MetricsNamespace) {
		bad("WIRESK_METRICS_NAMESPACE=%q: want a CloudWatch namespace such as Wiresk/prod (1 to 255 letters, digits and . - _ / # : space, not starting with AWS/)", cfg.MetricsNamespace)
	}
	if v := getenv("WIRESK_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	return cfg, errors.Join(errs...)
}

// metricsNamespace reports whether s is a namespace CloudWatch accepts for
// custom metrics.
func metricsNamespace(s string) bool {
	if len(s) < 1 || len(s) > 255 || strings.HasPrefix(s, "AWS/") {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.ContainsRune(".-_/#: ", c)) {
			return false
		}
	}
	return true
}

// scheduleGroupName reports whether s is a valid EventBridge Scheduler
// schedule group name.
func scheduleGroupName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// AbsoluteURL reports whether s is an absolute http(s) URL with a host and
// no user info.
func AbsoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// BaseURL reports whether s is an absolute http(s) URL that paths can be
// appended to: no query, no fragment.
func BaseURL(s string) bool {
	u, err := url.Parse(s)
	return AbsoluteURL(s) && err == nil && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery
}
