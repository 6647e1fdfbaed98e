// Package embedded gives tests the embedded adapters (bbolt) in a fresh
// data directory that is removed when the test ends.
package embedded

import (
	"testing"

	"wiresk/internal/bolt"
)

// MustStore returns a bbolt database in a fresh directory (closed when tb
// ends; writes are not synced, for speed) and its store.
func MustStore(tb testing.TB) (*bolt.DB, *bolt.Store) {
	tb.Helper()
	db, err := bolt.Open(tb.TempDir(), bolt.Options{NoSync: true})
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

// MustQueue returns the run queue of db, with maxReceives deliveries before
// a message is dead-lettered.
func MustQueue(tb testing.TB, db *bolt.DB, maxReceives int) *bolt.Queue {
	tb.Helper()
	q, err := bolt.NewQueue(db, bolt.QueueOptions{MaxReceives: maxReceives})
	if err != nil {
		tb.Fatal(err)
	}
	return q
}
