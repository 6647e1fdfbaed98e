package connect

import (
	"context"
	"net/http"
	"net/url"

	"wiresk/internal/appcall"
	"wiresk/internal/step"
)

// Authenticator returns what a worker's step uses to authenticate its
// request with a Connection: the Connection's credential (OAuth tokens
// refreshed as Credential does) put where its app expects it. Errors are
// Credential's: ErrUnusable (code conflict) for a Connection that is not
// active, naming it and saying to reconnect; unavailable when the provider
// cannot refresh now.
func (s *Service) Authenticator(ctx context.Context, groupID, connectionID string) (step.Authenticator, error) {
	cred, err := s.Credential(ctx, groupID, connectionID)
	if err != nil {
		return nil, err
	}
	c, err := s.load(ctx, groupID, connectionID)
	if err != nil {
		return nil, err
	}
	app, err := s.appOf(c)
	if err != nil {
		return nil, err
	}
	config := c.Config
	return func(header http.Header, u *url.URL) error {
		return appcall.Authenticate(app, config, cred, header, u)
	}, nil
}
