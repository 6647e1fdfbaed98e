package signature_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"wiresk/internal/signature"
	"wiresk/internal/wiresk"
)

// acme is a MADE-UP scheme, no provider's: it exists to exercise the parts of
// a Scheme the presets leave out (SHA-512, a signature prefix on base64, a
// Header part, literals between parts, a custom tolerance). Its signatures
// are computed in the test with crypto/hmac, independently of the package.
func acme() signature.Scheme {
	return signature.Scheme{
		Name:      "acme (made up)",
		Algorithm: signature.SHA512,
		Header:    "X-Acme-Signature",
		Encoding:  signature.Base64,
		Prefix:    "acme1:",
		Content: []signature.Part{
			signature.Literal("acme|"), signature.Header("X-Acme-Id"), signature.Literal("|"),
			signature.Method(), signature.Literal("|"), signature.URL(), signature.Literal("|"),
			signature.Timestamp(), signature.Literal("|"), signature.Body(),
		},
		TimestampHeader: "X-Acme-Time",
		Tolerance:       2 * time.Minute,
	}
}

const (
	acmeSecret = "acme-made-up-secret"
	acmeTS     = 1700000000
	acmeURL    = "https://hooks.example.test/v1/hooks/rk_1?a=1"
	acmeBody   = `{"made":"up"}`
)

func acmeRequest() signature.Request {
	signed := "acme|evt_1|POST|" + acmeURL + "|1700000000|" + acmeBody
	m := hmac.New(sha512.New, []byte(acmeSecret))
	m.Write([]byte(signed))
	h := http.Header{}
	h.Set("X-Acme-Signature", "acme1:"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	h.Set("X-Acme-Id", "evt_1")
	h.Set("X-Acme-Time", "1700000000")
	return signature.Request{Method: "POST", URL: acmeURL, Header: h, Body: []byte(acmeBody)}
}

// madeUpList is a MADE-UP list scheme (no provider's): "ts:<s>; s1:<b64>; …",
// HMAC-SHA1 over "<ts>/<body>".
func madeUpList() signature.Scheme {
	return signature.Scheme{
		Name:      "list (made up)",
		Algorithm: signature.SHA1,
		Header:    "X-Made-Up-Signatures",
		Encoding:  signature.Base64,
		List:      &signature.List{Separator: ";", Assign: ":", SignatureKey: "s1", TimestampKey: "ts"},
		Content:   []signature.Part{signature.Timestamp(), signature.Literal("/"), signature.Body()},
	}
}

func sha1B64(secret, content string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// longToken matches what an echoed signature would look like in a message.
var longToken = regexp.MustCompile(`[A-Za-z0-9+/=_]{20,}`)

// checkErr fails unless err has the wanted reason and its message echoes
// neither the secret nor any signature (received or expected).
func checkErr(t *testing.T, err error, want string, secret string, sigHeader string) {
	t.Helper()
	if got := signature.Reason(err); got != want {
		t.Fatalf("Reason = %q, want %q (err %v)", got, want, err)
	}
	if want == "" {
		return
	}
	msg := err.Error()
	if secret != "" && strings.Contains(msg, secret) {
		t.Fatalf("message %q holds the secret", msg)
	}
	if sigHeader != "" && strings.Contains(msg, sigHeader) {
		t.Fatalf("message %q holds the signature", msg)
	}
	if tok := longToken.FindString(msg); tok != "" {
		t.Fatalf("message %q holds %q, which looks like a signature", msg, tok)
	}
}

func TestMadeUpScheme(t *testing.T) {
	now := time.Unix(acmeTS, 0)
	secrets := [][]byte{[]byte(acmeSecret)}
	set := func(k, v string) func(*signature.Request) {
		return func(r *signature.Request) { r.Header.Set(k, v) }
	}
	other := hmac.New(sha256.New, []byte(acmeSecret)).Sum(nil) // a 32-byte value
	tests := []struct {
		name    string
		scheme  func() signature.Scheme
		change  func(*signature.Request)
		secrets [][]byte
		now     time.Time
		want    string // a reason, "" for valid
	}{
		{name: "valid"},
		{name: "at the tolerance", now: now.Add(2 * time.Minute)},
		{name: "stale", now: now.Add(2*time.Minute + time.Second), want: "stale"},
		{name: "future", now: now.Add(-2*time.Minute - time.Second), want: "stale"},
		{name: "zero tolerance is five minutes", scheme: func() signature.Scheme {
			s := acme()
			s.Tolerance = 0
			return s
		}, now: now.Add(5 * time.Minute)},
		{name: "zero tolerance is not six minutes", scheme: func() signature.Scheme {
			s := acme()
			s.Tolerance = 0
			return s
		}, now: now.Add(6 * time.Minute), want: "stale"},
		{name: "method", change: func(r *signature.Request) { r.Method = "PUT" }, want: "mismatch"},
		{name: "url", change: func(r *signature.Request) { r.URL += "&b=2" }, want: "mismatch"},
		{name: "signed header", change: set("X-Acme-Id", "evt_2"), want: "mismatch"},
		{name: "timestamp", change: set("X-Acme-Time", "1700000001"), want: "mismatch"},
		{name: "unsigned header changed", change: set("X-Other", "x")},
		{name: "no signed header", change: func(r *signature.Request) { r.Header.Del("X-Acme-Id") }, want: "missing"},
		{name: "no timestamp header", change: func(r *signature.Request) { r.Header.Del("X-Acme-Time") }, want: "missing"},
		{name: "no signature header", change: func(r *signature.Request) { r.Header.Del("X-Acme-Signature") }, want: "missing"},
		{name: "signed timestamp with a sign", change: set("X-Acme-Time", "+1700000000"), want: "malformed"},
		{name: "signed timestamp too long", change: set("X-Acme-Time", "1234567890123456789"), want: "malformed"},
		{name: "no prefix", change: func(r *signature.Request) {
			r.Header.Set("X-Acme-Signature", strings.TrimPrefix(r.Header.Get("X-Acme-Signature"), "acme1:"))
		}, want: "malformed"},
		{name: "wrong length", change: set("X-Acme-Signature", "acme1:"+base64.StdEncoding.EncodeToString(other)), want: "malformed"},
		{name: "unpadded base64", change: func(r *signature.Request) {
			r.Header.Set("X-Acme-Signature", strings.TrimRight(r.Header.Get("X-Acme-Signature"), "="))
		}, want: "malformed"},
		{name: "second secret", secrets: [][]byte{[]byte("old"), []byte(acmeSecret)}},
		{name: "empty secrets skipped", secrets: [][]byte{{}, []byte(acmeSecret)}},

		{name: "list: valid second entry", scheme: madeUpList, change: set("X-Made-Up-Signatures",
			"ts:1700000000; s1:"+sha1B64("old", "1700000000/"+acmeBody)+"; s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody))},
		{name: "list: undecodable entry skipped, other keys ignored", scheme: madeUpList, change: set("X-Made-Up-Signatures",
			"s1:!!;s0:xyz;ts:1700000000;s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody))},
		{name: "list: only undecodable", scheme: madeUpList, change: set("X-Made-Up-Signatures", "ts:1700000000;s1:!!"), want: "malformed"},
		{name: "list: no timestamp", scheme: madeUpList, change: set("X-Made-Up-Signatures",
			"s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody)), want: "malformed"},
		{name: "list: entry without assign", scheme: madeUpList, change: set("X-Made-Up-Signatures",
			"ts:1700000000;junk;s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody)), want: "malformed"},
		{name: "list: other timestamp", scheme: madeUpList, change: set("X-Made-Up-Signatures",
			"ts:1700000001;s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody)), want: "mismatch"},
		{name: "list: stale", scheme: madeUpList, now: now.Add(time.Hour), change: set("X-Made-Up-Signatures",
			"ts:1700000000;s1:"+sha1B64(acmeSecret, "1700000000/"+acmeBody)), want: "stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := acme()
			if tt.scheme != nil {
				s = tt.scheme()
			}
			req := acmeRequest()
			if tt.change != nil {
				tt.change(&req)
			}
			sec := secrets
			if tt.secrets != nil {
				sec = tt.secrets
			}
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			err := s.Verify(req, sec, at)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				return
			}
			checkErr(t, err, tt.want, acmeSecret, "")
			if wiresk.ErrorCode(err) != wiresk.EUnauthenticated {
				t.Fatalf("code %q", wiresk.ErrorCode(err))
			}
		})
	}
}

// TestHexAndKeyings: a made-up hex scheme accepts either case, and a
// SecretPrefix scheme is hash(secret + content), as HubSpot v1/v2 are.
func TestHexAndKeyings(t *testing.T) {
	body := []byte("made-up body")
	m := hmac.New(sha256.New, []byte("k"))
	m.Write(body)
	mac := hex.EncodeToString(m.Sum(nil))
	digest := sha256.Sum256(append([]byte("k"), body...))
	for _, tt := range []struct {
		keying signature.Keying
		sig    string
	}{
		{"", mac},
		{signature.HMAC, strings.ToUpper(mac)},
		{signature.SecretPrefix, hex.EncodeToString(digest[:])},
	} {
		s := signature.Scheme{Algorithm: signature.SHA256, Keying: tt.keying, Header: "X-Sig", Encoding: signature.Hex, Content: []signature.Part{signature.Body()}}
		req := signature.Request{Header: http.Header{"X-Sig": {tt.sig}}, Body: body}
		if err := s.Verify(req, [][]byte{[]byte("k")}, time.Now()); err != nil {
			t.Errorf("keying %q: %v", tt.keying, err)
		}
	}
}

func TestVerifyMisconfigured(t *testing.T) {
	req := acmeRequest()
	for name, secrets := range map[string][][]byte{"none": nil, "only empty": {{}, nil}} {
		err := acme().Verify(req, secrets, time.Unix(acmeTS, 0))
		if wiresk.ErrorCode(err) != wiresk.EInternal || signature.Reason(err) != "" {
			t.Errorf("secrets %s: %v", name, err)
		}
	}
	s := acme()
	s.Algorithm = "md5"
	err := s.Verify(req, [][]byte{[]byte(acmeSecret)}, time.Unix(acmeTS, 0))
	if wiresk.ErrorCode(err) != wiresk.EInternal || signature.Reason(err) != "" {
		t.Errorf("invalid scheme: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		field  string
		change func(*signature.Scheme)
	}{
		{"algorithm", func(s *signature.Scheme) { s.Algorithm = "md5" }},
		{"keying", func(s *signature.Scheme) { s.Keying = "plain" }},
		{"header", func(s *signature.Scheme) { s.Header = " " }},
		{"encoding", func(s *signature.Scheme) { s.Encoding = "base32" }},
		{"prefix", func(s *signature.Scheme) { s.List = &signature.List{Separator: ",", Assign: "=", SignatureKey: "v1"} }},
		{"list", func(s *signature.Scheme) { s.Prefix = ""; s.List = &signature.List{Separator: ","} }},
		{"timestampHeader", func(s *signature.Scheme) {
			s.Prefix = ""
			s.List = &signature.List{Separator: ",", Assign: "=", SignatureKey: "v1", TimestampKey: "t"}
		}},
		{"content", func(s *signature.Scheme) { s.Content = nil }},
		{"content", func(s *signature.Scheme) { s.Content = append(s.Content, signature.Part{Kind: "query"}) }},
		{"content", func(s *signature.Scheme) { s.Content = append(s.Content, signature.Header("")) }},
		{"content", func(s *signature.Scheme) { s.TimestampHeader = "" }},                         // signed, not sent
		{"content", func(s *signature.Scheme) { s.Content = []signature.Part{signature.Body()} }}, // sent, not signed
		{"timestampUnit", func(s *signature.Scheme) { s.TimestampUnit = time.Minute }},
		{"tolerance", func(s *signature.Scheme) { s.Tolerance = -time.Second }},
		{"urlVariants", func(s *signature.Scheme) { s.URLVariants = 1 << 7 }},
	}
	if err := acme().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		s := acme()
		tt.change(&s)
		err := s.Validate()
		if wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != tt.field {
			t.Errorf("want a validation error on %s, got %v", tt.field, err)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("signature mismatch: x"), ""},
		{wiresk.Errorf(wiresk.EInvalid, "signature mismatch: x"), ""},
		{wiresk.Errorf(wiresk.EUnauthenticated, "token expired"), ""},
		{wiresk.Errorf(wiresk.EUnauthenticated, "signature odd: x"), ""},
		{wiresk.Errorf(wiresk.EUnauthenticated, "signature stale: x"), "stale"},
	} {
		if got := signature.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	// Wrapped errors keep their reason.
	err := acme().Verify(signature.Request{Header: http.Header{}}, [][]byte{[]byte("s")}, time.Now())
	if got := signature.Reason(errors.Join(errors.New("ingress"), err)); got != signature.ReasonMissing {
		t.Errorf("wrapped: %q", got)
	}
}
