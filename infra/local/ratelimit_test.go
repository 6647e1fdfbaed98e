package main_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestAKeyOverItsCapGets429WhileOthersRunOn loads one Group's webhook
// with two keys at once: the key capped at 20 Runs a minute (set with
// PATCH) gets 20 202s and then 429 rate_limited with Retry-After, and the
// other key, sending as much at the same time, is never refused.
func TestAKeyOverItsCapGets429WhileOthersRunOn(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	tg := newTarget(t)
	var capped, free struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "partner", "runsPerMinute": 100}, &capped)
	var patched struct{ RunsPerMinute int }
	r.mustCall(t, 200, "PATCH", "/v1/groups/grp_dev/api-keys/"+capped.ID, map[string]any{"runsPerMinute": 20}, &patched)
	if patched.RunsPerMinute != 20 {
		t.Fatalf("PATCH runsPerMinute answered %d, want 20", patched.RunsPerMinute)
	}
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "crm"}, &free)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": "Load",
		"steps": []any{map[string]any{"id": "post", "app": "http", "method": "request", "input": map[string]any{"method": "POST", "url": tg.URL + "/x"}}}}, &f)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{capped.ID, free.ID}}, &tr)

	const perKey, conns = 100, 16
	type result struct {
		status     int
		retryAfter string
		code       string
	}
	results := map[string][]result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for range conns {
		wg.Go(func() {
			for key := range work {
				req, _ := http.NewRequest("POST", tr.URL, strings.NewReader(`{"n":1}`))
				req.Header.Set("X-API-Key", key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				results[key] = append(results[key], result{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)})
				mu.Unlock()
			}
		})
	}
	for range perKey {
		work <- capped.Key
		work <- free.Key
	}
	close(work)
	wg.Wait()

	count := func(key string) (accepted, limited int) {
		for _, res := range results[key] {
			switch res.status {
			case http.StatusAccepted:
				accepted++
			case http.StatusTooManyRequests:
				limited++
				if res.retryAfter == "" || !strings.Contains(res.code, `"rate_limited"`) || !strings.Contains(res.code, "API key") {
					t.Errorf("a 429 without Retry-After or naming the key: %q %s", res.retryAfter, res.code)
				}
			default:
				t.Errorf("unexpected answer %d %s", res.status, res.code)
			}
		}
		return accepted, limited
	}
	if a, l := count(capped.Key); a != 20 || l != perKey-20 {
		t.Errorf("the capped key: %d accepted, %d refused; want 20 and %d", a, l, perKey-20)
	}
	if a, l := count(free.Key); a != perKey || l != 0 {
		t.Errorf("the other key: %d accepted, %d refused; want all %d accepted", a, l, perKey)
	}
	t.Logf("capped key: 20 accepted then 429 (Retry-After %s); other key: %d accepted", results[capped.Key][len(results[capped.Key])-1].retryAfter, perKey)
}
