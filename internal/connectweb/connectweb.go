// Package connectweb builds what the connections and oauthcallback Lambda
// functions serve: their configuration from the environment, and a
// connect.Service per public URL (the OAuth redirect URI derives from it),
// created once the OAuth state key could be loaded.
package connectweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/egress"
	"wiresk/internal/httpapi"
	"wiresk/internal/lambdaweb"
	"wiresk/internal/manage"
	"wiresk/internal/secrets"
	"wiresk/internal/statekey"
)

// Config is the functions' configuration.
type Config struct {
	Table        string
	SecretPrefix string
	// PublicURL is the base of the OAuth redirect URI; empty: the domain
	// API Gateway received the request on.
	PublicURL string
	// GroupsClaim names the JWT claim listing Group ids (connections only).
	GroupsClaim string
	// Guard decides where app calls and token requests may go.
	Guard *egress.Guard
	// ReturnURL is where the callback sends the browser; empty: a page.
	ReturnURL string
	LogLevel  slog.Level
}

// LoadConfig reads the configuration through getenv (os.Getenv):
// WIRESK_TABLE and WIRESK_SECRET_PREFIX (required), WIRESK_PUBLIC_URL,
// WIRESK_GROUPS_CLAIM (default groups), WIRESK_OAUTH_RETURN_URL,
// WIRESK_HTTP_ALLOW_CIDRS and WIRESK_LOG_LEVEL. Every problem is reported.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{
		Table:        getenv("WIRESK_TABLE"),
		SecretPrefix: getenv("WIRESK_SECRET_PREFIX"),
		PublicURL:    getenv("WIRESK_PUBLIC_URL"),
		GroupsClaim:  getenv("WIRESK_GROUPS_CLAIM"),
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
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	guard, err := egress.NewGuard(getenv(egress.AllowEnv))
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

// Store is what the functions need of the store port: the Connection use
// cases', and the management use cases' for Group membership.
type Store interface {
	connect.Store
	manage.Store
}

// Deps are the adapters the handlers run on: DynamoDB and Secrets Manager
// in Lambda, the embedded ones in tests.
type Deps struct {
	Store   Store
	Vault   connect.Vault
	Catalog *catalog.Catalog
	// StateKey returns the OAuth state key; it is called until it
	// succeeds once.
	StateKey func(context.Context) ([]byte, error)
	Logger   *slog.Logger
}

// AWSDeps builds the adapters the functions run on in AWS from one SDK
// configuration: the DynamoDB store, the Secrets Manager vault under
// cfg.SecretPrefix, the embedded catalog, and the OAuth state key loaded
// from (or made in) that vault on first use.
func AWSDeps(awsCfg aws.Config, cfg Config, log *slog.Logger) (Deps, error) {
	sm := secretsmanager.NewFromConfig(awsCfg)
	vault, err := secrets.New(sm, cfg.SecretPrefix, secrets.Options{})
	if err != nil {
		return Deps{}, fmt.Errorf("WIRESK_SECRET_PREFIX: %w", err)
	}
	keys := statekey.SecretsManager(vault, sm)
	return Deps{
		Store:    dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, dynamo.Options{}),
		Vault:    vault,
		Catalog:  catalog.MustLoad(),
		StateKey: func(ctx context.Context) ([]byte, error) { return statekey.LoadStateKey(ctx, keys) },
		Logger:   log,
	}, nil
}

// Handler returns the handler that serve makes from the connect.Service of
// each public URL. App calls and token requests go through cfg.Guard, as
// the worker's steps do. Until the state key loads, requests get 503.
func Handler(cfg Config, d Deps, serve func(*connect.Service) http.Handler) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	hc := egress.NewClient(cfg.Guard)
	apps := &appcall.Client{Engine: egress.Engine{Client: hc}}
	authz := &manage.Service{Store: d.Store, Logger: d.Logger}
	build := func(key []byte) http.Handler {
		forURL := func(public string) http.Handler {
			return serve(&connect.Service{
				Store:       d.Store,
				Vault:       d.Vault,
				Authz:       authz,
				Catalog:     d.Catalog,
				Apps:        apps,
				StateKey:    key,
				CallbackURL: strings.TrimRight(public, "/") + httpapi.OAuthCallbackPath,
				StartURL:    strings.TrimRight(public, "/") + httpapi.OAuthStartPath,
				ReturnURL:   cfg.ReturnURL,
				HTTPClient:  hc,
				Logger:      d.Logger,
			})
		}
		if cfg.PublicURL != "" {
			return forURL(cfg.PublicURL)
		}
		return lambdaweb.ByDomain(forURL)
	}
	return lambdaweb.Lazy("the OAuth state key", d.StateKey, build, d.Logger)
}
