package bolt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/wiresk"
)

// KeySize is the size in bytes of the vault's key file: an AES-256 key.
const KeySize = 32

// vaultBucket is the bucket of the encrypted secrets, keyed by name.
const vaultBucket = "vault"

// sealVersion is the first byte of every stored secret: version, then the
// 12-byte nonce, then the AES-256-GCM ciphertext and tag.
const sealVersion = 1

// Vault stores secrets in the bbolt file, encrypted with AES-256-GCM under a
// key kept in a separate key file, with a random nonce per write and the
// secret's name as additional data, so that a ciphertext copied under another
// name does not decrypt. Errors never contain a secret's value. It is safe
// for concurrent use.
type Vault struct {
	db   *DB
	aead cipher.AEAD
}

// NewVault returns the vault of db, encrypted with the key in keyFile. If
// keyFile does not exist, NewVault creates it with a new random key and mode
// 0600. It refuses a key file that is not KeySize bytes long, or (except on
// Windows) one that group or others may read or write.
func NewVault(db *DB, keyFile string) (*Vault, error) {
	key, err := loadKey(keyFile)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	if err := db.ensureBuckets(vaultBucket); err != nil {
		return nil, fmt.Errorf("create vault: %w", err)
	}
	return &Vault{db: db, aead: aead}, nil
}

// loadKey reads the key file, creating it first if it does not exist.
func loadKey(keyFile string) ([]byte, error) {
	if err := createKey(keyFile); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	f, err := os.Open(keyFile)
	if err != nil {
		return nil, fmt.Errorf("open vault key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault key file %s is not a regular file", keyFile)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("vault key file %s has mode %04o: group and others must have no access (chmod 600 %s)", keyFile, perm, keyFile)
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("vault key file %s has %d bytes, want %d", keyFile, fi.Size(), KeySize)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("read vault key file %s: %w", keyFile, err)
	}
	return key, nil
}

// createKey creates keyFile with a new random key. It fails with an error
// wrapping fs.ErrExist if the file exists, and never overwrites it.
func createKey(keyFile string) error {
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("create vault key file: %w", err)
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(keyFile)
		return fmt.Errorf("write vault key file: %w", err)
	}
	return nil
}

// Put stores value as the secret name, creating or replacing it.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSecretName(name); err != nil {
		return err
	}
	nonceSize := v.aead.NonceSize()
	sealed := make([]byte, 1+nonceSize, 1+nonceSize+len(value)+v.aead.Overhead())
	sealed[0] = sealVersion
	_, _ = rand.Read(sealed[1:])
	sealed = v.aead.Seal(sealed, sealed[1:1+nonceSize], value, []byte(name))
	err := v.db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(vaultBucket)).Put([]byte(name), sealed)
	})
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	return nil
}

// Get returns the value of the secret name. A missing secret is an error
// wrapping wiresk.ErrNotFound; one that does not decrypt (wrong key file,
// tampered or moved data) is another error.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSecretName(name); err != nil {
		return nil, err
	}
	var value []byte
	err := v.db.bolt.View(func(tx *bbolt.Tx) error {
		sealed := tx.Bucket([]byte(vaultBucket)).Get([]byte(name))
		if sealed == nil {
			return wiresk.ErrNotFound
		}
		nonceSize := v.aead.NonceSize()
		if len(sealed) < 1+nonceSize+v.aead.Overhead() || sealed[0] != sealVersion {
			return errors.New("stored secret is corrupt")
		}
		// Open allocates value: nothing of the transaction's memory escapes.
		var err error
		value, err = v.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], []byte(name))
		if err != nil {
			return errors.New("stored secret does not decrypt (wrong key file, or tampered data)")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", name, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// Delete removes the secret name. A missing secret is an error wrapping
// wiresk.ErrNotFound.
func (v *Vault) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSecretName(name); err != nil {
		return err
	}
	err := v.db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(vaultBucket))
		if b.Get([]byte(name)) == nil {
			return wiresk.ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// checkSecretName refuses a name bbolt cannot store as a key.
func checkSecretName(name string) error {
	if name == "" {
		return wiresk.FieldError("name", "must not be empty")
	}
	if len(name) > bbolt.MaxKeySize {
		return wiresk.FieldError("name", "must be at most %d bytes", bbolt.MaxKeySize)
	}
	return nil
}
