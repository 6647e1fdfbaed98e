package apptest

import (
	"net/http"
	"strings"
)

// httpTestPath is the path of the generic HTTP fake's test URL.
const httpTestPath = "/v1/me"

// HTTPNoContentPath is a path of the generic HTTP fake that answers an
// authenticated GET with 204 No Content, an empty body: set the test_url
// config to URL()+HTTPNoContentPath to test it.
const HTTPNoContentPath = "/v1/ping"

// httpFailure is the failure answer of the generic HTTP fake.
func httpFailure(w http.ResponseWriter, status int) {
	writeJSON(w, status, map[string]any{"error": strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))})
}

// newHTTP plays an arbitrary API behind the generic HTTP app: its Config
// sets test_url to GET <URL>/v1/me and the key header to X-API-Key with
// no prefix, as a user would for such an API. The fake accepts Token in
// X-API-Key, or Username and Password as HTTP Basic, and answers 200
// {"id", "name"}; <URL>/v1/ping answers 204 with no body. Another
// credential answers 401 with WWW-Authenticate.
func newHTTP() (*Fake, *spec) {
	f := &Fake{
		Token:    "key_live_0123456789abcdef",
		Username: "ada",
		Password: "correct horse battery staple",
		Account:  "Test URL answered",
		Config:   map[string]string{"header_name": "X-API-Key", "header_prefix": ""},
	}
	return f, &spec{
		failure: httpFailure,
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Path != httpTestPath && r.URL.Path != HTTPNoContentPath {
				httpFailure(w, http.StatusNotFound)
				return
			}
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				httpFailure(w, http.StatusMethodNotAllowed)
				return
			}
			user, password, isBasic := r.BasicAuth()
			authed := r.Header.Get("X-API-Key") == f.Token ||
				isBasic && user == f.Username && password == f.Password
			if !authed {
				w.Header().Set("WWW-Authenticate", `Basic realm="api"`)
				httpFailure(w, http.StatusUnauthorized)
				return
			}
			if r.URL.Path == HTTPNoContentPath {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": "acct_42", "name": "Ada"})
		},
	}
}
