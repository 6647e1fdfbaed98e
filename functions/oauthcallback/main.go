// Command oauthcallback is the Lambda function of the OAuth browser routes,
// GET /v1/oauth/start and GET /v1/oauth/callback (app.App.OAuthBrowser). The
// routes have no JWT authorizer: the start link's HMAC, the state and the
// binding cookie are the checks.
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
	cfg, log := app.MustLoad(app.OAuthCallback, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("oauthcallback: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("oauthcallback: WIRESK_SECRET_PREFIX", err)
	d := app.Deps{Store: store, Vault: vault, Catalog: catalog.MustLoad(), StateKey: app.StateKey(vault), Logger: log}
	lambda.Start(app.Build(cfg, d).OAuthBrowser())
}
