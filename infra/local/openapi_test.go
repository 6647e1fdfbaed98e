package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"wiresk/internal/httpapi"
)

// TestRunnerServesTheOpenAPIDocument reads GET /v1/openapi.json from a
// running runner without credentials, then sends each route the document
// lists (without credentials, path parameters filled in) and checks that
// the runner routes it: no answer is the 404 of a path no handler serves.
func TestRunnerServesTheOpenAPIDocument(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	resp, err := http.Get(r.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("GET /v1/openapi.json without a token: status %d, want %d: %s", got, want, body)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if !bytes.Equal(body, httpapi.OpenAPIDocument()) {
		t.Fatalf("body: got %d bytes, want the %d of the OpenAPI document", len(body), len(httpapi.OpenAPIDocument()))
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for path, item := range doc.Paths {
		for method := range item {
			if m := strings.ToUpper(method); slices.Contains([]string{"GET", "PUT", "POST", "DELETE", "PATCH"}, m) {
				routes = append(routes, m+" "+path)
			}
		}
	}
	sort.Strings(routes)
	if len(routes) < 50 {
		t.Fatalf("the document lists %d routes, want every route (over 50)", len(routes))
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		path = param.ReplaceAllStringFunc(path, func(p string) string {
			if p == "{routingKey}" || p == "{token}" {
				return strings.Repeat("A", 32)
			}
			return "x1"
		})
		req, err := http.NewRequest(method, r.URL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound && strings.Contains(string(b), "no route") {
			t.Errorf("%s: the runner has no route for it: %s", route, b)
		}
	}
}
