package apptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/testkit/apptest"
)

// send makes the app's test request to its fake with the given
// Authorization header (none when ""), and returns the status and the
// decoded JSON answer.
func send(t *testing.T, app *catalog.App, f *apptest.Fake, authorization string) (int, any) {
	t.Helper()
	tr, err := app.BuildTest(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if tr.Body != nil {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(tr.Method, tr.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tr.Header {
		req.Header[k] = v
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := f.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("the answer is not JSON: %v: %s", err, data)
		}
	}
	return resp.StatusCode, v
}

func load(t *testing.T, fakes map[string]*apptest.Fake) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(fakes)))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestFakesRefuseRequestsWithoutCredential(t *testing.T) {
	fakes := apptest.NewAll(t)
	cat := load(t, fakes)
	for _, app := range cat.Apps() {
		t.Run(app.ID, func(t *testing.T) {
			f, ok := fakes[app.ID]
			if !ok {
				t.Fatalf("no fake for %s", app.ID)
			}
			status, v := send(t, app, f, "")
			if app.ID == "slack" {
				// Slack answers failures with 200 and ok: false.
				m, _ := v.(map[string]any)
				if got, want := m["error"], any("not_authed"); status != http.StatusOK || got != want {
					t.Errorf("answer = %d %v, want 200 with error %v", status, v, want)
				}
				return
			}
			if status < 400 {
				t.Errorf("status = %d, want a failure", status)
			}
			if got, want := f.Requests(), 1; got != want {
				t.Errorf("Requests = %d, want %d", got, want)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	f, ok := apptest.New(t, "notion")
	if !ok {
		t.Fatal("no notion fake")
	}
	cat := load(t, map[string]*apptest.Fake{"notion": f})
	app, _ := cat.App("notion")
	f.Throttle(2, "7")
	for i := range 2 {
		status, v := send(t, app, f, "Bearer "+f.Token)
		if got, want := status, http.StatusTooManyRequests; got != want {
			t.Fatalf("answer %d: status = %d, want %d", i, got, want)
		}
		if got, want := v.(map[string]any)["code"], any("rate_limited"); got != want {
			t.Errorf("code = %v, want %v", got, want)
		}
	}
	status, v := send(t, app, f, "Bearer "+f.Token)
	if got, want := status, http.StatusOK; got != want {
		t.Fatalf("third answer: status = %d, want %d (%v)", got, want, v)
	}
	if got, want := f.Requests(), 3; got != want {
		t.Errorf("Requests = %d, want %d", got, want)
	}
	if got, want := f.LastRequest().Header.Get("Notion-Version"), "2022-06-28"; got != want {
		t.Errorf("Notion-Version = %q, want %q", got, want)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	f, _ := apptest.New(t, "slack")
	f.Throttle(1, "7")
	req, _ := http.NewRequest(http.MethodPost, f.URL()+"/api/auth.test", nil)
	resp, err := f.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Retry-After"), "7"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
}

func TestUnknownApp(t *testing.T) {
	if _, ok := apptest.New(t, "no_such_app"); ok {
		t.Error("New of an unknown app: ok = true, want false")
	}
}
