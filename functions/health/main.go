// Command health is the scheduled Lambda function that keeps Connections
// healthy (app.App.Health): on each EventBridge schedule event it refreshes
// expiring OAuth tokens, tests the Connections due and marks broken those
// that fail for good.
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
	lambda.Start(app.HealthLambda(os.Getenv, awsCfg, err))
}
