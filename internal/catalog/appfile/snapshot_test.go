package appfile_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
)

var update = flag.Bool("update", false, "rewrite apps.json from apps/*.yaml (make catalog)")

// The app files and their snapshot, in package catalog.
const (
	appsDir      = "../apps"
	snapshotFile = "../apps.json"
)

// snapshotOf decodes the app files under apps/ as Load's snapshot.
func snapshotOf(t *testing.T) []byte {
	t.Helper()
	files, err := appfile.DecodeFS(os.DirFS(appsDir))
	if err != nil {
		t.Fatal(err)
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
		if err := os.WriteFile(snapshotFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(snapshotFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("apps.json is not apps/*.yaml decoded: run make catalog after editing an app file")
	}
	fromJSON, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := appfile.LoadFS(os.DirFS(appsDir))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON.Apps())
	b, _ := json.Marshal(fromYAML.Apps())
	if !bytes.Equal(a, b) {
		t.Error("Load (apps.json) and LoadFS (the YAML files) give different catalogs")
	}
}
