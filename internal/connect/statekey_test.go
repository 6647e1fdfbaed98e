package connect_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"wiresk/internal/bolt"
	"wiresk/internal/connect"
	"wiresk/internal/secrets"
	"wiresk/internal/testkit/smtest"
	"wiresk/internal/wiresk"
)

// boltVault returns an embedded vault in a fresh data directory.
func boltStateKeyVault(t *testing.T) *bolt.Vault {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(dir, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	v, err := bolt.NewVault(db, dir+"/vault.key")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const prefix = "wiresk/test"

// smVault returns the Secrets Manager vault on the protocol double srv,
// with Create.
func smVault(t *testing.T, srv *smtest.Server) connect.StateKeyVault {
	t.Helper()
	v, err := secrets.New(srv.Client(), prefix, secrets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMakesTheKeyOnce(t *testing.T) {
	ctx := context.Background()
	for name, v := range map[string]connect.StateKeyVault{
		"bolt":            boltStateKeyVault(t),
		"secrets manager": smVault(t, smtest.NewServer(t)),
	} {
		t.Run(name, func(t *testing.T) {
			key, err := connect.LoadStateKey(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(key), connect.StateKeySize; got != want {
				t.Errorf("key length: got %d, want %d", got, want)
			}
			stored, err := v.Get(ctx, connect.StateKeySecret)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stored, key; !bytes.Equal(got, want) {
				t.Errorf("stored key differs from the one returned")
			}
			again, err := connect.LoadStateKey(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := again, key; !bytes.Equal(got, want) {
				t.Errorf("second load: got another key, want the stored one")
			}
		})
	}
}

func TestKeepsAnExistingKey(t *testing.T) {
	ctx := context.Background()
	v := boltStateKeyVault(t)
	want := bytes.Repeat([]byte("k"), 48)
	if err := v.Put(ctx, connect.StateKeySecret, want); err != nil {
		t.Fatal(err)
	}
	got, err := connect.LoadStateKey(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("key: got %x, want %x", got, want)
	}
}

func TestRefusesAShortKey(t *testing.T) {
	ctx := context.Background()
	v := boltStateKeyVault(t)
	short := []byte("too short")
	if err := v.Put(ctx, connect.StateKeySecret, short); err != nil {
		t.Fatal(err)
	}
	_, err := connect.LoadStateKey(ctx, v)
	if err == nil {
		t.Fatal("error: got nil, want one about the short key")
	}
	stored, err := v.Get(ctx, connect.StateKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stored, short; !bytes.Equal(got, want) {
		t.Errorf("stored key: got %q, want it left as it was (%q)", got, want)
	}
}

// failingVault fails every Get with a store error.
type failingVault struct {
	connect.StateKeyVault
	puts int
}

func (f *failingVault) Get(context.Context, string) ([]byte, error) {
	return nil, errors.New("vault unavailable")
}

func (f *failingVault) Put(context.Context, string, []byte) error {
	f.puts++
	return nil
}

func TestReadErrorMakesNoKey(t *testing.T) {
	v := &failingVault{}
	if _, err := connect.LoadStateKey(context.Background(), v); err == nil {
		t.Fatal("error: got nil, want the vault's")
	}
	if got, want := v.puts, 0; got != want {
		t.Errorf("puts: got %d, want %d (a key must not replace one that could not be read)", got, want)
	}
}

// raceVault plays a second creator: its first Get finds nothing, although
// the other creator's key is stored (or is stored right after our Put).
type raceVault struct {
	connect.StateKeyVault
	other     []byte
	afterPut  bool
	firstDone bool
}

func (r *raceVault) Get(ctx context.Context, name string) ([]byte, error) {
	if !r.firstDone {
		r.firstDone = true
		return nil, fmt.Errorf("get %s: %w", name, wiresk.ErrNotFound)
	}
	return r.StateKeyVault.Get(ctx, name)
}

func (r *raceVault) Put(ctx context.Context, name string, value []byte) error {
	if err := r.StateKeyVault.Put(ctx, name, value); err != nil {
		return err
	}
	if r.afterPut {
		return r.StateKeyVault.Put(ctx, name, r.other)
	}
	return nil
}

func TestASecondCreatorRereads(t *testing.T) {
	ctx := context.Background()
	other := bytes.Repeat([]byte{7}, connect.StateKeySize)

	t.Run("put, then the other's put", func(t *testing.T) {
		v := &raceVault{StateKeyVault: boltStateKeyVault(t), other: other, afterPut: true}
		got, err := connect.LoadStateKey(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := other; !bytes.Equal(got, want) {
			t.Errorf("key: got %x, want the stored one %x", got, want)
		}
	})

	t.Run("create conflicts", func(t *testing.T) {
		srv := smtest.NewServer(t)
		base := smVault(t, srv)
		if err := base.Put(ctx, connect.StateKeySecret, other); err != nil {
			t.Fatal(err)
		}
		// The embedded Vault is a Creator: keep it one.
		v := &raceCreator{raceVault{StateKeyVault: base}, base.(connect.SecretCreator)}
		got, err := connect.LoadStateKey(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := other; !bytes.Equal(got, want) {
			t.Errorf("key: got %x, want the winner's %x", got, want)
		}
		if got, want := srv.Calls("PutSecretValue"), 0; got != want {
			t.Errorf("PutSecretValue calls: got %d, want %d (the winner's key must stay)", got, want)
		}
	})
}

// raceCreator is a raceVault that is a Creator.
type raceCreator struct {
	raceVault
	connect.SecretCreator
}

func TestConcurrentFirstLoadsAgree(t *testing.T) {
	ctx := context.Background()
	srv := smtest.NewServer(t)
	// Separate vaults, each with its own cache: separate Lambda instances.
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		v := smVault(t, srv)
		wg.Go(func() { keys[i], errs[i] = connect.LoadStateKey(ctx, v) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("load %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("load %d got another key than load 0", i)
		}
	}
	if got, want := srv.Calls("PutSecretValue"), 0; got != want {
		t.Errorf("PutSecretValue calls: got %d, want %d (CreateSecret alone decides)", got, want)
	}
}

func TestRestoresAKeyScheduledForDeletion(t *testing.T) {
	ctx := context.Background()
	srv := smtest.NewServer(t)
	v := smVault(t, srv)
	if _, err := connect.LoadStateKey(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client().DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(prefix + "/" + connect.StateKeySecret)}); err != nil {
		t.Fatal(err)
	}
	// A fresh instance: nothing cached.
	key, err := connect.LoadStateKey(ctx, smVault(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if exists, pending, _ := srv.Secret(prefix + "/" + connect.StateKeySecret); !exists || pending {
		t.Errorf("secret: exists %v, scheduled for deletion %v; want it restored", exists, pending)
	}
	stored, err := smVault(t, srv).Get(ctx, connect.StateKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, key) {
		t.Errorf("stored key differs from the one returned")
	}
}
