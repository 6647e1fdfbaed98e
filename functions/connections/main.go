// Command connections is the Connections API Lambda function: Connection
// CRUD, test, reconnect, disconnect, audit and the apps catalog behind API
// Gateway's JWT authorizer (app.App.Connections).
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
	cfg, log := app.MustLoad(app.Connections, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("connections: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("connections: WIRESK_SECRET_PREFIX", err)
	d := app.Deps{Store: store, Vault: vault, Catalog: catalog.MustLoad(), StateKey: app.StateKey(vault), Logger: log}
	lambda.Start(app.Build(cfg, d).Connections())
}
