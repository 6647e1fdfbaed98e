package step

import (
	"context"
	"net/http"
	"net/url"

	"wiresk/internal/appcall"
)

// Authenticator adds a Connection's credential to a request a step is
// about to send: to its header, or to its URL's query. It must neither log
// nor return the credential; its errors are shown in the Run.
type Authenticator func(header http.Header, u *url.URL) error

// Connection is the Connection a step runs with, as the worker hands it to
// the step's kind: the generic HTTP step calls Authenticate on its
// request; an app method (package appstep) renders its request with Config
// and sends it with Credential. It is never recorded or logged.
type Connection struct {
	// ID is the Connection's id, for messages.
	ID string
	// App is the catalog id of the Connection's app.
	App string
	// Config is the Connection's config, defaults applied.
	Config map[string]string
	// Credential is what authenticates a request to the app (OAuth tokens
	// refreshed as needed).
	Credential appcall.Credential
	// Authenticate puts Credential on a request the step builds itself,
	// refusing any host but the app's own.
	Authenticate Authenticator
}

// String describes the Connection without its credential.
func (c Connection) String() string {
	return "step.Connection{ID: " + c.ID + ", App: " + c.App + ", redacted}"
}

// GoString is String, for the %#v verb.
func (c Connection) GoString() string { return c.String() }

type connKey struct{}

// WithConnection returns ctx carrying c, for the step executed with it.
// The step uses the credential after its input was recorded, so the
// credential never appears in a Run; a request it authenticates is never
// redirected to another host.
func WithConnection(ctx context.Context, c Connection) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ConnectionFrom returns the Connection ctx carries, if any.
func ConnectionFrom(ctx context.Context) (Connection, bool) {
	c, ok := ctx.Value(connKey{}).(Connection)
	return c, ok
}

// WithAuthenticator returns ctx carrying a Connection that only
// authenticates requests with a, for the generic HTTP step.
func WithAuthenticator(ctx context.Context, a Authenticator) context.Context {
	return WithConnection(ctx, Connection{Authenticate: a})
}

func authenticatorFrom(ctx context.Context) Authenticator {
	c, _ := ConnectionFrom(ctx)
	return c.Authenticate
}
