package bolt_test

import (
	"testing"

	"wiresk/internal/bolt"
	"wiresk/internal/testkit/storetest"
)

// MustStore opens a store in a fresh data directory, closed at the end of
// the test; the DB is for tests that reach below the store.
func MustStore(tb testing.TB) (*bolt.DB, *bolt.Store) {
	tb.Helper()
	db, err := bolt.Open(tb.TempDir(), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s, err := bolt.NewStore(db)
	if err != nil {
		tb.Fatal(err)
	}
	return db, s
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		_, s := MustStore(t)
		return s
	})
}
