package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vector is a provider's published signature example, as the signature
// package's testdata keeps it (taken from the shared webhook samples).
type vector struct {
	Name, Preset, Secret, Method, URL string
	Headers                           map[string]string
	BodyFile                          string `json:"body_file"`
	NowUnixMs                         *int64 `json:"now_unix_ms"`
	Expect                            string
}

const vectorsDir = "../signature/testdata"

func loadVectors(t *testing.T) map[string]vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]vector, len(vs))
	for _, v := range vs {
		out[v.Name] = v
	}
	return out
}

func (v vector) body(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, v.BodyFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v vector) headers() []string {
	var hs []string
	for k, val := range v.Headers {
		hs = append(hs, k, val)
	}
	return hs
}

// signedTrigger creates a trigger of flowID authenticated by signature with
// the extra fields of body, and returns its id and routing key.
func signedTrigger(t *testing.T, s *system, tok, flowID string, body map[string]any) (id, routingKey string) {
	t.Helper()
	r := s.api(t, tok, "POST", "/v1/groups/grp_a/flows/"+flowID+"/http-triggers", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create signed trigger: %d %s", r.Status, r.Body)
	}
	var tr struct {
		ID, RoutingKey string
		APIKeyIDs      []string
	}
	r.decode(t, &tr)
	if body["auth"] == "signature" && (tr.APIKeyIDs == nil || len(tr.APIKeyIDs) != 0) {
		t.Fatalf("a signature trigger's apiKeyIds = %v in %s, want []", tr.APIKeyIDs, r.Body)
	}
	return tr.ID, tr.RoutingKey
}

// TestSignedTriggerPresets sends each provider's published example to a
// trigger authenticated by that provider's signature alone: accepted as
// signed, refused when tampered, unsigned or (where the scheme has a
// timestamp) stale. Vectors: internal/signature/testdata/vectors.json,
// each citing its source.
func TestSignedTriggerPresets(t *testing.T) {
	vs := loadVectors(t)
	s := MustSystem(t)
	f := MustFixture(t, s)
	for _, name := range []string{
		"github/docs-signature-vector-hello-world",
		"github/webhooks-methods-foo-bar",
		"stripe/sdk-test-evt_test_webhook",
		"shopify/sdk-js-products-create-foo-bar",
		"slack-v0/slash-command-signed",
		"hubspot-v1/contact.creation-v1",
	} {
		t.Run(name, func(t *testing.T) {
			v, ok := vs[name]
			if !ok || v.Expect != "valid" {
				t.Fatalf("no valid vector %s", name)
			}
			if v.NowUnixMs != nil {
				s.clock.mu.Lock()
				s.clock.t = time.UnixMilli(*v.NowUnixMs).UTC()
				s.clock.mu.Unlock()
			}
			_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "signature": map[string]any{"preset": v.Preset, "secret": v.Secret}})
			body := v.body(t)
			if r := s.do(t, "POST", "/v1/hooks/"+rk, body, v.headers()...); r.Status != http.StatusAccepted {
				t.Fatalf("signed example: got %d %s, want 202", r.Status, r.Body)
			}
			tampered := append([]byte{}, body...)
			tampered[len(tampered)/2] ^= 1
			r := s.do(t, "POST", "/v1/hooks/"+rk, tampered, v.headers()...)
			if r.Status != http.StatusUnauthorized || r.errorCode() != "invalid_signature" || !strings.Contains(string(r.Body), "mismatch") {
				t.Fatalf("tampered body: got %d %s, want 401 invalid_signature (mismatch)", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), v.Secret) {
				t.Fatalf("the refusal holds the secret: %s", r.Body)
			}
			r = s.do(t, "POST", "/v1/hooks/"+rk, body)
			if r.Status != http.StatusUnauthorized || r.errorCode() != "invalid_signature" || !strings.Contains(string(r.Body), "missing") {
				t.Fatalf("unsigned body: got %d %s, want 401 invalid_signature (missing)", r.Status, r.Body)
			}
			if v.NowUnixMs != nil {
				s.clock.Advance(6 * time.Minute)
				r = s.do(t, "POST", "/v1/hooks/"+rk, body, v.headers()...)
				if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "stale") {
					t.Fatalf("replayed 6 minutes later: got %d %s, want 401 (stale)", r.Status, r.Body)
				}
				s.clock.Advance(-6 * time.Minute)
			}
		})
	}
}

// TestSignedTriggerTwilioURL: Twilio signs the URL it calls, so the
// trigger verifies against its public webhook URL with the query.
func TestSignedTriggerTwilioURL(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	const token = "12345"
	_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "signature": map[string]any{"preset": "twilio", "secret": token}})
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}}
	path := "/v1/hooks/" + rk + "?account=ac1"
	// Twilio's algorithm, written out: the URL, then each parameter's name
	// and value in name order, HMAC-SHA1 with the auth token, base64.
	content := publicHooks + path
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		content += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(content))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ct := "application/x-www-form-urlencoded"
	if r := s.do(t, "POST", path, form.Encode(), "Content-Type", ct, "X-Twilio-Signature", sig); r.Status != http.StatusAccepted {
		t.Fatalf("signed form: got %d %s, want 202", r.Status, r.Body)
	}
	// The same request to another query is another URL.
	if r := s.do(t, "POST", "/v1/hooks/"+rk+"?account=ac2", form.Encode(), "Content-Type", ct, "X-Twilio-Signature", sig); r.Status != http.StatusUnauthorized {
		t.Fatalf("signed for another URL: got %d %s, want 401", r.Status, r.Body)
	}
}

func githubSig(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestSignedTriggerRotation: a new secret is accepted at once, the
// previous one for the overlap only (or until dropped), and no answer ever
// shows a secret.
func TestSignedTriggerRotation(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	id, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": "first-secret"}})
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	send := func(secret string) int {
		return s.do(t, "POST", "/v1/hooks/"+rk, body, "X-Hub-Signature-256", githubSig(secret, body)).Status
	}
	if got := send("first-secret"); got != http.StatusAccepted {
		t.Fatalf("first secret: got %d", got)
	}
	path := "/v1/groups/grp_a/flows/" + f.flowID + "/http-triggers/" + id
	r := s.api(t, f.alice, "PATCH", path, map[string]any{"signature": map[string]any{"secret": "second-secret"}})
	if r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "secret\":\"") || strings.Contains(string(r.Body), "second-secret") {
		t.Fatalf("the answer shows a secret: %s", r.Body)
	}
	var view struct {
		Signature struct {
			Preset                  string
			SecretVersion           int
			PreviousSecretExpiresAt *time.Time
		}
	}
	r.decode(t, &view)
	if view.Signature.Preset != "github" || view.Signature.SecretVersion != 2 || view.Signature.PreviousSecretExpiresAt == nil {
		t.Fatalf("after rotation: %s", r.Body)
	}
	if got := send("second-secret"); got != http.StatusAccepted {
		t.Fatalf("new secret: got %d", got)
	}
	if got := send("first-secret"); got != http.StatusAccepted {
		t.Fatalf("previous secret during the overlap: got %d", got)
	}
	s.clock.Advance(25 * time.Hour)
	if got := send("first-secret"); got != http.StatusUnauthorized {
		t.Fatalf("previous secret after the overlap: got %d, want 401", got)
	}
	s.clock.Advance(-25 * time.Hour)
	// Dropping the previous secret ends the overlap at once.
	if r := s.api(t, f.alice, "PATCH", path, map[string]any{"signature": map[string]any{"dropPreviousSecret": true}}); r.Status != http.StatusOK {
		t.Fatalf("drop previous: %d %s", r.Status, r.Body)
	}
	if got := send("first-secret"); got != http.StatusUnauthorized {
		t.Fatalf("previous secret once dropped: got %d, want 401", got)
	}
	if got := send("second-secret"); got != http.StatusAccepted {
		t.Fatalf("current secret once the previous is dropped: got %d", got)
	}
	// No record of the store holds a secret.
	for _, sec := range []string{"first-secret", "second-secret"} {
		if strings.Contains(string(s.storedBytes(t)), sec) {
			t.Fatalf("the store holds the signing secret %q", sec)
		}
	}
	// Back to API keys: the signature no longer counts, the key does.
	r = s.api(t, f.alice, "PATCH", path, map[string]any{"auth": "api_key", "apiKeyIds": []string{f.keyID}})
	if r.Status != http.StatusOK {
		t.Fatalf("back to api_key: %d %s", r.Status, r.Body)
	}
	if got := send("second-secret"); got != http.StatusUnauthorized {
		t.Fatalf("signature without a key on an api_key trigger: got %d, want 401", got)
	}
	if r := s.do(t, "POST", "/v1/hooks/"+rk, body, "X-API-Key", f.key); r.Status != http.StatusAccepted {
		t.Fatalf("key on an api_key trigger: got %d %s", r.Status, r.Body)
	}
}

// TestSignedTriggerWithKey: api_key_and_signature needs both.
func TestSignedTriggerWithKey(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "api_key_and_signature", "apiKeyIds": []string{f.keyID}, "signature": map[string]any{"preset": "github", "secret": "s3cret"}})
	body := []byte(`{"a":1}`)
	sig := githubSig("s3cret", body)
	for _, c := range []struct {
		name    string
		headers []string
		want    int
		code    string
	}{
		{"both", []string{"X-API-Key", f.key, "X-Hub-Signature-256", sig}, 202, ""},
		{"key only", []string{"X-API-Key", f.key}, 401, "invalid_signature"},
		{"signature only", []string{"X-Hub-Signature-256", sig}, 401, "missing_api_key"},
		{"another Group's key", []string{"X-API-Key", f.keyB, "X-Hub-Signature-256", sig}, 404, "route_not_found"},
	} {
		r := s.do(t, "POST", "/v1/hooks/"+rk, body, c.headers...)
		if r.Status != c.want || (c.code != "" && r.errorCode() != c.code) {
			t.Errorf("%s: got %d %s, want %d %s", c.name, r.Status, r.Body, c.want, c.code)
		}
	}
}

// TestSignedTriggerRefusals: what the management API refuses, naming the
// field, and that a member of another Group cannot add one.
func TestSignedTriggerRefusals(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	g := "/v1/groups/grp_a/flows/" + f.flowID + "/http-triggers"
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown auth", map[string]any{"auth": "password"}, "auth"},
		{"no secret", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github"}}, "signature.secret"},
		{"no scheme", map[string]any{"auth": "signature", "signature": map[string]any{"secret": "x"}}, "signature"},
		{"unknown preset", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "gitlab", "secret": "x"}}, "signature.preset"},
		{"custom placeholder", map[string]any{"auth": "signature", "signature": map[string]any{"secret": "x", "custom": map[string]any{"algorithm": "sha256", "header": "X-Sig", "encoding": "hex", "content": "{nonce}.{body}"}}}, "signature.custom.content"},
		{"custom algorithm", map[string]any{"auth": "signature", "signature": map[string]any{"secret": "x", "custom": map[string]any{"algorithm": "md5", "header": "X-Sig", "encoding": "hex"}}}, "signature.custom.algorithm"},
		{"timestamp signed, not sent", map[string]any{"auth": "signature", "signature": map[string]any{"secret": "x", "custom": map[string]any{"algorithm": "sha256", "header": "X-Sig", "encoding": "hex", "content": "{timestamp}.{body}"}}}, "signature.custom.content"},
		{"signature on an api_key trigger", map[string]any{"apiKeyIds": []string{f.keyID}, "signature": map[string]any{"preset": "github", "secret": "x"}}, "signature"},
		{"keys on a signature trigger", map[string]any{"auth": "signature", "apiKeyIds": []string{f.keyID}, "signature": map[string]any{"preset": "github", "secret": "x"}}, "apiKeyIds"},
		{"challenge without signature", map[string]any{"apiKeyIds": []string{f.keyID}, "challenge": "slack"}, "challenge"},
		{"unknown challenge", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": "x"}, "challenge": "discord"}, "challenge"},
		{"meta without a verify token", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "meta", "secret": "x"}, "challenge": "meta"}, "verifyToken"},
		{"verify token without meta", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": "x"}, "verifyToken": "t"}, "verifyToken"},
		{"secret too long", map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": strings.Repeat("x", 1025)}}, "signature.secret"},
	} {
		before := s.snapshot(t)
		r := s.api(t, f.alice, "POST", g, c.body)
		if r.Status != http.StatusBadRequest || r.errorCode() != "validation_failed" || r.errorField() != c.field {
			t.Errorf("%s: got %d %s, want 400 validation_failed on %s", c.name, r.Status, r.Body, c.field)
		}
		if s.snapshot(t) != before {
			t.Errorf("%s: a refused trigger changed the store", c.name)
		}
	}
	ok := map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": "x"}}
	if r := s.api(t, f.bob, "POST", g, ok); r.Status != http.StatusNotFound {
		t.Errorf("another Group's user: got %d %s, want 404", r.Status, r.Body)
	}
}

// TestCustomScheme: a scheme described by hand, with a signed timestamp.
func TestCustomScheme(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "signature": map[string]any{"secret": "k", "custom": map[string]any{
		"algorithm": "sha512", "header": "X-Signature", "encoding": "base64", "prefix": "v1,", "content": "{timestamp}.{method}.{body}", "timestampHeader": "X-Timestamp", "toleranceSeconds": 60,
	}}})
	body := []byte(`{"event":"order.paid"}`)
	ts := strconv.FormatInt(s.clock.Now().Unix(), 10)
	sign := func(ts string) string {
		mac := hmac.New(sha512.New, []byte("k"))
		fmt.Fprintf(mac, "%s.POST.%s", ts, body)
		return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	if r := s.do(t, "POST", "/v1/hooks/"+rk, body, "X-Signature", sign(ts), "X-Timestamp", ts); r.Status != http.StatusAccepted {
		t.Fatalf("custom signed: got %d %s", r.Status, r.Body)
	}
	old := strconv.FormatInt(s.clock.Now().Add(-2*time.Minute).Unix(), 10)
	if r := s.do(t, "POST", "/v1/hooks/"+rk, body, "X-Signature", sign(old), "X-Timestamp", old); r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "stale") {
		t.Fatalf("custom signed 2 minutes ago with a 60 s tolerance: got %d %s", r.Status, r.Body)
	}
}

// TestChallenges: Slack's url_verification (signed, from the shared
// samples) and Meta's GET handshake are answered without a Run.
func TestChallenges(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)

	t.Run("slack", func(t *testing.T) {
		const secret = "8f742231b10e8888abcd99yyyzzz85a5"
		_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "challenge": "slack", "signature": map[string]any{"preset": "slack-v0", "secret": secret}})
		// Slack's documented url_verification body, signed as Slack signs.
		body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
		ts := strconv.FormatInt(s.clock.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		sig := "v0=" + hex.EncodeToString(mac.Sum(nil))
		before := s.snapshot(t)
		r := s.do(t, "POST", "/v1/hooks/"+rk, body, "Content-Type", "application/json", "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", sig)
		if r.Status != http.StatusOK || string(r.Body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("url_verification: got %d %q, want 200 and the challenge", r.Status, r.Body)
		}
		if s.snapshot(t) != before {
			t.Fatal("url_verification wrote or queued something")
		}
		// Unsigned, it is refused: the handshake proves nothing by itself.
		if r := s.do(t, "POST", "/v1/hooks/"+rk, body, "Content-Type", "application/json"); r.Status != http.StatusUnauthorized {
			t.Fatalf("unsigned url_verification: got %d %s, want 401", r.Status, r.Body)
		}
	})

	t.Run("meta", func(t *testing.T) {
		_, rk := signedTrigger(t, s, f.alice, f.flowID, map[string]any{"auth": "signature", "challenge": "meta", "verifyToken": "meatyhamhock", "signature": map[string]any{"preset": "meta", "secret": "app-secret"}})
		// Meta's documented handshake (webhook-samples/meta).
		q := "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
		r := s.do(t, "GET", "/v1/hooks/"+rk+q, nil)
		if r.Status != http.StatusOK || string(r.Body) != "1158201444" {
			t.Fatalf("Meta handshake: got %d %q, want 200 1158201444", r.Status, r.Body)
		}
		if r := s.do(t, "GET", "/v1/hooks/"+rk+strings.Replace(q, "meatyhamhock", "wrong", 1), nil); r.Status != http.StatusForbidden {
			t.Fatalf("wrong verify token: got %d %s, want 403", r.Status, r.Body)
		}
		if r := s.do(t, "GET", "/v1/hooks/"+rk, nil); r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("GET without the handshake: got %d %s, want 405", r.Status, r.Body)
		}
		// A Meta delivery is signed as GitHub signs: X-Hub-Signature-256.
		body := []byte(`{"object":"page","entry":[]}`)
		if r := s.do(t, "POST", "/v1/hooks/"+rk, body, "X-Hub-Signature-256", githubSig("app-secret", body)); r.Status != http.StatusAccepted {
			t.Fatalf("Meta delivery: got %d %s", r.Status, r.Body)
		}
	})

	t.Run("api key trigger", func(t *testing.T) {
		// An API-key trigger answers no handshake: 405, whatever the query.
		if r := s.do(t, "GET", "/v1/hooks/"+f.hook+"?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x", nil); r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("handshake to an api_key trigger: got %d %s, want 405", r.Status, r.Body)
		}
	})
}
