// Command health is the scheduled Lambda function that keeps Connections
// healthy (app.App.Health): on each EventBridge schedule event it refreshes
// expiring OAuth tokens, tests the Connections due and marks broken those
// that fail for good.
// Its configuration is read from the environment (see package app).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"wiresk/internal/app"
	"wiresk/internal/catalog"
	"wiresk/internal/dynamo"
	"wiresk/internal/secrets"
)

func main() {
	cfg, log := app.MustLoad(app.Health, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("health: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("health: WIRESK_SECRET_PREFIX", err)
	d := app.Deps{Store: store, Vault: vault, Catalog: catalog.MustLoad(), Logger: log}
	lambda.Start(app.Build(cfg, d).Health())
}
