package httpapi

import (
	"bytes"
	_ "embed" // the OpenAPI document
	"log/slog"
	"net/http"

	"wiresk/internal/wiresk"
)

// The OpenAPI 3.1 document of every route is openapi.json, next to this
// file: a JSON file edited by hand and embedded as is, so that it reads and
// diffs as the document clients get, and no Go code has to be kept in step
// with it to build it. Its tests (openapi_test.go) keep it true: every
// route the handlers' Routes() list is in it and nothing else is, it is
// valid OpenAPI 3.1 (every $ref resolves, every path parameter is
// declared), its error codes are the ones errors.go maps, and real
// handlers' answers match its schemas. A route added to a handler without
// documenting it fails them, naming the route.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIPath is where the OpenAPI document is served.
const OpenAPIPath = "/v1/openapi.json"

// OpenAPIDocument returns the OpenAPI 3.1 document of the API (a copy).
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

// OpenAPI serves the OpenAPI document at GET /v1/openapi.json, without
// authentication: it describes the API, it holds nothing of anyone's.
type OpenAPI struct{}

// Routes lists the route OpenAPI serves.
func (OpenAPI) Routes() []string { return []string{http.MethodGet + " " + OpenAPIPath} }

// ServeHTTP implements http.Handler.
func (OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != OpenAPIPath {
		writeError(w, r, slog.Default(), wiresk.Errorf(wiresk.ENotFound, "no route %s %s", r.Method, r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, r, slog.Default(), wiresk.Errorf(wiresk.EMethodNotAllowed, "the OpenAPI document is a GET request"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(openAPIDocument)
	}
}

// HealthzPath is the local runner's readiness route.
const HealthzPath = "/healthz"

// Healthz answers GET /healthz with 200 {"status":"ok"}: the local runner
// serves it once it is ready (the Lambda functions do not).
type Healthz struct{}

// Routes lists the route Healthz serves.
func (Healthz) Routes() []string { return []string{http.MethodGet + " " + HealthzPath} }

// ServeHTTP implements http.Handler.
func (Healthz) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}
