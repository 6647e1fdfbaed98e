// Command manage is the management API Lambda function: every /v1 route of
// httpapi.Management behind API Gateway's JWT authorizer (app.App.Manage).
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
	"wiresk/internal/catalog"
	"wiresk/internal/dynamo"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Manage, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("manage: AWS configuration", err)
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg, dynamo.ValidateResponseChecksum), cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	d := app.Deps{Store: store, Queue: sqsqueue.New(sqs.NewFromConfig(awsCfg, sqsqueue.AvoidRequestBodyRace), cfg.QueueURL, ""), Catalog: catalog.MustLoad(), Logger: log}
	lambda.Start(app.Build(cfg, d).Manage())
}
