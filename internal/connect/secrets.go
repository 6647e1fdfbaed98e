package connect

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/oauth"
	"wiresk/internal/wiresk"
)

// vaultSecrets are the internals that read and write the secrets of
// Connections and the platform's OAuth clients: every vault access of the
// use cases goes through them.
type vaultSecrets struct {
	vault  Vault
	logger *slog.Logger
}

// readCredentials returns the Connection's Credentials from the vault, and
// whether they exist.
func (s *vaultSecrets) readCredentials(ctx context.Context, id string) (connection.Credentials, bool, error) {
	raw, err := s.vault.Get(ctx, connection.SecretName(id))
	if errors.Is(err, wiresk.ErrNotFound) {
		return connection.Credentials{}, false, nil
	}
	if err != nil {
		return connection.Credentials{}, false, unavailable(err, "cannot read the credentials of connection %s", id)
	}
	creds, err := connection.DecodeCredentials(raw)
	if err != nil {
		return connection.Credentials{}, false, err
	}
	return creds, true, nil
}

// writeCredentials stores creds as the Connection's secret.
func (s *vaultSecrets) writeCredentials(ctx context.Context, id string, creds connection.Credentials) error {
	raw, err := creds.Encode()
	if err != nil {
		return err
	}
	if err := s.vault.Put(ctx, connection.SecretName(id), raw); err != nil {
		return unavailable(err, "cannot store the credentials of connection %s", id)
	}
	return nil
}

// takeSnapshot reads the Connection's raw secret.
func (s *vaultSecrets) takeSnapshot(ctx context.Context, id string) (snapshot, error) {
	raw, err := s.vault.Get(ctx, connection.SecretName(id))
	if errors.Is(err, wiresk.ErrNotFound) {
		return snapshot{}, nil
	}
	if err != nil {
		return snapshot{}, unavailable(err, "cannot read the credentials of connection %s", id)
	}
	return snapshot{raw: raw, exists: true}, nil
}

// restore puts the secret back as it was in snap, logging a failure.
func (s *vaultSecrets) restore(ctx context.Context, c connection.Connection, snap snapshot) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	name := connection.SecretName(c.ID)
	var err error
	if snap.exists {
		err = s.vault.Put(ctx, name, snap.raw)
	} else if err = s.vault.Delete(ctx, name); errors.Is(err, wiresk.ErrNotFound) {
		err = nil
	}
	if err != nil {
		logger(s.logger).ErrorContext(ctx, "cannot restore a connection's credentials after a failed change", "group", c.GroupID, "connection", c.ID, "err", err)
	}
}

// deleteSecret deletes the Connection's secret; a missing one is fine.
func (s *vaultSecrets) deleteSecret(ctx context.Context, id string) error {
	err := s.vault.Delete(ctx, connection.SecretName(id))
	if err != nil && !errors.Is(err, wiresk.ErrNotFound) {
		return unavailable(err, "cannot delete the credentials of connection %s", id)
	}
	return nil
}

// platformClient returns the platform's registered OAuth client of app.
func (s *vaultSecrets) platformClient(ctx context.Context, app *catalog.App) (oauth.Client, error) {
	name := AppSecretName(app.ID)
	raw, err := s.vault.Get(ctx, name)
	if errors.Is(err, wiresk.ErrNotFound) {
		return oauth.Client{}, wiresk.Errorf(wiresk.EUnavailable,
			"%s is not set up on this Wiresk deployment: the operator must store the platform's %s OAuth client in the vault secret %q as {\"client_id\": \"...\", \"client_secret\": \"...\"} (or connect with auth type %s and your own OAuth app)",
			app.Name, app.Name, name, catalog.AuthOAuth2Advanced)
	}
	if err != nil {
		return oauth.Client{}, unavailable(err, "cannot read the OAuth client of %s", app.Name)
	}
	var pc struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if json.Unmarshal(raw, &pc) != nil || pc.ClientID == "" {
		return oauth.Client{}, wiresk.Errorf(wiresk.EUnavailable,
			"the vault secret %q of the %s OAuth client is not a JSON object with a client_id (and client_secret); the operator must fix it", name, app.Name)
	}
	return oauth.Client{ID: pc.ClientID, Secret: pc.ClientSecret}, nil
}

// oauthClient returns the OAuth client of an OAuth Connection: the
// platform's, or the user's own from its Credentials (read from the vault
// when creds is nil).
func (s *vaultSecrets) oauthClient(ctx context.Context, app *catalog.App, c connection.Connection, creds *connection.Credentials) (oauth.Client, error) {
	if c.AuthType == catalog.AuthOAuth2 {
		return s.platformClient(ctx, app)
	}
	if creds == nil {
		cr, _, err := s.readCredentials(ctx, c.ID)
		if err != nil {
			return oauth.Client{}, err
		}
		creds = &cr
	}
	if creds.ClientID == "" {
		return oauth.Client{}, wiresk.Errorf(wiresk.EConflict,
			"the OAuth client id and secret of connection %q are no longer stored; create the connection again with them", c.Name)
	}
	return oauth.Client{ID: creds.ClientID, Secret: creds.ClientSecret}, nil
}

// snapshot is the raw secret of a Connection before a change, to restore
// it if the change fails half-way.
type snapshot struct {
	raw    []byte
	exists bool
}

// fingerprint identifies the secret values of creds (and whether they
// exist), to tell whether the stored credential is still the one that
// failed.
func fingerprint(creds connection.Credentials, exists bool) [sha256.Size]byte {
	if !exists {
		return sha256.Sum256([]byte("missing"))
	}
	h := sha256.New()
	for _, v := range []string{creds.AccessToken, creds.RefreshToken, creds.APIKey, creds.Username, creds.Password} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// logger returns l, or a logger that discards when l is nil.
func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
