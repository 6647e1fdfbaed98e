package catalog_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// pkceReason is the comment an app file puts before its pkce line (or where
// it would be) to say which provider document it follows.
var pkceReason = regexp.MustCompile(`(?m)^  # (PKCE|No PKCE): \S`)

// TestPKCEDeclarations: every OAuth app declares PKCE S256 exactly when its
// provider documents PKCE for a confidential web client, and its file says
// why in a "# PKCE:" or "# No PKCE:" comment. A new OAuth app must be added
// to the table, so that the question is asked.
func TestPKCEDeclarations(t *testing.T) {
	want := map[string]string{
		"airtable":     "S256",
		"gmail":        "S256",
		"google_drive": "S256",
		"hubspot":      "S256",
		"notion":       "",
		"slack":        "",
		"zoho_crm":     "",
	}
	c := load(t)
	seen := map[string]bool{}
	for _, a := range c.Apps() {
		if a.OAuth == nil {
			continue
		}
		seen[a.ID] = true
		w, ok := want[a.ID]
		if !ok {
			t.Errorf("OAuth app %q is not in this test: check its provider's PKCE documentation and add it", a.ID)
			continue
		}
		if got := a.OAuth.PKCE; got != w {
			t.Errorf("%s: pkce = %q, want %q", a.ID, got, w)
		}
		data, err := os.ReadFile(filepath.Join("apps", a.ID+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !pkceReason.Match(data) {
			t.Errorf(`%s.yaml has no "# PKCE: <source>" or "# No PKCE: <why>" comment in its oauth block`, a.ID)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("app %q is in this test but is not an OAuth app of the catalog", id)
		}
	}
}
