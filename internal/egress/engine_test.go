package egress_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/egress"
)

// loopback returns an Engine allowed to reach httptest servers, with short
// backoffs.
func loopback(t *testing.T) *egress.Engine {
	t.Helper()
	g, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return &egress.Engine{Guard: g, BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond}
}

// byStatus judges an answer by its status alone.
func byStatus(r *egress.Response) egress.Verdict {
	if r.Status < 400 {
		return egress.Verdict{}
	}
	return egress.Verdict{Err: errors.New(http.StatusText(r.Status)), Retry: egress.Retryable(r.Status)}
}

func request(t *testing.T, raw string) *egress.Request {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &egress.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 408: true, 429: true, 500: true, 502: true, 503: true, 508: false} {
		if got := egress.Retryable(status); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestDoRetriesTransientAnswersOnly(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   int32
	}{{http.StatusServiceUnavailable, 3}, {http.StatusTooManyRequests, 3}, {http.StatusLoopDetected, 1}, {http.StatusNotFound, 1}} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.WriteHeader(tt.status)
		}))
		_, attempts, err := loopback(t).Do(context.Background(), request(t, srv.URL), byStatus)
		srv.Close()
		if err == nil || hits.Load() != tt.want || int32(attempts) != tt.want {
			t.Errorf("HTTP %d: err = %v, %d requests, %d attempts; want a failure after %d", tt.status, err, hits.Load(), attempts, tt.want)
		}
	}
}

func TestPinnedRequestStaysOnItsHost(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer other.Close()
	// The same server under another host name: 127.0.0.1 vs localhost.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
	defer srv.Close()

	req := request(t, srv.URL)
	req.Pinned = true
	_, attempts, err := loopback(t).Do(context.Background(), req, byStatus)
	var re *egress.RedirectError
	if !errors.As(err, &re) || attempts != 1 || hits.Load() != 0 {
		t.Fatalf("pinned: err = %v, %d attempts, other host got %d requests; want the redirect refused at once", err, attempts, hits.Load())
	}
	req.Pinned = false
	if _, _, err := loopback(t).Do(context.Background(), req, byStatus); err != nil || hits.Load() != 1 {
		t.Fatalf("not pinned: err = %v, other host got %d requests; want the redirect followed", err, hits.Load())
	}
}

func TestPinnedRequestIsNotDowngradedToHTTP(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	defer srv.Close()

	e := loopback(t)
	e.Client = egress.NewClient(e.Guard)
	e.Client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	req := request(t, srv.URL)
	req.Pinned = true
	_, _, err := e.Do(context.Background(), req, byStatus)
	var re *egress.RedirectError
	if !errors.As(err, &re) || hits.Load() != 0 {
		t.Fatalf("err = %v, the http server got %d requests; want the redirect from https to http refused", err, hits.Load())
	}
}

func TestErrorsHoldNoSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Close() // connection refused
	req := request(t, srv.URL+"/p?key=secret-in-query")
	req.Secrets = []string{"secret-in-query"}
	e := loopback(t)
	e.MaxAttempts = 2
	_, attempts, err := e.Do(context.Background(), req, byStatus)
	if err == nil || attempts != 2 {
		t.Fatalf("err = %v after %d attempts, want a failure after 2", err, attempts)
	}
	if strings.Contains(err.Error(), "secret-in-query") {
		t.Errorf("err = %q, want no secret", err)
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		if strings.Contains(u.Error(), "secret-in-query") {
			t.Errorf("cause %q holds the secret", u)
		}
	}
}

func TestStopBeforeDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	e := loopback(t)
	e.MaxDelay = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := request(t, srv.URL)
	req.StopBeforeDeadline = true
	judge := func(r *egress.Response) egress.Verdict {
		v := byStatus(r)
		v.HonourRetryAfter = true
		return v
	}
	start := time.Now()
	_, attempts, err := e.Do(ctx, req, judge)
	var in *egress.Interrupted
	if !errors.As(err, &in) || in.Stage != egress.NotRetried || attempts != 1 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("err = %v after %d attempts and %v, want NotRetried at once", err, attempts, time.Since(start))
	}
}

func TestVerdictWaitStandsInForAMissingRetryAfter(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 2 {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	e := loopback(t)
	e.MaxDelay = 0 // the default, 30 s
	var waits []time.Duration
	e.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	documented := func(r *egress.Response) egress.Verdict {
		return egress.Verdict{Err: errors.New("rate limited"), Retry: true, HonourRetryAfter: true, Wait: 40 * time.Second}
	}
	_, attempts, err := e.Do(context.Background(), request(t, srv.URL), documented)
	if err == nil || attempts != 3 {
		t.Fatalf("err %v, attempts %d; want a failure after 3", err, attempts)
	}
	// No Retry-After: the verdict's wait, capped at MaxDelay; then the
	// header's 3 s.
	if len(waits) != 2 || waits[0] != egress.DefaultMaxDelay || waits[1] != 3*time.Second {
		t.Errorf("waits = %v, want [%v 3s]", waits, egress.DefaultMaxDelay)
	}
}
