// Command oauthcallback is the Lambda function of the OAuth callback,
// GET /v1/oauth/callback (httpapi.NewOAuthCallback): the provider sends the
// user's browser back there after consent, and the function takes the
// single-use state, exchanges the code (PKCE), stores the tokens in Secrets
// Manager and shows a small page, or redirects to WIRESK_OAUTH_RETURN_URL.
// The route has no JWT authorizer: the state is the check.
//
// The code is exchanged with the redirect URI <public URL>/v1/oauth/callback,
// the one the connections function put in the authorize URL; the OAuth state
// key, shared with that function through the vault, is read on the first
// request (and made if missing), and until it can be read every request is
// answered 503.
//
// Environment:
//
//	WIRESK_TABLE             DynamoDB table (required)
//	WIRESK_SECRET_PREFIX     Secrets Manager name prefix, wiresk/<Stage>
//	                         (required)
//	WIRESK_PUBLIC_URL        base of the redirect URI; empty:
//	                         https://<domain the request came in on>
//	WIRESK_HTTP_ALLOW_CIDRS  private CIDRs token requests and app calls may
//	                         reach (default none)
//	WIRESK_OAUTH_RETURN_URL  where to send the browser when done; empty: a
//	                         page of its own
//	WIRESK_LOG_LEVEL         debug, info, warn or error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/httpapi"
	"wiresk/internal/lambdaweb"
	"wiresk/internal/manage"
	"wiresk/internal/secrets"
	"wiresk/internal/statekey"
	"wiresk/internal/step"
)

type config struct {
	Table        string
	SecretPrefix string
	PublicURL    string
	Guard        *step.Guard
	ReturnURL    string
	LogLevel     slog.Level
}

// store is what the function needs of the store port: the Connection use
// cases', and the management use cases' for group membership.
type store interface {
	connect.Store
	manage.Store
}

// deps are the adapters the handler runs on: DynamoDB and Secrets Manager
// in Lambda, the embedded ones in tests.
type deps struct {
	Store   store
	Vault   connect.Vault
	Catalog *catalog.Catalog
	// StateKey returns the OAuth state key; it is called until it
	// succeeds once.
	StateKey func(context.Context) ([]byte, error)
	Logger   *slog.Logger
}

// handler is what lambda.Start runs.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk oauthcallback: configuration:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	vault, err := secrets.New(sm, cfg.SecretPrefix, secrets.Options{})
	if err != nil {
		log.Error("WIRESK_SECRET_PREFIX", "err", err)
		os.Exit(1)
	}
	keys := statekey.SecretsManager(vault, sm)
	lambda.Start(newHandler(cfg, deps{
		Store:    dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, dynamo.Options{}),
		Vault:    vault,
		Catalog:  catalog.MustLoad(),
		StateKey: func(ctx context.Context) ([]byte, error) { return statekey.LoadStateKey(ctx, keys) },
		Logger:   log,
	}))
}

// newHandler returns the Lambda handler: the OAuth callback HTTP handler
// behind the API Gateway v2 adapter.
func newHandler(cfg config, d deps) handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	// Token requests and app calls go through the SSRF guard, as the
	// worker's steps do.
	hc := step.NewHTTPClient(cfg.Guard)
	apps := &appcall.Client{HTTP: hc}
	authz := &manage.Service{Store: d.Store, Logger: d.Logger}
	build := func(key []byte) http.Handler {
		callback := func(public string) http.Handler {
			svc := &connect.Service{
				Store:       d.Store,
				Vault:       d.Vault,
				Authz:       authz,
				Catalog:     d.Catalog,
				Apps:        apps,
				StateKey:    key,
				CallbackURL: strings.TrimRight(public, "/") + httpapi.OAuthCallbackPath,
				ReturnURL:   cfg.ReturnURL,
				HTTPClient:  hc,
				Logger:      d.Logger,
			}
			return httpapi.NewOAuthCallback(svc, d.Logger)
		}
		if cfg.PublicURL != "" {
			return callback(cfg.PublicURL)
		}
		return lambdaweb.ByDomain(callback)
	}
	return httpadapter.NewV2(lambdaweb.Lazy("the OAuth state key", d.StateKey, build, d.Logger)).ProxyWithContext
}

// loadConfig reads the configuration through getenv (os.Getenv).
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Table:        getenv("WIRESK_TABLE"),
		SecretPrefix: getenv("WIRESK_SECRET_PREFIX"),
		PublicURL:    getenv("WIRESK_PUBLIC_URL"),
		ReturnURL:    getenv("WIRESK_OAUTH_RETURN_URL"),
	}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("WIRESK_TABLE is required (the DynamoDB table name)"))
	}
	if cfg.SecretPrefix == "" {
		errs = append(errs, errors.New("WIRESK_SECRET_PREFIX is required (the Secrets Manager name prefix, wiresk/<Stage>)"))
	}
	if cfg.PublicURL != "" && !lambdaweb.BaseURL(cfg.PublicURL) {
		errs = append(errs, fmt.Errorf("WIRESK_PUBLIC_URL=%q: want an absolute http(s) URL such as https://hooks.example.com, or nothing", cfg.PublicURL))
	}
	if cfg.ReturnURL != "" && !lambdaweb.AbsoluteURL(cfg.ReturnURL) {
		errs = append(errs, fmt.Errorf("WIRESK_OAUTH_RETURN_URL=%q: want an absolute http(s) URL such as https://app.example.com/connections, or nothing", cfg.ReturnURL))
	}
	guard, err := step.NewGuard(getenv(step.AllowEnv))
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Guard = guard
	if v := getenv("WIRESK_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("WIRESK_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return cfg, errors.Join(errs...)
}
