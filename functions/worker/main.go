// Command worker is the Lambda function that runs the jobs of the SQS run
// queue (app.App.Worker). Its event source uses ReportBatchItemFailures, so
// only the failed records of a batch are redelivered.
// Its configuration is read from the environment (see package app).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"wiresk/internal/app"
)

type (
	config  = app.Config
	deps    = app.Deps
	handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	app.Exit("worker: configuration", err)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("worker: AWS configuration", err)
	d, err := app.AWSDeps(awsCfg, cfg, app.NewLogger(cfg))
	app.Exit("worker", err)
	lambda.Start(newHandler(cfg, d))
}

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Worker, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Worker() }
