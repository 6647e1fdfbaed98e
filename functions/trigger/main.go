// Command trigger is the webhook ingress Lambda function: API Gateway's
// POST /v1/hooks/{routingKey} route (app.App.Trigger). It answers 202
// {"runId"} only once SQS has accepted the job.
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
	app.Exit("trigger: configuration", err)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("trigger: AWS configuration", err)
	d, err := app.AWSDeps(awsCfg, cfg, app.NewLogger(cfg))
	app.Exit("trigger", err)
	lambda.Start(newHandler(cfg, d))
}

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Trigger, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Trigger() }
