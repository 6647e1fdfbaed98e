// Command connections is the Connections API Lambda function: every route of
// httpapi.Connections (Connection CRUD, test, reconnect, disconnect, audit,
// and the apps catalog) behind API Gateway's JWT authorizer, over the
// DynamoDB store and the Secrets Manager vault. Creating or reconnecting an
// OAuth Connection answers an authorize URL <public URL>/v1/oauth/start?...
// (the start link) whose provider authorization has the redirect URI
// <public URL>/v1/oauth/callback; the oauthcallback function serves both.
//
// The OAuth state key (see package statekey) is read from the vault, and
// made there if missing, on the first request; until it can be read every
// request is answered 503.
//
// Environment:
//
//	WIRESK_TABLE             DynamoDB table (required)
//	WIRESK_SECRET_PREFIX     Secrets Manager name prefix, wiresk/<Stage>
//	                         (required)
//	WIRESK_PUBLIC_URL        base of the OAuth redirect URI; empty:
//	                         https://<domain the request came in on>
//	WIRESK_GROUPS_CLAIM      JWT claim listing Group ids (default groups)
//	WIRESK_HTTP_ALLOW_CIDRS  private CIDRs app calls and token requests may
//	                         reach (default none)
//	WIRESK_OAUTH_RETURN_URL  where the callback sends the browser when done;
//	                         empty: a page of its own
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

	"wiresk/internal/auth"
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
		fmt.Fprintln(os.Stderr, "wiresk connections: configuration:", err)
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

// newHandler returns the Lambda handler: the Connections HTTP handler, with
// identities from the JWT authorizer, behind the API Gateway v2 adapter.
func newHandler(cfg config, d deps) handler {
	authn := auth.APIGateway{GroupsClaim: cfg.GroupsClaim}
	return httpadapter.NewV2(connectweb.Handler(cfg, d, func(svc *connect.Service) http.Handler {
		return httpapi.NewConnections(svc, authn, svc.Logger)
	})).ProxyWithContext
}
