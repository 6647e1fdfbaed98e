package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/app"
	"wiresk/internal/connect"
)

// What the tests drive: the function's configuration and handler, as
// main builds them.
type (
	config  = app.Config
	deps    = app.Deps
	handler = func(context.Context, events.CloudWatchEvent) (connect.HealthReport, error)
)

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Health, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Health() }
