// Command oauthcallback is the Lambda function of the OAuth browser routes.
// GET /v1/oauth/start (httpapi.NewOAuthStart) is where the authorizeUrl of
// a Connection points: it checks the link's HMAC, sets the cookie that binds
// the browser to the authorization and redirects to the provider.
// GET /v1/oauth/callback (httpapi.NewOAuthCallback) is where the provider
// sends the browser back after consent: the function checks that cookie,
// takes the single-use state, exchanges the code (PKCE), stores the tokens
// in Secrets Manager and shows a small page, or redirects to
// WIRESK_OAUTH_RETURN_URL. The routes have no JWT authorizer: the link's
// HMAC, the state and the cookie are the checks.
//
// The code is exchanged with the redirect URI <public URL>/v1/oauth/callback,
// the one the connections function put in the authorize URL; the OAuth state
// key, shared with that function through the vault, is read on the first
// request (and made if missing), and until it can be read every request is
// answered 503.
//
// Environment:
//
//	WIRESK_TABLE             DynamoDB table (required)
//	WIRESK_SECRET_PREFIX     Secrets Manager name prefix, wiresk/<Stage>
//	                         (required)
//	WIRESK_PUBLIC_URL        base of the redirect URI; empty:
//	                         https://<domain the request came in on>
//	WIRESK_HTTP_ALLOW_CIDRS  private CIDRs token requests and app calls may
//	                         reach (default none)
//	WIRESK_OAUTH_RETURN_URL  where to send the browser when done; empty: a
//	                         page of its own
//	WIRESK_LOG_LEVEL         debug, info, warn or error (default info)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wiresk/internal/connect"
	"wiresk/internal/connectweb"
	"wiresk/internal/httpapi"
)

// config is the function's configuration (see connectweb.LoadConfig).
type config = connectweb.Config

// deps are the adapters the handler runs on.
type deps = connectweb.Deps

// loadConfig reads the configuration through getenv (os.Getenv).
var loadConfig = connectweb.LoadConfig

// handler is what lambda.Start runs.
type handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wiresk oauthcallback: configuration:", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	d, err := connectweb.AWSDeps(awsCfg, cfg, log)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(newHandler(cfg, d))
}

// newHandler returns the Lambda handler: the OAuth start and callback HTTP
// handlers behind the API Gateway v2 adapter.
func newHandler(cfg config, d deps) handler {
	return httpadapter.NewV2(connectweb.Handler(cfg, d, func(svc *connect.Service) http.Handler {
		return httpapi.NewOAuthBrowser(svc, svc.Logger)
	})).ProxyWithContext
}
