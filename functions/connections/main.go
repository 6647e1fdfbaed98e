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
)

type (
	config  = app.Config
	deps    = app.Deps
	handler = app.HTTPHandler
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	app.Exit("connections: configuration", err)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("connections: AWS configuration", err)
	d, err := app.AWSDeps(awsCfg, cfg, app.NewLogger(cfg))
	app.Exit("connections", err)
	lambda.Start(newHandler(cfg, d))
}

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Connections, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Connections() }
