package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/signature"
)

// vector is one entry of testdata/vectors.json. Its source field cites where
// the vector comes from: the provider's documentation or SDK test suite
// (published: true), or, for Stripe, which publishes no fixed vector, our own
// computation with Stripe's scheme (published: false). See testdata/README.md.
type vector struct {
	Name       string            `json:"name"`
	Provider   string            `json:"provider"`
	Preset     string            `json:"preset"`
	Secret     string            `json:"secret"`
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Headers    map[string]string `json:"headers"`
	BodyFile   string            `json:"body_file"`
	BodySHA256 string            `json:"body_sha256"`
	NowUnixMs  *int64            `json:"now_unix_ms"`
	Expect     string            `json:"expect"`
	Published  bool              `json:"published"`
	Source     string            `json:"source"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// request builds the vector's request; the body is checked against the
// SHA-256 the source manifest recorded, so a copy that lost a byte fails here.
func (v vector) request(t *testing.T) signature.Request {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(v.BodyFile)))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != v.BodySHA256 {
		t.Fatalf("%s: body is not byte-exact: sha256 %x, want %s", v.BodyFile, sum, v.BodySHA256)
	}
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	return signature.Request{Method: v.Method, URL: v.URL, Header: h, Body: body}
}

// now is the vector's clock: its own timestamp where the scheme has one (the
// published timestamps are years old), any time otherwise.
func (v vector) now() time.Time {
	if v.NowUnixMs == nil {
		return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return time.UnixMilli(*v.NowUnixMs)
}

func clone(r signature.Request) signature.Request {
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// malformed are, per preset, header values that cannot be read.
var malformed = map[string][]map[string]string{
	"github": {
		{"X-Hub-Signature-256": "sha256=not-hex"},
		{"X-Hub-Signature-256": "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}, // no prefix
		{"X-Hub-Signature-256": "sha256=abcd"},                                                      // too short
	},
	"stripe": {
		{"Stripe-Signature": "garbage"},
		{"Stripe-Signature": "t=1492774577"},
		{"Stripe-Signature": "t=1492774577,v1=zz"},
		{"Stripe-Signature": "v1=c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812"},
		{"Stripe-Signature": "t=-5,v1=c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812"},
		{"Stripe-Signature": "t=1,t=2,v1=c2f890decbc5ede7c5060bb9a6d31e0626a4342bacb9aeae2adb1bcea72f9812"},
	},
	"shopify":    {{"X-Shopify-Hmac-Sha256": "not base64!!"}, {"X-Shopify-Hmac-Sha256": "AAAA"}},
	"hubspot-v3": {{"X-HubSpot-Signature-v3": "%%%"}, {"X-HubSpot-Request-Timestamp": "1693657560000.5"}},
	"hubspot-v2": {{"X-HubSpot-Signature": "zz"}},
	"hubspot-v1": {{"X-HubSpot-Signature": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="}},
	"slack-v0": {
		{"X-Slack-Signature": "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"},
		{"X-Slack-Request-Timestamp": "15314206l8"},
	},
	"twilio": {{"X-Twilio-Signature": "***"}, {"X-Twilio-Signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU"}},
}

func TestPresetVectors(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if v.Source == "" || v.Expect != "valid" {
				t.Fatalf("vector needs a source and expect valid: %+v", v)
			}
			s, ok := signature.Preset(v.Preset)
			if !ok {
				t.Fatalf("no preset %q", v.Preset)
			}
			seen[v.Preset] = true
			req := v.request(t)
			now := v.now()
			secret := []byte(v.Secret)
			sig := req.Header.Get(s.Header)
			hasTS := s.TimestampHeader != "" || (s.List != nil && s.List.TimestampKey != "")
			if hasTS != (v.NowUnixMs != nil) {
				t.Fatalf("preset timestamp %v, vector clock %v", hasTS, v.NowUnixMs)
			}

			if err := s.Verify(req, [][]byte{secret}, now); err != nil {
				t.Fatalf("published vector: %v", err)
			}

			t.Run("tampered body", func(t *testing.T) {
				r := clone(req)
				if len(r.Body) == 0 {
					r.Body = []byte("x")
				} else {
					r.Body[len(r.Body)/2] ^= 0x01
				}
				checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMismatch, v.Secret, sig)
				r = clone(req)
				r.Body = append(r.Body, ' ')
				checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMismatch, v.Secret, sig)
			})
			t.Run("wrong secret", func(t *testing.T) {
				err := s.Verify(req, [][]byte{[]byte(v.Secret + "x")}, now)
				checkErr(t, err, signature.ReasonMismatch, v.Secret, sig)
			})
			t.Run("rotation", func(t *testing.T) {
				old := []byte("an-old-secret-" + v.Secret)
				for _, secrets := range [][][]byte{{old, secret}, {secret, old}, {nil, secret}} {
					if err := s.Verify(req, secrets, now); err != nil {
						t.Fatalf("secrets %q: %v", secrets, err)
					}
				}
				err := s.Verify(req, [][]byte{old, []byte("another")}, now)
				checkErr(t, err, signature.ReasonMismatch, v.Secret, sig)
			})
			t.Run("missing header", func(t *testing.T) {
				r := clone(req)
				r.Header.Del(s.Header)
				checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMissing, v.Secret, sig)
				r.Header.Set(s.Header, "   ")
				checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMissing, v.Secret, sig)
				if s.TimestampHeader != "" {
					r := clone(req)
					r.Header.Del(s.TimestampHeader)
					checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMissing, v.Secret, sig)
				}
			})
			t.Run("malformed header", func(t *testing.T) {
				cases := malformed[v.Preset]
				if len(cases) == 0 {
					t.Fatalf("no malformed cases for %s", v.Preset)
				}
				for _, set := range cases {
					r := clone(req)
					for k, val := range set {
						r.Header.Set(k, val)
					}
					checkErr(t, s.Verify(r, [][]byte{secret}, now), signature.ReasonMalformed, v.Secret, sig)
				}
			})
			t.Run("header name case", func(t *testing.T) {
				r := clone(req)
				r.Header = http.Header{}
				for k, val := range req.Header {
					r.Header[strings.ToLower(k)] = val // as API Gateway hands them over
				}
				if err := s.Verify(r, [][]byte{secret}, now); err != nil {
					t.Fatal(err)
				}
			})
			if !hasTS {
				return
			}
			t.Run("stale timestamp", func(t *testing.T) {
				tol := s.Tolerance
				for _, at := range []time.Time{now.Add(tol), now.Add(-tol)} {
					if err := s.Verify(req, [][]byte{secret}, at); err != nil {
						t.Fatalf("at the edge of the tolerance: %v", err)
					}
				}
				late := now.Add(tol + time.Second)
				checkErr(t, s.Verify(req, [][]byte{secret}, late), signature.ReasonStale, v.Secret, sig)
				early := now.Add(-tol - time.Second) // a timestamp in the future
				checkErr(t, s.Verify(req, [][]byte{secret}, early), signature.ReasonStale, v.Secret, sig)
				// The MAC is checked first: a forgery is a mismatch, stale or not.
				err := s.Verify(req, [][]byte{[]byte("wrong")}, late)
				checkErr(t, err, signature.ReasonMismatch, v.Secret, sig)
			})
		})
	}
	for _, name := range signature.Presets() {
		if !seen[name] {
			t.Errorf("preset %s has no vector", name)
		}
	}
}

// TestTwilioURLPort: twilio-python accepts the URL with its default port
// added or removed; so does the preset.
func TestTwilioURLPort(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Preset != "twilio" {
			continue
		}
		req := v.request(t)
		with := strings.Replace(v.URL, "https://mycompany.com/", "https://mycompany.com:443/", 1)
		if with == v.URL {
			t.Fatalf("%s: URL %q has no host to add a port to", v.Name, v.URL)
		}
		req.URL = with
		if err := signature.Twilio().Verify(req, [][]byte{[]byte(v.Secret)}, v.now()); err != nil {
			t.Errorf("%s with :443: %v", v.Name, err)
		}
		// Any port is removed, as twilio-python does; the scheme still counts.
		req.URL = strings.Replace(v.URL, "https://mycompany.com/", "https://mycompany.com:8443/", 1)
		if err := signature.Twilio().Verify(req, [][]byte{[]byte(v.Secret)}, v.now()); err != nil {
			t.Errorf("%s with :8443: %v", v.Name, err)
		}
		req.URL = strings.Replace(v.URL, "https://", "http://", 1)
		checkErr(t, signature.Twilio().Verify(req, [][]byte{[]byte(v.Secret)}, v.now()), signature.ReasonMismatch, v.Secret, "")
	}
}

// TestTwilioBodySHA256 tampers with the bodySHA256 parameter itself: the URL
// is signed, so that is a mismatch too.
func TestTwilioBodySHA256(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Name != "twilio/json-body-bodySHA256" {
			continue
		}
		req := v.request(t)
		req.URL = strings.Replace(v.URL, "bodySHA256=0a1f", "bodySHA256=1a1f", 1)
		checkErr(t, signature.Twilio().Verify(req, [][]byte{[]byte(v.Secret)}, v.now()), signature.ReasonMismatch, v.Secret, "")
		return
	}
	t.Fatal("no twilio/json-body-bodySHA256 vector")
}

func TestPresets(t *testing.T) {
	names := signature.Presets()
	want := []string{"github", "hubspot-v1", "hubspot-v2", "hubspot-v3", "shopify", "slack-v0", "stripe", "twilio"}
	if !slices.Equal(names, want) {
		t.Fatalf("Presets() = %v, want %v", names, want)
	}
	for _, n := range names {
		s, ok := signature.Preset(n)
		if !ok || s.Name != n {
			t.Fatalf("Preset(%q) = %q, %v", n, s.Name, ok)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, ok := signature.Preset("GitHub"); ok {
		t.Error(`Preset("GitHub"): names are lower case`)
	}
	if _, ok := signature.Preset("zapier"); ok {
		t.Error(`Preset("zapier") found`)
	}
	// Each call is a fresh Scheme: changing one changes no other.
	a, _ := signature.Preset("stripe")
	a.Content[1] = signature.Literal("!")
	a.List.SignatureKey = "v0"
	if b := signature.Stripe(); b.Content[1].Value != "." || b.List.SignatureKey != "v1" {
		t.Errorf("changing one Stripe scheme changed another: %+v", b)
	}
}

// TestHubSpotDecodedURL: HubSpot's documentation says to decode some escapes
// of the URI before signing; the preset accepts the URL either way. The
// signature is made up (computed here), as HubSpot publishes none for it.
func TestHubSpotDecodedURL(t *testing.T) {
	const secret = "made-up-client-secret"
	decoded := "https://hooks.example.test/v1/hooks/rk?x=a:b&y=(c)"
	encoded := "https://hooks.example.test/v1/hooks/rk?x=a%3Ab&y=%28c%29"
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("POST" + decoded + "{}" + "1700000000000"))
	h := http.Header{}
	h.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	h.Set("X-HubSpot-Request-Timestamp", "1700000000000")
	for _, u := range []string{decoded, encoded} {
		req := signature.Request{Method: "POST", URL: u, Header: h, Body: []byte("{}")}
		if err := signature.HubSpotV3().Verify(req, [][]byte{[]byte(secret)}, time.UnixMilli(1700000000000)); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
