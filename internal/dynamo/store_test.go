package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wiresk/internal/apikey"
	"wiresk/internal/bolt"
	"wiresk/internal/dynamo"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/testkit/emulator"
	"wiresk/internal/testkit/storetest"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

var _ storetest.Store = (*dynamo.Store)(nil)

// endpoint is the DynamoDB Local that all tests of the package share; each
// test has its own table.
var endpoint string

func TestMain(m *testing.M) {
	ep, stop, err := emulator.StartDynamoDB()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start DynamoDB Local:", err)
		os.Exit(1)
	}
	endpoint = ep
	code := m.Run()
	stop()
	os.Exit(code)
}

// newClient returns a client of the shared DynamoDB Local, with the
// option every client of the store uses.
func newClient(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("wiresk", "wiresk", ""),
		BaseEndpoint: aws.String(endpoint),
	}, append([]func(*dynamodb.Options){dynamo.ValidateResponseChecksum}, optFns...)...)
}

var (
	tableSeq    atomic.Int64
	notInTables = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
)

// newTable creates a table of its own for the test and returns its name.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", tableSeq.Add(1), notInTables.ReplaceAllString(t.Name(), "-"))
	if len(name) > 200 {
		name = name[:200]
	}
	if err := dynamo.CreateTable(t.Context(), client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

func newStore(t *testing.T, opts dynamo.Options) (*dynamo.Store, *dynamodb.Client, string) {
	t.Helper()
	client := newClient()
	table := newTable(t, client)
	return dynamo.New(client, table, opts), client, table
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreContract(t *testing.T) {
	for _, c := range []struct {
		name string
		opts dynamo.Options
	}{
		{"KeepRuns", dynamo.Options{}},
		{"RunRetention", dynamo.Options{RunRetention: 10 * 365 * 24 * time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Store {
				s, _, _ := newStore(t, c.opts)
				return s
			})
		})
	}
}

func TestCreateTableTwice(t *testing.T) {
	client := newClient()
	table := newTable(t, client)
	must(t, dynamo.CreateTable(t.Context(), client, table))
	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	must(t, err)
	var got []string
	for _, g := range out.Table.GlobalSecondaryIndexes {
		got = append(got, fmt.Sprintf("%s(%s,%s)/%s", aws.ToString(g.IndexName), aws.ToString(g.KeySchema[0].AttributeName),
			aws.ToString(g.KeySchema[1].AttributeName), g.Projection.ProjectionType))
	}
	slices.Sort(got)
	want := []string{"GSI1(GSI1PK,GSI1SK)/ALL", "GSI2(GSI2PK,GSI2SK)/ALL"}
	if !slices.Equal(got, want) {
		t.Fatalf("indexes = %v, want %v", got, want)
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	must(t, err)
	if got, want := aws.ToString(ttl.TimeToLiveDescription.AttributeName), "ttl"; got != want {
		t.Fatalf("ttl attribute = %q, want %q", got, want)
	}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T, groupID, id string) (apikey.Key, string) {
	t.Helper()
	plain, h, err := apikey.Generate()
	must(t, err)
	return apikey.Key{ID: id, GroupID: groupID, Name: "key " + id, Hint: apikey.HintOf(plain), Hash: h, CreatedAt: t0}, plain
}

func newFlow(groupID, id string, enabled bool) flow.Flow {
	return flow.Flow{ID: id, GroupID: groupID, Name: "flow " + id, Enabled: enabled, Version: 1, CreatedAt: t0, UpdatedAt: t0,
		Steps: []flow.Step{{ID: "call", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com/"}}}}
}

func newRun(groupID, id, flowID, keyID string, at time.Time, st run.Status) run.Run {
	return run.Run{ID: id, GroupID: groupID, FlowID: flowID, APIKeyID: keyID, Mode: run.ModeWebhook, Status: st, CreatedAt: at,
		Request: run.Request{Method: "POST", Headers: map[string]string{"content-type": "application/json"}, Query: map[string]string{}, Body: []byte(`{"a": 1}`)}}
}

// scan returns every item of table.
func scan(t *testing.T, client *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		must(t, err)
		items = append(items, out.Items...)
	}
	return items
}

func str(av types.AttributeValue) string {
	if s, ok := av.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// strings returns every string and binary value inside av.
func allStrings(av types.AttributeValue) []string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return []string{v.Value}
	case *types.AttributeValueMemberB:
		return []string{string(v.Value)}
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberL:
		var out []string
		for _, e := range v.Value {
			out = append(out, allStrings(e)...)
		}
		return out
	case *types.AttributeValueMemberM:
		var out []string
		for k, e := range v.Value {
			out = append(out, k)
			out = append(out, allStrings(e)...)
		}
		return out
	}
	return nil
}

// populate writes one record of every kind, and returns the plaintext of
// the API keys it stored.
func populate(t *testing.T, s *dynamo.Store) []string {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateGroup(ctx, group.Group{ID: "grp_a", Name: "A", CreatedAt: t0}, group.Member{GroupID: "grp_a", UserID: "u1", Role: group.RoleOwner, AddedAt: t0}))
	must(t, s.PutMember(ctx, group.Member{GroupID: "grp_a", UserID: "u2", Role: group.RoleMember, AddedAt: t0}))
	k1, p1 := newKey(t, "grp_a", "key_1")
	must(t, s.CreateAPIKey(ctx, k1))
	k2, p2 := newKey(t, "grp_a", "key_2")
	k2.RotatedFrom = k1.ID
	grace := t0.Add(time.Hour)
	k1.RotatedTo, k1.ExpiresAt = k2.ID, &grace
	must(t, s.RotateAPIKey(ctx, k1, k2))
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	must(t, s.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_1", APIKeyIDs: []string{"key_1", "key_2"}, CreatedAt: t0}))
	r := newRun("grp_a", "run_1", "flw_1", "key_2", time.Now(), run.Running)
	_, err := s.CreateRun(ctx, r)
	must(t, err)
	r.Status = run.Succeeded
	r.Steps = []run.StepResult{{ID: "call", App: "http", Method: "request", Status: run.StepSucceeded, Output: map[string]any{"status": 200}, Attempts: 1}}
	must(t, s.UpdateRun(ctx, r))
	_, err = s.CreateRun(ctx, newRun("grp_a", "run_2", "flw_1", "", time.Now(), run.Queued))
	must(t, err)
	return []string{p1, p2}
}

func TestEveryItemHasTypeAndNoSecret(t *testing.T) {
	s, client, table := newStore(t, dynamo.Options{})
	plaintexts := populate(t, s)
	items := scan(t, client, table)
	seen := map[string]int{}
	for _, it := range items {
		typ := str(it["type"])
		if typ == "" {
			t.Errorf("item %s/%s has no type", str(it["PK"]), str(it["SK"]))
		}
		seen[typ]++
		for name, av := range it {
			for _, v := range allStrings(av) {
				for _, p := range plaintexts {
					if strings.Contains(v, p) || strings.Contains(v, p[len(apikey.Prefix):len(apikey.Prefix)+20]) {
						t.Errorf("item %s/%s attribute %s holds an API key's plaintext", str(it["PK"]), str(it["SK"]), name)
					}
				}
			}
		}
	}
	want := map[string]int{"group": 1, "member": 4, "apikey": 4, "flow": 1, "trigger": 1, "route": 1, "run": 2, "run_apikey": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("items by type = %v, want %v", seen, want)
	}
}

func TestItemsAreReadable(t *testing.T) {
	s, client, table := newStore(t, dynamo.Options{})
	populate(t, s)
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "RUN#grp_a#run_1"}, "SK": &types.AttributeValueMemberS{Value: "RUN"}}})
	must(t, err)
	it := out.Item
	if got, want := str(it["status"]), "succeeded"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	req, ok := it["request"].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatalf("request = %T, want a map", it["request"])
	}
	if got, want := str(req.Value["body"]), `{"a": 1}`; got != want {
		t.Errorf("request.body = %q, want %q", got, want)
	}
	steps, ok := it["steps"].(*types.AttributeValueMemberL)
	if !ok || len(steps.Value) != 1 {
		t.Fatalf("steps = %#v, want a list of one", it["steps"])
	}
	output := steps.Value[0].(*types.AttributeValueMemberM).Value["output"]
	if m, ok := output.(*types.AttributeValueMemberM); !ok || m.Value["status"].(*types.AttributeValueMemberN).Value != "200" {
		t.Errorf("steps[0].output = %#v, want the map {status: 200}", output)
	}
	if got, want := str(it["GSI1PK"]), "RUNS#grp_a"; got != want {
		t.Errorf("GSI1PK = %q, want %q", got, want)
	}
}

func getItem(t *testing.T, client *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}})
	must(t, err)
	if out.Item == nil {
		t.Fatalf("no item %s/%s", pk, sk)
	}
	return out.Item
}

func TestRunTTL(t *testing.T) {
	const retention = 48 * time.Hour
	s, client, table := newStore(t, dynamo.Options{RunRetention: retention})
	ctx := t.Context()
	at := time.Now().Truncate(time.Millisecond)
	r := newRun("grp_a", "run_1", "flw_1", "key_1", at, run.Running)
	_, err := s.CreateRun(ctx, r)
	must(t, err)
	r.Status = run.Succeeded
	must(t, s.UpdateRun(ctx, r))
	want := fmt.Sprint(at.Add(retention).Unix())
	for _, sk := range []string{"RUN", "APIKEY"} {
		it := getItem(t, client, table, "RUN#grp_a#run_1", sk)
		n, ok := it["ttl"].(*types.AttributeValueMemberN)
		if !ok || n.Value != want {
			t.Errorf("%s item ttl = %#v, want N %s", sk, it["ttl"], want)
		}
	}

	keep, client2, table2 := newStore(t, dynamo.Options{})
	_, err = keep.CreateRun(ctx, r)
	must(t, err)
	if it := getItem(t, client2, table2, "RUN#grp_a#run_1", "RUN"); it["ttl"] != nil {
		t.Errorf("without retention ttl = %#v, want none", it["ttl"])
	}
}

// opCounter counts the SDK operations a client makes (and their HTTP
// attempts), with a real middleware.
type opCounter struct {
	mu       sync.Mutex
	ops      []string
	attempts int
	inputs   []any
}

func (c *opCounter) register(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("countOps",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.ops = append(c.ops, awsmiddleware.GetOperationName(ctx))
				c.inputs = append(c.inputs, in.Parameters)
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		if err != nil {
			return err
		}
		// After the retry middleware: once per HTTP attempt.
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("countAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.attempts++
				c.mu.Unlock()
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

func (c *opCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.inputs, c.attempts = nil, nil, 0
}

func (c *opCounter) snapshot() ([]string, int, []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ops), c.attempts, slices.Clone(c.inputs)
}

func TestHotPathCalls(t *testing.T) {
	counter := &opCounter{}
	client := newClient(counter.register)
	s := dynamo.New(client, newTable(t, client), dynamo.Options{RunRetention: time.Hour})
	ctx := t.Context()
	populate(t, s)
	k, _ := newKey(t, "grp_a", "key_9")
	must(t, s.CreateAPIKey(ctx, k))

	counter.reset()
	key, route, err := s.Lookup(ctx, k.Hash, "rk_1")
	must(t, err)
	if key == nil || key.ID != "key_9" || route == nil || route.TriggerID != "trg_1" || !route.Enabled {
		t.Fatalf("Lookup = %+v, %+v; want key_9 and the enabled route of trg_1", key, route)
	}
	ops, attempts, inputs := counter.snapshot()
	if want := []string{"BatchGetItem"}; !slices.Equal(ops, want) || attempts != 1 {
		t.Fatalf("Lookup made %v in %d attempts, want %v in 1", ops, attempts, want)
	}
	in := inputs[0].(*dynamodb.BatchGetItemInput)
	for table, ka := range in.RequestItems {
		if !aws.ToBool(ka.ConsistentRead) || len(ka.Keys) != 2 {
			t.Fatalf("BatchGetItem of %s: consistent = %v, %d keys; want consistent, 2 keys", table, aws.ToBool(ka.ConsistentRead), len(ka.Keys))
		}
	}

	// Misses are one call too.
	counter.reset()
	key, route, err = s.Lookup(ctx, apikey.HashOf("nope"), "no-route")
	must(t, err)
	if key != nil || route != nil {
		t.Fatalf("Lookup of unknown records = %+v, %+v; want nil, nil", key, route)
	}
	if ops, _, _ := counter.snapshot(); !slices.Equal(ops, []string{"BatchGetItem"}) {
		t.Fatalf("Lookup of unknown records made %v, want [BatchGetItem]", ops)
	}

	// The worker's calls.
	r := newRun("grp_a", "run_hot", "flw_1", "key_9", time.Now(), run.Running)
	cases := []struct {
		name string
		call func() error
		want []string
	}{
		{"CreateRun with a key", func() error { _, err := s.CreateRun(ctx, r); return err }, []string{"TransactWriteItems"}},
		{"CreateRun again", func() error { _, err := s.CreateRun(ctx, r); return err }, []string{"TransactWriteItems"}},
		{"CreateRun without a key", func() error {
			_, err := s.CreateRun(ctx, newRun("grp_a", "run_nokey", "flw_1", "", time.Now(), run.Running))
			return err
		}, []string{"PutItem"}},
		{"UpdateRun", func() error { return s.UpdateRun(ctx, r) }, []string{"PutItem"}},
		{"GetRun", func() error { _, err := s.GetRun(ctx, "grp_a", r.ID); return err }, []string{"GetItem"}},
		{"GetFlow", func() error { _, err := s.GetFlow(ctx, "grp_a", "flw_1"); return err }, []string{"GetItem"}},
		{"GetAPIKey", func() error { _, err := s.GetAPIKey(ctx, "grp_a", "key_9"); return err }, []string{"GetItem"}},
	}
	for _, c := range cases {
		counter.reset()
		must(t, c.call())
		if got, _, _ := counter.snapshot(); !slices.Equal(got, c.want) {
			t.Errorf("%s made %v, want %v", c.name, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	s, _, _ := newStore(t, dynamo.Options{})
	ctx := t.Context()
	populate(t, s)
	must(t, s.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_2", CreatedAt: t0}))
	missingKey, _ := newKey(t, "grp_a", "key_missing")
	repl, _ := newKey(t, "grp_a", "key_new")
	k3, _ := newKey(t, "grp_a", "key_3")
	must(t, s.CreateAPIKey(ctx, k3))
	k4, _ := newKey(t, "grp_a", "key_4")
	must(t, s.CreateAPIKey(ctx, k4))
	takenHash, takenID, itself := repl, repl, k3
	takenHash.Hash = k4.Hash
	takenID.ID = k4.ID

	cases := []struct {
		name string
		err  error
		want error
	}{
		{"UpdateTrigger to a taken routing key", s.UpdateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_1"}), wiresk.ErrConflict},
		{"UpdateTrigger missing", s.UpdateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_9", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_9"}), wiresk.ErrNotFound},
		{"UpdateTrigger of a missing Flow", s.UpdateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_9", RoutingKey: "rk_9"}), wiresk.ErrNotFound},
		{"CreateTrigger with a taken id", s.CreateTrigger(ctx, trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_fresh"}), wiresk.ErrConflict},
		{"DeleteTrigger missing", s.DeleteTrigger(ctx, "grp_a", "flw_1", "trg_9"), wiresk.ErrNotFound},
		{"UpdateFlow missing", s.UpdateFlow(ctx, newFlow("grp_a", "flw_9", true)), wiresk.ErrNotFound},
		{"RotateAPIKey missing", s.RotateAPIKey(ctx, missingKey, repl), wiresk.ErrNotFound},
		{"RotateAPIKey to a taken hash", s.RotateAPIKey(ctx, k3, takenHash), wiresk.ErrConflict},
		{"RotateAPIKey to a taken id", s.RotateAPIKey(ctx, k3, takenID), wiresk.ErrConflict},
		{"RotateAPIKey to itself", s.RotateAPIKey(ctx, k3, itself), wiresk.ErrConflict},
		{"PutMember of a missing Group", s.PutMember(ctx, group.Member{GroupID: "grp_z", UserID: "u1", Role: group.RoleOwner}), wiresk.ErrNotFound},
		{"UpdateRun missing", s.UpdateRun(ctx, newRun("grp_a", "run_9", "flw_1", "", t0, run.Failed)), wiresk.ErrNotFound},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
	}
	// A failed transaction leaves everything as it was.
	if _, err := s.GetRoute(ctx, "rk_2"); err != nil {
		t.Errorf("route rk_2 after a refused move: %v", err)
	}
	if got, err := s.GetAPIKey(ctx, "grp_a", "key_3"); err != nil || got.RotatedTo != "" {
		t.Errorf("key_3 after refused rotations = %+v, %v; want it unrotated", got, err)
	}
	if _, err := s.GetRoute(ctx, strings.Repeat("x", 5000)); !errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("GetRoute of a huge key: err = %v, want %v", err, wiresk.ErrNotFound)
	}
	if k, r, err := s.Lookup(ctx, apikey.Hash(strings.Repeat("x", 5000)), strings.Repeat("y", 5000)); err != nil || k != nil || r != nil {
		t.Errorf("Lookup of huge keys = %v, %v, %v; want nil, nil, nil", k, r, err)
	}

	// UpdateRun keeps the stored CreatedAt.
	r, err := s.GetRun(ctx, "grp_a", "run_1")
	must(t, err)
	moved := r
	moved.CreatedAt = r.CreatedAt.Add(-time.Hour)
	moved.Status = run.Failed
	must(t, s.UpdateRun(ctx, moved))
	got, err := s.GetRun(ctx, "grp_a", "run_1")
	must(t, err)
	if !got.CreatedAt.Equal(r.CreatedAt) || got.Status != run.Failed {
		t.Errorf("after UpdateRun with another CreatedAt: createdAt %v status %s, want %v failed", got.CreatedAt, got.Status, r.CreatedAt)
	}

	// Cursors this store did not issue, one of them the embedded store's.
	ref := newBolt(t)
	for i := range 3 {
		_, err := ref.CreateRun(ctx, newRun("grp_a", fmt.Sprintf("run_%d", i), "flw_1", "", t0, run.Failed))
		must(t, err)
	}
	p, err := ref.ListRuns(ctx, run.Query{GroupID: "grp_a", Limit: 1})
	must(t, err)
	for _, c := range []string{"garbage!", "Zm9v", p.NextCursor} {
		if _, err := s.ListRuns(ctx, run.Query{GroupID: "grp_a", Cursor: c}); wiresk.ErrorCode(err) != wiresk.EInvalid {
			t.Errorf("ListRuns with cursor %q: err = %v, want code %s", c, err, wiresk.EInvalid)
		}
	}
}

// newBolt returns an embedded store, the reference the DynamoDB store is
// compared with.
func newBolt(t *testing.T) *bolt.Store {
	t.Helper()
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := bolt.NewStore(db)
	must(t, err)
	return s
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

// TestListRunsLikeBolt pages through the same Runs in both stores with many
// queries: same Runs, same order, same page boundaries.
func TestListRunsLikeBolt(t *testing.T) {
	ctx := t.Context()
	dyn, _, _ := newStore(t, dynamo.Options{})
	ref := newBolt(t)
	flows := []string{"flw_1", "flw_2", "flw_3"}
	keys := []string{"key_1", "key_2", "", "key_3"}
	statuses := []run.Status{run.Succeeded, run.Failed, run.Running, run.Succeeded, run.Queued}
	at := t0
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 120 {
		if i%6 != 5 { // every sixth Run shares the previous one's CreatedAt
			at = at.Add(7 * time.Second)
		}
		r := newRun("grp_a", fmt.Sprintf("run_%03d", (i*37)%120), flows[i%3], keys[i%4], at, statuses[i%5])
		if i%10 == 0 {
			r.Steps = []run.StepResult{{ID: "s", Status: run.StepSucceeded, Output: map[string]any{"i": i, "list": []any{"a", 1.5, nil}}}}
		}
		if _, err := ref.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := dyn.CreateRun(ctx, r); err != nil {
				errs <- err
			}
		})
	}
	for i := range 5 {
		r := newRun("grp_b", fmt.Sprintf("run_b%d", i), "flw_1", "key_1", t0.Add(time.Duration(i)*time.Minute), run.Succeeded)
		_, err := ref.CreateRun(ctx, r)
		must(t, err)
		_, err = dyn.CreateRun(ctx, r)
		must(t, err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var queries []run.Query
	for _, f := range []string{"", "flw_2"} {
		for _, k := range []string{"", "key_1", "key_3"} {
			for _, st := range []run.Status{"", run.Succeeded} {
				for _, since := range []time.Time{{}, t0.Add(200 * time.Second)} {
					for _, until := range []time.Time{{}, t0.Add(600 * time.Second), t0.Add(7 * 4 * time.Second)} {
						queries = append(queries, run.Query{GroupID: "grp_a", FlowID: f, APIKeyID: k, Status: st, Since: since, Until: until, Limit: 6})
					}
				}
			}
		}
	}
	queries = append(queries,
		run.Query{GroupID: "grp_a"},
		run.Query{GroupID: "grp_a", Limit: 1000},
		run.Query{GroupID: "grp_a", Limit: 1, Status: run.Queued},
		run.Query{GroupID: "grp_a", Limit: 1, APIKeyID: "key_2", Status: run.Failed},
		run.Query{GroupID: "grp_b", Limit: 2},
		run.Query{GroupID: "grp_c"},
		run.Query{GroupID: "grp_a", Since: t0.Add(time.Hour), Until: t0},
	)
	pages := func(s storetest.Store, q run.Query) []string {
		var out []string
		for n := 0; ; n++ {
			p, err := s.ListRuns(ctx, q)
			must(t, err)
			out = append(out, asJSON(t, p.Runs))
			if p.NextCursor == "" {
				return out
			}
			if n > 200 {
				t.Fatalf("ListRuns(%+v): more than 200 pages", q)
			}
			q.Cursor = p.NextCursor
		}
	}
	for _, q := range queries {
		got, want := pages(dyn, q), pages(ref, q)
		if !slices.Equal(got, want) {
			t.Errorf("ListRuns(%+v):\n got %d pages %v\nwant %d pages %v", q, len(got), got, len(want), want)
		}
	}
}

// TestValuesDynamoDBCannotHoldNatively stores step inputs and outputs and a
// request that no DynamoDB map can hold as they are; they come back like
// from the embedded store.
func TestValuesDynamoDBCannotHoldNatively(t *testing.T) {
	ctx := t.Context()
	dyn, client, table := newStore(t, dynamo.Options{})
	ref := newBolt(t)
	var deep any = "bottom"
	for range 40 {
		deep = map[string]any{"d": deep}
	}
	r := newRun("grp_a", "run_odd", "flw_1", "", t0, run.Succeeded)
	r.Request.Query = map[string]string{"": "empty name", "q": ""}
	r.Request.Body = nil
	r.Request.BodyBase64 = []byte{0, 1, 2, 255}
	r.Steps = []run.StepResult{
		{ID: "emptykey", Status: run.StepSucceeded, Output: map[string]any{"": 1, "ok": true}},
		{ID: "deep", Status: run.StepSucceeded, Output: deep},
		{ID: "huge", Status: run.StepSucceeded, Output: []any{1e200, -1e-200}},
		{ID: "fine", Status: run.StepSucceeded, Input: map[string]any{"tiny": 1e-100, "big": 1e100, "empty": "", "none": nil, "list": []any{}, "map": map[string]any{}},
			Output: "plain text"},
		{ID: "falsy", Status: run.StepSucceeded, Output: false, Input: 0},
	}
	for _, s := range []storetest.Store{dyn, ref} {
		_, err := s.CreateRun(ctx, r)
		must(t, err)
	}
	got, err := dyn.GetRun(ctx, "grp_a", "run_odd")
	must(t, err)
	want, err := ref.GetRun(ctx, "grp_a", "run_odd")
	must(t, err)
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Fatalf("GetRun =\n%s\nwant\n%s", g, w)
	}
	// What DynamoDB can hold is stored natively.
	it := getItem(t, client, table, "RUN#grp_a#run_odd", "RUN")
	steps := it["steps"].(*types.AttributeValueMemberL).Value
	if _, ok := steps[3].(*types.AttributeValueMemberM).Value["input"].(*types.AttributeValueMemberM); !ok {
		t.Errorf("steps[3].input = %#v, want a map", steps[3].(*types.AttributeValueMemberM).Value["input"])
	}
	if _, ok := steps[0].(*types.AttributeValueMemberM).Value["outputJson"].(*types.AttributeValueMemberS); !ok {
		t.Errorf("steps[0] = %#v, want outputJson text", steps[0])
	}

	f := newFlow("grp_a", "flw_odd", true)
	f.Steps[0].Input = map[string]any{"": "x", "deep": deep}
	must(t, dyn.CreateFlow(ctx, f))
	must(t, ref.CreateFlow(ctx, f))
	gotF, err := dyn.GetFlow(ctx, "grp_a", "flw_odd")
	must(t, err)
	wantF, err := ref.GetFlow(ctx, "grp_a", "flw_odd")
	must(t, err)
	if g, w := asJSON(t, gotF), asJSON(t, wantF); g != w {
		t.Fatalf("GetFlow =\n%s\nwant\n%s", g, w)
	}
}

// TestRoutesFollowFlowUnderConcurrency races trigger creations and routing
// key rotations against enabling and disabling their Flow: in the end every
// route has the Flow's enabled state and belongs to a trigger.
func TestRoutesFollowFlowUnderConcurrency(t *testing.T) {
	ctx := t.Context()
	s, client, table := newStore(t, dynamo.Options{})
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 3 {
				tr := trigger.HTTPTrigger{ID: fmt.Sprintf("trg_%d_%d", w, i), GroupID: "grp_a", FlowID: "flw_1", RoutingKey: fmt.Sprintf("rk_%d_%d", w, i), CreatedAt: t0}
				if err := s.CreateTrigger(ctx, tr); err != nil {
					t.Error(err)
					return
				}
				tr.RoutingKey += "_rotated"
				if err := s.UpdateTrigger(ctx, tr); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 6 {
			for {
				f, err := s.GetFlow(ctx, "grp_a", "flw_1")
				if err != nil {
					t.Error(err)
					return
				}
				f.Enabled, f.Version = !f.Enabled, f.Version+1
				err = s.UpdateFlow(ctx, f)
				if err == nil {
					break
				}
				if !errors.Is(err, wiresk.ErrConflict) {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}
	f, err := s.GetFlow(ctx, "grp_a", "flw_1")
	must(t, err)
	triggers, err := s.ListTriggers(ctx, "grp_a", "flw_1")
	must(t, err)
	if len(triggers) != 12 {
		t.Fatalf("triggers = %d, want 12", len(triggers))
	}
	for _, tr := range triggers {
		r, err := s.GetRoute(ctx, tr.RoutingKey)
		must(t, err)
		if r.Enabled != f.Enabled || r.TriggerID != tr.ID {
			t.Errorf("route of %s = %+v, want trigger %s enabled %v", tr.ID, r, tr.ID, f.Enabled)
		}
	}
	routes := 0
	for _, it := range scan(t, client, table) {
		if str(it["type"]) == "route" {
			routes++
		}
	}
	if routes != 12 {
		t.Fatalf("route items = %d, want 12", routes)
	}
	must(t, s.DeleteFlow(ctx, "grp_a", "flw_1"))
	if left := len(scan(t, client, table)); left != 0 {
		t.Fatalf("after DeleteFlow %d items are left, want 0", left)
	}
}

// interleaver runs a function, once, just before the next
// TransactWriteItems of the client it is registered with: after the store
// read what the transaction is built from, before the transaction commits.
type interleaver struct{ next atomic.Pointer[func()] }

func (il *interleaver) register(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("interleave",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == "TransactWriteItems" {
					if f := il.next.Swap(nil); f != nil {
						(*f)()
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// before arranges for f to run before the next transaction.
func (il *interleaver) before(f func()) { il.next.Store(&f) }

// TestLostRaces makes a concurrent write land between a store's read and
// its transaction, deterministically: the transaction must notice and the
// outcome must be as if the two writes had run one after the other.
func TestLostRaces(t *testing.T) {
	setup := func(t *testing.T) (racing, other *dynamo.Store, il *interleaver, client *dynamodb.Client, table string) {
		il = &interleaver{}
		client = newClient()
		table = newTable(t, client)
		racing = dynamo.New(newClient(il.register), table, dynamo.Options{})
		other = dynamo.New(client, table, dynamo.Options{})
		must(t, other.CreateFlow(t.Context(), newFlow("grp_a", "flw_1", true)))
		must(t, other.CreateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_1", CreatedAt: t0}))
		return racing, other, il, client, table
	}
	disabled := func(f flow.Flow) flow.Flow { f.Enabled, f.Version = false, f.Version+1; return f }
	wantRoutes := func(t *testing.T, s *dynamo.Store, enabled bool, keys ...string) {
		t.Helper()
		for _, rk := range keys {
			r, err := s.GetRoute(t.Context(), rk)
			must(t, err)
			if r.Enabled != enabled {
				t.Errorf("route %s enabled = %v, want %v", rk, r.Enabled, enabled)
			}
		}
	}

	t.Run("UpdateFlow vs CreateTrigger", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		il.before(func() {
			must(t, other.CreateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_2", CreatedAt: t0}))
		})
		must(t, racing.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true))))
		wantRoutes(t, other, false, "rk_1", "rk_2")
	})
	t.Run("UpdateFlow vs UpdateTrigger", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		il.before(func() {
			must(t, other.UpdateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_1b", CreatedAt: t0}))
		})
		must(t, racing.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true))))
		wantRoutes(t, other, false, "rk_1b")
	})
	t.Run("CreateTrigger vs UpdateFlow", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		il.before(func() { must(t, other.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true)))) })
		must(t, racing.CreateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_2", CreatedAt: t0}))
		wantRoutes(t, other, false, "rk_1", "rk_2")
	})
	t.Run("UpdateTrigger vs UpdateFlow", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		il.before(func() { must(t, other.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true)))) })
		must(t, racing.UpdateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_1b", CreatedAt: t0}))
		wantRoutes(t, other, false, "rk_1b")
	})
	t.Run("UpdateFlow vs UpdateFlow", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		il.before(func() { must(t, other.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true)))) })
		err := racing.UpdateFlow(t.Context(), disabled(newFlow("grp_a", "flw_1", true)))
		if !errors.Is(err, wiresk.ErrConflict) {
			t.Fatalf("second update of version 2: err = %v, want %v", err, wiresk.ErrConflict)
		}
	})
	t.Run("DeleteFlow vs CreateTrigger", func(t *testing.T) {
		racing, other, il, client, table := setup(t)
		il.before(func() {
			must(t, other.CreateTrigger(t.Context(), trigger.HTTPTrigger{ID: "trg_2", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk_2", CreatedAt: t0}))
		})
		must(t, racing.DeleteFlow(t.Context(), "grp_a", "flw_1"))
		if left := scan(t, client, table); len(left) != 0 {
			t.Fatalf("after DeleteFlow %d items are left, want 0", len(left))
		}
	})
	t.Run("RotateAPIKey vs revocation", func(t *testing.T) {
		racing, other, il, _, _ := setup(t)
		old, _ := newKey(t, "grp_a", "key_1")
		must(t, other.CreateAPIKey(t.Context(), old))
		revoked := old
		at := t0.Add(time.Hour)
		revoked.RevokedAt = &at
		il.before(func() { must(t, other.UpdateAPIKey(t.Context(), revoked)) })
		repl, _ := newKey(t, "grp_a", "key_2")
		rotated := old
		rotated.RotatedTo = repl.ID
		if err := racing.RotateAPIKey(t.Context(), rotated, repl); !errors.Is(err, wiresk.ErrConflict) {
			t.Fatalf("rotation of a key revoked meanwhile: err = %v, want %v", err, wiresk.ErrConflict)
		}
		got, _, err := other.Lookup(t.Context(), old.Hash, "")
		must(t, err)
		if got == nil || got.RevokedAt == nil || got.RotatedTo != "" {
			t.Fatalf("key after the race = %+v, want revoked, not rotated", got)
		}
		if k, _, err := other.Lookup(t.Context(), repl.Hash, ""); err != nil || k != nil {
			t.Fatalf("replacement after the refused rotation = %+v, %v; want none", k, err)
		}
	})
}

// injector fails the next n calls of operation op with err, before they
// reach DynamoDB: what a busy table answers now and then.
type injector struct {
	mu  sync.Mutex
	op  string
	n   int
	err error
}

func (in *injector) register(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("inject",
			func(ctx context.Context, input middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				in.mu.Lock()
				fail := in.n > 0 && awsmiddleware.GetOperationName(ctx) == in.op
				if fail {
					in.n--
				}
				in.mu.Unlock()
				if fail {
					return middleware.InitializeOutput{}, middleware.Metadata{}, in.err
				}
				return next.HandleInitialize(ctx, input)
			}), middleware.After)
	})
}

func (in *injector) fail(op string, n int, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.op, in.n, in.err = op, n, err
}

func TestTransactionConflictsAreRetried(t *testing.T) {
	ctx := t.Context()
	in := &injector{}
	client := newClient(in.register)
	s := dynamo.New(client, newTable(t, client), dynamo.Options{})
	cancelled := func(codes ...string) error {
		reasons := make([]types.CancellationReason, len(codes))
		for i, c := range codes {
			reasons[i] = types.CancellationReason{Code: aws.String(c)}
		}
		return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	owner := group.Member{GroupID: "grp_a", UserID: "u1", Role: group.RoleOwner, AddedAt: t0}

	in.fail("TransactWriteItems", 3, cancelled("None", "TransactionConflict", "None"))
	must(t, s.CreateGroup(ctx, group.Group{ID: "grp_a", Name: "A", CreatedAt: t0}, owner))
	if _, err := s.GetMember(ctx, "grp_a", "u1"); err != nil {
		t.Fatalf("owner after retried CreateGroup: %v", err)
	}

	in.fail("PutItem", 2, &types.TransactionConflictException{Message: aws.String("conflict")})
	must(t, s.CreateFlow(ctx, newFlow("grp_a", "flw_1", true)))

	in.fail("TransactWriteItems", 1, cancelled("ThrottlingError", "None"))
	created, err := s.CreateRun(ctx, newRun("grp_a", "run_1", "flw_1", "key_1", t0, run.Queued))
	if err != nil || !created {
		t.Fatalf("CreateRun after a throttled attempt = %v, %v; want true, nil", created, err)
	}

	// A conflict that never ends is a failure of the store, not a verdict.
	in.fail("TransactWriteItems", 1000, cancelled("None", "TransactionConflict", "None"))
	err = s.PutMember(ctx, group.Member{GroupID: "grp_a", UserID: "u2", Role: group.RoleMember})
	if err == nil || errors.Is(err, wiresk.ErrConflict) || errors.Is(err, wiresk.ErrNotFound) {
		t.Fatalf("PutMember under endless conflicts: err = %v, want a store failure", err)
	}
	// Anything else is reported as it is, not retried.
	in.fail("TransactWriteItems", 1, cancelled("ValidationError", "None", "None"))
	err = s.PutMember(ctx, group.Member{GroupID: "grp_a", UserID: "u2", Role: group.RoleMember})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || errors.Is(err, wiresk.ErrConflict) {
		t.Fatalf("PutMember refused as invalid: err = %v, want the SDK's TransactionCanceledException", err)
	}
}
