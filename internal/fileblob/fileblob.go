// Package fileblob is the local adapter of the body store: each webhook
// body stored by reference (run.BodyRef) is one file under a folder of the
// data directory, named by its key (bodies/<groupId>/<runId>/<sha256>).
// A Put is durable when it returns: the bytes go to a temporary file in the
// same folder, which is synced, renamed to its name and its folder synced,
// so a crash leaves either the whole object or none, never a part.
package fileblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// Store keeps bodies as files under its root folder. It is safe for
// concurrent use, also by several processes on one data directory.
type Store struct {
	root string
}

// New returns the store of the folder root (the data directory: keys start
// with bodies/), creating it if need be (0700).
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("body store %s: %w", root, err)
	}
	return &Store{root: root}, nil
}

// path returns the file of key, or an invalid_request error for a key not
// of run.StoredBody's form (which could name a file outside the folder).
func (s *Store) path(key string) (string, error) {
	if !run.ValidBodyKey(key) {
		return "", wiresk.Errorf(wiresk.EInvalid, "%q is not a body key (bodies/<groupId>/<runId>/<sha256>)", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put stores body under key, replacing what was there; it returns once the
// file and its name are on disk. An error means the object may not be
// stored (a previous object under key is then intact).
func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put body %s: %w", key, err)
	}
	path, err := s.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	var tmp *os.File
	// Twice: DeleteOlderThan may remove the folder of an expired Run
	// between MkdirAll and CreateTemp.
	for try := 0; ; try++ {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("put body %s: %w", key, err)
		}
		if tmp, err = os.CreateTemp(dir, ".put-*"); err == nil {
			break
		}
		if try > 0 || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("put body %s: %w", key, err)
		}
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(body); err != nil {
		return fmt.Errorf("put body %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put body %s: sync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put body %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("put body %s: %w", key, err)
	}
	done = true
	// The rename is durable once the folder is synced (its parents were
	// made by MkdirAll and hold only folders: a crash before they are
	// synced loses at most this object, whose Put has not returned).
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put body %s: sync folder: %w", key, err)
	}
	return nil
}

// Get returns the body stored under key: an error wrapping
// wiresk.ErrNotFound when there is none, invalid_request for a key not of
// run.StoredBody's form, any other error when the file cannot be read.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get body %s: %w", key, err)
	}
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get body %s: %w", key, wiresk.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get body %s: %w", key, err)
	}
	return b, nil
}

// DeleteOlderThan deletes the bodies written before cutoff, and the folders
// they leave empty, as the S3 bucket's lifecycle rule does on AWS; it
// returns how many it deleted. Temporary files of a Put that crashed go too.
func (s *Store) DeleteOlderThan(ctx context.Context, cutoff time.Time) (int, error) {
	top := filepath.Join(s.root, strings.TrimSuffix(run.BodyKeyPrefix, "/"))
	n := 0
	// The folders last changed before cutoff: once emptied they go too (a
	// newer one may be a Put's, about to get its file).
	var dirs []string
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != top && info.ModTime().Before(cutoff) {
				dirs = append(dirs, path)
			}
			return nil
		}
		if info.ModTime().Before(cutoff) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if !strings.HasPrefix(d.Name(), ".put-") {
				n++
			}
		}
		return nil
	})
	// Deepest first: a Run's folder, then its Group's, once empty (a
	// folder not empty stays: Remove refuses it).
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
	if err != nil {
		return n, fmt.Errorf("expire bodies: %w", err)
	}
	return n, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
