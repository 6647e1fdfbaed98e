// Command connections is the Connections API Lambda function: Connection
// CRUD, test, reconnect, disconnect, audit and the apps catalog behind API
// Gateway's JWT authorizer (app.App.Connections).
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
	lambda.Start(app.ConnectionsLambda(os.Getenv, awsCfg, err))
}
