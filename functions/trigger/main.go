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
	"wiresk/internal/s3blob"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Trigger, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("trigger: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	// The vault holds the signing secrets of triggers authenticated by
	// their senders' signatures; IAM lets this function read only those.
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("trigger: Secrets Manager", err)
	d := app.Deps{Store: store, Queue: sqsqueue.NewFromConfig(awsCfg, cfg.QueueURL, ""), Vault: vault, Logger: log}
	// Bodies too large for a queue message go to the body bucket first
	// (PutObject on bodies/* only, by IAM).
	if cfg.BodyBucket != "" {
		d.Bodies = s3blob.NewFromConfig(awsCfg, cfg.BodyBucket, s3blob.Options{})
	}
	lambda.Start(app.Build(cfg, d).Trigger())
}
