package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/ratelimit"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
)

// lookup is a fake store: Lookup through a function field.
type lookup struct {
	fn func(ctx context.Context, h apikey.Hash, rk string) (*apikey.Key, *trigger.Route, error)
}

func (l lookup) Lookup(ctx context.Context, h apikey.Hash, rk string) (*apikey.Key, *trigger.Route, error) {
	return l.fn(ctx, h, rk)
}

// enqueuer is a fake queue: Send through a function field.
type enqueuer struct {
	fn func(ctx context.Context, body []byte, attrs map[string]string) (string, error)
}

func (e enqueuer) Send(ctx context.Context, body []byte, attrs map[string]string) (string, error) {
	return e.fn(ctx, body, attrs)
}

// fakeIngress returns a Hooks handler over in-memory adapters that know one
// key and one route, and counts what was enqueued.
func fakeIngress(tb testing.TB, send func() error) (h *httpapi.Hooks, key, routingKey string, sent *atomic.Int64) {
	tb.Helper()
	key, hash, err := apikey.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	routingKey, err = trigger.NewRoutingKey()
	if err != nil {
		tb.Fatal(err)
	}
	k := &apikey.Key{ID: "key_1", GroupID: "grp_a", Hash: hash}
	route := &trigger.Route{RoutingKey: routingKey, GroupID: "grp_a", FlowID: "flw_1", TriggerID: "trg_1", APIKeyIDs: []string{"key_1"}, Enabled: true}
	sent = new(atomic.Int64)
	store := lookup{fn: func(_ context.Context, h apikey.Hash, rk string) (*apikey.Key, *trigger.Route, error) {
		var kk *apikey.Key
		var rr *trigger.Route
		if h == hash {
			kk = k
		}
		if rk == routingKey {
			rr = route
		}
		return kk, rr, nil
	}}
	q := enqueuer{fn: func(context.Context, []byte, map[string]string) (string, error) {
		if err := send(); err != nil {
			return "", err
		}
		sent.Add(1)
		return "m", nil
	}}
	return &httpapi.Hooks{Ingest: &ingest.Service{Store: store, Queue: q}}, key, routingKey, sent
}

func TestQueueDownAnswers503AndNever202(t *testing.T) {
	h, key, rk, sent := fakeIngress(t, func() error { return errors.New("connection refused") })
	req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(`{"a":1}`))
	req.Header.Set("X-API-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("got %d %s, want 503 unavailable", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "connection refused") {
		t.Fatalf("the low-level error leaked: %s", rec.Body)
	}
	if sent.Load() != 0 {
		t.Fatal("counted as sent")
	}
}

func TestBearerKeyAccepted(t *testing.T) {
	h, key, rk, sent := fakeIngress(t, func() error { return nil })
	req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"runId":"run_`) || sent.Load() != 1 {
		t.Fatalf("got %d %s (sent %d), want 202 with a runId", rec.Code, rec.Body, sent.Load())
	}
}

// BenchmarkIngressHandler measures the webhook handler in process with
// in-memory adapters and a 1 KiB JSON body (target: ≤ 20 µs, ≤ 60 allocs).
func BenchmarkIngressHandler(b *testing.B) {
	h, key, rk, _ := fakeIngress(b, func() error { return nil })
	body := `{"email":"ada@example.com","payload":"` + strings.Repeat("x", 1024-40) + `"}`
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// FuzzIngress feeds arbitrary paths, keys, headers and bodies to the
// webhook handler: it must never panic, answer only documented statuses,
// and answer 202 only when the message was enqueued.
func FuzzIngress(f *testing.F) {
	h, key, rk, sent := fakeIngress(f, func() error { return nil })
	f.Add("/v1/hooks/"+rk, key, "", `{"a":1}`, "")
	f.Add("/v1/hooks/"+rk, "", "Bearer "+key, "x=1&y=2", "abc")
	f.Add("/v1/hooks/"+rk+"/x", key, "", "", "")
	f.Add("/v1/hooks/", "wsk_", "Bearer", "\x00\xff", "")
	f.Add("/v1/hooks/%2e%2e", key[:20], "Basic abc", strings.Repeat("{", 2000), strings.Repeat("k", 300))
	f.Add("/v1/hooks/"+rk, key, "", strings.Repeat("[", 10000)+strings.Repeat("]", 10000), "") // too deep
	allowed := map[int]bool{202: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, path, xKey, authz, body, idem string) {
		req := httptest.NewRequest("POST", "http://x/", strings.NewReader(body))
		req.URL.Path = path // any path, as a raw server could hand it over
		for name, v := range map[string]string{"X-API-Key": xKey, "Authorization": authz, "Idempotency-Key": idem} {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				req.Header.Set(name, v)
			}
		}
		before := sent.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if (rec.Code == 202) != (sent.Load() == before+1) {
			t.Fatalf("status %d but enqueued %d", rec.Code, sent.Load()-before)
		}
	})
}

func TestHopCountUpToTheLimitIsAccepted(t *testing.T) {
	h, key, rk, sent := fakeIngress(t, func() error { return nil })
	for _, hop := range []string{"0", "1", strconv.Itoa(run.MaxHops)} {
		req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(`{}`))
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Wiresk-Hop", hop)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Errorf("Wiresk-Hop: %s = %d %s, want 202", hop, rec.Code, rec.Body)
		}
	}
	if got, want := sent.Load(), int64(3); got != want {
		t.Errorf("enqueued %d, want %d", got, want)
	}
}

func TestGroupOverItsRunsPerMinuteGets429WithRetryAfter(t *testing.T) {
	h, key, rk, sent := fakeIngress(t, func() error { return nil })
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	svc := h.Ingest.(*ingest.Service)
	svc.Limit, svc.Now = &ratelimit.Limits{Group: 5}, func() time.Time { return now }
	codes := map[int]int{}
	var last *httptest.ResponseRecorder
	for range 8 {
		req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(`{}`))
		req.Header.Set("X-API-Key", key)
		last = httptest.NewRecorder()
		h.ServeHTTP(last, req)
		codes[last.Code]++
	}
	if codes[202] != 5 || codes[429] != 3 || sent.Load() != 5 {
		t.Fatalf("8 webhooks at a cap of 5/min = %v (enqueued %d), want 5×202 then 3×429, 5 enqueued", codes, sent.Load())
	}
	if !strings.Contains(last.Body.String(), `"code":"rate_limited"`) {
		t.Errorf("429 body = %s, want code rate_limited", last.Body)
	}
	// 5 a minute refill one every 12 s.
	if got := last.Header().Get("Retry-After"); got != "12" {
		t.Errorf("Retry-After = %q, want 12 (seconds until the next Run is allowed)", got)
	}
	now = now.Add(12 * time.Second)
	req := httptest.NewRequest("POST", "/v1/hooks/"+rk, strings.NewReader(`{}`))
	req.Header.Set("X-API-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Errorf("after waiting Retry-After: %d %s, want 202", rec.Code, rec.Body)
	}
}
