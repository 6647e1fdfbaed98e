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
)

func main() {
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	lambda.Start(app.WorkerLambda(os.Getenv, awsCfg, err))
}
