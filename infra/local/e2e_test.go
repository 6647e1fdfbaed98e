package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"wiresk/internal/run"
	"wiresk/internal/testkit/emulator"
	"wiresk/internal/testkit/smtest"
)

// target is a local app the Flows' HTTP steps call: it records every call.
type target struct {
	*httptest.Server
	mu    sync.Mutex
	calls []map[string]any
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		tg.mu.Lock()
		tg.calls = append(tg.calls, body)
		n := len(tg.calls)
		tg.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"contactId":"c-%d","received":%s}`, n, mustMarshal(body))
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) Calls() []map[string]any {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]map[string]any(nil), tg.calls...)
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// setupFlow creates a key, a two-step Flow calling tg and a trigger, as a
// user would; it returns the key, the webhook URL and the flow id.
func setupFlow(t *testing.T, r *runner, tg *target) (key, url, flowID string) {
	t.Helper()
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "CRM Integration"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{
		"name": "New lead",
		"steps": []any{
			map[string]any{"id": "create", "app": "http", "method": "request", "input": map[string]any{
				"method": "POST", "url": tg.URL + "/contacts", "body": map[string]any{"email": "{{ trigger.body.email }}", "seq": "{{ trigger.body.seq }}"}}},
			map[string]any{"id": "note", "app": "http", "method": "request", "if": "trigger.body.note == true", "input": map[string]any{
				"method": "POST", "url": tg.URL + "/notes", "body": map[string]any{"contact": "{{ steps.create.output.body.contactId }}"}}},
		},
	}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"description": "CRM", "apiKeyIds": []string{k.ID}}, &tr)
	return k.Key, tr.URL, f.ID
}

func TestEndToEnd(t *testing.T) {
	endToEnd(t, startRunner(t, t.TempDir(), true))
}

// TestEndToEndOnEmulators runs the same journey with the runner pointed at
// DynamoDB Local and goaws through the AWS SDK configuration, as a user
// would point it at AWS.
func TestEndToEndOnEmulators(t *testing.T) {
	r := startRunner(t, t.TempDir(), true,
		"WIRESK_BACKEND=aws", "WIRESK_TABLE=wiresk-local", "WIRESK_CREATE_RESOURCES=1",
		"AWS_ENDPOINT_URL_DYNAMODB="+emulator.DynamoDB(t), "AWS_ENDPOINT_URL_SQS="+emulator.GoAWS(t),
		// The project's own double of the Secrets Manager wire protocol:
		// no emulator of it installs here.
		"AWS_ENDPOINT_URL_SECRETS_MANAGER="+smtest.NewServer(t).URL(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=wiresk", "AWS_SECRET_ACCESS_KEY=wiresk", "AWS_EC2_METADATA_DISABLED=true")
	endToEnd(t, r)
	// The journey's refused writes (a repeated Idempotency-Key, ...) are
	// answered by DynamoDB Local without a checksum header: none of them
	// may make the SDK log a warning.
	if warnings := sdkWarning.FindAllString(r.Output(), -1); len(warnings) > 0 {
		t.Errorf("the runner logged %d SDK warnings, want none; first: %s", len(warnings), warnings[0])
	}
}

// sdkWarning matches a warning of the AWS SDK's default logger.
var sdkWarning = regexp.MustCompile(`(?m)^SDK .*\bWARN\b.*$`)

// TestEndToEndOnEmulatorsWithEmbeddedVault runs the journey as the README's
// "runner on emulators" command does: DynamoDB Local and goaws, secrets in
// the data directory. Secrets Manager's endpoint is a closed port, so any
// call to it fails the start or the journey.
func TestEndToEndOnEmulatorsWithEmbeddedVault(t *testing.T) {
	endToEnd(t, startRunner(t, t.TempDir(), true, emulatorsWithEmbeddedVault(t)...))
}

// emulatorsWithEmbeddedVault is the runner's environment of the README's
// "runner on emulators": DynamoDB Local and goaws, secrets in the data
// directory, and Secrets Manager's endpoint a closed port, so that any
// call to it fails.
func emulatorsWithEmbeddedVault(t *testing.T) []string {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	return []string{"WIRESK_BACKEND=aws", "WIRESK_TABLE=wiresk-local", "WIRESK_CREATE_RESOURCES=1", "WIRESK_VAULT=embedded",
		"AWS_ENDPOINT_URL_DYNAMODB=" + emulator.DynamoDB(t), "AWS_ENDPOINT_URL_SQS=" + emulator.GoAWS(t),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + closed.URL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=wiresk", "AWS_SECRET_ACCESS_KEY=wiresk", "AWS_EC2_METADATA_DISABLED=true"}
}

func endToEnd(t *testing.T, r *runner) {
	tg := newTarget(t)
	key, url, flowID := setupFlow(t, r, tg)

	// Webhook → Run succeeded with the step's output recorded.
	status, runID, err := hook(url, key, `{"email":"ada@example.com","note":true}`)
	if err != nil || status != 202 || runID == "" {
		t.Fatalf("webhook: %d %q %v", status, runID, err)
	}
	run := r.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || len(run.Steps) != 2 {
		t.Fatalf("run = %+v, want succeeded with 2 steps", run)
	}
	if got := run.Steps[0].Output["body"].(map[string]any)["contactId"]; got != "c-1" {
		t.Fatalf("create output contactId = %v, want c-1", got)
	}
	if got := run.Steps[1].Input["body"].(map[string]any)["contact"]; got != "c-1" {
		t.Fatalf("note input contact = %v, want c-1 (from the first step's output)", got)
	}
	if calls := tg.Calls(); len(calls) != 2 || calls[0]["email"] != "ada@example.com" {
		t.Fatalf("target calls = %v", calls)
	}

	// Idempotency-Key: a retried delivery returns the same runId and makes no second Run.
	_, first, _ := hook(url, key, `{"email":"idem@example.com"}`, "Idempotency-Key", "delivery-42")
	_, second, _ := hook(url, key, `{"email":"idem@example.com"}`, "Idempotency-Key", "delivery-42")
	if first == "" || first != second {
		t.Fatalf("idempotent deliveries got run ids %q and %q", first, second)
	}
	r.waitRun(t, "grp_dev", first)

	// Run Once: every step's result comes back in the answer.
	var list struct{ HTTPTriggers []struct{ RoutingKey string } }
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+flowID+"/http-triggers", nil, &list)
	var once runView
	r.mustCall(t, 200, "POST", "/v1/groups/grp_dev/run-once", map[string]any{
		"routingKey": list.HTTPTriggers[0].RoutingKey,
		"request":    map[string]any{"body": map[string]any{"email": "test@example.com", "note": false}},
	}, &once)
	if once.Status != "succeeded" || once.Mode != "run_once" || len(once.Steps) != 2 || once.Steps[0].Status != "succeeded" || once.Steps[1].Status != "skipped" {
		t.Fatalf("run once = %+v, want succeeded, step create succeeded and note skipped", once)
	}

	// Replay makes a new Run of the same request.
	var replay struct{ RunID string }
	r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/runs/"+runID+"/replay", nil, &replay)
	if replay.RunID == "" || replay.RunID == runID {
		t.Fatalf("replay run id = %q", replay.RunID)
	}
	rep := r.waitRun(t, "grp_dev", replay.RunID)
	if rep.Status != "succeeded" || rep.Mode != "replay" || rep.ReplayOf != runID {
		t.Fatalf("replayed run = %+v", rep)
	}

	// Runs list, stats and key usage are computed from the same records.
	var page struct{ Runs []runView }
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs?flowId="+flowID+"&status=succeeded", nil, &page)
	if len(page.Runs) != 4 {
		t.Fatalf("succeeded runs = %d, want 4 (webhook, idempotent, run once, replay)", len(page.Runs))
	}
	var stats struct {
		Total struct{ Triggered, Succeeded, Failed int }
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+flowID+"/stats?days=1", nil, &stats)
	if stats.Total.Triggered != 4 || stats.Total.Succeeded != 4 {
		t.Fatalf("stats = %+v, want 4 triggered and succeeded", stats.Total)
	}
	var keys struct{ APIKeys []struct{ ID string } }
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/api-keys", nil, &keys)
	var detail struct {
		LastUsedAt *time.Time
		Flows      []struct{ ID string }
		Usage      []struct{ Calls int }
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/api-keys/"+keys.APIKeys[0].ID, nil, &detail)
	if detail.LastUsedAt == nil || len(detail.Flows) != 1 || detail.Flows[0].ID != flowID || len(detail.Usage) != 1 || detail.Usage[0].Calls != 2 {
		t.Fatalf("key detail = %+v, want used by 2 webhook runs of flow %s", detail, flowID)
	}
}

// TestWalkthroughVerbatim runs the walkthrough the runner prints, as is.
func TestWalkthroughVerbatim(t *testing.T) {
	r := startRunner(t, t.TempDir(), false)
	out := r.Output()
	start, end := strings.Index(out, "# --- walkthrough ---"), strings.Index(out, "# --- end ---")
	if start < 0 || end < start {
		t.Fatalf("no walkthrough in the output:\n%s", out)
	}
	script := out[start:end]
	cmd := exec.Command("bash", "-c", script)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), `"status":"succeeded"`) || !strings.Contains(string(got), `"email":"ada@example.com"`) {
		t.Fatalf("walkthrough did not end with a succeeded Run that called the local target:\n%s", got)
	}
}

// TestKill9LosesNothing kills the runner with SIGKILL under load, restarts
// it on the same data directory and checks that every accepted webhook ends
// as exactly one succeeded Run.
func TestKill9LosesNothing(t *testing.T) {
	dir := t.TempDir()
	// Jobs the killed runner had received come back after the visibility
	// timeout; keep it short so the test does not wait 30 s for them.
	r := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=3s")
	tg := newTarget(t)
	key, url, _ := setupFlow(t, r, tg)

	const total = 400
	var accepted sync.Map // seq → runId
	var nAccepted atomic.Int64
	var wg sync.WaitGroup
	seqs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for seq := range seqs {
				status, id, err := hook(url, key, fmt.Sprintf(`{"email":"u%d@example.com","seq":%d}`, seq, seq))
				if err == nil && status == 202 {
					accepted.Store(seq, id)
					nAccepted.Add(1)
				}
			}
		})
	}
	killed := false
	for seq := range total {
		if !killed && nAccepted.Load() >= 100 {
			r.Kill()
			killed = true
		}
		seqs <- seq
	}
	close(seqs)
	wg.Wait()
	if !killed {
		t.Fatalf("all %d webhooks finished before the kill; raise total", total)
	}
	n := int(nAccepted.Load())
	if n < 100 {
		t.Fatalf("only %d webhooks accepted before the kill", n)
	}

	r2 := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=3s")
	accepted.Range(func(k, v any) bool {
		run := r2.waitRun(t, "grp_dev", v.(string))
		if run.Status != "succeeded" {
			t.Errorf("run %s of webhook %v = %s (%s)", run.ID, k, run.Status, run.Error)
		}
		return true
	})
	// Exactly one Run per accepted webhook: count Runs per seq.
	perSeq := map[float64]int{}
	cursor := ""
	for {
		var page struct {
			Runs       []runView
			NextCursor string
		}
		r2.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs?limit=200&cursor="+cursor, nil, &page)
		for _, run := range page.Runs {
			var body struct{ Seq float64 }
			_ = json.Unmarshal(run.Request.Body, &body)
			perSeq[body.Seq]++
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	accepted.Range(func(k, _ any) bool {
		if c := perSeq[float64(k.(int))]; c != 1 {
			t.Errorf("webhook %d has %d runs, want exactly 1", k, c)
		}
		return true
	})
	for seq, c := range perSeq {
		if c > 1 {
			t.Errorf("webhook %v has %d runs", seq, c)
		}
	}
	t.Logf("%d of %d webhooks accepted before SIGKILL; all ended as exactly one succeeded Run", n, total)
}

// TestGracefulStopFinishesInFlightRuns stops the runner with SIGTERM while
// a step is running: the Run still ends succeeded.
func TestGracefulStopFinishesInFlightRuns(t *testing.T) {
	dir := t.TempDir()
	r := startRunner(t, dir, true)
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		started <- struct{}{}
		time.Sleep(1500 * time.Millisecond)
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer slow.Close()
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "slow", "steps": []any{
		map[string]any{"id": "slow", "app": "http", "method": "request", "input": map[string]any{"url": slow.URL}}}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the step never started")
	}
	r.Stop(t)
	r2 := startRunner(t, dir, true)
	run := r2.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || run.Deliveries != 1 {
		t.Fatalf("run after graceful stop = %+v, want succeeded on its first delivery", run)
	}
}

func triggerID(t *testing.T, r *runner, flowID string) string {
	var list struct{ HTTPTriggers []struct{ ID string } }
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+flowID+"/http-triggers", nil, &list)
	return list.HTTPTriggers[0].ID
}

// TestConnectionLifecycle drives an API-key Connection through the runner's
// API as a user would: the app catalog, create (tested against the runner's
// /dev/whoami stand-in), use in a Flow, delete refused while used, delete.
func TestConnectionLifecycle(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	var apps struct{ Apps []struct{ ID string } }
	r.mustCall(t, 200, "GET", "/v1/apps", nil, &apps)
	if len(apps.Apps) < 10 {
		t.Fatalf("GET /v1/apps lists %d apps, want the whole catalog", len(apps.Apps))
	}
	const secret = "dev-secret-key-123"
	create := map[string]any{"name": "Internal API", "app": "http", "authType": "api_key", "apiKey": secret,
		"config": map[string]string{"base_url": r.URL + "/dev", "test_url": r.URL + "/dev/whoami", "header_name": "X-API-Key", "header_prefix": ""}}
	var raw json.RawMessage
	if got := r.call(t, "POST", "/v1/groups/grp_dev/connections", create, &raw); got != 201 {
		t.Fatalf("create connection = %d %s", got, raw)
	}
	if strings.Contains(string(raw), secret) {
		t.Fatalf("the create answer echoes the API key: %s", raw)
	}
	var c struct{ ID, Status, Account string }
	_ = json.Unmarshal(raw, &c)
	if c.Status != "active" {
		t.Fatalf("connection = %s, want active after its test", raw)
	}
	r.mustCall(t, 200, "POST", "/v1/groups/grp_dev/connections/"+c.ID+"/test", nil, nil)

	// A step that names the Connection sends its key (whoami answers 401
	// without one), and the Run records no secret.
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Uses the API", "steps": []any{
		map[string]any{"id": "call", "app": "http", "method": "request", "connectionId": c.ID, "input": map[string]any{"url": r.URL + "/dev/whoami"}}}}, &f)
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "succeeded" {
		t.Fatalf("run of a step with the Connection = %+v, want succeeded (the key sent)", run)
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs/"+runID, nil, &raw)
	if strings.Contains(string(raw), secret) {
		t.Fatalf("the Run records the Connection's key: %s", raw)
	}

	// An app that echoes the credential (/dev/echo answers with the
	// headers it got) does not get it into the Run, nor into a later step
	// that could carry it elsewhere.
	var echoed struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Echoes the key", "steps": []any{
		map[string]any{"id": "call", "app": "http", "method": "request", "connectionId": c.ID, "input": map[string]any{"url": r.URL + "/dev/echo"}},
		map[string]any{"id": "forward", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": r.URL + "/dev/echo", "body": map[string]any{"got": "{{ steps.call.output }}"}}}}}, &echoed)
	var tr3 struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+echoed.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr3)
	status, runID, err = hook(tr3.URL, k.Key, `{}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "succeeded" {
		t.Fatalf("run of the echoing Flow = %+v, want succeeded", run)
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs/"+runID, nil, &raw)
	if strings.Contains(string(raw), secret) || !strings.Contains(string(raw), "[redacted]") {
		t.Fatalf("the Run of a step whose app echoes the key = %s, want the key [redacted] everywhere", raw)
	}
	r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/flows/"+echoed.ID, nil, nil)

	// A step whose URL comes from the webhook cannot take the credential
	// to another host: the step fails for good and nothing is sent there.
	var attacked atomic.Int32
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { attacked.Add(1) }))
	defer attacker.Close()
	var exfil struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Exfiltrate", "steps": []any{
		map[string]any{"id": "call", "app": "http", "method": "request", "connectionId": c.ID, "input": map[string]any{"url": "{{ trigger.body.url }}"}}}}, &exfil)
	var tr2 struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+exfil.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr2)
	status, runID, err = hook(tr2.URL, k.Key, `{"url":"`+attacker.URL+`/steal"}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	attackHost := strings.TrimPrefix(attacker.URL, "http://")
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "failed" || len(run.Steps) != 1 || !strings.Contains(run.Steps[0].Error, attackHost) {
		t.Fatalf("run of a step pointed at another host = %+v, want failed naming %s", run, attackHost)
	}
	if n := attacked.Load(); n != 0 {
		t.Fatalf("the other host got %d requests, want none", n)
	}
	r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/flows/"+exfil.ID, nil, nil)

	r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers/"+triggerID(t, r, f.ID), nil, nil)
	if got := r.call(t, "DELETE", "/v1/groups/grp_dev/connections/"+c.ID, nil, &raw); got != 409 || !strings.Contains(string(raw), "Uses the API") {
		t.Fatalf("delete of a used connection = %d %s, want 409 naming the Flow", got, raw)
	}
	r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/flows/"+f.ID, nil, nil)
	r.mustCall(t, 204, "DELETE", "/v1/groups/grp_dev/connections/"+c.ID, nil, nil)
	var audit struct{ Events []struct{ Event string } }
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/connections/"+c.ID+"/audit", nil, &audit)
	if len(audit.Events) < 3 {
		t.Fatalf("audit = %+v, want created, tested and deleted at least", audit.Events)
	}
}

// TestAFlowThatCallsItsOwnWebhookStops: each step request carries its hop
// count, the webhook refuses past run.MaxHops with 508 loop_detected, and a
// Flow that fans out into its own webhook is held by the Group's Runs a
// minute.
func TestAFlowThatCallsItsOwnWebhookStops(t *testing.T) {
	const perMinute = 30
	r := startRunner(t, t.TempDir(), true, "WIRESK_GROUP_RUNS_PER_MINUTE="+strconv.Itoa(perMinute), "WIRESK_MAX_RECEIVES=1")
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	selfCalling := func(name string, fanOut int) (flowID string) {
		var f struct{ ID string }
		r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": name, "steps": []any{
			map[string]any{"id": "s0", "app": "http", "method": "request", "input": map[string]any{"url": r.URL + "/dev/echo"}}}}, &f)
		var tr struct{ URL string }
		r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
		var steps []any
		for i := range fanOut {
			steps = append(steps, map[string]any{"id": "s" + strconv.Itoa(i), "app": "http", "method": "request",
				"input": map[string]any{"method": "POST", "url": tr.URL, "headers": map[string]any{"X-API-Key": k.Key}, "body": map[string]any{}}})
		}
		r.mustCall(t, 200, "PUT", "/v1/groups/grp_dev/flows/"+f.ID, map[string]any{"name": name, "steps": steps}, nil)
		status, _, err := hook(tr.URL, k.Key, `{}`)
		if err != nil || status != 202 {
			t.Fatalf("webhook: %d %v", status, err)
		}
		return f.ID
	}
	runsOf := func(flowID string) []runView {
		var page struct{ Runs []runView }
		r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs?limit=200&flowId="+flowID, nil, &page)
		return page.Runs
	}
	settled := func(flowID string, want int) []runView {
		deadline := time.Now().Add(30 * time.Second)
		for {
			runs := runsOf(flowID)
			ended := 0
			for _, run := range runs {
				if run.Status == "succeeded" || run.Status == "failed" {
					ended++
				}
			}
			if ended == len(runs) && len(runs) >= want || time.Now().After(deadline) {
				return runs
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	loop := selfCalling("Calls itself", 1)
	runs := settled(loop, run.MaxHops+1)
	if got, want := len(runs), run.MaxHops+1; got != want {
		t.Fatalf("a Flow calling its own webhook made %d Runs, want %d (the first and %d hops)", got, want, run.MaxHops)
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(runsOf(loop)); got != run.MaxHops+1 {
		t.Fatalf("the loop went on after the hop limit: %d Runs", got)
	}
	stopped := 0
	for _, run := range runs {
		if run.Status == "failed" && len(run.Steps) == 1 && strings.Contains(run.Steps[0].Error, "HTTP 508") && strings.Contains(run.Steps[0].Error, "loop_detected") {
			stopped++
		}
	}
	if stopped != 1 {
		t.Fatalf("%d Runs failed on 508 loop_detected, want exactly the last one: %+v", stopped, runs)
	}

	// Two calls per Run would make 2^11 Runs within the hop limit: the
	// Group's cap holds it to its Runs a minute.
	began := time.Now()
	fan := selfCalling("Fans out into itself", 2)
	limited := false
	for !limited && time.Since(began) < 30*time.Second {
		time.Sleep(100 * time.Millisecond)
		for _, run := range runsOf(fan) {
			for _, s := range run.Steps {
				limited = limited || strings.Contains(s.Error, "HTTP 429") && strings.Contains(s.Error, "rate_limited")
			}
		}
	}
	if !limited {
		t.Fatalf("no step of the fan-out loop was refused with 429 rate_limited: %+v", runsOf(fan))
	}
	// The bucket refills one Run every 60/perMinute s.
	used, limit := len(runs)+len(runsOf(fan)), perMinute+int(time.Since(began)/(time.Minute/perMinute))+1
	if used > limit {
		t.Fatalf("a fan-out loop brought the Group to %d Runs in %v, want at most %d (its cap)", used, time.Since(began).Round(time.Millisecond), limit)
	}
}

// TestAWorkerKilledBetweenTheCallAndTheCheckpoint kills the runner while
// its step's request is at the target, before the answer is recorded. The
// Run is taken up again after a restart: the target sees the step twice
// with the same Idempotency-Key (so it can drop the copy), and the Run
// shows two attempts, one interrupted, instead of a silent duplicate.
func TestAWorkerKilledBetweenTheCallAndTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	r := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=2s")
	var mu sync.Mutex
	var keys []string
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		keys = append(keys, req.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			r.Kill() // the request has arrived; its answer never will
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"charged":true}`)
	}))
	t.Cleanup(tg.Close)
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Charge", "steps": []any{
		map[string]any{"id": "charge", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": tg.URL + "/charges", "body": map[string]any{}}}}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	<-r.done

	r2 := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=2s")
	run := r2.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || len(run.Steps) != 1 {
		t.Fatalf("run after the restart = %+v, want succeeded", run)
	}
	if st := run.Steps[0]; st.Attempts != 2 || st.Interrupted != 1 {
		t.Errorf("step recorded %d attempts, %d interrupted; want 2 attempts, 1 interrupted (the target got it twice)", st.Attempts, st.Interrupted)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("the target got Idempotency-Keys %q, want the same key twice", keys)
	}
}

// TestDataStepsShapeAndFilterARun: data/set shapes fields for later steps,
// data/filter stops the Run (status filtered, later steps not run) when its
// condition is false, and the Flow's statistics count it.
func TestDataStepsShapeAndFilterARun(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var raw json.RawMessage
	bad := map[string]any{"name": "No condition", "steps": []any{map[string]any{"id": "only", "app": "data", "method": "filter", "input": map[string]any{}}}}
	if got := r.call(t, "POST", "/v1/groups/grp_dev/flows", bad, &raw); got != 400 || !strings.Contains(string(raw), "steps[0].input.pass") {
		t.Fatalf("a filter without a condition = %d %s, want 400 naming steps[0].input.pass", got, raw)
	}
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Big orders", "steps": []any{
		map[string]any{"id": "shape", "app": "data", "method": "set", "input": map[string]any{"fields": map[string]any{
			"email": "{{ lower(trigger.body.email) }}", "big": "{{ trigger.body.amount > 100 }}"}}},
		map[string]any{"id": "only_big", "app": "data", "method": "filter", "input": map[string]any{"pass": "{{ steps.shape.output.big }}"}},
		map[string]any{"id": "notify", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": r.URL + "/dev/echo",
			"body": map[string]any{"email": "{{ steps.shape.output.email }}"}}},
	}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)

	_, small, err := hook(tr.URL, k.Key, `{"email":"Ada@Example.com","amount":50}`)
	if err != nil {
		t.Fatal(err)
	}
	if run := r.waitRun(t, "grp_dev", small); run.Status != "filtered" || len(run.Steps) != 2 || run.Steps[1].Output["passed"] != false {
		t.Fatalf("a small order's Run = %+v, want filtered after 2 steps, the filter's output passed=false", run)
	}
	_, big, err := hook(tr.URL, k.Key, `{"email":"Ada@Example.com","amount":500}`)
	if err != nil {
		t.Fatal(err)
	}
	run := r.waitRun(t, "grp_dev", big)
	if run.Status != "succeeded" || len(run.Steps) != 3 {
		t.Fatalf("a big order's Run = %+v, want succeeded with 3 steps", run)
	}
	if got := mustMarshal(run.Steps[2].Output["body"]); !strings.Contains(got, `"email":"ada@example.com"`) {
		t.Errorf("the notify step sent %s, want the shaped email ada@example.com", got)
	}
	var stats struct {
		Total struct{ Triggered, Succeeded, Filtered int }
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+f.ID+"/stats", nil, &stats)
	if stats.Total.Triggered != 2 || stats.Total.Succeeded != 1 || stats.Total.Filtered != 1 {
		t.Errorf("stats total = %+v, want 2 triggered, 1 succeeded, 1 filtered", stats.Total)
	}
}

// TestAKilledWorkerResumesAfterItsLastCheckpoint kills the runner while
// step 2 of a 3-step Flow is at its app. After the restart the Run resumes
// there: step 1 is never sent again, step 2 is sent again with the same
// Idempotency-Key (so an app that honours it acts once), step 3 once.
func TestAKilledWorkerResumesAfterItsLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	r := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=2s")
	var mu sync.Mutex
	calls := map[string]int{}
	keys := map[string]map[string]bool{}
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		calls[req.URL.Path]++
		if keys[req.URL.Path] == nil {
			keys[req.URL.Path] = map[string]bool{}
		}
		keys[req.URL.Path][req.Header.Get("Idempotency-Key")] = true
		kill := req.URL.Path == "/two" && calls["/two"] == 1
		mu.Unlock()
		if kill {
			r.Kill()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(tg.Close)
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var steps []any
	for _, id := range []string{"one", "two", "three"} {
		steps = append(steps, map[string]any{"id": id, "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": tg.URL + "/" + id, "body": map[string]any{}}})
	}
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Three steps", "steps": steps}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	status, runID, err := hook(tr.URL, k.Key, `{}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook: %d %v", status, err)
	}
	<-r.done

	r2 := startRunner(t, dir, true, "WIRESK_VISIBILITY_TIMEOUT=2s")
	if run := r2.waitRun(t, "grp_dev", runID); run.Status != "succeeded" || len(run.Steps) != 3 {
		t.Fatalf("run after the restart = %+v, want succeeded with 3 steps", run)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["/one"] != 1 || calls["/three"] != 1 {
		t.Errorf("steps one and three reached their app %d and %d times, want once each", calls["/one"], calls["/three"])
	}
	if calls["/two"] != 2 || len(keys["/two"]) != 1 {
		t.Errorf("step two reached its app %d times with %d keys, want twice (the kill lost the first answer) with one Idempotency-Key", calls["/two"], len(keys["/two"]))
	}
}

// TestAnAppThatRefusesTheCredentialBreaksTheConnection: a step whose app
// answers 401 has its Connection re-tested at once; the app refuses the
// key there too, so the Connection is broken, the Run says to reconnect,
// and the next Run of a Flow using it fails at once without calling the app.
func TestAnAppThatRefusesTheCredentialBreaksTheConnection(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	var refuse atomic.Bool
	var calls atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/api/items" {
			calls.Add(1)
		}
		if refuse.Load() || req.Header.Get("X-API-Key") != "key-123456" {
			http.Error(w, `{"error":"invalid api key"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"user":"ada@example.com","ok":true}`)
	}))
	t.Cleanup(app.Close)
	var c struct{ ID, Status string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/connections", map[string]any{"name": "Items API", "app": "http", "authType": "api_key", "apiKey": "key-123456",
		"config": map[string]string{"base_url": app.URL + "/api", "test_url": app.URL + "/api/whoami", "header_name": "X-API-Key", "header_prefix": ""}}, &c)
	if c.Status != "active" {
		t.Fatalf("connection = %+v, want active", c)
	}
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Items", "steps": []any{
		map[string]any{"id": "list", "app": "http", "method": "request", "connectionId": c.ID, "input": map[string]any{"url": app.URL + "/api/items"}}}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)

	refuse.Store(true) // the key was revoked at the app
	_, runID, err := hook(tr.URL, k.Key, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "failed" || !strings.Contains(run.Error, "reconnect") {
		t.Fatalf("run of a step the app refused = %+v, want failed saying to reconnect", run)
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/connections/"+c.ID, nil, &c)
	if c.Status != "broken" {
		t.Fatalf("connection after the app refused its key = %q, want broken", c.Status)
	}
	before := calls.Load()
	_, runID, err = hook(tr.URL, k.Key, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "failed" || !strings.Contains(run.Error, "broken") {
		t.Fatalf("next run = %+v, want failed at once: the connection is broken", run)
	}
	if n := calls.Load(); n != before {
		t.Errorf("the app was called %d more times, want none: a broken Connection sends nothing", n-before)
	}
}
