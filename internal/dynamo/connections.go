package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/wiresk"
)

// Connection items. See README.md for the layout:
//
//	connection   GROUP#<g>              CONNECTION#<c>          GSI1: DUE / <dueAt>#<g>#<c> (active ones only)
//	oauth_state  OAUTHSTATE#<sha256>    OAUTHSTATE              ttl = expiresAt
//	lease        LEASE#<name>           LEASE                   ttl = expiresAt
//	audit        CONNECTION#<g>#<c>     AUDIT#<at>#<unique>
//
// No item holds a secret: Credentials live in the vault.

// Values of the type attribute of the Connection items.
const (
	typeConnection = "connection"
	typeOAuthState = "oauth_state"
	typeLease      = "lease"
	typeAudit      = "audit"
)

// Fixed keys of the Connection items.
const (
	skOAuthState = "OAUTHSTATE"
	skLease      = "LEASE"
	pkDue        = "DUE"
	auditPrefix  = "AUDIT#"
)

func connectionSK(id string) string { return "CONNECTION#" + id }
func oauthStatePK(id string) string { return "OAUTHSTATE#" + id }
func leasePK(name string) string    { return "LEASE#" + name }
func auditPK(groupID, connectionID string) string {
	return "CONNECTION#" + groupID + "#" + connectionID
}

// dueSK is the GSI1 sort key of a Connection due at at: <at>#<g>#<c>, so
// that a Query for GSI1SK < timePos(before) returns those due before.
func dueSK(at time.Time, groupID, id string) string { return timePos(at) + "#" + groupID + "#" + id }

type connectionItem struct {
	itemKeys
	ID                   string            `dynamodbav:"id"`
	GroupID              string            `dynamodbav:"groupId"`
	Name                 string            `dynamodbav:"name"`
	App                  string            `dynamodbav:"app"`
	AuthType             string            `dynamodbav:"authType"`
	Config               map[string]string `dynamodbav:"config,omitempty"`
	Scopes               []string          `dynamodbav:"scopes,omitempty"`
	Status               string            `dynamodbav:"status"`
	Account              string            `dynamodbav:"account,omitempty"`
	StatusReason         string            `dynamodbav:"statusReason,omitempty"`
	BrokenAt             *time.Time        `dynamodbav:"brokenAt,omitempty"`
	LastTest             *testResultItem   `dynamodbav:"lastTest,omitempty"`
	TokenExpiresAt       *time.Time        `dynamodbav:"tokenExpiresAt,omitempty"`
	LastRefreshAt        *time.Time        `dynamodbav:"lastRefreshAt,omitempty"`
	RefreshFailures      int               `dynamodbav:"refreshFailures,omitempty"`
	RefreshCooldownUntil *time.Time        `dynamodbav:"refreshCooldownUntil,omitempty"`
	// DueAt is connection.DueAt, for people reading the table; the index
	// uses GSI1SK.
	DueAt     *time.Time `dynamodbav:"dueAt,omitempty"`
	CreatedAt time.Time  `dynamodbav:"createdAt"`
	UpdatedAt time.Time  `dynamodbav:"updatedAt"`
	CreatedBy string     `dynamodbav:"createdBy,omitempty"`
	Version   int        `dynamodbav:"version"`
}

type testResultItem struct {
	At      time.Time `dynamodbav:"at"`
	OK      bool      `dynamodbav:"ok"`
	Message string    `dynamodbav:"message,omitempty"`
}

func toConnectionItem(c connection.Connection) connectionItem {
	it := connectionItem{itemKeys: itemKeys{PK: groupPK(c.GroupID), SK: connectionSK(c.ID), Type: typeConnection},
		ID: c.ID, GroupID: c.GroupID, Name: c.Name, App: c.App, AuthType: string(c.AuthType), Config: c.Config,
		Scopes: c.Scopes, Status: string(c.Status), Account: c.Account, StatusReason: c.StatusReason,
		BrokenAt: utcPtr(c.BrokenAt), TokenExpiresAt: utcPtr(c.TokenExpiresAt), LastRefreshAt: utcPtr(c.LastRefreshAt),
		RefreshFailures: c.RefreshFailures, RefreshCooldownUntil: utcPtr(c.RefreshCooldownUntil),
		CreatedAt: utc(c.CreatedAt), UpdatedAt: utc(c.UpdatedAt), CreatedBy: c.CreatedBy, Version: c.Version}
	if c.LastTest != nil {
		it.LastTest = &testResultItem{At: utc(c.LastTest.At), OK: c.LastTest.OK, Message: c.LastTest.Message}
	}
	if at, ok := connection.DueAt(c); ok {
		it.GSI1PK, it.GSI1SK, it.DueAt = pkDue, dueSK(at, c.GroupID, c.ID), &at
	}
	return it
}

func (i connectionItem) connection() (connection.Connection, error) {
	c := connection.Connection{ID: i.ID, GroupID: i.GroupID, Name: i.Name, App: i.App, AuthType: catalog.AuthType(i.AuthType),
		Config: i.Config, Scopes: i.Scopes, Status: connection.Status(i.Status), Account: i.Account, StatusReason: i.StatusReason,
		BrokenAt: i.BrokenAt, TokenExpiresAt: i.TokenExpiresAt, LastRefreshAt: i.LastRefreshAt, RefreshFailures: i.RefreshFailures,
		RefreshCooldownUntil: i.RefreshCooldownUntil, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, CreatedBy: i.CreatedBy,
		Version: i.Version}
	if i.LastTest != nil {
		c.LastTest = &connection.TestResult{At: i.LastTest.At, OK: i.LastTest.OK, Message: i.LastTest.Message}
	}
	return c, nil
}

type oauthStateItem struct {
	itemKeys
	ID           string    `dynamodbav:"id"`
	GroupID      string    `dynamodbav:"groupId"`
	ConnectionID string    `dynamodbav:"connectionId"`
	CreatedBy    string    `dynamodbav:"createdBy,omitempty"`
	RedirectURI  string    `dynamodbav:"redirectUri"`
	ExpiresAt    time.Time `dynamodbav:"expiresAt"`
	CreatedAt    time.Time `dynamodbav:"createdAt"`
}

// ttlAt returns the ttl attribute of an item that may be deleted from t
// on: t in epoch seconds, rounded up.
func ttlAt(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func toOAuthStateItem(s connection.OAuthState) oauthStateItem {
	return oauthStateItem{itemKeys: itemKeys{PK: oauthStatePK(s.ID), SK: skOAuthState, Type: typeOAuthState, TTL: ttlAt(s.ExpiresAt)},
		ID: s.ID, GroupID: s.GroupID, ConnectionID: s.ConnectionID, CreatedBy: s.CreatedBy, RedirectURI: s.RedirectURI,
		ExpiresAt: utc(s.ExpiresAt), CreatedAt: utc(s.CreatedAt)}
}

func (i oauthStateItem) state() connection.OAuthState {
	return connection.OAuthState{ID: i.ID, GroupID: i.GroupID, ConnectionID: i.ConnectionID, CreatedBy: i.CreatedBy,
		RedirectURI: i.RedirectURI, ExpiresAt: i.ExpiresAt, CreatedAt: i.CreatedAt}
}

// leaseItem is a lease. ExpiresAt is a fixed-width time (posLayout), so
// that the lease condition can compare it as a string.
type leaseItem struct {
	itemKeys
	Name       string `dynamodbav:"name"`
	Holder     string `dynamodbav:"holder"`
	ExpiresAt  string `dynamodbav:"expiresAt"`
	AcquiredAt string `dynamodbav:"acquiredAt"`
}

type auditItem struct {
	itemKeys
	ConnectionID string    `dynamodbav:"connectionId"`
	GroupID      string    `dynamodbav:"groupId"`
	At           time.Time `dynamodbav:"at"`
	Actor        string    `dynamodbav:"actor"`
	Event        string    `dynamodbav:"event"`
	Detail       string    `dynamodbav:"detail,omitempty"`
}

func (i auditItem) event() connection.AuditEvent {
	return connection.AuditEvent{ConnectionID: i.ConnectionID, GroupID: i.GroupID, At: i.At, Actor: i.Actor,
		Event: connection.Event(i.Event), Detail: i.Detail}
}

// tooLong reports whether ids are too long to address an item: DynamoDB
// refuses sort keys over 1024 bytes, and no real id comes close.
func tooLong(ids ...string) bool {
	n := 0
	for _, id := range ids {
		n += len(id)
	}
	return n > maxKeyLen-64
}

// putItem runs putOne, again when a concurrent transaction got in its way.
// It returns nil, errCondition when cond failed, or a failure.
func (s *Store) putItem(ctx context.Context, what string, item any, cond *expression.ConditionBuilder) error {
	return s.retry(ctx, what, func() error {
		err := s.putOne(ctx, item, cond)
		switch {
		case err == nil:
			return nil
		case conditionFailed(err):
			return errCondition
		case conflicted(err, nil):
			return errRetry
		}
		return failure(what, err)
	})
}

// errCondition is putItem's and deleteItem's error when the condition
// failed.
var errCondition = errors.New("condition failed")

// deleteItem deletes the item pk/sk if cond holds, returning its old
// attributes. It returns errCondition when cond failed.
func (s *Store) deleteItem(ctx context.Context, what, pk, sk string, cond expression.ConditionBuilder) (map[string]types.AttributeValue, error) {
	e, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return nil, failure(what, err)
	}
	var old map[string]types.AttributeValue
	err = s.retry(ctx, what, func() error {
		out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(pk, sk),
			ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
			ReturnValues: types.ReturnValueAllOld})
		switch {
		case err == nil:
			old = out.Attributes
			return nil
		case conditionFailed(err):
			return errCondition
		case conflicted(err, nil):
			return errRetry
		}
		return failure(what, err)
	})
	return old, err
}

// CreateConnection stores a new Connection with a conditional PutItem.
// ErrConflict if the Group has one with its id.
func (s *Store) CreateConnection(ctx context.Context, c connection.Connection) error {
	what := "create connection " + c.ID
	err := s.putItem(ctx, what, toConnectionItem(c), &notExists)
	if errors.Is(err, errCondition) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrConflict)
	}
	return err
}

// GetConnection returns Connection id of groupID, or ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error) {
	what := "get connection " + id
	if tooLong(groupID, id) {
		return connection.Connection{}, fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	var it connectionItem
	ok, err := s.get(ctx, groupPK(groupID), connectionSK(id), &it)
	if err != nil {
		return connection.Connection{}, failure(what, err)
	}
	if !ok {
		return connection.Connection{}, fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	return it.connection()
}

// ListConnections returns the Connections of groupID, by id.
func (s *Store) ListConnections(ctx context.Context, groupID string) ([]connection.Connection, error) {
	out, err := listOf(ctx, s, groupPK(groupID), connectionSK(""), nil, connectionItem.connection)
	if err != nil {
		return nil, failure("list connections of group "+groupID, err)
	}
	return out, nil
}

// UpdateConnection replaces a Connection whose stored version is
// c.Version-1, with one PutItem conditioned on it. When the condition
// fails, a GetItem tells ErrNotFound from ErrConflict.
func (s *Store) UpdateConnection(ctx context.Context, c connection.Connection) error {
	what := "update connection " + c.ID
	if tooLong(c.GroupID, c.ID) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	cond := exists.And(expression.Name("version").Equal(expression.Value(c.Version - 1)))
	err := s.putItem(ctx, what, toConnectionItem(c), &cond)
	if !errors.Is(err, errCondition) {
		return err
	}
	var old connectionItem
	ok, err := s.get(ctx, groupPK(c.GroupID), connectionSK(c.ID), &old)
	switch {
	case err != nil:
		return failure(what, err)
	case !ok:
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	return fmt.Errorf("%s: version %d is not the next after %d: %w", what, c.Version, old.Version, wiresk.ErrConflict)
}

// DeleteConnection removes a Connection with a conditional DeleteItem, or
// returns ErrNotFound. Its audit trail stays.
func (s *Store) DeleteConnection(ctx context.Context, groupID, id string) error {
	what := "delete connection " + id
	if tooLong(groupID, id) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	_, err := s.deleteItem(ctx, what, groupPK(groupID), connectionSK(id), exists)
	if errors.Is(err, errCondition) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	return err
}

// ListConnectionsDue returns the Connections of every Group whose DueAt is
// before before, earliest first: one Query of GSI1, GSI1PK = DUE and
// GSI1SK < timePos(before) (all its pages). GSI1 is eventually consistent.
func (s *Store) ListConnectionsDue(ctx context.Context, before time.Time) ([]connection.Connection, error) {
	kc := expression.Key(attrGSI1PK).Equal(expression.Value(pkDue)).And(expression.Key(attrGSI1SK).LessThan(expression.Value(timePos(before))))
	out, err := queryGSI1(ctx, s, kc, func(it connectionItem) (connection.Connection, error) { return it.connection() })
	if err != nil {
		return nil, failure("list connections due", err)
	}
	return out, nil
}

// PutOAuthState stores a new authorization state with a conditional
// PutItem; its ttl is its expiry. ErrConflict if its id exists.
func (s *Store) PutOAuthState(ctx context.Context, st connection.OAuthState) error {
	const what = "put oauth state"
	err := s.putItem(ctx, what, toOAuthStateItem(st), &notExists)
	if errors.Is(err, errCondition) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrConflict)
	}
	return err
}

// TakeOAuthState reads and deletes state id with one DeleteItem
// (ReturnValues ALL_OLD, condition attribute_exists(PK)), so that of
// concurrent calls exactly one gets it. ErrNotFound if it does not exist
// or was taken. An expired state not yet removed by Time to Live is
// returned like any other.
func (s *Store) TakeOAuthState(ctx context.Context, id string) (connection.OAuthState, error) {
	const what = "take oauth state"
	if tooLong(id) {
		return connection.OAuthState{}, fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	old, err := s.deleteItem(ctx, what, oauthStatePK(id), skOAuthState, exists)
	if errors.Is(err, errCondition) {
		return connection.OAuthState{}, fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	if err != nil {
		return connection.OAuthState{}, err
	}
	var it oauthStateItem
	if err := attributevalue.UnmarshalMap(old, &it); err != nil {
		return connection.OAuthState{}, failure(what, err)
	}
	return it.state(), nil
}

// AcquireLease takes the lease name for holder for ttl with one PutItem
// conditioned on attribute_not_exists(PK) OR expiresAt < :now OR holder =
// :holder. A failed condition means another holder has it: false, nil.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, wiresk.Errorf(wiresk.EInvalid, "a lease needs a name, a holder and a positive ttl")
	}
	what := "acquire lease " + name
	if tooLong(name) {
		return false, failure(what, fmt.Errorf("the lease name is %d bytes long", len(name)))
	}
	now := time.Now().UTC()
	expires := now.Add(ttl)
	it := leaseItem{itemKeys: itemKeys{PK: leasePK(name), SK: skLease, Type: typeLease, TTL: ttlAt(expires)},
		Name: name, Holder: holder, ExpiresAt: timePos(expires), AcquiredAt: timePos(now)}
	cond := notExists.
		Or(expression.Name("expiresAt").LessThan(expression.Value(timePos(now)))).
		Or(expression.Name("holder").Equal(expression.Value(holder)))
	err := s.putItem(ctx, what, it, &cond)
	if errors.Is(err, errCondition) {
		return false, nil
	}
	return err == nil, err
}

// ReleaseLease deletes the lease name with a DeleteItem conditioned on
// holder = :holder, or returns ErrNotFound.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	what := "release lease " + name
	if tooLong(name) {
		return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
	}
	cond := exists.And(expression.Name("holder").Equal(expression.Value(holder)))
	_, err := s.deleteItem(ctx, what, leasePK(name), skLease, cond)
	if errors.Is(err, errCondition) {
		return fmt.Errorf("%s: not held by %s: %w", what, holder, wiresk.ErrNotFound)
	}
	return err
}

// AppendAudit adds e to its Connection's audit trail: one PutItem in the
// partition CONNECTION#<g>#<c>, sort key AUDIT#<at>#<unique>.
func (s *Store) AppendAudit(ctx context.Context, e connection.AuditEvent) error {
	what := "append audit event of connection " + e.ConnectionID
	if tooLong(e.GroupID, e.ConnectionID) {
		return failure(what, fmt.Errorf("the ids are too long"))
	}
	for range maxAttempts {
		it := auditItem{itemKeys: itemKeys{PK: auditPK(e.GroupID, e.ConnectionID),
			SK: auditPrefix + timePos(e.At) + "#" + wiresk.NewIDAt("aud", e.At), Type: typeAudit},
			ConnectionID: e.ConnectionID, GroupID: e.GroupID, At: utc(e.At), Actor: e.Actor, Event: string(e.Event), Detail: e.Detail}
		// The unique part is 80 random bits: a collision is next to
		// impossible, and would only be retried with another.
		if err := s.putItem(ctx, what, it, &notExists); !errors.Is(err, errCondition) {
			return err
		}
	}
	return failure(what, fmt.Errorf("no free sort key after %d attempts", maxAttempts))
}

// ListAudit returns the newest events of a Connection, newest first, at
// most connection.AuditLimit(limit): one strongly consistent Query of the
// Connection's audit partition, backwards, with that Limit.
func (s *Store) ListAudit(ctx context.Context, groupID, connectionID string, limit int) ([]connection.AuditEvent, error) {
	what := "list audit of connection " + connectionID
	out := []connection.AuditEvent{}
	if tooLong(groupID, connectionID) {
		return out, nil
	}
	limit = connection.AuditLimit(limit)
	kc := expression.Key(attrPK).Equal(expression.Value(auditPK(groupID, connectionID))).And(expression.Key(attrSK).BeginsWith(auditPrefix))
	e, err := expression.NewBuilder().WithKeyCondition(kc).Build()
	if err != nil {
		return nil, failure(what, err)
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), ScanIndexForward: aws.Bool(false),
		Limit:                  aws.Int32(int32(limit)),
		KeyConditionExpression: e.KeyCondition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	}
	for len(out) < limit {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, failure(what, err)
		}
		for _, av := range page.Items {
			var it auditItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, failure(what, err)
			}
			out = append(out, it.event())
		}
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		in.Limit = aws.Int32(int32(limit - len(out)))
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
