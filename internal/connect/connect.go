// Package connect provides the Connections use cases: creating, listing,
// viewing, editing, testing, disconnecting, reconnecting and deleting the
// Connections of a Group; completing an OAuth authorization at the
// callback; the health schedule that refreshes expiring OAuth tokens and
// re-tests Connections; and, for the workers, the credential of an active
// Connection (an OAuth access token refreshed under a lease, an API key, a
// user name and password).
//
// It is built on the domain of internal/connection, the OAuth client of
// internal/oauth, the app calls of internal/appcall and the catalog; its
// ports (the stores of each use case, Vault, Authorizer) are declared here.
//
// The use cases are split by aggregate, each with the narrow store it
// needs (New builds them all from one Config): Connections (a Group's
// Connections: CRUD, test, reconnect, disconnect, audit, apps),
// Authorizations (the OAuth start link and callback), Credentials (the
// workers' credentials) and Health (the health schedule). They share one
// access check (Authorizer, manage.Access) and one set of internals.
//
// # Secrets
//
// Secrets live in the vault only, under connection.SecretName(id), as a
// connection.Credentials blob. No secret ever goes into the store, an
// error, a log line, an audit Detail or a returned View: messages quote only
// what internal/oauth and internal/appcall produce (which they scrub of
// secrets), and are scrubbed again with the Connection's known secrets.
//
// The client id and secret of the platform's registered OAuth app of an app
// (auth type oauth2) are read from the vault secret AppSecretName(app), a
// JSON object {"client_id": "...", "client_secret": "..."} that the operator
// stores. Those of an oauth2_advanced Connection are part of its own
// Credentials.
//
// # Consistency
//
// Every write of a Connection's secret (the OAuth callback, a refresh, an
// edit of its API key, a disconnect, a delete) and every verdict that a
// Connection is broken happens under the Connection's refresh lease
// (connection.RefreshLeaseName), so that a refresh under way never
// overwrites new tokens, and a Connection is only marked broken while the
// credential that failed is still the stored one. A use case that fails
// half-way undoes what it wrote: a refused API key or a failed
// authorization leaves the store and the vault as they were.
//
// # Errors
//
// Errors are *wiresk.Error values (or wrap one) with the product's codes:
// validation_failed (400, with the field), not_found, forbidden, conflict
// (409: a Connection in use, a Connection that is not active), unavailable
// (503: a dependency or the provider failed, or the deployment lacks a
// secret). Credential's refusal of a Connection that is not active is an
// *UnusableError: code conflict, and errors.Is(err, ErrUnusable).
package connect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/auth"
	"wiresk/internal/backoff"
	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/metrics"
	"wiresk/internal/oauth"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// Store is the store port of all the Connections use cases together, for
// the wiring (New) only: each use case declares the part it uses
// (BaseStore, ConnectionStore, AuthorizationStore, HealthStore).
type Store interface {
	connection.Store
	// ListFlows returns the Flows of groupID; none is an empty list.
	ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error)
	// ListSchedules returns the schedule and app triggers of groupID
	// (flowID ""); none is an empty list.
	ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error)
}

// BaseStore is what every Connections use case needs of the store port,
// and all that Credentials needs: a Connection's record (read, and written
// with the next Version), its audit trail, its refresh lease and the Flows that use it. Errors are
// those of connection.Store.
type BaseStore interface {
	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
	UpdateConnection(ctx context.Context, c connection.Connection) error
	AppendAudit(ctx context.Context, e connection.AuditEvent) error
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	// ListFlows returns the Flows of groupID (to name those that use a
	// Connection); none is an empty list.
	ListFlows(ctx context.Context, groupID string) ([]flow.Flow, error)
	// ListSchedules returns the schedule and app triggers of groupID when
	// flowID is "" (to name the app triggers that poll with a Connection).
	ListSchedules(ctx context.Context, groupID, flowID string) ([]trigger.Schedule, error)
}

// ConnectionStore is what Connections needs of the store port: the
// Connections of a Group, their audit trails, and the Flows that use them.
type ConnectionStore interface {
	BaseStore
	CreateConnection(ctx context.Context, c connection.Connection) error
	ListConnections(ctx context.Context, groupID string) ([]connection.Connection, error)
	DeleteConnection(ctx context.Context, groupID, id string) error
	ListAudit(ctx context.Context, groupID, connectionID string, limit int) ([]connection.AuditEvent, error)
}

// AuthorizationStore is what Authorizations needs of the store port: the
// single-use states of the authorizations, and the pending Connection an
// OAuth authorization is started for.
type AuthorizationStore interface {
	BaseStore
	CreateConnection(ctx context.Context, c connection.Connection) error
	DeleteConnection(ctx context.Context, groupID, id string) error
	PutOAuthState(ctx context.Context, s connection.OAuthState) error
	TakeOAuthState(ctx context.Context, id string) (connection.OAuthState, error)
}

// HealthStore is what Health needs of the store port: the Connections due
// for a refresh or a test.
type HealthStore interface {
	BaseStore
	ListConnectionsDue(ctx context.Context, before time.Time) ([]connection.Connection, error)
}

// Vault is the secrets port (Secrets Manager, or the embedded vault).
type Vault interface {
	// Put stores v as the secret name, creating or replacing it.
	Put(ctx context.Context, name string, v []byte) error
	// Get returns the value of the secret name; a missing secret is an
	// error wrapping wiresk.ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the secret name (the Secrets Manager adapter keeps it
	// recoverable for its recovery window); a missing secret is an error
	// wrapping wiresk.ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// Authorizer checks a caller's access to a Group: manage.Access, the one
// access check of every use case.
type Authorizer interface {
	// Authorize returns the caller's role in groupID: not_found when the
	// caller cannot see the Group, forbidden when the role is below min.
	Authorize(ctx context.Context, who auth.Identity, groupID string, min group.Role) (group.Role, error)
}

// StateKeySecret is the vault name of the HMAC key that derives PKCE
// verifiers from OAuth states (Config.StateKey): the wiring loads it, or
// creates it with 32 random bytes on first start.
const StateKeySecret = "oauth/state-key"

// AppSecretName returns the vault name of the platform's registered OAuth
// client of app (auth type oauth2): "apps/<app>", holding the JSON object
// {"client_id": "...", "client_secret": "..."}.
func AppSecretName(app string) string { return "apps/" + app }

// The health schedule's policy, on top of connection.RefreshLead and
// connection.TestInterval.
const (
	// RefreshWindow: CheckDue refreshes the OAuth tokens that expire within
	// it.
	RefreshWindow = 15 * time.Minute
	// MaxRefreshFailures is how many refreshes in a row may fail for a
	// reason other than a refused refresh token (the provider unreachable,
	// 5xx) before a Connection whose access token has expired is marked
	// broken. Between failures, CheckDue waits RefreshCooldown(n).
	MaxRefreshFailures = 8
)

// RefreshCooldown returns how long CheckDue waits after the n-th failed
// refresh in a row before trying again: one minute, doubled for every
// further failure, at most one hour.
func RefreshCooldown(n int) time.Duration {
	d := time.Minute
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// leaseTTL bounds how long a use case holds a Connection's refresh lease;
// leaseWait bounds how long it waits for it.
const (
	leaseTTL  = 30 * time.Second
	leaseWait = 20 * time.Second
)

// Config is what the Connections use cases are built from (see New).
type Config struct {
	Store Store
	Vault Vault
	// Authz checks Group access: a manage.Access.
	Authz   Authorizer
	Catalog *catalog.Catalog
	// Apps runs Test requests; an appcall.Client with its defaults (SSRF
	// guard included) when nil.
	Apps *appcall.Client
	// StateKey is the HMAC key that derives PKCE verifiers from OAuth
	// states, at least 32 bytes, the same in every function that starts
	// or completes an authorization (see StateKeySecret).
	StateKey []byte
	// CallbackURL is the OAuth redirect URI, like
	// https://api.example.com/v1/oauth/callback.
	CallbackURL string
	// StartURL is where the authorizeUrl of Create and Reconnect points,
	// like https://api.example.com/v1/oauth/start: GET there (Start) binds
	// the browser to the authorization with a cookie and redirects to the
	// provider. The cookie's path is StartURL's directory, which must hold
	// CallbackURL too.
	StartURL string
	// ReturnURL, when set, is where the callback sends the browser after
	// an authorization, with ?connection=<id>&status=<ok|error> and, on
	// error, &reason=<code>.
	ReturnURL string
	// HTTPClient calls the providers' token and revocation endpoints (it
	// should be SSRF-guarded in production); internal/oauth's default when
	// nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives the use cases' log lines (never a secret); none
	// when nil.
	Logger *slog.Logger
	// Metrics counts the token refreshes; nil: none.
	Metrics *metrics.Emitter
}

// Services are the Connections use cases, one per aggregate, sharing one
// access check and one set of internals (loading a Connection, its secret,
// its refresh lease, marking it broken). They are safe for concurrent use.
type Services struct {
	// Connections manages the Connections of a Group.
	Connections *Connections
	// Authorizations runs the OAuth authorizations: the start link and the
	// callback.
	Authorizations *Authorizations
	// Credentials hands the workers the credentials of active Connections.
	Credentials *Credentials
	// Health refreshes expiring tokens and re-tests Connections.
	Health *Health
}

// New returns the Connections use cases of c.
func New(c Config) Services {
	core := &core{
		vaultSecrets: vaultSecrets{vault: c.Vault, logger: c.Logger},
		store:        c.Store,
		authz:        c.Authz,
		catalog:      c.Catalog,
		appClient:    c.Apps,
		stateKey:     c.StateKey,
		callbackURL:  c.CallbackURL,
		startURL:     c.StartURL,
		returnTo:     c.ReturnURL,
		httpClient:   c.HTTPClient,
		clockFn:      c.Now,
		logger:       c.Logger,
		metrics:      c.Metrics,
	}
	a := &Authorizations{core: core, store: c.Store}
	return Services{
		Connections:    &Connections{core: core, store: c.Store, auth: a},
		Authorizations: a,
		Credentials:    &Credentials{core: core},
		Health:         &Health{core: core, store: c.Store},
	}
}

// core holds what the use cases share: the configuration and the
// internals every aggregate uses (loading and writing a Connection under
// its lease, its audit trail, testing it and marking it broken); the vault
// internals are vaultSecrets'. It must not change once in use.
type core struct {
	vaultSecrets
	store       BaseStore
	authz       Authorizer
	catalog     *catalog.Catalog
	appClient   *appcall.Client
	stateKey    []byte
	callbackURL string
	startURL    string
	returnTo    string
	httpClient  *http.Client
	clockFn     func() time.Time
	logger      *slog.Logger
	metrics     *metrics.Emitter
}

// Connections are the use cases of a Group's Connections: create, list,
// view, edit, test, reconnect, disconnect, delete, their audit trail, and
// the apps of the catalog they are made for.
type Connections struct {
	*core
	store ConnectionStore
	// auth starts the authorizations of OAuth Connections.
	auth *Authorizations
}

// Authorizations are the OAuth authorizations of Connections: the start
// link that binds the browser (Start) and the callback that completes
// them (Callback).
type Authorizations struct {
	*core
	store AuthorizationStore
}

// Credentials are the credentials of active Connections for the workers'
// steps: an OAuth access token refreshed under the Connection's lease, an
// API key, a user name and password.
type Credentials struct {
	*core
}

// Health is the health schedule of the Connections (CheckDue).
type Health struct {
	*core
	store HealthStore
}

// CreateInput is what creating a Connection takes. Which secret fields
// apply depends on the auth type: APIKey (api_key), Username and Password
// (basic), ClientID and ClientSecret (oauth2_advanced); giving one that does
// not apply is refused. Formatting a CreateInput prints no secret.
type CreateInput struct {
	// Name is the display name, like "Sales Gmail".
	Name string `json:"name"`
	// App is the catalog id of the app, like "gmail".
	App string `json:"app"`
	// AuthType is one the app offers; it may be left out when the app
	// offers only one.
	AuthType string `json:"authType"`
	// Config is the connection config the app's catalog entry declares
	// (defaults are applied).
	Config map[string]string `json:"config"`
	// Scopes are OAuth scopes to request: for oauth2, optional scopes of
	// the app on top of its default ones; for oauth2_advanced, the scopes
	// of the user's own OAuth app (the app's default ones when empty).
	Scopes       []string `json:"scopes"`
	APIKey       string   `json:"apiKey"`
	Username     string   `json:"username"`
	Password     string   `json:"password"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
}

// String describes in without its secrets.
func (in CreateInput) String() string {
	return fmt.Sprintf("connect.CreateInput{Name: %q, App: %q, AuthType: %q, Config: %v, Scopes: %v, secrets: %s}",
		in.Name, in.App, in.AuthType, in.Config, in.Scopes,
		setFields(map[string]bool{"apiKey": in.APIKey != "", "password": in.Password != "", "clientSecret": in.ClientSecret != ""}))
}

// GoString is String, so that %#v prints no secret either.
func (in CreateInput) GoString() string { return in.String() }

// LogValue makes log/slog log String.
func (in CreateInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// UpdateInput is an edit of a Connection: the fields given (non-nil) are
// changed. Config replaces the whole config. Secrets are never shown, only
// replaced: a new APIKey (api_key), Username or Password (basic), which are
// tested as in Create before anything is stored. Formatting an UpdateInput
// prints no secret.
type UpdateInput struct {
	Name     *string           `json:"name"`
	Config   map[string]string `json:"config"`
	APIKey   *string           `json:"apiKey"`
	Username *string           `json:"username"`
	Password *string           `json:"password"`
}

// String describes in without its secrets.
func (in UpdateInput) String() string {
	name := "<unchanged>"
	if in.Name != nil {
		name = fmt.Sprintf("%q", *in.Name)
	}
	return fmt.Sprintf("connect.UpdateInput{Name: %s, Config: %v, secrets: %s}", name, in.Config,
		setFields(map[string]bool{"apiKey": in.APIKey != nil, "username": in.Username != nil, "password": in.Password != nil}))
}

// GoString is String, so that %#v prints no secret either.
func (in UpdateInput) GoString() string { return in.String() }

// LogValue makes log/slog log String.
func (in UpdateInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// setFields names the fields set, sorted, without their values.
func setFields(m map[string]bool) string {
	var out []string
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return "[" + strings.Join(out, ",") + " " + connection.Redacted + "]"
}

// View is a Connection as the API shows it: no secret, and after creating
// or reconnecting an OAuth Connection, the URL to send the user to.
type View struct {
	connection.Connection
	// AuthorizeURL is the start link of the authorization (see Start),
	// valid for connection.StateTTL: it binds the browser that opens it
	// and redirects to the provider's authorization URL (with the state
	// and the PKCE challenge).
	AuthorizeURL string `json:"authorizeUrl,omitempty"`
}

// Detail is a View with the Flows whose steps use the Connection.
type Detail struct {
	View
	UsedBy []connection.FlowRef `json:"usedBy"`
}

// CallbackResult is what the OAuth callback did, for the page (or the
// redirect) the browser gets. Title and Message are plain text sentences
// for the user (escape them in HTML); they never hold a secret.
type CallbackResult struct {
	// Code is the error code of a failure, empty when connected (the HTTP
	// layer maps it to a status through its one table): invalid_request
	// for a bad, expired or used state or an error the provider reported,
	// forbidden when the browser did not start the authorization,
	// provider_error when the exchange with the provider failed,
	// unavailable when Wiresk itself could not complete it.
	Code string `json:"code,omitempty"`
	// OK reports whether the Connection is now authorized.
	OK bool `json:"ok"`
	// Title is a short headline; Message says what happened and what to
	// do.
	Title   string `json:"title"`
	Message string `json:"message"`
	// GroupID and ConnectionID name the Connection, when the state named
	// one.
	GroupID      string `json:"groupId,omitempty"`
	ConnectionID string `json:"connectionId,omitempty"`
	// Redirect, when Config.ReturnURL is set, is where to send the
	// browser instead of showing a page.
	Redirect string `json:"redirect,omitempty"`
	// Reason is the stable code of a failure, like expired_state or
	// browser_mismatch (the reason of the ReturnURL redirect); empty when
	// OK.
	Reason string `json:"reason,omitempty"`
	// ClearCookie, when set, is the Set-Cookie that removes the browser's
	// binding cookie of the authorization.
	ClearCookie *http.Cookie `json:"-"`
}

// HealthReport counts what CheckDue did.
type HealthReport struct {
	// Refreshed counts the OAuth tokens refreshed.
	Refreshed int `json:"refreshed"`
	// Tested counts the Tests run.
	Tested int `json:"tested"`
	// Broken counts the Connections found broken.
	Broken int `json:"broken"`
	// Failed counts the Connections that could not be checked (a refresh
	// that failed and will be retried, a store failure).
	Failed int `json:"failed"`
}

// ErrUnusable is what errors.Is matches for the error Credential returns
// when the Connection is not active.
var ErrUnusable = errors.New("connect: the connection is not usable")

// UnusableError is Credential's refusal of a Connection that is not active
// (pending, broken or disconnected), or that it found broken. Its code is
// conflict (wiresk.ErrorCode), it matches ErrUnusable, and when it found
// the Connection broken it also unwraps to the cause (an
// *oauth.BrokenError matches oauth.ErrBroken). Its message names the
// Connection and says what to do; it holds no secret.
type UnusableError struct {
	GroupID      string
	ConnectionID string
	// Name is the Connection's display name.
	Name   string
	Status connection.Status
	// Reason says why, from the Connection's StatusReason.
	Reason string
	// Err is the cause, if any.
	Err error
}

// Error names the Connection, its status and what to do.
func (e *UnusableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q (%s) is %s", e.Name, e.ConnectionID, e.Status)
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSuffix(e.Reason, "."))
	}
	switch e.Status {
	case connection.StatusBroken:
		b.WriteString(". Reconnect it in Wiresk; the steps that use it fail until then")
	case connection.StatusPending:
		b.WriteString(". Finish its authorization (or Reconnect it) in Wiresk")
	case connection.StatusDisconnected:
		b.WriteString(". Reconnect it in Wiresk to use it again")
	}
	return b.String()
}

// Unwrap returns the conflict *wiresk.Error and the cause.
func (e *UnusableError) Unwrap() []error {
	out := []error{&wiresk.Error{Code: wiresk.EConflict, Message: e.Error()}}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Is reports whether target is ErrUnusable.
func (e *UnusableError) Is(target error) bool { return target == ErrUnusable }

// codedError is a *wiresk.Error with the error that caused it, so that
// errors.Is still finds the cause (a context error, an *oauth.Error).
type codedError struct {
	coded *wiresk.Error
	cause error
}

func (e *codedError) Error() string { return e.coded.Error() }

func (e *codedError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.coded}
	}
	return []error{e.coded, e.cause}
}

// unavailable returns an unavailable error saying what failed, caused by
// cause (whose text must be free of secrets).
func unavailable(cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &codedError{coded: &wiresk.Error{Code: wiresk.EUnavailable, Message: msg}, cause: cause}
}

// now returns the current time, in UTC.
func (s *core) now() time.Time {
	if s.clockFn != nil {
		return s.clockFn().UTC()
	}
	return time.Now().UTC()
}

// clock is the clock for internal/oauth.
func (s *core) clock() func() time.Time {
	if s.clockFn != nil {
		return s.clockFn
	}
	return time.Now
}

// log returns the logger.
func (s *core) log() *slog.Logger { return logger(s.logger) }

// defaultApps runs Test requests when Config.Apps is nil.
var defaultApps = &appcall.Client{}

// apps returns the appcall client.
func (s *core) apps() *appcall.Client {
	if s.appClient != nil {
		return s.appClient
	}
	return defaultApps
}

// flow returns the OAuth flow of the configured state key.
func (s *core) flow() (*oauth.Flow, error) {
	if s.callbackURL == "" {
		return nil, wiresk.Errorf(wiresk.EUnavailable, "OAuth connections are not available: the deployment has no OAuth callback URL configured")
	}
	f, err := oauth.NewFlow(oauth.FlowConfig{StateKey: s.stateKey, HTTPClient: s.httpClient, Now: s.clock()})
	if err != nil {
		return nil, wiresk.Errorf(wiresk.EUnavailable, "OAuth connections are not available: the deployment's state key (vault secret %s) is missing or shorter than %d bytes", StateKeySecret, oauth.MinStateKeyBytes)
	}
	return f, nil
}

// authorize checks the caller's access to the Group: every Connection use
// case needs the member role.
func (s *core) authorize(ctx context.Context, who auth.Identity, groupID string) error {
	_, err := s.authz.Authorize(ctx, who, groupID, group.RoleMember)
	return err
}

// load returns Connection id of groupID, or a not_found error.
func (s *core) load(ctx context.Context, groupID, id string) (connection.Connection, error) {
	c, err := s.store.GetConnection(ctx, groupID, id)
	if errors.Is(err, wiresk.ErrNotFound) {
		return c, wiresk.Errorf(wiresk.ENotFound, "connection %q not found", id)
	}
	return c, err
}

// appOf returns the catalog app of a stored Connection.
func (s *core) appOf(c connection.Connection) (*catalog.App, error) {
	app, ok := s.catalog.App(c.App)
	if !ok {
		return nil, wiresk.Errorf(wiresk.EConflict, "connection %q is for the app %q, which this deployment's catalog no longer has", c.Name, c.App)
	}
	return app, nil
}

// maxModifyTries bounds the read-modify-write retries of modify.
const maxModifyTries = 8

// errNoChange, returned by a modify function, leaves the Connection as it
// is.
var errNoChange = errors.New("no change")

// modify re-reads Connection id, applies fn and writes it with the next
// Version, retrying when another write came in between. fn returning
// errNoChange writes nothing (modify then returns the Connection as read);
// another error stops modify with it.
func (s *core) modify(ctx context.Context, groupID, id string, fn func(c *connection.Connection) error) (connection.Connection, error) {
	for try := 1; ; try++ {
		c, err := s.store.GetConnection(ctx, groupID, id)
		if err != nil {
			return c, err
		}
		next := c
		next.Config = cloneMap(c.Config)
		next.Scopes = slices.Clone(c.Scopes)
		if err := fn(&next); err != nil {
			if errors.Is(err, errNoChange) {
				return c, nil
			}
			return c, err
		}
		next.Version = c.Version + 1
		next.UpdatedAt = s.now()
		err = s.store.UpdateConnection(ctx, next)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, wiresk.ErrConflict) || try >= maxModifyTries {
			return c, err
		}
	}
}

// notFoundOr maps a store's ErrNotFound of Connection id to a not_found
// error.
func notFoundOr(err error, id string) error {
	if errors.Is(err, wiresk.ErrNotFound) {
		return wiresk.Errorf(wiresk.ENotFound, "connection %q not found", id)
	}
	return err
}

// audit appends an event to the Connection's trail. A failure is logged,
// not returned: the change it records is made already.
func (s *core) audit(ctx context.Context, c connection.Connection, actor string, ev connection.Event, detail string) {
	if actor == "" {
		actor = connection.ActorSystem
	}
	e := connection.AuditEvent{ConnectionID: c.ID, GroupID: c.GroupID, At: s.now(), Actor: actor, Event: ev, Detail: detail}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log().ErrorContext(ctx, "connection audit event lost", "group", c.GroupID, "connection", c.ID, "event", string(ev), "err", err)
	}
}

// holdLease takes the Connection's refresh lease, waiting up to leaseWait
// for another holder (a refresh under way) to finish, and returns its
// release.
func (s *core) holdLease(ctx context.Context, id string) (release func(), err error) {
	name := connection.RefreshLeaseName(id)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	holder := "connect-" + hex.EncodeToString(b)
	deadline := time.Now().Add(leaseWait)
	for attempt := 1; ; attempt++ {
		ok, err := s.store.AcquireLease(ctx, name, holder, leaseTTL)
		if err != nil {
			return nil, unavailable(err, "cannot take the refresh lease of connection %s", id)
		}
		if ok {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = s.store.ReleaseLease(rctx, name, holder) // it expires anyway
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, wiresk.Errorf(wiresk.EUnavailable, "connection %s is busy (its token is being refreshed); try again in a moment", id)
		}
		if err := backoff.Sleep(ctx, oauth.LeaseBackoff.Delay(attempt)); err != nil {
			return nil, err
		}
	}
}

// appCredential returns the credential of a non-OAuth Connection.
func appCredential(t catalog.AuthType, creds connection.Credentials) appcall.Credential {
	switch t {
	case catalog.AuthAPIKey:
		return appcall.Credential{Kind: appcall.CredentialAPIKey, Token: creds.APIKey}
	case catalog.AuthBasic:
		return appcall.Credential{Kind: appcall.CredentialBasic, Username: creds.Username, Password: creds.Password}
	}
	return appcall.Credential{Kind: appcall.CredentialNone}
}

// secretField is the input field that a refused credential of auth type t
// is reported on.
func secretField(t catalog.AuthType) string {
	switch t {
	case catalog.AuthAPIKey:
		return "apiKey"
	case catalog.AuthBasic:
		return "password"
	}
	return "config"
}

// secretWhat names the credential of auth type t in messages.
func secretWhat(t catalog.AuthType) string {
	switch t {
	case catalog.AuthAPIKey:
		return "API key"
	case catalog.AuthBasic:
		return "user name and password"
	}
	return "request"
}

// cloneMap copies m (nil stays nil).
func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ptr returns a pointer to a copy of t.
func ptr(t time.Time) *time.Time { return &t }

// expiryPtr returns a pointer to t, or nil when t is zero.
func expiryPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return ptr(t.UTC())
}

// flowNames describes the Flows of refs for messages: "Flow "A"" or
// "Flows "A", "B"".
func flowNames(refs []connection.FlowRef) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = fmt.Sprintf("%q", r.Name)
	}
	if len(names) == 1 {
		return "Flow " + names[0]
	}
	return "Flows " + strings.Join(names, ", ")
}

// usedBy returns the Flows of the Connection's Group that use it, in their
// steps or their app triggers.
func (s *core) usedBy(ctx context.Context, c connection.Connection) ([]connection.FlowRef, error) {
	flows, err := s.store.ListFlows(ctx, c.GroupID)
	if err != nil {
		return nil, err
	}
	triggers, err := s.store.ListSchedules(ctx, c.GroupID, "")
	if err != nil {
		return nil, err
	}
	return connection.UsedBy(flows, triggers, c.ID), nil
}
