// Package blobtest is the contract test suite of the body store, where the
// webhook bodies too large for a queue message are kept by reference
// (run.BodyRef). Every adapter (fileblob on the data directory, s3blob on
// Amazon S3, here gofakes3) runs it unchanged, through its methods only.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// Store is the body store as the suite tests it: the ingress's Put and
// the worker's Get.
type Store interface {
	// Put stores body under key, replacing what was there, and returns
	// only once it is durably stored. A key not of run.StoredBody's form is
	// an invalid_request *wiresk.Error.
	Put(ctx context.Context, key string, body []byte) error
	// Get returns the body stored under key: an error wrapping
	// wiresk.ErrNotFound when there is none, invalid_request for a key not
	// of run.StoredBody's form.
	Get(ctx context.Context, key string) ([]byte, error)
}

// Random returns n bytes of seeded random data: binary, mostly not UTF-8.
func Random(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// Run runs the suite; open returns an empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("FiveMiBBinaryRoundTripsByteExact", func(t *testing.T) {
		s := open(t)
		body := Random(1, 5<<20)
		ref := run.StoredBody("grp_blobtest", "run_big", body)
		if err := s.Put(t.Context(), ref.Key, body); err != nil {
			t.Fatalf("Put of 5 MiB: %v", err)
		}
		got, err := s.Get(t.Context(), ref.Key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("Get returned %d bytes, not the %d put", len(got), len(body))
		}
		if err := ref.Check(got); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EmptyAndSmallBodies", func(t *testing.T) {
		s := open(t)
		for i, body := range [][]byte{{}, {0}, []byte("{\"a\":1}\n"), {0xff, 0xfe, 0x00, 0x80}} {
			ref := run.StoredBody("grp_blobtest", fmt.Sprintf("run_small%d", i), body)
			if err := s.Put(t.Context(), ref.Key, body); err != nil {
				t.Fatalf("Put %q: %v", body, err)
			}
			got, err := s.Get(t.Context(), ref.Key)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("Get %s = %q, %v; want %q", ref.Key, got, err, body)
			}
		}
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := open(t)
		ref := run.StoredBody("grp_blobtest", "run_missing", []byte("never stored"))
		_, err := s.Get(t.Context(), ref.Key)
		if !errors.Is(err, wiresk.ErrNotFound) {
			t.Fatalf("Get of a key never put: %v, want an error wrapping wiresk.ErrNotFound", err)
		}
	})
	t.Run("PutAgainReplaces", func(t *testing.T) {
		// A retried delivery writes the same key again; the last Put wins.
		s := open(t)
		key := run.StoredBody("grp_blobtest", "run_again", []byte("x")).Key
		for _, body := range [][]byte{Random(2, 300<<10), Random(3, 200<<10)} {
			if err := s.Put(t.Context(), key, body); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(t.Context(), key); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("after a second Put, Get = %d bytes, %v; want the %d bytes last put", len(got), err, len(body))
			}
		}
	})
	t.Run("KeysAreSeparate", func(t *testing.T) {
		// Same Run id in two Groups, two Runs of one Group, concurrently.
		s := open(t)
		var wg sync.WaitGroup
		bodies := map[string][]byte{}
		for i, gr := range []string{"grp_a", "grp_b", "grp_a", "grp_b", "grp_a", "grp_c"} {
			body := Random(uint64(10+i), 100<<10+i)
			ref := run.StoredBody(gr, fmt.Sprintf("run_%d", i%3), body)
			bodies[ref.Key] = body
			wg.Go(func() {
				if err := s.Put(t.Context(), ref.Key, body); err != nil {
					t.Errorf("Put %s: %v", ref.Key, err)
				}
			})
		}
		wg.Wait()
		for key, body := range bodies {
			if got, err := s.Get(t.Context(), key); err != nil || !bytes.Equal(got, body) {
				t.Errorf("Get %s = %d bytes, %v; want the %d bytes put", key, len(got), err, len(body))
			}
		}
	})
	t.Run("MalformedKeysRefused", func(t *testing.T) {
		s := open(t)
		for _, key := range []string{"", "bodies/", "bodies/grp/run", "bodies/grp/../x", "bodies/../../etc/passwd", "/bodies/g/r/s", "other/g/r/s", "bodies/g/r/s/t", "bodies/g/r/s\x00"} {
			if err := s.Put(t.Context(), key, []byte("x")); wiresk.ErrorCode(err) != wiresk.EInvalid {
				t.Errorf("Put %q: %v, want invalid_request", key, err)
			}
			if _, err := s.Get(t.Context(), key); wiresk.ErrorCode(err) != wiresk.EInvalid {
				t.Errorf("Get %q: %v, want invalid_request", key, err)
			}
		}
	})
	t.Run("DoneContextFails", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		key := run.StoredBody("grp_blobtest", "run_cancelled", []byte("x")).Key
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Fatal("Put with a done context succeeded")
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, wiresk.ErrNotFound) {
			t.Fatalf("after a cancelled Put, Get = %v, want not found", err)
		}
	})
}
