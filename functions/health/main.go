// Command health is the scheduled Lambda function that keeps Connections
// healthy: on each EventBridge schedule event (rate(5 minutes) by default)
// it runs connect.Service.CheckDue, which refreshes the OAuth tokens about
// to expire (writing the new ones back to Secrets Manager), tests the
// Connections due for a test, and marks broken those that fail for good. It
// answers the HealthReport (what `sam local invoke` prints) and fails the
// invocation when CheckDue returns an error.
//
// Environment:
//
//	WIRESK_TABLE             DynamoDB table (required)
//	WIRESK_SECRET_PREFIX     Secrets Manager name prefix, wiresk/<Stage>
//	                         (required)
//	WIRESK_HTTP_ALLOW_CIDRS  private CIDRs token requests and app calls may
//	                         reach (default none)
//	WIRESK_LOG_LEVEL         debug, info, warn or error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connect"
	"wiresk/internal/dynamo"
	"wiresk/internal/egress"
	"wiresk/internal/secrets"
)

type config struct {
	Table        string
	SecretPrefix string
	Guard        *egress.Guard
	LogLevel     slog.Level
}

// deps are the adapters the handler runs on: DynamoDB and Secrets Manager
// in Lambda, the embedded ones in tests.
type deps struct {
	Store   connect.Store
	Vault   connect.Vault
	Catalog *catalog.Catalog
	Logger  *slog.Logger
}

// handler is what lambda.Start runs.
type handler = func(context.Context, events.CloudWatchEvent) (connect.HealthReport, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk health: configuration:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	vault, err := secrets.New(secretsmanager.NewFromConfig(awsCfg), cfg.SecretPrefix, secrets.Options{})
	if err != nil {
		log.Error("WIRESK_SECRET_PREFIX", "err", err)
		os.Exit(1)
	}
	lambda.Start(newHandler(cfg, deps{
		Store:   dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{}),
		Vault:   vault,
		Catalog: catalog.MustLoad(),
		Logger:  log,
	}))
}

// newHandler returns the Lambda handler: CheckDue on every event. Token
// refreshes need no OAuth state key (that is only for authorizations), so
// the service has none.
func newHandler(cfg config, d deps) handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	hc := egress.NewClient(cfg.Guard)
	svc := &connect.Service{
		Store:      d.Store,
		Vault:      d.Vault,
		Catalog:    d.Catalog,
		Apps:       &appcall.Client{Engine: egress.Engine{Client: hc}},
		HTTPClient: hc,
		Logger:     d.Logger,
	}
	return func(ctx context.Context, ev events.CloudWatchEvent) (connect.HealthReport, error) {
		rep, err := svc.CheckDue(ctx)
		if err != nil {
			d.Logger.ErrorContext(ctx, "connection health check", "event", ev.ID, "err", err)
			return rep, err
		}
		level := slog.LevelDebug
		if rep.Refreshed+rep.Tested+rep.Broken+rep.Failed > 0 {
			level = slog.LevelInfo
		}
		d.Logger.Log(ctx, level, "connection health check", "event", ev.ID,
			"refreshed", rep.Refreshed, "tested", rep.Tested, "broken", rep.Broken, "failed", rep.Failed)
		return rep, nil
	}
}

// loadConfig reads the configuration through getenv (os.Getenv).
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{Table: getenv("WIRESK_TABLE"), SecretPrefix: getenv("WIRESK_SECRET_PREFIX")}
	var errs []error
	if cfg.Table == "" {
		errs = append(errs, errors.New("WIRESK_TABLE is required (the DynamoDB table name)"))
	}
	if cfg.SecretPrefix == "" {
		errs = append(errs, errors.New("WIRESK_SECRET_PREFIX is required (the Secrets Manager name prefix, wiresk/<Stage>)"))
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
