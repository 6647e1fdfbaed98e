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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"wiresk/internal/app"
	"wiresk/internal/dynamo"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Trigger, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("trigger: AWS configuration", err)
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	d := app.Deps{Store: store, Queue: sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, ""), Logger: log}
	lambda.Start(app.Build(cfg, d).Trigger())
}
