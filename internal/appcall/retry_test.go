package appcall_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/appcall"
)

func TestRetryAfterAsHTTPDate(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "notion")
	f.Throttle(1, time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
	start := time.Now()
	res, err := c.Test(context.Background(), app, nil, credential(app, f.Token))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Attempts, 2; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
	// An HTTP date has whole seconds: two seconds from now is one to two
	// seconds away.
	if elapsed < 900*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("Test took %v, want the 1 to 2 s the date asked for", elapsed)
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	c.MaxDelay = 50 * time.Millisecond
	app, f := e.app(t, "slack")
	f.Throttle(1, "3600")
	start := time.Now()
	res, err := c.Test(context.Background(), app, nil, credential(app, f.Token))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Attempts, 2; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Test took %v, want the wait capped at MaxDelay", elapsed)
	}
}

func TestRetryAfterBeyondTheDeadline(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	c.MaxDelay = time.Minute
	app, f := e.app(t, "hubspot")
	f.Throttle(1, "30")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	res, err := c.Test(ctx, app, nil, credential(app, f.Token))
	if !errors.Is(err, appcall.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Test took %v, want it to give up at once rather than wait past the deadline", elapsed)
	}
	var ae *appcall.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err is %T, want *appcall.Error", err)
	}
	if got, want := ae.RetryAfter, 30*time.Second; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	if got, want := res.Attempts, 1; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
}

func TestServiceUnavailableIsRetried(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "airtable")
	f.Fail(2, http.StatusServiceUnavailable, "0")
	res, err := c.Test(context.Background(), app, nil, credential(app, f.Token))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Attempts, 3; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}

	f.Fail(-1, http.StatusInternalServerError, "")
	res, err = c.Test(context.Background(), app, nil, credential(app, f.Token))
	if !errors.Is(err, appcall.ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
	if got, want := res.Attempts, c.MaxAttempts; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, _ := e.app(t, "http")
	cred := appcall.Credential{Kind: appcall.CredentialNone}

	t.Run("connection dropped once", func(t *testing.T) {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		res, err := c.Test(context.Background(), app, map[string]string{"test_url": srv.URL + "/ping"}, cred)
		if err != nil {
			t.Fatalf("Test: %v", err)
		}
		if res.Attempts < 2 {
			t.Errorf("Attempts = %d, want at least 2", res.Attempts)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		res, err := c.Test(context.Background(), app, map[string]string{"test_url": "http://" + addr + "/ping?key=secret-in-query"}, cred)
		if !errors.Is(err, appcall.ErrTransient) {
			t.Fatalf("err = %v, want ErrTransient", err)
		}
		if got, want := res.Attempts, c.MaxAttempts; got != want {
			t.Errorf("Attempts = %d, want %d", got, want)
		}
		if got, want := res.Status, 0; got != want {
			t.Errorf("Status = %d, want %d", got, want)
		}
		checkNoSecret(t, res, err, "secret-in-query")
	})
}

func TestCancelledWhileWaiting(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "openai")
	f.Throttle(-1, "2")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.Test(ctx, app, nil, credential(app, f.Token))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	app, f := e.app(t, "http")
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.RedirectHandler(other.URL+"/steal", http.StatusFound))
	defer redirector.Close()

	config := map[string]string{"test_url": redirector.URL + "/v1/me", "header_name": "X-API-Key", "header_prefix": ""}
	res, err := c.Test(context.Background(), app, config, credential(app, f.Token))
	if !errors.Is(err, appcall.ErrPermanent) {
		t.Fatalf("err = %v, want ErrPermanent", err)
	}
	if got, want := hits.Load(), int32(0); got != want {
		t.Errorf("the other host got %d requests, want %d", got, want)
	}
	if !strings.Contains(res.Message, "another host") {
		t.Errorf("Message = %q, want it to say the redirect left the host", res.Message)
	}
	checkNoSecret(t, res, err, f.Token)
}

// recordSleeps makes c record the waits its retrier asks for instead of
// waiting them.
func recordSleeps(c *appcall.Client) *[]time.Duration {
	var waits []time.Duration
	c.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return &waits
}

func TestRateLimitWaitIsTheAppsDocumentedWait(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "airtable")
	if got, want := app.Errors.RateLimitWait, 30*time.Second; got != want {
		t.Fatalf("airtable errors.rate_limit_wait = %v, want Airtable's documented %v", got, want)
	}
	c := loopbackClient(t)
	c.MaxDelay = 0 // the default cap, 30 s
	waits := recordSleeps(c)

	// Airtable's 429 has no Retry-After: the retrier waits the 30 s
	// Airtable documents, not a short backoff that would fail again.
	f.Throttle(1, "")
	res, err := c.Test(context.Background(), app, nil, credential(app, f.Token))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *waits, []time.Duration{30 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if got, want := res.Attempts, 2; got != want {
		t.Errorf("Attempts = %d, want %d", got, want)
	}

	// A Retry-After, when one comes, is what the answer asks for.
	*waits = nil
	f.Throttle(1, "2")
	if _, err := c.Test(context.Background(), app, nil, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	if got, want := *waits, []time.Duration{2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("with Retry-After 2: waits = %v, want %v", got, want)
	}

	// The cap still holds.
	*waits = nil
	c.MaxDelay = 10 * time.Second
	f.Throttle(1, "")
	if _, err := c.Test(context.Background(), app, nil, credential(app, f.Token)); err != nil {
		t.Fatal(err)
	}
	if got, want := *waits, []time.Duration{10 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("MaxDelay 10s: waits = %v, want %v", got, want)
	}

	// An app that documents no wait backs off as before.
	other, g := e.app(t, "hubspot")
	*waits = nil
	c.MaxDelay = 0
	g.Throttle(1, "")
	if _, err := c.Test(context.Background(), other, nil, credential(other, g.Token)); err != nil {
		t.Fatal(err)
	}
	if len(*waits) != 1 || (*waits)[0] > c.BaseDelay {
		t.Errorf("hubspot waits = %v, want one backoff of at most %v", *waits, c.BaseDelay)
	}
}

func TestRateLimitWaitBeyondTheDeadline(t *testing.T) {
	e := newEnv(t)
	app, f := e.app(t, "airtable")
	c := loopbackClient(t)
	c.MaxDelay = time.Minute
	waits := recordSleeps(c)
	f.Throttle(-1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Test(ctx, app, nil, credential(app, f.Token))
	if !errors.Is(err, appcall.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if len(*waits) != 0 || res.Attempts != 1 {
		t.Errorf("waits %v, attempts %d; want no wait and 1 attempt when the 30 s outlast the deadline", *waits, res.Attempts)
	}
	var ae *appcall.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err is %T, want *appcall.Error", err)
	}
	// The caller reschedules after the documented wait.
	if got, want := ae.RetryAfter, 30*time.Second; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	if !strings.Contains(ae.Message, "Airtable documents a wait of 30s") {
		t.Errorf("message %q, want it to say Airtable's wait", ae.Message)
	}
}
