package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wiresk/internal/metrics"
	"wiresk/internal/testkit/jsonlines"
)

// TestWebhookMetrics: each webhook counts once, accepted or refused by
// the code it was answered with, with the route's ids once they are known.
func TestWebhookMetrics(t *testing.T) {
	h, key, rk, _ := fakeIngress(t, func() error { return nil })
	var buf bytes.Buffer
	h.Metrics = metrics.New("Wiresk/test", &buf)
	h.MaxBody = 64
	send := func(method, path, body, key, idem string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		method, path, body, key, idem string
		status                        int
		reason                        string // "" for accepted
	}{
		{"POST", "/v1/hooks/" + rk, `{"a":1}`, key, "", http.StatusAccepted, ""},
		{"POST", "/v1/hooks/" + rk, `{}`, "", "", http.StatusUnauthorized, "missing_api_key"},
		{"POST", "/v1/hooks/" + rk, `{"a":"` + strings.Repeat("x", 100) + `"}`, key, "", http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"GET", "/v1/hooks/" + rk, ``, key, "", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"POST", "/v1/hooks/nope", `{}`, key, "", http.StatusNotFound, "route_not_found"},
		{"POST", "/v1/hooks/" + rk, `{}`, key, strings.Repeat("k", 300), http.StatusBadRequest, "invalid_request"},
	}
	for _, c := range cases {
		if got := send(c.method, c.path, c.body, c.key, c.idem); got != c.status {
			t.Fatalf("%s %s: got %d, want %d", c.method, c.path, got, c.status)
		}
	}
	lines := jsonlines.MustDecode(t, buf.String())
	if len(lines) != len(cases) {
		t.Fatalf("%d metric lines for %d webhooks:\n%s", len(lines), len(cases), buf.String())
	}
	for i, c := range cases {
		l := lines[i]
		if c.reason == "" {
			if l["WebhooksAccepted"] != 1.0 || l["groupId"] != "grp_a" || l["flowId"] != "flw_1" || l["triggerId"] != "trg_1" || l["runId"] == nil {
				t.Errorf("accepted webhook: %v, want WebhooksAccepted with the route's and the Run's ids", l)
			}
			continue
		}
		if l["WebhooksRefused"] != 1.0 || l["Reason"] != c.reason {
			t.Errorf("%s %s: %v, want WebhooksRefused Reason=%s", c.method, c.path, l, c.reason)
		}
	}
	// A refusal once the route is known names it; one before does not.
	if l := lines[5]; l["groupId"] != "grp_a" || l["flowId"] != "flw_1" || l["triggerId"] != "trg_1" {
		t.Errorf("refusal after the route was found: %v, want the route's ids", l)
	}
	if _, ok := lines[4]["groupId"]; ok {
		t.Errorf("refusal of an unknown route: %v names a Group", lines[4])
	}
}
