package catalog

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite apps.json from apps/*.yaml (make catalog)")

// snapshotOf decodes the app files under apps/ as Load's snapshot.
func snapshotOf(t *testing.T) []byte {
	t.Helper()
	fsys := os.DirFS("apps")
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("apps/*.yaml: %v (%d files)", err, len(names))
	}
	files := map[string]*App{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		app, err := decodeFile(name, data)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = app
	}
	out, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestTheSnapshotIsCurrent: apps.json is apps/*.yaml decoded, so Load
// serves what the files say; and the catalog Load gives is the one the
// YAML files give through LoadFS.
func TestTheSnapshotIsCurrent(t *testing.T) {
	want := snapshotOf(t)
	if *update {
		if err := os.WriteFile("apps.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("apps.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("apps.json is not apps/*.yaml decoded: run make catalog after editing an app file")
	}
	fromJSON, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := LoadFS(os.DirFS("apps"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON.Apps())
	b, _ := json.Marshal(fromYAML.Apps())
	if !bytes.Equal(a, b) {
		t.Error("Load (apps.json) and LoadFS (the YAML files) give different catalogs")
	}
}
