// Package bolt provides the embedded adapters of the store, queue and vault
// ports, all in one bbolt file under the data directory. They are the local
// default: no AWS account and no other process is needed.
package bolt

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DB is one open bbolt file shared by the Store, Queue and Vault adapters.
type DB struct {
	bolt *bbolt.DB
	dir  string

	// The group committer: commit sends calls to one goroutine that runs
	// every call waiting at that moment in one transaction (one fsync).
	reqs    chan *call
	stopped chan struct{}
	closeMu sync.RWMutex
	closed  bool
}

// call is one function waiting for a group commit.
type call struct {
	fn   func(*bbolt.Tx) error
	err  error
	done chan struct{}
}

// maxGroup caps the calls of one group commit.
const maxGroup = 4096

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
	b, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{
		Timeout: 2 * time.Second, NoSync: opts.NoSync,
		// The freelist is rebuilt on open instead of written at every
		// commit: fewer pages per commit on the webhook path.
		NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is another runner using this data directory?)", filepath.Join(dir, FileName), err)
	}
	// Group commit for Batch callers (the store): concurrent calls share one
	// transaction and one fsync.
	b.MaxBatchDelay = 2 * time.Millisecond
	d := &DB{bolt: b, dir: dir, reqs: make(chan *call, maxGroup), stopped: make(chan struct{})}
	go d.committer()
	return d, nil
}

// commit runs fn in a read-write transaction shared with every other commit
// call waiting at the time, and returns once that transaction is on disk.
// Unlike bbolt's Batch it adds no delay: a group forms from the calls that
// arrive while the previous group is being written, so a lone caller pays
// one fsync and many concurrent callers share one. fn may run more than once
// (alone, if another function of its group failed), so it must be
// idempotent and have no side effects outside tx.
func (d *DB) commit(fn func(*bbolt.Tx) error) error {
	c := &call{fn: fn, done: make(chan struct{})}
	d.closeMu.RLock()
	if d.closed {
		d.closeMu.RUnlock()
		return berrors.ErrDatabaseNotOpen
	}
	d.reqs <- c
	d.closeMu.RUnlock()
	<-c.done
	return c.err
}

func (d *DB) committer() {
	defer close(d.stopped)
	group := make([]*call, 0, maxGroup)
	for c := range d.reqs {
		group = append(group[:0], c)
		// Drain what is waiting; yield once so that callers about to
		// arrive (their goroutines runnable but not running) join too.
		for yielded := false; ; yielded = true {
			group = d.drain(group)
			if yielded || len(group) >= maxGroup {
				break
			}
			runtime.Gosched()
		}
		err := d.bolt.Update(func(tx *bbolt.Tx) error {
			for _, c := range group {
				if err := c.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range group {
			if err != nil && len(group) > 1 {
				// One function failed and took the group down: run each alone.
				c.err = d.bolt.Update(c.fn)
			} else {
				c.err = err
			}
			close(c.done)
		}
	}
}

// Dir returns the data directory.
func (d *DB) Dir() string { return d.dir }

// drain appends the calls waiting now to group.
func (d *DB) drain(group []*call) []*call {
	for len(group) < maxGroup {
		select {
		case c, ok := <-d.reqs:
			if !ok {
				return group
			}
			group = append(group, c)
		default:
			return group
		}
	}
	return group
}

// Close waits for pending commits and closes the file.
func (d *DB) Close() error {
	d.closeMu.Lock()
	if !d.closed {
		d.closed = true
		close(d.reqs)
	}
	d.closeMu.Unlock()
	<-d.stopped
	return d.bolt.Close()
}

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
