package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"wiresk/internal/app"
	"wiresk/internal/auth"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/egress"
	"wiresk/internal/group"
	"wiresk/internal/httpapi"
	"wiresk/internal/logctx"
	"wiresk/internal/queue"
	"wiresk/internal/wiresk"
)

type config struct {
	Addr, DataDir, PublicURL, AllowCIDRs string
	NoSync, Quiet                        bool
	MaxBody, MaxReceives, Workers        int64
	// GroupRunsPerMinute caps the Runs each Group's webhooks start (0: no cap).
	GroupRunsPerMinute int64
	// RenderBudget is the process's template render budget in units.
	RenderBudget int64
	// MetricsNamespace, when set, has the metrics written to stdout in
	// CloudWatch's Embedded Metric Format (WIRESK_METRICS_NAMESPACE).
	MetricsNamespace string
	// MaxConns caps the HTTP connections open at once.
	MaxConns   int64
	Visibility time.Duration

	// Backend "aws" runs on DynamoDB and SQS instead of the embedded
	// adapters; the rest configures it.
	Backend, Table, QueueURL, DeadLetterURL, SecretPrefix, Vault string
	CreateResources                                              bool
	// RunRetentionDays is how long DynamoDB keeps Runs (backend aws) and
	// the data directory the bodies stored by reference (0: forever).
	RunRetentionDays int64
	// BodyBucket, with backend aws, keeps the bodies stored by reference
	// in S3 instead of the data directory.
	BodyBucket string

	// Connections.
	AppBaseURLs map[string]string
	AppTestURLs map[string]string
	// AppOverrides point apps' URLs, OAuth endpoints included, at
	// stand-ins; a field set here wins over AppBaseURLs and AppTestURLs.
	AppOverrides   map[string]catalog.Override
	OAuthReturnURL string
	HealthInterval time.Duration
}

// The development Group and user seeded on first start.
const (
	devGroupID = "grp_dev"
	devUserID  = "dev"
	jwtIssuer  = "wiresk-local"
	jwtAud     = "wiresk"
)

// run starts the runner and blocks until ctx is cancelled, then shuts down
// gracefully: no new requests, in-flight requests and worker batches finish.
func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	b, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.close()
	store, q := b.store, b.queue
	jwtKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "jwt.key"))
	if err != nil {
		return err
	}
	if err := seed(ctx, store); err != nil {
		return err
	}
	var allow []string
	for _, c := range strings.Split(cfg.AllowCIDRs, ",") {
		if c = strings.TrimSpace(c); c != "" {
			allow = append(allow, c)
		}
	}
	guard, err := egress.NewGuard(allow...)
	if err != nil {
		return fmt.Errorf("WIRESK_HTTP_ALLOW_CIDRS: %w", err)
	}

	limits := defaultLimits
	limits.MaxConns = int(cfg.MaxConns)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	ln = limitListener(ln, limits.MaxConns)
	base := "http://" + ln.Addr().String()
	public := cfg.PublicURL
	if public == "" {
		public = base
	}
	jwtAuth := &auth.JWT{Key: jwtKey, Issuer: jwtIssuer, Audience: jwtAud}
	cat, err := catalog.Load(catalog.WithOverrides(appOverrides(cfg)))
	if err != nil {
		return fmt.Errorf("app catalog (WIRESK_APP_BASE_URLS, WIRESK_APP_TEST_URLS, WIRESK_APP_OVERRIDES): %w", err)
	}
	stateKey, err := connect.LoadStateKey(ctx, b.keyVault)
	if err != nil {
		return err
	}
	// The same composition root as the Lambda functions, on this
	// backend's adapters, as one process. A Run is leased as long as its
	// message stays hidden, so a delivery that crashed is taken over as
	// soon as its message comes back.
	wake := app.NewWake()
	a := app.Build(app.Config{Guard: guard, MaxBody: cfg.MaxBody, RunsPerMinute: int(cfg.GroupRunsPerMinute), MaxReceives: int(cfg.MaxReceives),
		ReturnURL: cfg.OAuthReturnURL, Lease: cfg.Visibility, RenderBudget: cfg.RenderBudget, NotifyBase: public,
		MetricsNamespace: cfg.MetricsNamespace},
		app.Deps{Store: store, Queue: q, DeadLetters: b.deadLetters, Vault: b.vault, Bodies: b.bodies, Catalog: cat, Scheduler: wake, Logger: log})
	conns := a.ConnectService(stateKey, public)
	mux := http.NewServeMux()
	mux.Handle(httpapi.HooksPrefix, a.Hooks())
	mux.Handle(httpapi.AppHooksPattern, a.AppHooks())
	mux.Handle("/v1/", a.ManagementAPI(jwtAuth, public))
	connsAPI := httpapi.NewConnections(conns.Connections, jwtAuth, log)
	for _, pattern := range connsAPI.Routes() {
		mux.Handle(pattern, connsAPI)
	}
	oauthAPI := httpapi.NewOAuthBrowser(conns.Authorizations, log)
	for _, pattern := range oauthAPI.Routes() {
		mux.Handle(pattern, oauthAPI)
	}
	for _, h := range []interface {
		http.Handler
		Routes() []string
	}{httpapi.OpenAPI{}, httpapi.Healthz{}} {
		for _, pattern := range h.Routes() {
			mux.Handle(pattern, h)
		}
	}
	mux.HandleFunc("GET /dev/whoami", whoami)
	mux.HandleFunc("/dev/echo", echo)
	// Each request has an id on its log lines (its X-Request-Id, or a new
	// one), answered in X-Request-Id.
	srv := newServer(logctx.RequestIDs(mux), limits)

	w := a.RunWorker()
	w.Connections = conns.Credentials
	pump := &queue.Pump{Queue: q, Handler: w.Handle, Workers: int(cfg.Workers), Visibility: cfg.Visibility, Logger: log}
	pumpCtx, stopPump := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPump()
	var wg sync.WaitGroup
	if cfg.Workers > 0 {
		wg.Go(func() {
			if err := pump.Run(pumpCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.ErrorContext(ctx, "worker pump stopped", "err", err)
			}
		})
	}
	// Bodies stored by reference in the data directory expire with the
	// Runs' retention, as the S3 bucket's lifecycle rule expires them on AWS.
	if b.expireBodies != nil && cfg.RunRetentionDays > 0 {
		wg.Go(func() { expireLoop(pumpCtx, b.expireBodies, time.Duration(cfg.RunRetentionDays)*24*time.Hour, log) })
	}
	// The health schedule: refresh tokens about to expire, re-test stale
	// Connections (an EventBridge schedule in AWS).
	wg.Go(func() { healthLoop(pumpCtx, conns.Health, cfg.HealthInterval, log) })
	// Schedule triggers (EventBridge Scheduler in AWS): after downtime,
	// each schedule fires its latest missed time, once.
	wg.Go(func() {
		if err := a.LocalScheduler(1, wake).Run(pumpCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.ErrorContext(ctx, "scheduler stopped", "err", err)
		}
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	token, err := jwtAuth.Mint(devUserID, []string{devGroupID}, 30*24*time.Hour)
	if err != nil {
		return err
	}
	if !cfg.Quiet {
		printWelcome(out, base, token, b.desc, cfg)
	} else {
		fmt.Fprintf(out, "wiresk listening on %s\nTOKEN=%s\n", base, token)
	}

	select {
	case err := <-serveErr:
		stopPump()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.InfoContext(ctx, "shutting down: finishing in-flight requests and runs")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	stopPump()
	wg.Wait()
	return nil
}

// seed creates the development Group owned by the development user.
func seed(ctx context.Context, store store) error {
	now := time.Now().UTC()
	err := store.CreateGroup(ctx, group.Group{ID: devGroupID, Name: "Development", CreatedAt: now, CreatedBy: devUserID},
		group.Member{GroupID: devGroupID, UserID: devUserID, Role: group.RoleOwner, AddedAt: now})
	if err != nil && !errors.Is(err, wiresk.ErrConflict) {
		return fmt.Errorf("seed development group: %w", err)
	}
	return nil
}

// loadOrCreateKey reads the JWT signing key, creating it (0600) on first run.
func loadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want a 32-byte key, found %d bytes", path, len(b))
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// expireEvery is how often the runner deletes the bodies past retention.
const expireEvery = time.Hour

// expireLoop deletes the bodies older than retention now and every
// expireEvery until ctx ends.
func expireLoop(ctx context.Context, expire func(context.Context, time.Time) (int, error), retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		if n, err := expire(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Warn("expire stored bodies", "err", err)
		} else if n > 0 {
			log.Info("expired stored bodies", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthLoop runs the Connections health check every interval until ctx ends.
func healthLoop(ctx context.Context, health *connect.Health, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rep, err := health.CheckDue(ctx)
			if err != nil {
				log.WarnContext(ctx, "connection health check", "err", err)
				continue
			}
			if rep != (connect.HealthReport{}) {
				log.InfoContext(ctx, "connection health check", "refreshed", rep.Refreshed, "tested", rep.Tested, "broken", rep.Broken, "failed", rep.Failed)
			}
		}
	}
}

// whoami is a local stand-in for an app's "who am I" endpoint, for trying
// an API-key Connection: it answers 200 with the caller when an X-API-Key
// header is present, 401 otherwise.
func whoami(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-API-Key") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"missing X-API-Key"}`+"\n")
		return
	}
	_, _ = io.WriteString(w, `{"user":"dev@example.com"}`+"\n")
}

// echo is a local target for trying HTTP steps: it answers with what it got.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var parsed any
	if json.Unmarshal(body, &parsed) != nil {
		parsed = string(body)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.Query(), "headers": r.Header, "received": parsed})
}

func printWelcome(out io.Writer, base, token, storage string, cfg config) {
	fmt.Fprintf(out, `Wiresk is running at %s (storage: %s)
Health: curl %s/healthz
API (OpenAPI 3.1): curl %s/v1/openapi.json

Development Group: %s (you are its owner, user %q)
Development JWT (valid 30 days):
%s

Walkthrough: paste these lines into a shell (needs curl and sed).
# --- walkthrough ---
export WIRESK=%s G=%s
export TOKEN=%s
# 1. Create an API key (its plaintext is shown only now).
KEY_JSON=$(curl -s -X POST "$WIRESK/v1/groups/$G/api-keys" -H "Authorization: Bearer $TOKEN" -d '{"name":"CRM Integration"}')
KEY=$(echo "$KEY_JSON" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'); KEY_ID=$(echo "$KEY_JSON" | sed -n 's/.*"id":"\(key_[^"]*\)".*/\1/p'); echo "API key $KEY_ID"
# 2. Create a Flow whose HTTP step posts the lead's email to a local target (this runner's /dev/echo).
FLOW_ID=$(curl -s -X POST "$WIRESK/v1/groups/$G/flows" -H "Authorization: Bearer $TOKEN" -d '{"name":"New lead","steps":[{"id":"notify","app":"http","method":"request","input":{"method":"POST","url":"'"$WIRESK"'/dev/echo","body":{"email":"{{ trigger.body.email }}","source":"wiresk"}}}]}' | sed -n 's/.*"id":"\(flw_[^"]*\)".*/\1/p'); echo "Flow $FLOW_ID"
# 3. Add an HTTP trigger that accepts the key; it answers with the webhook URL.
HOOK=$(curl -s -X POST "$WIRESK/v1/groups/$G/flows/$FLOW_ID/http-triggers" -H "Authorization: Bearer $TOKEN" -d '{"description":"CRM webhook","apiKeyIds":["'"$KEY_ID"'"]}' | sed -n 's/.*"url":"\([^"]*\)".*/\1/p'); echo "Webhook URL $HOOK"
# 4. Send a webhook: 202 {"runId"} once it is durably queued.
RUN_ID=$(curl -s -X POST "$HOOK" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d '{"email":"ada@example.com"}' | sed -n 's/.*"runId":"\([^"]*\)".*/\1/p'); echo "Run $RUN_ID"
# 5. Read the Run: status "succeeded", with the step's input and output.
sleep 1; curl -s "$WIRESK/v1/groups/$G/runs/$RUN_ID" -H "Authorization: Bearer $TOKEN"; echo
# --- end ---

Connections (API key, OAuth): GET $WIRESK/v1/apps, POST $WIRESK/v1/groups/$G/connections (README, "Connections").
OAuth redirect URI to register at a provider: %s/v1/oauth/callback
Webhook bodies up to %d bytes; HTTP steps may call %s (WIRESK_HTTP_ALLOW_CIDRS).
Stop with Ctrl-C: in-flight requests and runs finish first.
`, base, storage, base, base, devGroupID, devUserID, token, base, devGroupID, token, base, cfg.MaxBody, cfg.AllowCIDRs)
}

// appOverrides merges the runner's three ways of pointing apps at
// stand-ins into one catalog override per app.
func appOverrides(cfg config) map[string]catalog.Override {
	out := map[string]catalog.Override{}
	for app, u := range cfg.AppBaseURLs {
		o := out[app]
		o.BaseURL = u
		out[app] = o
	}
	for app, u := range cfg.AppTestURLs {
		o := out[app]
		o.TestURL = u
		out[app] = o
	}
	for app, x := range cfg.AppOverrides {
		o := out[app]
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&o.BaseURL, x.BaseURL}, {&o.TestURL, x.TestURL}, {&o.AuthorizeURL, x.AuthorizeURL}, {&o.TokenURL, x.TokenURL}, {&o.RevokeURL, x.RevokeURL},
		} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
		out[app] = o
	}
	return out
}
