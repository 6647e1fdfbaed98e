// Command local is the local runner: the whole system in one process on the
// embedded adapters (one bbolt file), with no AWS account and no other
// service. `make run` starts it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/httpapi"
	"wiresk/internal/logctx"
	"wiresk/internal/ratelimit"
	"wiresk/internal/template"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The runner allocates per request and keeps little: collecting
		// less often buys ~20% webhook throughput (make bench) for a
		// somewhat larger heap. GOGC overrides it.
		debug.SetGCPercent(400)
	}
	cfg := config{
		Addr:               env("WIRESK_ADDR", "127.0.0.1:8080"),
		DataDir:            env("WIRESK_DATA_DIR", ".wiresk"),
		PublicURL:          os.Getenv("WIRESK_PUBLIC_URL"),
		AllowCIDRs:         env("WIRESK_HTTP_ALLOW_CIDRS", "127.0.0.0/8,::1/128"),
		NoSync:             os.Getenv("WIRESK_NO_SYNC") == "1" || os.Getenv("WIRESK_NO_SYNC") == "true",
		MaxBody:            envInt("WIRESK_MAX_BODY_BYTES", httpapi.DefaultMaxBody),
		MaxReceives:        envInt("WIRESK_MAX_RECEIVES", 5),
		Workers:            envInt("WIRESK_WORKERS", 8),
		GroupRunsPerMinute: envInt("WIRESK_GROUP_RUNS_PER_MINUTE", ratelimit.DefaultPerMinute),
		MaxConns:           envInt("WIRESK_MAX_CONNS", int64(defaultLimits.MaxConns)),
		Quiet:              os.Getenv("WIRESK_QUIET") == "1",
		Visibility:         envDuration("WIRESK_VISIBILITY_TIMEOUT", 30*time.Second),

		Backend:          env("WIRESK_BACKEND", "embedded"),
		Table:            os.Getenv("WIRESK_TABLE"),
		QueueURL:         os.Getenv("WIRESK_QUEUE_URL"),
		DeadLetterURL:    os.Getenv("WIRESK_DLQ_URL"),
		CreateResources:  os.Getenv("WIRESK_CREATE_RESOURCES") == "1",
		RunRetentionDays: envInt("WIRESK_RUN_RETENTION_DAYS", 30),
		BodyBucket:       os.Getenv("WIRESK_BODY_BUCKET"),
		SecretPrefix:     env("WIRESK_SECRET_PREFIX", "wiresk/local"),
		Vault:            os.Getenv("WIRESK_VAULT"),

		AppBaseURLs:    envMap("WIRESK_APP_BASE_URLS"),
		AppTestURLs:    envMap("WIRESK_APP_TEST_URLS"),
		AppOverrides:   envOverrides("WIRESK_APP_OVERRIDES"),
		OAuthReturnURL: os.Getenv("WIRESK_OAUTH_RETURN_URL"),
		HealthInterval: envDuration("WIRESK_HEALTH_INTERVAL", 5*time.Minute),
	}
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env WIRESK_ADDR)")
	flag.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (env WIRESK_DATA_DIR)")
	flag.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL shown in trigger URLs (env WIRESK_PUBLIC_URL; default http://<addr>)")
	flag.StringVar(&cfg.AllowCIDRs, "http-allow-cidrs", cfg.AllowCIDRs, "comma-separated CIDRs HTTP steps may call although private/loopback (env WIRESK_HTTP_ALLOW_CIDRS)")
	flag.BoolVar(&cfg.NoSync, "no-sync", cfg.NoSync, "acknowledge webhooks without fsync: survives a process crash, not a power loss (env WIRESK_NO_SYNC=1)")
	flag.Int64Var(&cfg.MaxBody, "max-body", cfg.MaxBody, "webhook body limit in bytes (env WIRESK_MAX_BODY_BYTES)")
	flag.Int64Var(&cfg.MaxReceives, "max-receives", cfg.MaxReceives, "deliveries before a failing job goes to the dead-letter queue (env WIRESK_MAX_RECEIVES)")
	flag.Int64Var(&cfg.Workers, "workers", cfg.Workers, "concurrent worker batches; 0 runs no workers (ingest only, for benchmarks) (env WIRESK_WORKERS)")
	flag.Int64Var(&cfg.MaxConns, "max-conns", cfg.MaxConns, "HTTP connections open at once; more wait until one closes (env WIRESK_MAX_CONNS)")
	flag.StringVar(&cfg.Backend, "backend", cfg.Backend, "embedded (bbolt, default) or aws (DynamoDB + SQS through the AWS SDK configuration) (env WIRESK_BACKEND)")
	flag.DurationVar(&cfg.Visibility, "visibility-timeout", cfg.Visibility, "how long a received job stays hidden before it is redelivered; longer than any Run takes (env WIRESK_VISIBILITY_TIMEOUT)")
	flag.Int64Var(&cfg.GroupRunsPerMinute, "group-runs-per-minute", cfg.GroupRunsPerMinute, "Runs each Group's webhooks may start a minute, 429 rate_limited above it; 0 for no cap (env WIRESK_GROUP_RUNS_PER_MINUTE)")
	flag.Parse()
	if cfg.MaxBody < 1 || cfg.MaxReceives < 1 || cfg.MaxConns < 1 || cfg.Workers < 0 || cfg.GroupRunsPerMinute < 0 {
		fmt.Fprintln(os.Stderr, "wiresk: -max-body, -max-receives and -max-conns must be at least 1, -workers and -group-runs-per-minute at least 0")
		os.Exit(2)
	}

	units, err := template.ParseMemoryEnv(os.Getenv(template.MemoryEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk:", err)
		os.Exit(2)
	}
	cfg.RenderBudget = units

	log, err := newLogger(os.Getenv("WIRESK_LOG_LEVEL"), os.Getenv("WIRESK_LOG_FORMAT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk:", err)
		os.Exit(2)
	}
	cfg.MetricsNamespace = os.Getenv("WIRESK_METRICS_NAMESPACE")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "wiresk:", err)
		os.Exit(1)
	}
}

// newLogger returns the runner's logger, at level (info when empty), on
// stderr: JSON lines as in Lambda, or with format "text" slog's key=value
// lines; each line carries the ids of its context (package logctx).
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", level)
		}
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case "", "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("WIRESK_LOG_FORMAT=%q: want json or text", format)
	}
	log := slog.New(logctx.NewHandler(h))
	slog.SetDefault(log)
	return log, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envInt(name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "wiresk: %s=%q is not a whole number\n", name, v)
		os.Exit(2)
	}
	return n
}

// envMap reads "a=x,b=y" into a map.
func envMap(name string) map[string]string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || val == "" {
			fmt.Fprintf(os.Stderr, "wiresk: %s: %q is not app=url\n", name, kv)
			os.Exit(2)
		}
		m[k] = val
	}
	return m
}

// envOverrides reads a JSON object of catalog overrides by app id:
// {"hubspot": {"baseUrl": "...", "authorizeUrl": "...", "tokenUrl": "..."}}.
func envOverrides(name string) map[string]catalog.Override {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	var m map[string]catalog.Override
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		fmt.Fprintf(os.Stderr, "wiresk: %s: not a JSON object of app overrides ({\"app\": {\"baseUrl\", \"testUrl\", \"authorizeUrl\", \"tokenUrl\", \"revokeUrl\"}}): %v\n", name, err)
		os.Exit(2)
	}
	return m
}

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "wiresk: %s=%q is not a positive duration such as 30s\n", name, v)
		os.Exit(2)
	}
	return d
}

// shutdownGrace bounds how long a stop waits for in-flight requests.
const shutdownGrace = 20 * time.Second
