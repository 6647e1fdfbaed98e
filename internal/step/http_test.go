package step_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wiresk/internal/egress"
	"wiresk/internal/step"
)

// newKind returns an HTTP kind for tests: httptest servers listen on
// 127.0.0.1, so the guard allows 127.0.0.0/8; delays are short.
func newKind(t *testing.T) *step.HTTP {
	t.Helper()
	g, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return &step.HTTP{Engine: egress.Engine{Guard: g, BaseDelay: 5 * time.Millisecond, MaxDelay: 3 * time.Second, Timeout: 5 * time.Second}}
}

// recorder is a test server that answers with the handlers in turn (the
// last one repeatedly) and records when requests came.
type recorder struct {
	mu    sync.Mutex
	times []time.Time
	reqs  []*http.Request
	body  [][]byte
}

func serve(t *testing.T, handlers ...http.HandlerFunc) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		n := len(rec.reqs)
		rec.times = append(rec.times, time.Now())
		rec.reqs = append(rec.reqs, r)
		rec.body = append(rec.body, b)
		rec.mu.Unlock()
		handlers[min(n, len(handlers)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func status(code int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestExecuteJSON(t *testing.T) {
	srv, _ := serve(t, status(200, `{"ok": true, "n": 1, "f": 1.5, "big": 12345678901234567, "list": ["a"]}`, "Content-Type", "application/json; charset=utf-8", "X-Multi", "one"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL + "/items"})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", res.Attempts)
	}
	out := res.Output.(map[string]any)
	if got, want := out["status"], 200; got != want {
		t.Errorf("status = %v, want %v", got, want)
	}
	want := map[string]any{"ok": true, "n": 1, "f": 1.5, "big": 12345678901234567, "list": []any{"a"}}
	if got := out["body"]; !reflect.DeepEqual(got, want) {
		t.Errorf("body = %#v, want %#v", got, want)
	}
	headers := out["headers"].(map[string]any)
	if got, want := headers["content-type"], "application/json; charset=utf-8"; got != want {
		t.Errorf("headers[content-type] = %v, want %v", got, want)
	}
	if got, want := headers["x-multi"], "one"; got != want {
		t.Errorf("headers[x-multi] = %v, want %v", got, want)
	}
}

func TestExecuteText(t *testing.T) {
	srv, _ := serve(t, status(200, "hello, world", "Content-Type", "text/plain"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got, want := res.Output.(map[string]any)["body"], "hello, world"; got != want {
		t.Errorf("body = %#v, want %#v", got, want)
	}
}

func TestExecuteInvalidJSONResponseIsText(t *testing.T) {
	srv, _ := serve(t, status(200, "{not json", "Content-Type", "application/json"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got, want := res.Output.(map[string]any)["body"], "{not json"; got != want {
		t.Errorf("body = %#v, want %#v", got, want)
	}
}

func TestExecuteSendsQueryHeadersAndJSONBody(t *testing.T) {
	srv, rec := serve(t, status(201, ""))
	res, err := newKind(t).Execute(context.Background(), map[string]any{
		"method":  "post",
		"url":     srv.URL + "/orders?a=1",
		"headers": map[string]any{"X-Token": "t0k", "X-Count": 3},
		"query":   map[string]any{"b": "two words", "n": 3.0, "many": []any{"x", "y"}, "skip": nil},
		"body":    map[string]any{"name": "Ann", "items": []any{1, 2}, "html": "<b>"},
	})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got, want := res.Output.(map[string]any)["status"], 201; got != want {
		t.Errorf("status = %v, want %v", got, want)
	}
	r := rec.reqs[0]
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	if r.URL.Path != "/orders" {
		t.Errorf("path = %s, want /orders", r.URL.Path)
	}
	q := r.URL.Query()
	for k, want := range map[string][]string{"a": {"1"}, "b": {"two words"}, "n": {"3"}, "many": {"x", "y"}} {
		if got := q[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("query %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := q["skip"]; ok {
		t.Errorf("query has skip, want a nil parameter left out")
	}
	if got, want := r.Header.Get("X-Token"), "t0k"; got != want {
		t.Errorf("X-Token = %q, want %q", got, want)
	}
	if got, want := r.Header.Get("X-Count"), "3"; got != want {
		t.Errorf("X-Count = %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := string(rec.body[0]), `{"html":"<b>","items":[1,2],"name":"Ann"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestExecuteStringBodyAndContentType(t *testing.T) {
	srv, rec := serve(t, status(200, "ok"))
	_, err := newKind(t).Execute(context.Background(), map[string]any{
		"method":  "PUT",
		"url":     srv.URL,
		"headers": map[string]any{"content-type": "text/csv"},
		"body":    "a,b\n1,2\n",
	})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got, want := string(rec.body[0]), "a,b\n1,2\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got, want := rec.reqs[0].Header.Get("Content-Type"), "text/csv"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}

	srv2, rec2 := serve(t, status(200, "ok"))
	_, err = newKind(t).Execute(context.Background(), map[string]any{
		"method": "POST", "url": srv2.URL,
		"headers": map[string]any{"Content-Type": "application/vnd.api+json"},
		"body":    map[string]any{"a": 1},
	})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got, want := rec2.reqs[0].Header.Get("Content-Type"), "application/vnd.api+json"; got != want {
		t.Errorf("Content-Type = %q, want the given %q", got, want)
	}
}

func TestExecuteRetriesServerError(t *testing.T) {
	srv, rec := serve(t, status(500, "oops"), status(200, `{"ok":true}`, "Content-Type", "application/json"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Attempts != 2 || rec.count() != 2 {
		t.Errorf("Attempts = %d, requests = %d, want 2 and 2", res.Attempts, rec.count())
	}
}

func TestExecuteRetriesPostWithBody(t *testing.T) {
	srv, rec := serve(t, status(502, ""), status(200, ""))
	_, err := newKind(t).Execute(context.Background(), map[string]any{"method": "POST", "url": srv.URL, "body": "payload"})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	for i, b := range rec.body {
		if string(b) != "payload" {
			t.Errorf("request %d body = %q, want %q", i, b, "payload")
		}
	}
}

func TestExecuteHonoursRetryAfter(t *testing.T) {
	srv, rec := serve(t, status(429, "slow down", "Retry-After", "1"), status(200, "ok"))
	start := time.Now()
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Attempts != 2 {
		t.Fatalf("Attempts = %d, want 2", res.Attempts)
	}
	gap := rec.times[1].Sub(rec.times[0])
	if gap < 950*time.Millisecond || gap > 2500*time.Millisecond {
		t.Errorf("gap between tries = %v, want about 1s (Retry-After: 1)", gap)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Execute took %v, want about 1s", d)
	}
}

func TestExecuteRetryAfterCappedAtMaxDelay(t *testing.T) {
	srv, rec := serve(t, status(503, "", "Retry-After", "3600"), status(200, "ok"))
	k := newKind(t)
	k.MaxDelay = 50 * time.Millisecond
	if _, err := k.Execute(context.Background(), map[string]any{"url": srv.URL}); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if gap := rec.times[1].Sub(rec.times[0]); gap > time.Second {
		t.Errorf("gap between tries = %v, want it capped at MaxDelay (50ms)", gap)
	}
}

func TestExecutePermanentClientError(t *testing.T) {
	srv, rec := serve(t, status(404, "no such thing\n"+strings.Repeat("x", 500)))
	res, err := newKind(t).Execute(context.Background(), map[string]any{
		"url":     srv.URL + "/things/7?api_key=s3cret-query",
		"headers": map[string]any{"Authorization": "Bearer s3cret-header"},
	})
	if err == nil {
		t.Fatal("Execute succeeded, want an error")
	}
	if res.Attempts != 1 || rec.count() != 1 {
		t.Errorf("Attempts = %d, requests = %d, want 1 and 1", res.Attempts, rec.count())
	}
	var se *step.Error
	if !errors.As(err, &se) || !se.Permanent || se.Status != 404 || !step.IsPermanent(err) {
		t.Fatalf("error = %#v, want a permanent *step.Error with status 404", err)
	}
	wantPrefix := fmt.Sprintf("HTTP 404 from GET %s/things/7: no such thing xxx", srv.URL)
	if !strings.HasPrefix(err.Error(), wantPrefix) {
		t.Errorf("error = %q, want it to start with %q", err, wantPrefix)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %q, want no credentials from the headers or the query", err)
	}
	if n := strings.Count(err.Error(), "x"); n > 200 {
		t.Errorf("error quotes %d bytes of the body, want at most 200", n)
	}
}

func TestExecuteRetriesExhausted(t *testing.T) {
	srv, rec := serve(t, status(503, "down"))
	k := newKind(t)
	k.MaxAttempts = 4
	res, err := k.Execute(context.Background(), map[string]any{"url": srv.URL})
	if err == nil {
		t.Fatal("Execute succeeded, want an error")
	}
	if res.Attempts != 4 || rec.count() != 4 {
		t.Errorf("Attempts = %d, requests = %d, want 4 and 4", res.Attempts, rec.count())
	}
	var se *step.Error
	if !errors.As(err, &se) || se.Permanent || se.Status != 503 || step.IsPermanent(err) {
		t.Errorf("error = %#v, want a transient *step.Error with status 503", err)
	}
}

func TestExecuteRetriesRequestTimeoutAndTooManyRequests(t *testing.T) {
	srv, _ := serve(t, status(408, ""), status(429, ""), status(200, ""))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil || res.Attempts != 3 {
		t.Errorf("Execute = %d attempts, %v, want 3 attempts and no error", res.Attempts, err)
	}
}

func TestExecuteDefaultMaxAttempts(t *testing.T) {
	srv, rec := serve(t, status(500, ""))
	res, _ := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if res.Attempts != 3 || rec.count() != 3 {
		t.Errorf("Attempts = %d, requests = %d, want 3 and 3", res.Attempts, rec.count())
	}
}

func TestExecuteTimeoutPerAttempt(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	k := newKind(t)
	k.Timeout = 100 * time.Millisecond
	k.MaxAttempts = 2
	start := time.Now()
	res, err := k.Execute(context.Background(), map[string]any{"url": srv.URL})
	if err == nil || step.IsPermanent(err) {
		t.Fatalf("error = %v, want a transient error", err)
	}
	if res.Attempts != 2 || rec.count() != 2 {
		t.Errorf("Attempts = %d, requests = %d, want 2 and 2", res.Attempts, rec.count())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Execute took %v, want about 200ms", d)
	}
}

func TestExecuteCancelStopsRetryWait(t *testing.T) {
	srv, rec := serve(t, status(503, "", "Retry-After", "30"))
	k := newKind(t)
	k.MaxDelay = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res, err := k.Execute(ctx, map[string]any{"url": srv.URL})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Execute took %v after cancellation, want it to stop waiting", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want one wrapping context.Canceled", err)
	}
	if res.Attempts != 1 || rec.count() != 1 {
		t.Errorf("Attempts = %d, requests = %d, want 1 and 1", res.Attempts, rec.count())
	}
}

func TestExecuteResponseBodyCap(t *testing.T) {
	srv, _ := serve(t, status(200, strings.Repeat("a", 2048)))
	k := newKind(t)
	k.MaxResponseBytes = 1024
	res, err := k.Execute(context.Background(), map[string]any{"url": srv.URL})
	if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("error = %v, want a permanent error about the 1024-byte cap", err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", res.Attempts)
	}

	srv2, _ := serve(t, status(200, strings.Repeat("a", 1024)))
	if _, err := k.Execute(context.Background(), map[string]any{"url": srv2.URL}); err != nil {
		t.Errorf("Execute of a body of exactly the cap: %v", err)
	}
}

func TestExecuteInvalidRenderedInput(t *testing.T) {
	tests := []struct {
		name  string
		input map[string]any
		want  string
	}{
		{"no url", map[string]any{}, "input.url"},
		{"relative url", map[string]any{"url": "/path"}, "input.url"},
		{"ftp url", map[string]any{"url": "ftp://example.com/"}, "input.url"},
		{"bad method", map[string]any{"url": "http://example.com", "method": "TRACE"}, "input.method"},
		{"headers not an object", map[string]any{"url": "http://example.com", "headers": "x"}, "input.headers"},
		{"header value object", map[string]any{"url": "http://example.com", "headers": map[string]any{"X": map[string]any{}}}, "input.headers.X"},
		{"header line break", map[string]any{"url": "http://example.com", "headers": map[string]any{"X": "a\r\nB: c"}}, "input.headers.X"},
		{"query object", map[string]any{"url": "http://example.com", "query": map[string]any{"q": map[string]any{}}}, "input.query.q"},
		{"unknown field", map[string]any{"url": "http://example.com", "bodyy": "x"}, "input.bodyy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newKind(t).Execute(context.Background(), tt.input)
			if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Execute error = %v, want a permanent error naming %s", err, tt.want)
			}
			if res.Attempts != 0 {
				t.Errorf("Attempts = %d, want 0", res.Attempts)
			}
		})
	}
}

func TestExecuteDefaultGuardRefusesLoopback(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	k := &step.HTTP{Engine: egress.Engine{BaseDelay: time.Millisecond}}
	res, err := k.Execute(context.Background(), map[string]any{"url": srv.URL + "/admin"})
	if err == nil {
		t.Fatal("Execute succeeded, want the loopback destination refused")
	}
	if !step.IsPermanent(err) {
		t.Errorf("error = %v, want a permanent error", err)
	}
	for _, want := range []string{"127.0.0.1 is not allowed", "loopback", "WIRESK_HTTP_ALLOW_CIDRS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", res.Attempts)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

func TestExecuteDefaultGuardRefusesLocalhostName(t *testing.T) {
	// The name resolves to a loopback address, which is checked at dial
	// time whatever the name.
	res, err := (&step.HTTP{}).Execute(context.Background(), map[string]any{"url": "http://localhost:9/"})
	if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), "is not allowed") {
		t.Errorf("error = %v, want a permanent refusal", err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", res.Attempts)
	}
}

func TestExecuteRetryAfterDate(t *testing.T) {
	when := time.Now().Add(time.Second).UTC().Format(http.TimeFormat)
	srv, _ := serve(t, status(503, "", "Retry-After", when), status(200, "ok"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil || res.Attempts != 2 {
		t.Errorf("Execute = %d attempts, %v, want 2 attempts and no error", res.Attempts, err)
	}
}

func TestExecuteRefusesInternalDestinations(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not allowed"},
		{"http://10.0.0.1/", "10.0.0.1 is not allowed"},
		{"http://192.168.1.1:8080/", "192.168.1.1 is not allowed"},
		{"http://100.64.0.1/", "100.64.0.1 is not allowed"},
		{"http://[::1]:9/", "::1 is not allowed"},
		{"http://[::ffff:169.254.169.254]/", "is not allowed"},
		{"http://[fd00::1]/", "fd00::1 is not allowed"},
		{"http://0.0.0.0:9/", "0.0.0.0 is not allowed"},
	}
	// The 127.0.0.0/8 allowance of the other tests must not open anything else.
	k := newKind(t)
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			res, err := k.Execute(context.Background(), map[string]any{"url": tt.url})
			if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Execute(%s) error = %v, want a permanent error containing %q", tt.url, err, tt.want)
			}
			if res.Attempts != 1 {
				t.Errorf("Attempts = %d, want 1", res.Attempts)
			}
		})
	}
}

func TestExecuteRedirects(t *testing.T) {
	target, _ := serve(t, status(200, "landed"))
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/there", http.StatusFound)
	})
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got := res.Output.(map[string]any)["body"]; got != "landed" {
		t.Errorf("body = %v, want %q", got, "landed")
	}
}

func TestExecuteRedirectToRefusedAddress(t *testing.T) {
	for _, to := range []string{"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin"} {
		srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to, http.StatusFound)
		})
		res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
		if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("redirect to %s: error = %v, want a permanent refusal", to, err)
		}
		if res.Attempts != 1 || rec.count() != 1 {
			t.Errorf("redirect to %s: Attempts = %d, requests = %d, want 1 and 1", to, res.Attempts, rec.count())
		}
	}
}

func TestExecuteRedirectLoopCapped(t *testing.T) {
	var srv *httptest.Server
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	})
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("error = %v, want a permanent error about redirects", err)
	}
	if res.Attempts != 1 || rec.count() != 6 {
		t.Errorf("Attempts = %d, requests = %d, want 1 and 6 (the request and 5 redirects)", res.Attempts, rec.count())
	}
}

func TestExecuteOutputIsJSON(t *testing.T) {
	srv, _ := serve(t, status(200, `{"a":[1,{"b":null}]}`, "Content-Type", "application/problem+json"))
	res, err := newKind(t).Execute(context.Background(), map[string]any{"url": srv.URL})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	b, err := json.Marshal(res.Output)
	if err != nil {
		t.Fatalf("Marshal output: %v", err)
	}
	if !strings.Contains(string(b), `"body":{"a":[1,{"b":null}]}`) {
		t.Errorf("output = %s, want the parsed +json body", b)
	}
}
