package catalog_test

import (
	"os"
	"strings"
	"testing"

	"wiresk/internal/catalog"
)

// TestTheReadmeListsEveryMethod: the README's apps table has a row for
// every catalog app, naming each of its methods, so users find them.
func TestTheReadmeListsEveryMethod(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if id, ok := strings.CutPrefix(line, "| `"); ok {
			if id, _, ok := strings.Cut(id, "`"); ok {
				rows[id] = line
			}
		}
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cat.Apps() {
		row, ok := rows[a.ID]
		if !ok {
			t.Errorf("the README's apps table has no row for %s", a.ID)
			continue
		}
		for _, m := range a.Methods {
			if !strings.Contains(row, "`"+m.Name+"`") {
				t.Errorf("the README's row for %s does not name its method %s", a.ID, m.Name)
			}
		}
	}
}
