// Package storetest is the contract test suite of the store port. Every
// store adapter (bbolt, DynamoDB) runs the same suite through Run.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/poll"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
	"wiresk/internal/worker"
)

// Store is the whole store port: the union of what the use cases need,
// each declared where it is used. Errors: a missing record wraps
// wiresk.ErrNotFound, a broken uniqueness or version invariant wraps
// wiresk.ErrConflict; anything else is a failure of the store itself.
type Store interface {
	manage.Store
	worker.Store
	worker.Schedules
	poll.Store
	ingest.Lookup
	connection.Store
	// AllSchedules lists every Group's schedule triggers (the local
	// runner's scheduler reads them).
	AllSchedules(ctx context.Context) ([]trigger.Schedule, error)
}

// Run runs the contract suite; newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Groups", func(t *testing.T) { testGroups(t, newStore(t)) })
	t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, newStore(t)) })
	t.Run("FlowsAndTriggers", func(t *testing.T) { testFlowsAndTriggers(t, newStore(t)) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, newStore(t)) })
	t.Run("RunsConcurrentCreate", func(t *testing.T) { testRunsConcurrent(t, newStore(t)) })
	t.Run("RunRequestBodies", func(t *testing.T) { testRunRequestBodies(t, newStore(t)) })
	t.Run("DuplicateDeliveriesRunEachStepOnce", func(t *testing.T) { testDuplicateDeliveries(t, newStore(t)) })
	runConnections(t, newStore)
	runSchedules(t, newStore)
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func testGroups(t *testing.T, s Store) {
	ctx := t.Context()
	g := group.Group{ID: "grp_a", Name: "A", CreatedAt: t0}
	must(t, s.CreateGroup(ctx, g, group.Member{GroupID: g.ID, UserID: "u1", Role: group.RoleOwner, AddedAt: t0}))
	wantErr(t, s.CreateGroup(ctx, g, group.Member{GroupID: g.ID, UserID: "u1", Role: group.RoleOwner}), wiresk.ErrConflict)
	got, err := s.GetGroup(ctx, g.ID)
	must(t, err)
	if got.Name != "A" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("GetGroup = %+v, want %+v", got, g)
	}
	_, err = s.GetGroup(ctx, "grp_missing")
	wantErr(t, err, wiresk.ErrNotFound)

	must(t, s.PutMember(ctx, group.Member{GroupID: g.ID, UserID: "u2", Role: group.RoleMember, AddedAt: t0}))
	wantErr(t, s.PutMember(ctx, group.Member{GroupID: "grp_missing", UserID: "u2", Role: group.RoleMember}), wiresk.ErrNotFound)
	m, err := s.GetMember(ctx, g.ID, "u2")
	must(t, err)
	if m.Role != group.RoleMember {
		t.Fatalf("role = %q, want member", m.Role)
	}
	members, err := s.ListMembers(ctx, g.ID)
	must(t, err)
	if len(members) != 2 {
		t.Fatalf("members = %d, want 2", len(members))
	}
	groups, err := s.ListGroupsByUser(ctx, "u2")
	must(t, err)
	if len(groups) != 1 || groups[0].ID != g.ID {
		t.Fatalf("ListGroupsByUser = %+v, want [grp_a]", groups)
	}
	must(t, s.DeleteMember(ctx, g.ID, "u2"))
	_, err = s.GetMember(ctx, g.ID, "u2")
	wantErr(t, err, wiresk.ErrNotFound)
	wantErr(t, s.DeleteMember(ctx, g.ID, "u2"), wiresk.ErrNotFound)
	groups, err = s.ListGroupsByUser(ctx, "u2")
	must(t, err)
	if len(groups) != 0 {
		t.Fatalf("after delete ListGroupsByUser = %+v, want none", groups)
	}
}

func newKey(t *testing.T, groupID, id string) apikey.Key {
	_, h, err := apikey.Generate()
	must(t, err)
	return apikey.Key{ID: id, GroupID: groupID, Name: "key " + id, Hint: "abcd", Hash: h, CreatedAt: t0}
}

func testAPIKeys(t *testing.T, s Store) {
	ctx := t.Context()
	k := newKey(t, "grp_a", "key_1")
	k.RunsPerMinute = 120
	must(t, s.CreateAPIKey(ctx, k))
	wantErr(t, s.CreateAPIKey(ctx, k), wiresk.ErrConflict)
	got, err := s.GetAPIKey(ctx, "grp_a", "key_1")
	must(t, err)
	if got.Name != k.Name || !got.Hash.Equal(k.Hash) || got.RunsPerMinute != 120 {
		t.Fatalf("GetAPIKey = %+v, want %+v", got, k)
	}
	// The webhook's read sees the key's cap, with no other read.
	if byHash, _, err := s.Lookup(ctx, k.Hash, "x"); err != nil || byHash == nil || byHash.RunsPerMinute != 120 {
		t.Fatalf("Lookup = %+v, %v, want the key with its cap of 120", byHash, err)
	}
	_, err = s.GetAPIKey(ctx, "grp_b", "key_1")
	wantErr(t, err, wiresk.ErrNotFound)

	found, route, err := s.Lookup(ctx, k.Hash, "no-such-route")
	must(t, err)
	if found == nil || found.ID != "key_1" || route != nil {
		t.Fatalf("Lookup = %+v, %+v; want key_1, no route", found, route)
	}
	found, _, err = s.Lookup(ctx, apikey.HashOf("other"), "x")
	must(t, err)
	if found != nil {
		t.Fatalf("Lookup of unknown hash = %+v, want nil", found)
	}

	revoked := got
	at := t0.Add(time.Hour)
	revoked.RevokedAt = &at
	revoked.Hash = "" // the hash cannot be changed by an update
	must(t, s.UpdateAPIKey(ctx, revoked))
	found, _, err = s.Lookup(ctx, k.Hash, "x")
	must(t, err)
	if found == nil || found.RevokedAt == nil || !found.RevokedAt.Equal(at) {
		t.Fatalf("after revoke Lookup = %+v, want revoked at %v", found, at)
	}
	wantErr(t, s.UpdateAPIKey(ctx, newKey(t, "grp_a", "key_missing")), wiresk.ErrNotFound)

	old := newKey(t, "grp_a", "key_2")
	must(t, s.CreateAPIKey(ctx, old))
	repl := newKey(t, "grp_a", "key_3")
	repl.RotatedFrom = old.ID
	grace := t0.Add(time.Minute)
	old.RotatedTo, old.ExpiresAt = repl.ID, &grace
	must(t, s.RotateAPIKey(ctx, old, repl))
	wantErr(t, s.RotateAPIKey(ctx, old, newKey(t, "grp_a", "key_4")), wiresk.ErrConflict)
	for _, h := range []apikey.Hash{old.Hash, repl.Hash} {
		found, _, err := s.Lookup(ctx, h, "x")
		must(t, err)
		if found == nil {
			t.Fatalf("after rotation key with hash %s not found", h)
		}
	}
	keys, err := s.ListAPIKeys(ctx, "grp_a")
	must(t, err)
	if len(keys) != 3 {
		t.Fatalf("ListAPIKeys = %d keys, want 3", len(keys))
	}
	keys, err = s.ListAPIKeys(ctx, "grp_b")
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("other group's keys = %d, want 0", len(keys))
	}
}

func newFlow(groupID, id string, enabled bool) flow.Flow {
	return flow.Flow{ID: id, GroupID: groupID, Name: "flow " + id, Enabled: enabled, Version: 1, CreatedAt: t0, UpdatedAt: t0,
		Steps: []flow.Step{{ID: "call", App: "http", Method: "request", Input: map[string]any{"url": "https://example.com/{{trigger.body.id}}"}}}}
}

func testFlowsAndTriggers(t *testing.T, s Store) {
	ctx := t.Context()
	f := newFlow("grp_a", "flw_1", true)
	must(t, s.CreateFlow(ctx, f))
	wantErr(t, s.CreateFlow(ctx, f), wiresk.ErrConflict)
	got, err := s.GetFlow(ctx, "grp_a", "flw_1")
	must(t, err)
	if got.Steps[0].Input["url"] != "https://example.com/{{trigger.body.id}}" {
		t.Fatalf("GetFlow steps = %+v", got.Steps)
	}
	_, err = s.GetFlow(ctx, "grp_b", "flw_1")
	wantErr(t, err, wiresk.ErrNotFound)

	tr := trigger.HTTPTrigger{ID: "trg_1", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk1-rk1-rk1-rk1-rk1-rk1-rk1-rk1-", APIKeyIDs: []string{"key_1"}, CreatedAt: t0}
	must(t, s.CreateTrigger(ctx, tr))
	dup := tr
	dup.ID = "trg_2"
	wantErr(t, s.CreateTrigger(ctx, dup), wiresk.ErrConflict) // same routing key
	orphan := tr
	orphan.ID, orphan.FlowID, orphan.RoutingKey = "trg_3", "flw_missing", "other"
	wantErr(t, s.CreateTrigger(ctx, orphan), wiresk.ErrNotFound)

	r, err := s.GetRoute(ctx, tr.RoutingKey)
	must(t, err)
	if r.FlowID != "flw_1" || r.TriggerID != "trg_1" || !r.Enabled || !r.Accepts("key_1") {
		t.Fatalf("route = %+v", r)
	}

	// Disabling the Flow disables its routes.
	f.Enabled, f.Version = false, 2
	must(t, s.UpdateFlow(ctx, f))
	r, err = s.GetRoute(ctx, tr.RoutingKey)
	must(t, err)
	if r.Enabled {
		t.Fatalf("route of disabled flow is enabled")
	}
	// A stale version is refused.
	stale := f
	stale.Version = 2
	wantErr(t, s.UpdateFlow(ctx, stale), wiresk.ErrConflict)

	// Rotating the routing key moves the route.
	rotated := tr
	rotated.RoutingKey = "rk2-rk2-rk2-rk2-rk2-rk2-rk2-rk2-"
	must(t, s.UpdateTrigger(ctx, rotated))
	_, err = s.GetRoute(ctx, tr.RoutingKey)
	wantErr(t, err, wiresk.ErrNotFound)
	_, route, err := s.Lookup(ctx, "nohash", rotated.RoutingKey)
	must(t, err)
	if route == nil || route.TriggerID != "trg_1" || route.Enabled {
		t.Fatalf("Lookup route after rotation = %+v", route)
	}

	// A trigger authenticated by its sender's signature, with no API key,
	// reads back whole, and its route is read without a key hash.
	expires := t0.Add(24 * time.Hour)
	second := trigger.HTTPTrigger{ID: "trg_4", GroupID: "grp_a", FlowID: "flw_1", RoutingKey: "rk4", CreatedAt: t0,
		Ingress: trigger.Ingress{Auth: trigger.AuthSignature, Challenge: trigger.ChallengeSlack, Signature: &trigger.Verification{
			Custom:        &trigger.CustomScheme{Algorithm: "sha256", Header: "X-Sig", Encoding: "hex", Content: "{timestamp}.{body}", TimestampHeader: "X-Ts"},
			SecretVersion: 3, SecretSetAt: t0, PreviousSecretExpiresAt: &expires}}}
	must(t, s.CreateTrigger(ctx, second))
	gotSecond, err := s.GetTrigger(ctx, "grp_a", "flw_1", "trg_4")
	must(t, err)
	if !reflect.DeepEqual(gotSecond.Ingress, second.Ingress) || len(gotSecond.APIKeyIDs) != 0 {
		t.Fatalf("GetTrigger ingress = %+v %+v, want %+v %+v", gotSecond.Ingress, gotSecond.Ingress.Signature, second.Ingress, second.Ingress.Signature)
	}
	key, route, err := s.Lookup(ctx, "", "rk4")
	must(t, err)
	if key != nil || route == nil || !reflect.DeepEqual(route.Ingress, second.Ingress) || route.TriggerID != "trg_4" {
		t.Fatalf("Lookup(no hash, rk4) = %+v, %+v, want no key and the route with %+v", key, route, second.Ingress)
	}
	list, err := s.ListTriggers(ctx, "grp_a", "flw_1")
	must(t, err)
	all, err := s.ListTriggers(ctx, "grp_a", "")
	must(t, err)
	if len(list) != 2 || len(all) != 2 {
		t.Fatalf("ListTriggers = %d / %d, want 2 / 2", len(list), len(all))
	}
	must(t, s.DeleteTrigger(ctx, "grp_a", "flw_1", "trg_4"))
	wantErr(t, s.DeleteTrigger(ctx, "grp_a", "flw_1", "trg_4"), wiresk.ErrNotFound)
	_, err = s.GetRoute(ctx, "rk4")
	wantErr(t, err, wiresk.ErrNotFound)

	must(t, s.DeleteFlow(ctx, "grp_a", "flw_1"))
	_, err = s.GetRoute(ctx, rotated.RoutingKey)
	wantErr(t, err, wiresk.ErrNotFound)
	_, err = s.GetTrigger(ctx, "grp_a", "flw_1", "trg_1")
	wantErr(t, err, wiresk.ErrNotFound)
	flows, err := s.ListFlows(ctx, "grp_a")
	must(t, err)
	if len(flows) != 0 {
		t.Fatalf("flows after delete = %d", len(flows))
	}
	wantErr(t, s.DeleteFlow(ctx, "grp_a", "flw_1"), wiresk.ErrNotFound)
}

func newRun(groupID, id, flowID, keyID string, at time.Time, st run.Status) run.Run {
	return run.Run{ID: id, GroupID: groupID, FlowID: flowID, APIKeyID: keyID, Mode: run.ModeWebhook, Status: st, CreatedAt: at,
		Request: run.Request{Headers: map[string]string{"content-type": "application/json"}, Query: map[string]string{}, Body: []byte(`{"a":1}`)}}
}

// testRunRequestBodies: every form of the recorded body reads back as
// written: JSON, text, binary, a truncated one, and one stored by
// reference (key, size, SHA-256), whose Run a replay needs.
func testRunRequestBodies(t *testing.T, s Store) {
	ctx := t.Context()
	ref := run.StoredBody("grp_a", "run_ref", []byte("a body kept in the body store"))
	reqs := map[string]run.Request{
		"run_json":  {Body: []byte(`{"a":[1,2]}`)},
		"run_text":  {BodyText: "<xml>&</xml>"},
		"run_bin":   {BodyBase64: []byte{0xff, 0x00, 0xfe}},
		"run_trunc": {BodyText: "the beginning", BodyTruncated: true},
		"run_ref":   {BodyRef: &ref},
	}
	for id, req := range reqs {
		req.Method, req.Headers, req.Query = "POST", map[string]string{"content-type": "application/octet-stream"}, map[string]string{}
		r := newRun("grp_a", id, "flw_1", "key_1", t0, run.Running)
		r.Request = req
		_, err := s.CreateRun(ctx, r)
		must(t, err)
		got, err := s.GetRun(ctx, "grp_a", id)
		must(t, err)
		a, _ := json.Marshal(got.Request)
		b, _ := json.Marshal(req)
		if string(a) != string(b) {
			t.Errorf("%s: request read back as %s, want %s", id, a, b)
		}
	}
}

func testRuns(t *testing.T, s Store) {
	ctx := t.Context()
	r := newRun("grp_a", "run_1", "flw_1", "key_1", t0, run.Running)
	created, err := s.CreateRun(ctx, r)
	must(t, err)
	if !created {
		t.Fatal("first CreateRun: created = false")
	}
	again := r
	again.Status = run.Failed
	created, err = s.CreateRun(ctx, again)
	must(t, err)
	if created {
		t.Fatal("second CreateRun with the same id: created = true")
	}
	got, err := s.GetRun(ctx, "grp_a", "run_1")
	must(t, err)
	if got.Status != run.Running || string(got.Request.Body) != `{"a":1}` {
		t.Fatalf("GetRun = %+v", got)
	}
	_, err = s.GetRun(ctx, "grp_b", "run_1")
	wantErr(t, err, wiresk.ErrNotFound)

	got.Status = run.Succeeded
	got.Steps = []run.StepResult{{ID: "call", Status: run.StepSucceeded, Output: map[string]any{"status": float64(200)}, Attempts: 2, Interrupted: 1}}
	must(t, s.UpdateRun(ctx, got))
	if back, err := s.GetRun(ctx, "grp_a", "run_1"); err != nil || len(back.Steps) != 1 || back.Steps[0].Attempts != 2 || back.Steps[0].Interrupted != 1 {
		t.Fatalf("GetRun after UpdateRun = %+v, %v; want the step's 2 attempts, 1 interrupted, read back", back.Steps, err)
	}
	wantErr(t, s.UpdateRun(ctx, newRun("grp_a", "run_missing", "f", "k", t0, run.Failed)), wiresk.ErrNotFound)

	// 30 more runs over two flows and two keys, one a minute apart.
	for i := range 30 {
		flowID, keyID, st := "flw_1", "key_1", run.Succeeded
		if i%2 == 1 {
			flowID, keyID, st = "flw_2", "key_2", run.Failed
		}
		_, err := s.CreateRun(ctx, newRun("grp_a", fmt.Sprintf("run_x%02d", i), flowID, keyID, t0.Add(time.Duration(i+1)*time.Minute), st))
		must(t, err)
	}
	_, err = s.CreateRun(ctx, newRun("grp_b", "run_other", "flw_1", "key_1", t0, run.Succeeded))
	must(t, err)

	// Pages of 7, newest first, no duplicates, all 31.
	var ids []string
	cursor := ""
	for {
		p, err := s.ListRuns(ctx, run.Query{GroupID: "grp_a", Limit: 7, Cursor: cursor})
		must(t, err)
		for _, r := range p.Runs {
			ids = append(ids, r.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(ids) != 31 || ids[0] != "run_x29" || ids[30] != "run_1" {
		t.Fatalf("paged ids = %d %v, want 31 from run_x29 to run_1", len(ids), ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("run %s listed twice", id)
		}
		seen[id] = true
	}

	cases := []struct {
		name string
		q    run.Query
		want int
	}{
		{"by flow", run.Query{GroupID: "grp_a", FlowID: "flw_2"}, 15},
		{"by key", run.Query{GroupID: "grp_a", APIKeyID: "key_1"}, 16},
		{"by status", run.Query{GroupID: "grp_a", Status: run.Succeeded}, 16},
		{"flow and status", run.Query{GroupID: "grp_a", FlowID: "flw_2", Status: run.Succeeded}, 0},
		{"since", run.Query{GroupID: "grp_a", Since: t0.Add(21 * time.Minute)}, 10},
		{"until", run.Query{GroupID: "grp_a", Until: t0.Add(time.Minute)}, 1},
		{"other group", run.Query{GroupID: "grp_b"}, 1},
		{"unknown group", run.Query{GroupID: "grp_c"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.ListRuns(ctx, c.q)
			must(t, err)
			if len(p.Runs) != c.want {
				t.Fatalf("ListRuns(%+v) = %d runs, want %d", c.q, len(p.Runs), c.want)
			}
		})
	}
	_, err = s.ListRuns(ctx, run.Query{GroupID: "grp_a", Cursor: "garbage!"})
	if wiresk.ErrorCode(err) != wiresk.EInvalid {
		t.Fatalf("bad cursor: err = %v, want code %s", err, wiresk.EInvalid)
	}
}

func testRunsConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdCount := 0
	for range 16 {
		wg.Go(func() {
			created, err := s.CreateRun(ctx, newRun("grp_a", "run_same", "flw_1", "key_1", t0, run.Running))
			if err != nil {
				t.Error(err)
				return
			}
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if createdCount != 1 {
		t.Fatalf("16 concurrent CreateRun of one id created %d runs, want 1", createdCount)
	}
}
