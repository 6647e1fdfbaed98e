package main

import (
	"wiresk/internal/app"
)

// What the tests drive: the function's configuration and handler, as
// main builds them.
type (
	config  = app.Config
	deps    = app.Deps
	handler = app.HTTPHandler
)

func loadConfig(getenv func(string) string) (config, error) { return app.Load(app.Trigger, getenv) }

func newHandler(cfg config, d deps) handler { return app.Build(cfg, d).Trigger() }
