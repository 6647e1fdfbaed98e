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
	"wiresk/internal/dynamo"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Trigger, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("trigger: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	d := app.Deps{Store: store, Queue: sqsqueue.NewFromConfig(awsCfg, cfg.QueueURL, ""), Logger: log}
	lambda.Start(app.Build(cfg, d).Trigger())
}
