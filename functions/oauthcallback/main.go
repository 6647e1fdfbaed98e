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
)

type (
	config  = app.Config
	deps    = app.Deps
	handler = app.HTTPHandler
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	app.Exit("oauthcallback: configuration", err)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("oauthcallback: AWS configuration", err)
	d, err := app.AWSDeps(awsCfg, cfg, app.NewLogger(cfg))
	app.Exit("oauthcallback", err)
	lambda.Start(newHandler(cfg, d))
}

func loadConfig(getenv func(string) string) (config, error) {
	return app.Load(app.OAuthCallback, getenv)
}

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).OAuthBrowser() }
