// Package lambdatest provides what the Lambda functions' tests share: the
// sample events of events/ decoded strictly into aws-lambda-go types.
package lambdatest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Event decodes events/<name> (the sample used by sam local invoke) into a
// T, refusing fields T does not have, so a sample cannot drift from the
// real event shape unnoticed.
func Event[T any](tb testing.TB, name string) T {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(root(tb), "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	var ev T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		tb.Fatalf("decode events/%s: %v", name, err)
	}
	return ev
}

// root returns the module root: the nearest folder above the test's
// working directory with a go.mod.
func root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
