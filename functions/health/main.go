// Command health is the scheduled Lambda function that keeps Connections
// healthy (app.App.Health): on each EventBridge schedule event it refreshes
// expiring OAuth tokens, tests the Connections due and marks broken those
// that fail for good.
// Its configuration is read from the environment (see package app).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"wiresk/internal/app"
	"wiresk/internal/connect"
)

type (
	config  = app.Config
	deps    = app.Deps
	handler = func(context.Context, events.CloudWatchEvent) (connect.HealthReport, error)
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	app.Exit("health: configuration", err)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("health: AWS configuration", err)
	d, err := app.AWSDeps(awsCfg, cfg, app.NewLogger(cfg))
	app.Exit("health", err)
	lambda.Start(newHandler(cfg, d))
}

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Health, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Health() }
