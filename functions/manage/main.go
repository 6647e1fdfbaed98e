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
)

func main() {
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	lambda.Start(app.ManageLambda(os.Getenv, awsCfg, err))
}
