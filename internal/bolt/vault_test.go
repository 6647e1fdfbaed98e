package bolt_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/bolt"
	"wiresk/internal/testkit/vaulttest"
	"wiresk/internal/wiresk"
)

func TestVaultContract(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vaulttest.Vault {
		return newVault(t, openDataDir(t, t.TempDir()), filepath.Join(t.TempDir(), "vault.key"))
	})
}

func TestVaultCreatesKeyFile0600(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	newVault(t, openDataDir(t, t.TempDir()), keyFile)
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("Stat key file: %v", err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("key file mode = %04o, want %04o", got, want)
	}
	if got, want := fi.Size(), int64(bolt.KeySize); got != want {
		t.Errorf("key file size = %d, want %d", got, want)
	}
}

func TestVaultReopenWithSameKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir, keyFile := t.TempDir(), filepath.Join(t.TempDir(), "vault.key")
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := newVault(t, db, keyFile).Put(ctx, "name", []byte("kept-across-reopen")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := newVault(t, openDataDir(t, dir), keyFile).Get(ctx, "name")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if want := "kept-across-reopen"; string(got) != want {
		t.Errorf("Get after reopen = %q, want %q", got, want)
	}
}

func TestVaultFileHasNoPlaintext(t *testing.T) {
	t.Parallel()
	const secret = "plaintext-must-not-hit-the-disk-7777"
	dir := t.TempDir()
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	v := newVault(t, db, filepath.Join(t.TempDir(), "vault.key"))
	for _, name := range []string{"one", "two"} {
		if err := v.Put(t.Context(), name, []byte(secret)); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatalf("read bbolt file: %v", err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("bbolt file contains the plaintext of a secret")
	}
}

func TestVaultCiphertextBoundToName(t *testing.T) {
	t.Parallel()
	const secret = "bound-to-its-name-8888"
	ctx := t.Context()
	db := openDataDir(t, t.TempDir())
	v := newVault(t, db, filepath.Join(t.TempDir(), "vault.key"))
	if err := v.Put(ctx, "original", []byte(secret)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// Copy the stored bytes under another name, wherever the vault keeps them.
	copied := false
	err := db.Bolt().Update(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			if c := b.Get([]byte("original")); c != nil && !copied {
				copied = true
				return b.Put([]byte("moved"), bytes.Clone(c))
			}
			return nil
		})
	})
	if err != nil || !copied {
		t.Fatalf("copy ciphertext: copied %v, err %v", copied, err)
	}
	got, err := v.Get(ctx, "moved")
	if err == nil {
		t.Fatalf("Get(moved) = %q, nil; want a decryption error", got)
	}
	if errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Get(moved) = %v, want a decryption error, not not-found", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the secret", err)
	}
}

func TestVaultWrongKeyFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openDataDir(t, t.TempDir())
	if err := newVault(t, db, filepath.Join(t.TempDir(), "a.key")).Put(ctx, "name", []byte("for-key-a-9999")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	_, err := newVault(t, db, filepath.Join(t.TempDir(), "b.key")).Get(ctx, "name")
	if err == nil || errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Get with another key = %v, want a decryption error", err)
	}
}

func TestVaultRefusesBadKeyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
		mode os.FileMode
	}{
		{"readable by others", bolt.KeySize, 0o644},
		{"readable by group", bolt.KeySize, 0o640},
		{"too short", 16, 0o600},
		{"too long", bolt.KeySize + 1, 0o600},
		{"empty", 0, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keyFile := filepath.Join(t.TempDir(), "vault.key")
			if err := os.WriteFile(keyFile, make([]byte, tt.size), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(keyFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			v, err := bolt.NewVault(openDataDir(t, t.TempDir()), keyFile)
			if err == nil {
				t.Fatalf("NewVault = %v, nil; want an error", v)
			}
			if !strings.Contains(err.Error(), keyFile) {
				t.Errorf("error %q does not name the key file %s", err, keyFile)
			}
			// The file is left as it was.
			if fi, err := os.Stat(keyFile); err != nil || fi.Size() != int64(tt.size) {
				t.Errorf("key file changed: %v, %v", fi, err)
			}
		})
	}
}

// newVault returns the vault of db with the key in keyFile.
func newVault(t *testing.T, db *bolt.DB, keyFile string) *bolt.Vault {
	t.Helper()
	v, err := bolt.NewVault(db, keyFile)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	return v
}
