// Command worker is the Lambda function that runs the jobs of the SQS run
// queue (app.App.Worker). Its event source uses ReportBatchItemFailures, so
// only the failed records of a batch are redelivered.
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
	"wiresk/internal/s3blob"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Worker, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("worker: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("worker: WIRESK_SECRET_PREFIX", err)
	d := app.Deps{Store: store, Queue: sqsqueue.NewFromConfig(awsCfg, cfg.QueueURL, ""), Vault: vault, Catalog: catalog.MustLoad(), Logger: log}
	if cfg.BodyBucket != "" {
		d.Bodies = s3blob.NewFromConfig(awsCfg, cfg.BodyBucket, s3blob.Options{})
	}
	lambda.Start(app.Build(cfg, d).Worker())
}
