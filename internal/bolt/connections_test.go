package bolt_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/bolt"
	"wiresk/internal/connection"
	"wiresk/internal/testkit/storetest"
)

// fieldNames returns every object key inside the JSON value v.
func fieldNames(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			out = append(out, k)
			out = append(out, fieldNames(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, fieldNames(e)...)
		}
	}
	return out
}

// TestConnectionRecordsHoldNoSecret runs a Connection's lifecycle with its
// Credentials in the vault of the same file, then checks that the store's
// records have no secret-like field and that no secret is anywhere in the
// file's bytes.
func TestConnectionRecordsHoldNoSecret(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := bolt.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	v, err := bolt.NewVault(db, filepath.Join(t.TempDir(), "vault.key"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ConnectionLifecycle(t, s)
	list, err := s.ListConnections(t.Context(), "grp_a")
	if err != nil {
		t.Fatal(err)
	}
	creds := connection.Credentials{AccessToken: "ya29.access-token-7f3a9c", RefreshToken: "1//refresh-token-c0ffee",
		TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), ClientID: "client-id-123", ClientSecret: "client-secret-9b8a",
		Extra: map[string]string{"id_token": "eyJ.id-token.sig"}}
	for _, c := range list {
		data, err := creds.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Put(t.Context(), connection.SecretName(c.ID), data); err != nil {
			t.Fatal(err)
		}
	}

	buckets := []string{"connections", "oauth_states", "leases", "connection_audit"}
	err = db.Bolt().View(func(tx *bbolt.Tx) error {
		for _, name := range buckets {
			n := 0
			err := tx.Bucket([]byte(name)).ForEach(func(k, raw []byte) error {
				n++
				var rec any
				if err := json.Unmarshal(raw, &rec); err != nil {
					t.Errorf("%s record %q is not JSON: %v", name, k, err)
					return nil
				}
				for _, f := range fieldNames(rec) {
					if storetest.SecretLikeName(f) {
						t.Errorf("%s record %q has a field named %q", name, k, f)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n == 0 {
				t.Errorf("bucket %s is empty after the lifecycle", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range creds.Secrets() {
		if bytes.Contains(file, []byte(secret)) {
			t.Errorf("the data file holds the secret %q in plaintext", secret)
		}
	}
}
