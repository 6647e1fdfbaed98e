// Package bolt provides the embedded adapters of the store, queue and vault
// ports, all in one bbolt file under the data directory. They are the local
// default: no AWS account and no other process is needed.
package bolt

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DB is one open bbolt file shared by the Store, Queue and Vault adapters.
type DB struct {
	bolt *bbolt.DB
	dir  string
}

// Options configures Open.
type Options struct {
	// NoSync skips fsync on commit. A commit then survives a crash of the
	// process but not of the machine. Off by default: every acknowledged
	// write is on disk.
	NoSync bool
}

// FileName is the name of the bbolt file inside the data directory.
const FileName = "wiresk.db"

// Open opens (creating if needed) the data directory dir and its bbolt file.
func Open(dir string, opts Options) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	b, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is another runner using this data directory?)", filepath.Join(dir, FileName), err)
	}
	// Group commit: concurrent Batch calls share one transaction and one fsync.
	b.MaxBatchDelay = 2 * time.Millisecond
	return &DB{bolt: b, dir: dir}, nil
}

// Dir returns the data directory.
func (d *DB) Dir() string { return d.dir }

// Close closes the file.
func (d *DB) Close() error { return d.bolt.Close() }

// Bolt exposes the underlying bbolt handle for adapters in this package and
// for tests that inspect the raw contents.
func (d *DB) Bolt() *bbolt.DB { return d.bolt }

// ensureBuckets creates the named top-level buckets.
func (d *DB) ensureBuckets(names ...string) error {
	return d.bolt.Update(func(tx *bbolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return fmt.Errorf("create bucket %s: %w", n, err)
			}
		}
		return nil
	})
}
