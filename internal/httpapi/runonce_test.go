package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// storedBytes returns every key and value of the bbolt file, the queue's
// messages included.
func (s *system) storedBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := s.db.Bolt().View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			buf.Write(name)
			return walk(&buf, b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRunOnceNeverRecordsCredentialHeaders(t *testing.T) {
	s := MustSystem(t)
	f := MustFixture(t, s)
	secrets := map[string]string{
		"Authorization":       "Bearer sample-secret-authorization",
		"X-API-Key":           "sample-secret-api-key",
		"Cookie":              "session=sample-secret-cookie",
		"proxy-authorization": "Basic sample-secret-proxy",
	}
	headers := map[string]string{"X-Source": "crm"}
	for k, v := range secrets {
		headers[k] = v
	}
	r := s.api(t, f.alice, "POST", "/v1/groups/grp_a/run-once", map[string]any{
		"routingKey": f.hook,
		"request":    map[string]any{"headers": headers, "body": map[string]any{"email": "ada@example.com"}},
	})
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("run once: %d %s", r.Status, r.Body)
	}
	stored := s.storedBytes(t)
	if !bytes.Contains(stored, []byte("crm")) {
		t.Fatalf("the sample request's other headers were not recorded; the test looks in the wrong place")
	}
	for name, v := range secrets {
		secret := v[strings.Index(v, "sample-secret"):]
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("the %s header of the sample request was stored (job or Run)", name)
		}
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("the %s header of the sample request is in the response", name)
		}
	}
}
