// Package vaulttest is the contract test suite of the vault port. Every vault
// adapter (the embedded bolt vault, AWS Secrets Manager) runs it unchanged,
// so it tests only what the port promises, through its methods.
package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"wiresk/internal/wiresk"
)

// Vault is the secrets port as the suite tests it.
type Vault interface {
	// Put stores value as the secret name, creating or replacing it.
	Put(ctx context.Context, name string, value []byte) error
	// Get returns the value of the secret name. A missing secret is an
	// error wrapping wiresk.ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the secret name. A missing secret is an error wrapping
	// wiresk.ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// Run runs the contract suite. newVault must return a new, empty vault and
// arrange its cleanup with t.Cleanup. The subtests run in parallel, each on
// its own vault. No error of any method may contain a secret's value.
func Run(t *testing.T, newVault func(t *testing.T) Vault) {
	t.Run("PutGetRoundTrip", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		put(t, v, "stripe/api-key", []byte("sk_live_round_trip_51H"))
		if got, want := get(t, v, "stripe/api-key"), []byte("sk_live_round_trip_51H"); !bytes.Equal(got, want) {
			t.Errorf("Get = %q, want %q", got, want)
		}
	})
	t.Run("BinaryValue", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		value := make([]byte, 256)
		for i := range value {
			value[i] = byte(i)
		}
		put(t, v, "binary", value)
		if got, want := get(t, v, "binary"), value; !bytes.Equal(got, want) {
			t.Errorf("Get = %x, want %x", got, want)
		}
	})
	t.Run("PutReplaces", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		put(t, v, "token", []byte("first-value-1111"))
		put(t, v, "token", []byte("second-value-2222"))
		if got, want := get(t, v, "token"), []byte("second-value-2222"); !bytes.Equal(got, want) {
			t.Errorf("Get = %q, want %q", got, want)
		}
	})
	t.Run("DeleteThenGetNotFound", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		put(t, v, "gone", []byte("deleted-value-3333"))
		if err := v.Delete(t.Context(), "gone"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		got, err := v.Get(t.Context(), "gone")
		if want := wiresk.ErrNotFound; !errors.Is(err, want) {
			t.Errorf("Get after Delete = %q, %v; want an error wrapping %v", got, err, want)
		}
	})
	t.Run("GetMissingNotFound", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		got, err := v.Get(t.Context(), "never-stored")
		if want := wiresk.ErrNotFound; !errors.Is(err, want) {
			t.Errorf("Get(missing) = %q, %v; want an error wrapping %v", got, err, want)
		}
	})
	t.Run("DeleteMissingNotFound", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		err := v.Delete(t.Context(), "never-stored")
		if want := wiresk.ErrNotFound; !errors.Is(err, want) {
			t.Errorf("Delete(missing) = %v, want an error wrapping %v", err, want)
		}
	})
	t.Run("NamesIsolated", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		put(t, v, "a", []byte("value-of-a-4444"))
		put(t, v, "b", []byte("value-of-b-5555"))
		if got, want := get(t, v, "a"), []byte("value-of-a-4444"); !bytes.Equal(got, want) {
			t.Errorf("Get(a) = %q, want %q", got, want)
		}
		if got, want := get(t, v, "b"), []byte("value-of-b-5555"); !bytes.Equal(got, want) {
			t.Errorf("Get(b) = %q, want %q", got, want)
		}
		if err := v.Delete(t.Context(), "a"); err != nil {
			t.Fatalf("Delete(a): %v", err)
		}
		if got, want := get(t, v, "b"), []byte("value-of-b-5555"); !bytes.Equal(got, want) {
			t.Errorf("Get(b) after Delete(a) = %q, want %q", got, want)
		}
		if _, err := v.Get(t.Context(), "a"); !errors.Is(err, wiresk.ErrNotFound) {
			t.Errorf("Get(a) after Delete(a) = %v, want an error wrapping %v", err, wiresk.ErrNotFound)
		}
	})
	t.Run("ErrorsNeverContainSecret", func(t *testing.T) {
		t.Parallel()
		v := newVault(t)
		const secret = "s3cr3t-never-in-errors-6666"
		put(t, v, "kept", []byte(secret))
		ctx := t.Context()
		var errs []error
		// A name the vault must refuse, with the secret as value.
		errs = append(errs, v.Put(ctx, "", []byte(secret)))
		if errs[0] == nil {
			t.Error(`Put("") = nil, want an error`)
		}
		// Secret-looking names that do not exist.
		_, err := v.Get(ctx, "missing")
		errs = append(errs, err, v.Delete(ctx, "missing"))
		// A cancelled context.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		errs = append(errs, v.Put(cctx, "kept", []byte(secret)))
		_, err = v.Get(cctx, "kept")
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		}
	})
}

// put stores value as name or fails the test.
func put(t *testing.T, v Vault, name string, value []byte) {
	t.Helper()
	if err := v.Put(t.Context(), name, value); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

// get returns the value of name or fails the test.
func get(t *testing.T, v Vault, name string) []byte {
	t.Helper()
	got, err := v.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return got
}
