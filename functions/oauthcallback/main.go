// Command oauthcallback is the Lambda function of the OAuth browser routes,
// GET /v1/oauth/start and GET /v1/oauth/callback (app.App.OAuthBrowser). The
// routes have no JWT authorizer: the start link's HMAC, the state and the
// binding cookie are the checks.
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
	lambda.Start(app.OAuthCallbackLambda(os.Getenv, awsCfg, err))
}
