package fileblob_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wiresk/internal/fileblob"
	"wiresk/internal/run"
	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/wiresk"
)

func open(t *testing.T, dir string) *fileblob.Store {
	s, err := fileblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Store { return open(t, t.TempDir()) })
}

// files lists the files under dir, relative and slash-separated.
func files(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBodiesAreFilesUnderBodies: one file per key, under the data
// directory's bodies/ folder, readable by the owner only, and no temporary
// file left behind.
func TestBodiesAreFilesUnderBodies(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	body := blobtest.Random(1, 200<<10)
	ref := run.StoredBody("grp_a", "run_1", body)
	if err := s.Put(t.Context(), ref.Key, body); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 1 || got[0] != ref.Key {
		t.Fatalf("files %v, want only %s", got, ref.Key)
	}
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ref.Key)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("mode %v: others may read a webhook body", info.Mode())
	}
	// A second store on the same folder (the runner after a restart)
	// reads it.
	if got, err := open(t, dir).Get(t.Context(), ref.Key); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reopened: %d bytes, %v", len(got), err)
	}
}

// TestFailedPutLeavesNothing: a Put that cannot write keeps what was under
// the key and leaves no partial or temporary file.
func TestFailedPutLeavesNothing(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root writes through permissions: make the write fail with a
		// folder where the file's folder must be instead.
		dir := t.TempDir()
		s := open(t, dir)
		ref := run.StoredBody("grp_a", "run_1", []byte("x"))
		if err := os.MkdirAll(filepath.Join(dir, "bodies", "grp_a"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bodies", "grp_a", "run_1"), []byte("a file, not a folder"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), ref.Key, []byte("x")); err == nil {
			t.Fatal("Put where its folder cannot be made succeeded")
		}
		if got := files(t, dir); len(got) != 1 || got[0] != "bodies/grp_a/run_1" {
			t.Fatalf("files after a failed Put: %v", got)
		}
		return
	}
	dir := t.TempDir()
	s := open(t, dir)
	body := []byte("first")
	ref := run.StoredBody("grp_a", "run_1", body)
	if err := s.Put(t.Context(), ref.Key, body); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Dir(filepath.Join(dir, filepath.FromSlash(ref.Key)))
	if err := os.Chmod(runDir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(runDir, 0o700) })
	if err := s.Put(t.Context(), ref.Key, []byte("second")); err == nil {
		t.Fatal("Put into a read-only folder succeeded")
	}
	if got, err := s.Get(t.Context(), ref.Key); err != nil || string(got) != "first" {
		t.Fatalf("after a failed Put: %q, %v; want the first body", got, err)
	}
	if got := files(t, dir); len(got) != 1 {
		t.Fatalf("files after a failed Put: %v", got)
	}
}

// TestDeleteOlderThan: bodies written before the cutoff go, with the
// folders they leave empty and a crashed Put's temporary file; newer ones
// stay.
func TestDeleteOlderThan(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	old := run.StoredBody("grp_a", "run_old", []byte("old"))
	fresh := run.StoredBody("grp_a", "run_new", []byte("new"))
	other := run.StoredBody("grp_b", "run_old", []byte("old too"))
	for _, r := range []struct {
		ref  run.BodyRef
		body string
	}{{old, "old"}, {fresh, "new"}, {other, "old too"}} {
		if err := s.Put(t.Context(), r.ref.Key, []byte(r.body)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "bodies", "grp_a", "run_old", ".put-123")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-40 * 24 * time.Hour)
	for _, p := range []string{filepath.FromSlash(old.Key), filepath.FromSlash(other.Key), filepath.Join("bodies", "grp_a", "run_old", ".put-123"),
		filepath.Join("bodies", "grp_a", "run_old"), filepath.Join("bodies", "grp_b", "run_old"), filepath.Join("bodies", "grp_b")} {
		if err := os.Chtimes(filepath.Join(dir, p), long, long); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteOlderThan(t.Context(), time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 2 bodies deleted", n, err)
	}
	for _, ref := range []run.BodyRef{old, other} {
		if _, err := s.Get(t.Context(), ref.Key); !errors.Is(err, wiresk.ErrNotFound) {
			t.Errorf("Get %s after expiry: %v, want not found", ref.Key, err)
		}
	}
	if got, err := s.Get(t.Context(), fresh.Key); err != nil || string(got) != "new" {
		t.Errorf("the newer body: %q, %v", got, err)
	}
	for _, gone := range []string{"bodies/grp_a/run_old", "bodies/grp_b"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(gone))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there (%v)", gone, err)
		}
	}
	if got := strings.Join(files(t, dir), ","); got != fresh.Key {
		t.Errorf("files left: %s, want only %s", got, fresh.Key)
	}
	// Nothing to expire, and no bodies folder at all, are no error.
	if n, err := open(t, t.TempDir()).DeleteOlderThan(t.Context(), time.Now()); err != nil || n != 0 {
		t.Errorf("on an empty data directory: %d, %v", n, err)
	}
}
