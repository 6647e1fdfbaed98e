package connect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/step"
	"wiresk/internal/wiresk"
)

// Bind returns what a worker's step uses to call the app with a
// Connection: its config, its credential (OAuth tokens refreshed as
// Credential does) and the Authenticator that puts the credential where the
// app expects it on a request a step builds itself, for the app's own host
// only. Errors are Credential's: ErrUnusable (code conflict) for a
// Connection that is not active, naming it and saying to reconnect;
// unavailable when the provider cannot refresh now. secrets are the
// credential's texts (in the forms they take on the wire), for the caller
// to redact from what it records.
func (s *Credentials) Bind(ctx context.Context, groupID, connectionID string) (conn step.Connection, secrets []string, err error) {
	cred, err := s.Credential(ctx, groupID, connectionID)
	if err != nil {
		return step.Connection{}, nil, err
	}
	c, err := s.load(ctx, groupID, connectionID)
	if err != nil {
		return step.Connection{}, nil, err
	}
	app, err := s.appOf(c)
	if err != nil {
		return step.Connection{}, nil, err
	}
	config := c.Config
	host, err := credentialHost(app, config)
	if err != nil {
		return step.Connection{}, nil, err
	}
	auth := func(header http.Header, u *url.URL) error {
		if !strings.EqualFold(u.Host, host) {
			// A template may render any URL: the credential goes only to
			// the app's own host, and nothing is sent elsewhere.
			return fmt.Errorf("refused to send connection %s's credential to %s: it goes only to %s (the app's base URL); use a URL on that host or a step without the Connection", connectionID, u.Host, host)
		}
		return appcall.Authenticate(app, config, cred, header, u)
	}
	return step.Connection{ID: c.ID, App: c.App, Config: config, Credential: cred, Authenticate: auth}, cred.Secrets(), nil
}

// credentialHost returns the one host (with its port, if any) a
// Connection's credential may be sent to: the host of the app's base URL
// for the Connection's config (the generic HTTP app's base_url config,
// else its test_url), overrides included. An app with neither cannot
// authenticate steps.
func credentialHost(app *catalog.App, config map[string]string) (string, error) {
	base, err := app.BaseURL(config)
	if err != nil {
		return "", err
	}
	if base == "" {
		base = config["test_url"]
	}
	u, err := url.Parse(base)
	if base == "" || err != nil || u.Host == "" {
		return "", wiresk.Errorf(wiresk.EConflict, "this Connection has no base URL, so its credential has no host it may be sent to; set its base_url")
	}
	return u.Host, nil
}

// Rejected is told that an app answered 401 to a step sent with the
// Connection's credential. The Connection is tested again at once (an
// OAuth token refreshed once), which marks it broken, as the health
// schedule does, when the app refuses the credential; a Connection the app
// still accepts stays active (the 401 was that request's). It returns the
// Connection's status afterwards.
func (s *Credentials) Rejected(ctx context.Context, groupID, connectionID string) (connection.Status, error) {
	c, err := s.load(ctx, groupID, connectionID)
	if err != nil {
		return "", err
	}
	if c.Status != connection.StatusActive {
		return c.Status, nil
	}
	c, err = s.runTest(ctx, c, connection.ActorSystem)
	return c.Status, err
}
