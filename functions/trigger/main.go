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

func main() {
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	lambda.Start(app.TriggerLambda(os.Getenv, awsCfg, err))
}
