package step_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"wiresk/internal/step"
)

// TestIdempotencyKeyOnEveryAttempt: the key the worker puts in the context
// is sent on the first try and on every retry, and a step's own
// Idempotency-Key header wins.
func TestIdempotencyKeyOnEveryAttempt(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Idempotency-Key"))
		n := len(got)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	key := step.IdempotencyKey("run_1", "create")
	if key == step.IdempotencyKey("run_2", "create") || key == step.IdempotencyKey("run_1", "note") || len(key) != 32 {
		t.Fatalf("keys are not distinct 32-digit values: %q", key)
	}
	ctx := step.WithIdempotencyKey(t.Context(), key)
	res, err := newKind(t).Execute(ctx, map[string]any{"method": "POST", "url": srv.URL, "body": map[string]any{"a": 1}})
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Execute = %+v, %v; want success on the second try", res, err)
	}
	if len(got) != 2 || got[0] != key || got[1] != key {
		t.Fatalf("Idempotency-Key headers = %q, want %q on both tries", got, key)
	}
	got = nil
	if _, err := newKind(t).Execute(ctx, map[string]any{"url": srv.URL, "headers": map[string]any{"Idempotency-Key": "mine"}}); err != nil && len(got) == 0 {
		t.Fatal(err)
	}
	if got[0] != "mine" {
		t.Fatalf("a step's own Idempotency-Key = %q, want it kept", got[0])
	}
}
