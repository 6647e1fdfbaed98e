package signature_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wiresk/internal/signature"
)

// FuzzVerify: whatever the headers, body, URL and method, no scheme panics,
// and every failure is a signature failure with a reason whose message holds
// no secret.
func FuzzVerify(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		body, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(v.BodyFile)))
		if err != nil {
			f.Fatal(err)
		}
		s, _ := signature.Preset(v.Preset)
		f.Add(v.Method, v.URL, v.Headers[s.Header], v.Headers[s.TimestampHeader], body)
	}
	f.Add("POST", "https://h/x?bodySHA256=zz", "t=1,v1=,v1=00,=,,", "", []byte("a=%zz&b"))
	f.Add("", "::", "sha256=", "99999999999999999999", []byte{0xff, 0x00})

	const secret = "fuzz-secret-never-echoed"
	schemes := []signature.Scheme{acme(), madeUpList()}
	for _, n := range signature.Presets() {
		s, _ := signature.Preset(n)
		schemes = append(schemes, s)
	}
	f.Fuzz(func(t *testing.T, method, url, sig, ts string, body []byte) {
		for _, s := range schemes {
			h := http.Header{}
			h.Set(s.Header, sig)
			if s.TimestampHeader != "" {
				h.Set(s.TimestampHeader, ts)
			}
			h.Set("X-Acme-Id", ts)
			req := signature.Request{Method: method, URL: url, Header: h, Body: body}
			err := s.Verify(req, [][]byte{[]byte("other"), []byte(secret)}, time.Unix(1700000000, 0))
			if err == nil {
				continue
			}
			if signature.Reason(err) == "" {
				t.Fatalf("%s: failure without a reason: %v", s.Name, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: message holds the secret: %v", s.Name, err)
			}
		}
	})
}
