package step

import (
	"context"
	"net/http"
	"net/url"
)

// Authenticator adds a Connection's credential to a request a step is
// about to send: to its header, or to its URL's query. It must neither log
// nor return the credential; its errors are shown in the Run.
type Authenticator func(header http.Header, u *url.URL) error

type authKey struct{}

// WithAuthenticator returns ctx carrying a, for the step executed with it:
// the HTTP step calls a on every request it sends, after its input was
// recorded, so the credential never appears in a Run. Such a request is
// never redirected to another host.
func WithAuthenticator(ctx context.Context, a Authenticator) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

func authenticatorFrom(ctx context.Context) Authenticator {
	a, _ := ctx.Value(authKey{}).(Authenticator)
	return a
}
