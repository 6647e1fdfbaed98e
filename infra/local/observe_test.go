package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flaky answers 500 to the first delivery's calls (the HTTP step tries
// three times), echoing the headers it got (the Connection's key among
// them), then 200.
func flaky(t *testing.T) *httptest.Server {
	var calls atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"headers": r.Header})
	}))
	t.Cleanup(s.Close)
	return s
}

// logLines returns the runner's output lines that are not its banner: each
// must be a JSON object.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "wiresk listening on ") || strings.HasPrefix(l, "TOKEN=") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("a log line is not JSON: %q", l)
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

// TestLogsCarryIDsAndNoSecret runs webhooks (one with an API key, one
// signed, one refused) into a Flow whose step sends a Connection's key to
// an app that echoes it in a failure, then retries, with the runner's logs
// at debug and its metrics on: no API key, Connection key, signing secret
// or JWT is in the output, every line is JSON, the worker's lines name
// the Run, Group and Flow, the HTTP lines their request id, and the
// metrics of what happened are there.
func TestLogsCarryIDsAndNoSecret(t *testing.T) {
	r := startRunner(t, t.TempDir(), true, "WIRESK_LOG_LEVEL=debug", "WIRESK_METRICS_NAMESPACE=Wiresk/local")
	app := flaky(t)
	const connKey = "conn-key-5f1c2b9e7a"
	const signingSecret = "signing-secret-93b0de41"
	var c struct{ ID, Status string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/connections", map[string]any{"name": "Flaky API", "app": "http", "authType": "api_key", "apiKey": connKey,
		"config": map[string]string{"base_url": app.URL, "test_url": r.URL + "/dev/whoami", "header_name": "X-API-Key", "header_prefix": ""}}, &c)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Calls the flaky API", "steps": []any{
		map[string]any{"id": "call", "app": "http", "method": "request", "connectionId": c.ID, "input": map[string]any{"url": app.URL + "/x"}}}}, &f)
	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "k"}, &k)
	var keyed, signed struct{ ID, URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &keyed)
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers",
		map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": signingSecret}}, &signed)

	status, runID, err := hook(keyed.URL, k.Key, `{"n":1}`)
	if err != nil || status != 202 {
		t.Fatalf("webhook with the key: %d %v", status, err)
	}
	if run := r.waitRun(t, "grp_dev", runID); run.Status != "succeeded" || run.Deliveries != 2 {
		t.Fatalf("run = %+v, want succeeded on its second delivery", run)
	}
	body := `{"n":2}`
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte(body))
	status, signedRun, err := hook(signed.URL, "", body, "X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	if err != nil || status != 202 {
		t.Fatalf("signed webhook: %d %v", status, err)
	}
	r.waitRun(t, "grp_dev", signedRun)
	if status, _, _ := hook(keyed.URL, k.Key[:len(k.Key)-1]+"x", `{}`); status != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong key: %d, want 401", status)
	}

	var lines []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The metrics of the last Run are written once it is recorded.
		lines = logLines(t, r.Output())
		if n := countMetric(lines, "RunsFinished", "Outcome", "succeeded"); n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The banner prints the development JWT, on purpose: the rest is logs.
	out := strings.Replace(r.Output(), "TOKEN="+r.Token+"\n", "", 1)
	for name, secret := range map[string]string{"the API key": k.Key, "the Connection's key": connKey, "the signing secret": signingSecret, "the JWT": r.Token} {
		if strings.Contains(out, secret) {
			t.Errorf("the runner's output holds %s", name)
		}
	}

	// The worker's failed delivery is logged with the Run's ids; the
	// request that created the Connection with its request id.
	var failed, created map[string]any
	for _, l := range lines {
		switch l["msg"] {
		case "run failed":
			failed = l
		case "connection created":
			created = l
		}
	}
	if failed == nil {
		t.Fatalf("no \"run failed\" line for the first delivery:\n%s", out)
	}
	for key, want := range map[string]string{"runId": runID, "groupId": "grp_dev", "flowId": f.ID, "triggerId": keyed.ID} {
		if failed[key] != want {
			t.Errorf("run failed line: %s = %v, want %s: %v", key, failed[key], want, failed)
		}
	}
	if id, _ := failed["messageId"].(string); id == "" {
		t.Errorf("run failed line without the message id: %v", failed)
	}
	if created == nil || created["requestId"] == nil || created["requestId"] == "" {
		t.Errorf("connection created line without a request id: %v", created)
	}

	for _, m := range []struct{ name, dim, value string }{
		{"WebhooksAccepted", "", ""},
		{"WebhooksRefused", "Reason", "invalid_api_key"},
		{"RunsFinished", "Outcome", "succeeded"},
		{"StepDuration", "App", "http"},
	} {
		if countMetric(lines, m.name, m.dim, m.value) == 0 {
			t.Errorf("no %s %s=%s metric in the output:\n%s", m.name, m.dim, m.value, out)
		}
	}
	if n := countMetric(lines, "WebhooksAccepted", "", ""); n != 2 {
		t.Errorf("WebhooksAccepted: %d, want 2", n)
	}
}

// countMetric counts the EMF lines of metric name in namespace
// Wiresk/local (with dimension dim=value, if dim is set).
func countMetric(lines []map[string]any, name, dim, value string) int {
	n := 0
	for _, l := range lines {
		aws, ok := l["_aws"].(map[string]any)
		if !ok {
			continue
		}
		b, _ := json.Marshal(aws["CloudWatchMetrics"])
		if !strings.Contains(string(b), `"Namespace":"Wiresk/local"`) || !strings.Contains(string(b), fmt.Sprintf(`"Name":%q`, name)) {
			continue
		}
		if dim == "" || l[dim] == value {
			n++
		}
	}
	return n
}
