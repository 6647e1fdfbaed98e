package dynamo

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/apikey"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
)

// Values of the type attribute.
const (
	typeGroup     = "group"
	typeMember    = "member"
	typeAPIKey    = "apikey"
	typeFlow      = "flow"
	typeTrigger   = "trigger"
	typeRoute     = "route"
	typeRun       = "run"
	typeRunAPIKey = "run_apikey"
)

// Fixed sort keys.
const (
	skGroup     = "GROUP"
	skKeyByHash = "APIKEY"
	skRoute     = "ROUTE"
	skRun       = "RUN"
	skRunAPIKey = "APIKEY"
)

func groupPK(groupID string) string             { return "GROUP#" + groupID }
func memberSK(userID string) string             { return "MEMBER#" + userID }
func userPK(userID string) string               { return "USER#" + userID }
func userGroupSK(groupID string) string         { return "GROUP#" + groupID }
func keySK(keyID string) string                 { return "APIKEY#" + keyID }
func keyHashPK(h apikey.Hash) string            { return "APIKEY#" + string(h) }
func flowSK(flowID string) string               { return "FLOW#" + flowID }
func triggerSK(flowID, triggerID string) string { return triggerPrefix(flowID) + triggerID }
func triggerPrefix(flowID string) string        { return "FLOW#" + flowID + "#TRIGGER#" }
func routePK(routingKey string) string          { return "ROUTE#" + routingKey }
func runPK(groupID, runID string) string        { return "RUN#" + groupID + "#" + runID }
func runsPK(groupID string) string              { return "RUNS#" + groupID }
func runsByFlowPK(groupID, flowID string) string {
	return "RUNS#" + groupID + "#FLOW#" + flowID
}
func runsByKeyPK(groupID, keyID string) string { return "RUNS#" + groupID + "#APIKEY#" + keyID }

// posLayout formats a Run's CreatedAt in its index sort keys: fixed width,
// so that the strings sort like the times.
const posLayout = "2006-01-02T15:04:05.000000000Z"

// runPos is the index sort key of a Run: <createdAt>#<id>.
func runPos(at time.Time, runID string) string { return timePos(at) + "#" + runID }

// timePos is the index sort key prefix of the instant at.
func timePos(at time.Time) string { return at.UTC().Format(posLayout) }

// key returns the primary key of an item.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// itemKeys are the attributes every item has: its keys, index keys, type
// and, for Runs kept for a limited time, ttl.
type itemKeys struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	GSI1PK string `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK string `dynamodbav:"GSI1SK,omitempty"`
	GSI2PK string `dynamodbav:"GSI2PK,omitempty"`
	GSI2SK string `dynamodbav:"GSI2SK,omitempty"`
	Type   string `dynamodbav:"type"`
	TTL    int64  `dynamodbav:"ttl,omitempty"`
}

// utc returns t in UTC, so that stored times compare as strings.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Groups

type groupItem struct {
	itemKeys
	ID        string    `dynamodbav:"id"`
	Name      string    `dynamodbav:"name"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	CreatedBy string    `dynamodbav:"createdBy,omitempty"`
}

func toGroupItem(g group.Group) groupItem {
	return groupItem{itemKeys: itemKeys{PK: groupPK(g.ID), SK: skGroup, Type: typeGroup},
		ID: g.ID, Name: g.Name, CreatedAt: utc(g.CreatedAt), CreatedBy: g.CreatedBy}
}

func (i groupItem) group() group.Group {
	return group.Group{ID: i.ID, Name: i.Name, CreatedAt: i.CreatedAt, CreatedBy: i.CreatedBy}
}

type memberItem struct {
	itemKeys
	GroupID string    `dynamodbav:"groupId"`
	UserID  string    `dynamodbav:"userId"`
	Role    string    `dynamodbav:"role"`
	AddedAt time.Time `dynamodbav:"addedAt"`
}

// toMemberItems returns the two copies of a membership: under its Group
// and under its user.
func toMemberItems(m group.Member) (byGroup, byUser memberItem) {
	byGroup = memberItem{itemKeys: itemKeys{PK: groupPK(m.GroupID), SK: memberSK(m.UserID), Type: typeMember},
		GroupID: m.GroupID, UserID: m.UserID, Role: string(m.Role), AddedAt: utc(m.AddedAt)}
	byUser = byGroup
	byUser.PK, byUser.SK = userPK(m.UserID), userGroupSK(m.GroupID)
	return byGroup, byUser
}

func (i memberItem) member() group.Member {
	return group.Member{GroupID: i.GroupID, UserID: i.UserID, Role: group.Role(i.Role), AddedAt: i.AddedAt}
}

// API keys

type keyItem struct {
	itemKeys
	ID          string     `dynamodbav:"id"`
	GroupID     string     `dynamodbav:"groupId"`
	Name        string     `dynamodbav:"name"`
	Hint        string     `dynamodbav:"hint"`
	Hash        string     `dynamodbav:"hash"`
	CreatedAt   time.Time  `dynamodbav:"createdAt"`
	CreatedBy   string     `dynamodbav:"createdBy,omitempty"`
	ExpiresAt   *time.Time `dynamodbav:"expiresAt,omitempty"`
	RevokedAt   *time.Time `dynamodbav:"revokedAt,omitempty"`
	RotatedTo   string     `dynamodbav:"rotatedTo,omitempty"`
	RotatedFrom string     `dynamodbav:"rotatedFrom,omitempty"`
	RunsPerMin  int        `dynamodbav:"runsPerMinute,omitempty"`
}

// toKeyItems returns the two copies of an API key: under its Group (for
// management) and under its hash (for the webhook).
func toKeyItems(k apikey.Key) (byGroup, byHash keyItem) {
	byGroup = keyItem{itemKeys: itemKeys{PK: groupPK(k.GroupID), SK: keySK(k.ID), Type: typeAPIKey},
		ID: k.ID, GroupID: k.GroupID, Name: k.Name, Hint: k.Hint, Hash: string(k.Hash),
		CreatedAt: utc(k.CreatedAt), CreatedBy: k.CreatedBy, ExpiresAt: utcPtr(k.ExpiresAt), RevokedAt: utcPtr(k.RevokedAt),
		RotatedTo: k.RotatedTo, RotatedFrom: k.RotatedFrom, RunsPerMin: k.RunsPerMinute}
	byHash = byGroup
	byHash.PK, byHash.SK = keyHashPK(k.Hash), skKeyByHash
	return byGroup, byHash
}

func (i keyItem) key() apikey.Key {
	return apikey.Key{ID: i.ID, GroupID: i.GroupID, Name: i.Name, Hint: i.Hint, Hash: apikey.Hash(i.Hash),
		CreatedAt: i.CreatedAt, CreatedBy: i.CreatedBy, ExpiresAt: i.ExpiresAt, RevokedAt: i.RevokedAt,
		RotatedTo: i.RotatedTo, RotatedFrom: i.RotatedFrom, RunsPerMinute: i.RunsPerMin}
}

// Flows and triggers

type flowItem struct {
	itemKeys
	ID          string     `dynamodbav:"id"`
	GroupID     string     `dynamodbav:"groupId"`
	Name        string     `dynamodbav:"name"`
	Description string     `dynamodbav:"description,omitempty"`
	Enabled     bool       `dynamodbav:"enabled"`
	Steps       []stepItem `dynamodbav:"steps"`
	Version     int        `dynamodbav:"version"`
	// RoutesRev counts the changes to the Flow's triggers; see the package
	// documentation.
	RoutesRev int       `dynamodbav:"routesRev"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	UpdatedAt time.Time `dynamodbav:"updatedAt"`
	CreatedBy string    `dynamodbav:"createdBy,omitempty"`
}

type stepItem struct {
	ID           string `dynamodbav:"id"`
	App          string `dynamodbav:"app"`
	Method       string `dynamodbav:"method"`
	ConnectionID string `dynamodbav:"connectionId,omitempty"`
	If           string `dynamodbav:"if,omitempty"`
	Input        any    `dynamodbav:"input,omitempty"`
	InputJSON    string `dynamodbav:"inputJson,omitempty"`
}

func toFlowItem(f flow.Flow, routesRev int) (flowItem, error) {
	it := flowItem{itemKeys: itemKeys{PK: groupPK(f.GroupID), SK: flowSK(f.ID), Type: typeFlow},
		ID: f.ID, GroupID: f.GroupID, Name: f.Name, Description: f.Description, Enabled: f.Enabled,
		Version: f.Version, RoutesRev: routesRev, CreatedAt: utc(f.CreatedAt), UpdatedAt: utc(f.UpdatedAt), CreatedBy: f.CreatedBy}
	if f.Steps != nil {
		it.Steps = make([]stepItem, len(f.Steps))
	}
	for n, s := range f.Steps {
		in, inJSON, err := freeform(s.Input)
		if err != nil {
			return flowItem{}, fmt.Errorf("steps[%d].input: %w", n, err)
		}
		it.Steps[n] = stepItem{ID: s.ID, App: s.App, Method: s.Method, ConnectionID: s.ConnectionID, If: s.If, Input: in, InputJSON: inJSON}
	}
	return it, nil
}

func (i flowItem) flow() (flow.Flow, error) {
	f := flow.Flow{ID: i.ID, GroupID: i.GroupID, Name: i.Name, Description: i.Description, Enabled: i.Enabled,
		Version: i.Version, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, CreatedBy: i.CreatedBy}
	if i.Steps != nil {
		f.Steps = make([]flow.Step, len(i.Steps))
	}
	for n, s := range i.Steps {
		in, err := fromFreeform(s.Input, s.InputJSON)
		if err != nil {
			return flow.Flow{}, fmt.Errorf("flow %s: steps[%d].input: %w", i.ID, n, err)
		}
		m, _ := in.(map[string]any)
		f.Steps[n] = flow.Step{ID: s.ID, App: s.App, Method: s.Method, ConnectionID: s.ConnectionID, If: s.If, Input: m}
	}
	return f, nil
}

type triggerItem struct {
	itemKeys
	ID                  string     `dynamodbav:"id"`
	GroupID             string     `dynamodbav:"groupId"`
	FlowID              string     `dynamodbav:"flowId"`
	Description         string     `dynamodbav:"description,omitempty"`
	RoutingKey          string     `dynamodbav:"routingKey"`
	APIKeyIDs           []string   `dynamodbav:"apiKeyIds"`
	CreatedAt           time.Time  `dynamodbav:"createdAt"`
	RoutingKeyRotatedAt *time.Time `dynamodbav:"routingKeyRotatedAt,omitempty"`
	ingressItem
}

// ingressItem holds trigger.Ingress on a trigger's and a route's item; the
// signature's description is its JSON text (no secret is in it).
type ingressItem struct {
	Auth      string `dynamodbav:"auth,omitempty"`
	Signature string `dynamodbav:"signature,omitempty"`
	Challenge string `dynamodbav:"challenge,omitempty"`
}

func toIngressItem(in trigger.Ingress) ingressItem {
	it := ingressItem{Auth: string(in.Auth), Challenge: in.Challenge}
	if in.Signature != nil {
		b, _ := json.Marshal(in.Signature) // a struct of plain fields: cannot fail
		it.Signature = string(b)
	}
	return it
}

func (i ingressItem) ingress() (trigger.Ingress, error) {
	in := trigger.Ingress{Auth: trigger.Auth(i.Auth), Challenge: i.Challenge}
	if i.Signature != "" {
		in.Signature = new(trigger.Verification)
		if err := json.Unmarshal([]byte(i.Signature), in.Signature); err != nil {
			return trigger.Ingress{}, fmt.Errorf("decode signature: %w", err)
		}
	}
	return in, nil
}

func toTriggerItem(t trigger.HTTPTrigger) triggerItem {
	return triggerItem{itemKeys: itemKeys{PK: groupPK(t.GroupID), SK: triggerSK(t.FlowID, t.ID), Type: typeTrigger},
		ID: t.ID, GroupID: t.GroupID, FlowID: t.FlowID, Description: t.Description, RoutingKey: t.RoutingKey,
		APIKeyIDs: t.APIKeyIDs, CreatedAt: utc(t.CreatedAt), RoutingKeyRotatedAt: utcPtr(t.RoutingKeyRotatedAt),
		ingressItem: toIngressItem(t.Ingress)}
}

func (i triggerItem) trigger() (trigger.HTTPTrigger, error) {
	in, err := i.ingress()
	return trigger.HTTPTrigger{ID: i.ID, GroupID: i.GroupID, FlowID: i.FlowID, Description: i.Description,
		RoutingKey: i.RoutingKey, APIKeyIDs: i.APIKeyIDs, CreatedAt: i.CreatedAt, RoutingKeyRotatedAt: i.RoutingKeyRotatedAt,
		Ingress: in}, err
}

type routeItem struct {
	itemKeys
	RoutingKey string   `dynamodbav:"routingKey"`
	GroupID    string   `dynamodbav:"groupId"`
	FlowID     string   `dynamodbav:"flowId"`
	TriggerID  string   `dynamodbav:"triggerId"`
	APIKeyIDs  []string `dynamodbav:"apiKeyIds"`
	Enabled    bool     `dynamodbav:"enabled"`
	ingressItem
}

func toRouteItem(r trigger.Route) routeItem {
	return routeItem{itemKeys: itemKeys{PK: routePK(r.RoutingKey), SK: skRoute, Type: typeRoute},
		RoutingKey: r.RoutingKey, GroupID: r.GroupID, FlowID: r.FlowID, TriggerID: r.TriggerID, APIKeyIDs: r.APIKeyIDs, Enabled: r.Enabled,
		ingressItem: toIngressItem(r.Ingress)}
}

func (i routeItem) route() (trigger.Route, error) {
	in, err := i.ingress()
	return trigger.Route{RoutingKey: i.RoutingKey, GroupID: i.GroupID, FlowID: i.FlowID, TriggerID: i.TriggerID, APIKeyIDs: i.APIKeyIDs, Enabled: i.Enabled,
		Ingress: in}, err
}

// Runs

type runItem struct {
	itemKeys
	ID          string `dynamodbav:"id"`
	GroupID     string `dynamodbav:"groupId"`
	FlowID      string `dynamodbav:"flowId"`
	FlowVersion int    `dynamodbav:"flowVersion,omitempty"`
	TriggerID   string `dynamodbav:"triggerId,omitempty"`
	APIKeyID    string `dynamodbav:"apiKeyId,omitempty"`
	Mode        string `dynamodbav:"mode"`
	ReplayOf    string `dynamodbav:"replayOf,omitempty"`
	Status      string `dynamodbav:"status"`
	// Request is the trigger request as a map; RequestJSON its JSON text
	// instead, for the rare request a DynamoDB map cannot hold (an empty
	// header or query parameter name).
	Request     *requestItem     `dynamodbav:"request,omitempty"`
	RequestJSON string           `dynamodbav:"requestJson,omitempty"`
	Steps       []stepResultItem `dynamodbav:"steps"`
	Error       string           `dynamodbav:"error,omitempty"`
	Deliveries  int              `dynamodbav:"deliveries"`
	CreatedAt   time.Time        `dynamodbav:"createdAt"`
	StartedAt   *time.Time       `dynamodbav:"startedAt,omitempty"`
	FinishedAt  *time.Time       `dynamodbav:"finishedAt,omitempty"`
	DurationMs  int64            `dynamodbav:"durationMs,omitempty"`
}

type requestItem struct {
	Method  string            `dynamodbav:"method,omitempty"`
	Headers map[string]string `dynamodbav:"headers"`
	Query   map[string]string `dynamodbav:"query"`
	// Body is a JSON body's text, kept byte for byte.
	Body       string `dynamodbav:"body,omitempty"`
	BodyText   string `dynamodbav:"bodyText,omitempty"`
	BodyBase64 []byte `dynamodbav:"bodyBase64,omitempty"`
	// BodyTruncated: BodyText is the beginning of a body too large to
	// record (no replay).
	BodyTruncated bool `dynamodbav:"bodyTruncated,omitempty"`
	// BodyRef names a body stored by reference.
	BodyRef *bodyRefItem `dynamodbav:"bodyRef,omitempty"`
}

type bodyRefItem struct {
	Key    string `dynamodbav:"key"`
	Size   int64  `dynamodbav:"size"`
	SHA256 string `dynamodbav:"sha256"`
}

type stepResultItem struct {
	ID         string `dynamodbav:"id"`
	App        string `dynamodbav:"app"`
	Method     string `dynamodbav:"method"`
	Status     string `dynamodbav:"status"`
	Input      any    `dynamodbav:"input,omitempty"`
	InputJSON  string `dynamodbav:"inputJson,omitempty"`
	Output     any    `dynamodbav:"output,omitempty"`
	OutputJSON string `dynamodbav:"outputJson,omitempty"`
	Error      string `dynamodbav:"error,omitempty"`
	Attempts   int    `dynamodbav:"attempts"`
	// Interrupted counts attempts whose answer a crash lost.
	Interrupted int       `dynamodbav:"interrupted,omitempty"`
	DurationMs  int64     `dynamodbav:"durationMs"`
	StartedAt   time.Time `dynamodbav:"startedAt"`
}

// runAPIKeyItem is the entry of a Run in the listing by API key.
type runAPIKeyItem struct {
	itemKeys
	RunID     string    `dynamodbav:"runId"`
	GroupID   string    `dynamodbav:"groupId"`
	FlowID    string    `dynamodbav:"flowId"`
	APIKeyID  string    `dynamodbav:"apiKeyId"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
}

// ttlOf returns the ttl attribute of a Run created at createdAt, 0 (none)
// when Runs are kept forever.
func (s *Store) ttlOf(createdAt time.Time) int64 {
	if s.opts.RunRetention <= 0 {
		return 0
	}
	return createdAt.Add(s.opts.RunRetention).Unix()
}

func (s *Store) toRunItem(r run.Run) (runItem, error) {
	pos := runPos(r.CreatedAt, r.ID)
	it := runItem{
		itemKeys: itemKeys{PK: runPK(r.GroupID, r.ID), SK: skRun, Type: typeRun,
			GSI1PK: runsPK(r.GroupID), GSI1SK: pos, GSI2PK: runsByFlowPK(r.GroupID, r.FlowID), GSI2SK: pos,
			TTL: s.ttlOf(r.CreatedAt)},
		ID: r.ID, GroupID: r.GroupID, FlowID: r.FlowID, FlowVersion: r.FlowVersion, TriggerID: r.TriggerID,
		APIKeyID: r.APIKeyID, Mode: string(r.Mode), ReplayOf: r.ReplayOf, Status: string(r.Status),
		Error: r.Error, Deliveries: r.Deliveries, CreatedAt: utc(r.CreatedAt), StartedAt: utcPtr(r.StartedAt),
		FinishedAt: utcPtr(r.FinishedAt), DurationMs: r.DurationMs,
	}
	if mapKeysNonEmpty(r.Request.Headers) && mapKeysNonEmpty(r.Request.Query) {
		it.Request = &requestItem{Method: r.Request.Method, Headers: r.Request.Headers, Query: r.Request.Query,
			Body: string(r.Request.Body), BodyText: r.Request.BodyText, BodyBase64: r.Request.BodyBase64, BodyTruncated: r.Request.BodyTruncated}
		if ref := r.Request.BodyRef; ref != nil {
			it.Request.BodyRef = &bodyRefItem{Key: ref.Key, Size: ref.Size, SHA256: ref.SHA256}
		}
	} else {
		b, err := json.Marshal(r.Request)
		if err != nil {
			return runItem{}, fmt.Errorf("request: %w", err)
		}
		it.RequestJSON = string(b)
	}
	if r.Steps != nil {
		it.Steps = make([]stepResultItem, len(r.Steps))
	}
	for n, s := range r.Steps {
		in, inJSON, err := freeform(s.Input)
		if err != nil {
			return runItem{}, fmt.Errorf("steps[%d].input: %w", n, err)
		}
		out, outJSON, err := freeform(s.Output)
		if err != nil {
			return runItem{}, fmt.Errorf("steps[%d].output: %w", n, err)
		}
		it.Steps[n] = stepResultItem{ID: s.ID, App: s.App, Method: s.Method, Status: string(s.Status),
			Input: in, InputJSON: inJSON, Output: out, OutputJSON: outJSON, Error: s.Error,
			Attempts: s.Attempts, Interrupted: s.Interrupted, DurationMs: s.DurationMs, StartedAt: utc(s.StartedAt)}
	}
	return it, nil
}

func (s *Store) toRunAPIKeyItem(r run.Run) runAPIKeyItem {
	return runAPIKeyItem{
		itemKeys: itemKeys{PK: runPK(r.GroupID, r.ID), SK: skRunAPIKey, Type: typeRunAPIKey,
			GSI2PK: runsByKeyPK(r.GroupID, r.APIKeyID), GSI2SK: runPos(r.CreatedAt, r.ID), TTL: s.ttlOf(r.CreatedAt)},
		RunID: r.ID, GroupID: r.GroupID, FlowID: r.FlowID, APIKeyID: r.APIKeyID, CreatedAt: utc(r.CreatedAt),
	}
}

func (i runItem) run() (run.Run, error) {
	r := run.Run{ID: i.ID, GroupID: i.GroupID, FlowID: i.FlowID, FlowVersion: i.FlowVersion, TriggerID: i.TriggerID,
		APIKeyID: i.APIKeyID, Mode: run.Mode(i.Mode), ReplayOf: i.ReplayOf, Status: run.Status(i.Status),
		Error: i.Error, Deliveries: i.Deliveries, CreatedAt: i.CreatedAt, StartedAt: i.StartedAt,
		FinishedAt: i.FinishedAt, DurationMs: i.DurationMs}
	switch {
	case i.RequestJSON != "":
		if err := json.Unmarshal([]byte(i.RequestJSON), &r.Request); err != nil {
			return run.Run{}, fmt.Errorf("run %s: request: %w", i.ID, err)
		}
	case i.Request != nil:
		q := i.Request
		r.Request = run.Request{Method: q.Method, Headers: q.Headers, Query: q.Query, BodyText: q.BodyText, BodyBase64: q.BodyBase64, BodyTruncated: q.BodyTruncated}
		if ref := q.BodyRef; ref != nil {
			r.Request.BodyRef = &run.BodyRef{Key: ref.Key, Size: ref.Size, SHA256: ref.SHA256}
		}
		if q.Body != "" {
			r.Request.Body = json.RawMessage(q.Body)
		}
	}
	if i.Steps != nil {
		r.Steps = make([]run.StepResult, len(i.Steps))
	}
	for n, s := range i.Steps {
		in, err := fromFreeform(s.Input, s.InputJSON)
		if err != nil {
			return run.Run{}, fmt.Errorf("run %s: steps[%d].input: %w", i.ID, n, err)
		}
		out, err := fromFreeform(s.Output, s.OutputJSON)
		if err != nil {
			return run.Run{}, fmt.Errorf("run %s: steps[%d].output: %w", i.ID, n, err)
		}
		r.Steps[n] = run.StepResult{ID: s.ID, App: s.App, Method: s.Method, Status: run.StepStatus(s.Status),
			Input: in, Output: out, Error: s.Error, Attempts: s.Attempts, Interrupted: s.Interrupted, DurationMs: s.DurationMs, StartedAt: s.StartedAt}
	}
	return r, nil
}

func mapKeysNonEmpty(m map[string]string) bool {
	_, empty := m[""]
	return !empty
}

// Free-form values: step inputs and outputs.

// maxDepth bounds the nesting of a free-form value stored as a DynamoDB map
// or list. DynamoDB allows 32 levels in an item, and these values sit three
// levels down (steps → step → input).
const maxDepth = 28

// freeform returns v as it is stored: in its JSON shape (maps, lists,
// strings, float64 numbers, booleans, nulls — exactly what the embedded
// store gives back) as native DynamoDB attributes, or, when DynamoDB cannot
// hold that shape (an empty map key, a number out of DynamoDB's range,
// nesting deeper than maxDepth), as JSON text.
func freeform(v any) (native any, jsonText string, err error) {
	if v == nil {
		return nil, "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	if err := json.Unmarshal(b, &native); err != nil {
		return nil, "", err
	}
	if !storable(native, 1) {
		return nil, string(b), nil
	}
	return native, "", nil
}

// fromFreeform reverses freeform.
func fromFreeform(native any, jsonText string) (any, error) {
	if jsonText == "" {
		return native, nil
	}
	var v any
	if err := json.Unmarshal([]byte(jsonText), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// storable reports whether the JSON-shaped v, at nesting depth depth, can
// be a DynamoDB attribute value.
func storable(v any, depth int) bool {
	switch v := v.(type) {
	case map[string]any:
		if depth > maxDepth {
			return false
		}
		for k, e := range v {
			if k == "" || !storable(e, depth+1) {
				return false
			}
		}
	case []any:
		if depth > maxDepth {
			return false
		}
		for _, e := range v {
			if !storable(e, depth+1) {
				return false
			}
		}
	case float64:
		// DynamoDB numbers range over ±1e-130 to ±9.99…e125.
		a := math.Abs(v)
		return a == 0 || a >= 1e-130 && a < 1e125
	}
	return true
}
