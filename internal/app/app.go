package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/auth"
	"wiresk/internal/connect"
	"wiresk/internal/egress"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/logctx"
	"wiresk/internal/manage"
	"wiresk/internal/metrics"
	"wiresk/internal/poll"
	"wiresk/internal/queue"
	"wiresk/internal/ratelimit"
	"wiresk/internal/step"
	"wiresk/internal/template"
	"wiresk/internal/worker"
)

// App is the wired system of one function: Build it, then take the handler
// of its Role.
type App struct {
	cfg Config
	d   Deps

	manageOnce sync.Once
	manageSvc  manage.Services
	clientOnce sync.Once
	client     *http.Client
}

// Build wires d by cfg. It makes no network call: whatever must be loaded
// (the OAuth state key) is loaded on first use.
func Build(cfg Config, d Deps) *App {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil && cfg.MetricsNamespace != "" {
		d.Metrics = metrics.New(cfg.MetricsNamespace, os.Stdout)
	}
	return &App{cfg: cfg, d: d}
}

// HTTPHandler is what lambda.Start runs for an API Gateway (HTTP API) route.
type HTTPHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Trigger serves POST /v1/hooks/{routingKey}: httpapi.Hooks over the store
// and the run queue, answering 202 {"runId"} only once SQS has the job.
func (a *App) Trigger() HTTPHandler {
	proxy := lambdaHTTP(exactHeaders{a.Ingress()})
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return proxy(context.WithValue(ctx, eventHeadersKey{}, ev.Headers), ev)
	}
}

// lambdaHTTP serves API Gateway's requests with h; every line logged while
// serving one carries API Gateway's request id (the access log's).
func lambdaHTTP(h http.Handler) HTTPHandler {
	proxy := httpadapter.NewV2(h).ProxyWithContext
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return proxy(logctx.IDs(ctx, logctx.RequestID, ev.RequestContext.RequestID), ev)
	}
}

// invocation returns ctx carrying the Lambda invocation's request id, when
// it runs in one.
func invocation(ctx context.Context) context.Context {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return logctx.IDs(ctx, logctx.RequestID, lc.AwsRequestID)
	}
	return ctx
}

// Manage serves the management API (httpapi.Management) with identities
// from API Gateway's JWT authorizer; Run Once and replay enqueue jobs, and
// the dead-job routes read and redrive Deps.DeadLetters. It also serves the
// OpenAPI document (httpapi.OpenAPI, GET /v1/openapi.json), which needs no
// JWT.
func (a *App) Manage() HTTPHandler {
	authn := auth.APIGateway{GroupsClaim: a.cfg.GroupsClaim}
	mux := http.NewServeMux()
	for _, pattern := range (httpapi.OpenAPI{}).Routes() {
		mux.Handle(pattern, httpapi.OpenAPI{})
	}
	mux.Handle("/", a.perPublicURL(func(public string) http.Handler {
		return a.ManagementAPI(authn, public)
	}))
	return lambdaHTTP(mux)
}

// Hooks is the webhook ingress: httpapi.Hooks over the store and the run
// queue, with the Group cap on Runs a minute.
func (a *App) Hooks() http.Handler {
	return &httpapi.Hooks{
		Ingest: &ingest.Service{Store: a.d.Store, Queue: a.d.Queue, Bodies: bodiesOrNil(a.d.Bodies), Limit: &ratelimit.Limits{Group: a.cfg.RunsPerMinute},
			Secrets: vaultOrNil(a.d.Vault), Logger: a.d.Logger},
		MaxBody:   a.cfg.MaxBody,
		PublicURL: a.publicBase,
		Logger:    a.d.Logger,
		Metrics:   a.d.Metrics,
	}
}

// publicBase is the scheme and host webhooks are sent to: the configured
// public URL, or the domain API Gateway was called on, or (locally) the
// request's host.
func (a *App) publicBase(r *http.Request) string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.DomainName != "" {
		return "https://" + rc.DomainName
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// vaultOrNil returns v, or a nil interface when v is nil, so that the use
// cases' nil checks hold.
func vaultOrNil(v connect.Vault) manage.Vault {
	if v == nil {
		return nil
	}
	return v
}

// bodiesOrNil returns b, or a nil interface when b is nil, so that the
// ingress's nil check holds.
func bodiesOrNil(b Bodies) ingest.Bodies {
	if b == nil {
		return nil
	}
	return b
}

// AppHooks receives apps' notifications to instant app triggers.
func (a *App) AppHooks() *httpapi.AppHooks {
	return &httpapi.AppHooks{Store: a.d.Store, Queue: a.d.Queue, Logger: a.d.Logger}
}

// Ingress is what the trigger function serves: webhooks and apps'
// notifications.
func (a *App) Ingress() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(httpapi.HooksPrefix, a.Hooks())
	mux.Handle(httpapi.AppHooksPattern, a.AppHooks())
	return mux
}

// ManagementAPI is the management API whose webhook URLs start with
// public, with identities from authn.
func (a *App) ManagementAPI(authn auth.Authenticator, public string) http.Handler {
	return httpapi.NewManagement(a.manage(), authn, public, a.d.Logger)
}

// manage returns the management use cases (made once).
func (a *App) manage() manage.Services {
	a.manageOnce.Do(func() {
		a.manageSvc = manage.New(manage.Config{
			Store: a.d.Store,
			Queue: a.d.Queue,
			Vault: vaultOrNil(a.d.Vault),
			// The management API only validates steps; the worker runs
			// them (with its own SSRF guard).
			Kinds:       a.steps(&step.HTTP{}, &appcall.Client{}),
			RunOnceWait: a.cfg.RunOnceWait,
			Scheduler:   a.d.Scheduler,
			DeadLetters: a.d.DeadLetters,
			Logger:      a.d.Logger,
		})
	})
	return a.manageSvc
}

// Connections serves the Connections API (httpapi.Connections) with
// identities from the JWT authorizer.
func (a *App) Connections() HTTPHandler {
	authn := auth.APIGateway{GroupsClaim: a.cfg.GroupsClaim}
	return lambdaHTTP(a.connections(func(svc connect.Services) http.Handler {
		return httpapi.NewConnections(svc.Connections, authn, a.d.Logger)
	}))
}

// OAuthBrowser serves GET /v1/oauth/start and /v1/oauth/callback, the
// routes a browser follows during an authorization.
func (a *App) OAuthBrowser() HTTPHandler {
	return lambdaHTTP(a.connections(func(svc connect.Services) http.Handler {
		return httpapi.NewOAuthBrowser(svc.Authorizations, a.d.Logger)
	}))
}

// Worker runs the jobs of an SQS batch (worker.Worker over the step
// catalog, HTTP steps through the SSRF guard); failed records get the
// retry backoff's visibility.
func (a *App) Worker() func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	h := queue.WithRetryBackoff(a.RunWorker().Handle, a.d.Queue, queue.DefaultRetryDelay, a.d.Logger)
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return h(invocation(ctx), ev)
	}
}

// RunWorker is the worker: the Runs of the jobs it is handed, their HTTP
// steps through the SSRF guard, their Connections' credentials from
// Deps.Connections (by default connect's Credentials, which need no Group
// check and start no authorization). It sets the process's
// template render budget.
func (a *App) RunWorker() *worker.Worker {
	template.SetProcessBudget(a.cfg.RenderBudget)
	conns := a.d.Connections
	if conns == nil {
		conns = a.connectService(nil, "", nil).Credentials
	}
	steps := a.steps(&step.HTTP{Engine: egress.Engine{Client: a.httpClient(), Guard: a.cfg.Guard}}, a.appClient())
	w := &worker.Worker{Store: a.d.Store, Steps: steps, Connections: conns, Schedules: a.d.Store, MaxReceives: a.cfg.MaxReceives, Lease: a.cfg.Lease,
		Logger: a.d.Logger, Metrics: a.d.Metrics}
	if a.d.Bodies != nil {
		w.Bodies = a.d.Bodies
	}
	if a.d.Catalog != nil {
		// App triggers' polls send their items' Jobs to the run queue.
		p := &poll.Poller{Store: a.d.Store, Catalog: a.d.Catalog, Client: a.appClient(), Queue: a.d.Queue, Rejected: conns.Rejected,
			NotifyBase: a.cfg.NotifyBase, Logger: a.d.Logger}
		if a.d.Vault != nil {
			p.Vault = a.d.Vault
		}
		w.Polls = p
	}
	return w
}

// Health runs connect.Health.CheckDue on every schedule event: refresh
// the OAuth tokens about to expire, test the Connections due, mark broken
// those that fail for good. It fails the invocation when CheckDue fails.
// Token refreshes need no OAuth state key, so the service has none.
func (a *App) Health() func(context.Context, events.CloudWatchEvent) (connect.HealthReport, error) {
	svc := a.connectService(nil, "", nil).Health
	log := a.d.Logger
	return func(ctx context.Context, ev events.CloudWatchEvent) (connect.HealthReport, error) {
		ctx = invocation(ctx)
		rep, err := svc.CheckDue(ctx)
		if err != nil {
			log.ErrorContext(ctx, "connection health check", "event", ev.ID, "err", err)
			return rep, err
		}
		level := slog.LevelDebug
		if rep.Refreshed+rep.Tested+rep.Broken+rep.Failed > 0 {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "connection health check", "event", ev.ID,
			"refreshed", rep.Refreshed, "tested", rep.Tested, "broken", rep.Broken, "failed", rep.Failed)
		return rep, nil
	}
}

// perPublicURL returns the handler build makes for the configured public
// URL, or, without one, for the domain each request came in on.
func (a *App) perPublicURL(build func(publicURL string) http.Handler) http.Handler {
	if a.cfg.PublicURL != "" {
		return build(a.cfg.PublicURL)
	}
	return ByDomain(build)
}

// connections returns the handler that serve makes from the connect.Services
// of each public URL (the OAuth redirect URI derives from it), created once
// the OAuth state key could be loaded: until then requests get 503. App
// calls and token requests go through the guard, as the worker's steps do.
func (a *App) connections(serve func(connect.Services) http.Handler) http.Handler {
	build := func(key []byte) http.Handler {
		return a.perPublicURL(func(public string) http.Handler { return serve(a.ConnectService(key, public)) })
	}
	return Lazy("the OAuth state key", a.d.StateKey, build, a.d.Logger)
}

// ConnectService returns the Connection use cases for the public URL
// (the OAuth start and redirect URIs derive from it), with the OAuth state
// key: Group checks through the management use cases, app calls and token
// requests through the guard, as the worker's steps.
func (a *App) ConnectService(stateKey []byte, public string) connect.Services {
	return a.connectService(stateKey, public, a.manage().Access)
}

// connectService returns the Connection use cases with the Group checks of
// authz (none when nil: only the workers' Credentials and the health
// schedule may be used then); without a state key they can start no
// authorization.
func (a *App) connectService(stateKey []byte, public string, authz connect.Authorizer) connect.Services {
	hc := a.httpClient()
	cfg := connect.Config{Store: a.d.Store, Vault: a.d.Vault, Authz: authz, Catalog: a.d.Catalog, Apps: a.appClient(),
		StateKey: stateKey, ReturnURL: a.cfg.ReturnURL, HTTPClient: hc, Logger: a.d.Logger, Metrics: a.d.Metrics}
	if public != "" {
		cfg.CallbackURL = strings.TrimRight(public, "/") + httpapi.OAuthCallbackPath
		cfg.StartURL = strings.TrimRight(public, "/") + httpapi.OAuthStartPath
	}
	return connect.New(cfg)
}

// steps returns the step kinds: the built-in ones with h as the generic
// HTTP request, and every method of the catalog's apps sent by apps.
// Without a catalog (Deps.Catalog nil) only the built-in kinds exist.
func (a *App) steps(h *step.HTTP, apps *appcall.Client) step.Registry {
	r := step.NewRegistry(h)
	if a.d.Catalog != nil {
		if err := appstep.Register(r, a.d.Catalog, apps); err != nil {
			// The catalog and the builders are compiled in: a mismatch is
			// a build defect, caught by every test that builds an App.
			panic(err)
		}
	}
	return r
}

// appClient returns the client of app calls, through the guarded client.
func (a *App) appClient() *appcall.Client {
	return &appcall.Client{Engine: egress.Engine{Client: a.httpClient()}}
}

// httpClient returns the one guarded client of outgoing requests.
func (a *App) httpClient() *http.Client {
	a.clientOnce.Do(func() { a.client = egress.NewClient(a.cfg.Guard) })
	return a.client
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
