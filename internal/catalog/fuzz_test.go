package catalog_test

import (
	"os"
	"path/filepath"
	"testing"

	"wiresk/internal/catalog"
	"wiresk/internal/catalog/appfile"
)

// FuzzParse feeds app files to Parse: it must never panic, and what it
// accepts must render its URLs and test request without panicking.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("apps", "*.yaml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(keyApp))
	f.Add([]byte(oauthApp))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := appfile.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		_, _ = a.BaseURL(nil)
		_, _ = a.BuildTest(nil)
		if a.OAuth != nil {
			_, _ = a.AuthorizeURL(nil)
			_, _ = a.TokenURL(nil)
		}
		_ = a.Public()
	})
}

// FuzzResponse feeds app answers, which come from the network, to Classify
// and Identity: they must never panic.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		`{"ok": false, "error": "token_expired"}`,
		`{"users": [{"email": "a@example.com"}]}`,
		`{"error": {"errors": [{"reason": "rateLimitExceeded"}]}}`,
		`"PONG!"`, `[]`, `null`, `{"bot": {"owner": {"user": {"name": 1}}}}`, `{`,
	} {
		f.Add(500, []byte(s))
	}
	c, err := catalog.Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, a := range c.Apps() {
			_ = a.Classify(status, body)
			_, _ = a.Identity(body)
		}
	})
}
