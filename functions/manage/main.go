// Command manage is the management API Lambda function: every /v1 route of
// httpapi.Management behind API Gateway's JWT authorizer (app.App.Manage).
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
	"wiresk/internal/ebscheduler"
	"wiresk/internal/secrets"
	"wiresk/internal/sqsqueue"
)

func main() {
	cfg, log := app.MustLoad(app.Manage, os.Getenv)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	app.Exit("manage: AWS configuration", err)
	store := dynamo.NewFromConfig(awsCfg, cfg.Table, dynamo.Options{RunRetention: cfg.RunRetention})
	sched, err := ebscheduler.NewFromConfig(awsCfg, ebscheduler.Config{
		Group: cfg.ScheduleGroup, QueueARN: cfg.RunQueueARN, RoleARN: cfg.SchedulerRoleARN, DeadLetterARN: cfg.DeadLetterARN,
	})
	app.Exit("manage: EventBridge Scheduler", err)
	// The vault holds HTTP triggers' signing secrets, which only this
	// function writes; IAM lets it touch only those.
	vault, err := secrets.NewFromConfig(awsCfg, cfg.SecretPrefix, secrets.Options{})
	app.Exit("manage: Secrets Manager", err)
	// Told the maxReceiveCount, the queue lists dead letters without
	// reading the run queue's attributes: the function may only send to it.
	q := sqsqueue.NewFromConfig(awsCfg, cfg.QueueURL, cfg.DeadLetterURL).WithMaxReceives(cfg.MaxReceives)
	d := app.Deps{Store: store, Queue: q, DeadLetters: q, Vault: vault, Scheduler: sched, Catalog: catalog.MustLoad(), Logger: log}
	lambda.Start(app.Build(cfg, d).Manage())
}
