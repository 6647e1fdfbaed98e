package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"wiresk/internal/auth"
	"wiresk/internal/connect"
	"wiresk/internal/httpapi"
	"wiresk/internal/manage"
)

// servedRoutes returns every route the code serves, from the route tables
// of the handlers the local runner and the Lambda functions mount, each
// with the handler that lists it.
func servedRoutes() map[string]string {
	tables := map[string]interface{ Routes() []string }{
		"Management":   httpapi.NewManagement(manage.Services{}, auth.APIGateway{}, "https://hooks.example", nil),
		"Connections":  httpapi.NewConnections(nil, auth.APIGateway{}, nil),
		"OAuthBrowser": httpapi.NewOAuthBrowser(connect.New(connect.Config{}).Authorizations, nil),
		"Hooks":        &httpapi.Hooks{},
		"AppHooks":     &httpapi.AppHooks{},
		"OpenAPI":      httpapi.OpenAPI{},
		"Healthz":      httpapi.Healthz{},
	}
	out := map[string]string{}
	for name, h := range tables {
		for _, r := range h.Routes() {
			out[r] = name
		}
	}
	return out
}

// operationMethods are the keys of a path item that are operations.
var operationMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// parseDoc decodes an OpenAPI document.
func parseDoc(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

// documentedRoutes returns the "METHOD /path" of every operation of doc.
func documentedRoutes(doc map[string]any) []string {
	var out []string
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for _, m := range operationMethods {
			if _, ok := ops[m]; ok {
				out = append(out, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// routeDiff names each route served and not documented, and each route
// documented and not served.
func routeDiff(served map[string]string, documented []string) []string {
	var out []string
	doc := map[string]bool{}
	for _, r := range documented {
		doc[r] = true
		if _, ok := served[r]; !ok {
			out = append(out, fmt.Sprintf("%s is in openapi.json but no handler serves it (no Routes() lists it)", r))
		}
	}
	for r, h := range served {
		if !doc[r] {
			out = append(out, fmt.Sprintf("%s is served (%s.Routes()) but not in openapi.json: document it", r, h))
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := parseDoc(t, httpapi.OpenAPIDocument())
	for _, p := range routeDiff(servedRoutes(), documentedRoutes(doc)) {
		t.Error(p)
	}
}

func TestRouteDiffNamesAMissingRoute(t *testing.T) {
	doc := parseDoc(t, httpapi.OpenAPIDocument())
	delete(doc["paths"].(map[string]any)["/v1/groups/{g}/runs/{r}"].(map[string]any), "get")
	got := routeDiff(servedRoutes(), documentedRoutes(doc))
	want := []string{"GET /v1/groups/{g}/runs/{r} is served (Management.Routes()) but not in openapi.json: document it"}
	if !slices.Equal(got, want) {
		t.Errorf("routeDiff without GET /v1/groups/{g}/runs/{r}:\n got  %q\n want %q", got, want)
	}
	served := servedRoutes()
	delete(served, "POST /v1/groups")
	if got, want := routeDiff(served, documentedRoutes(parseDoc(t, httpapi.OpenAPIDocument()))), []string{"POST /v1/groups is in openapi.json but no handler serves it (no Routes() lists it)"}; !slices.Equal(got, want) {
		t.Errorf("routeDiff of a documented route no handler serves:\n got  %q\n want %q", got, want)
	}
}

// pathParam matches a {name} segment of a path template.
var pathParam = regexp.MustCompile(`\{([^}/]+)\}`)

// docProblems checks what the OpenAPI schema cannot: every local $ref
// resolves (and none is external), every {name} of a path is declared as
// a required path parameter and no other path parameter is, operation ids
// are unique, and the error codes are those of the error table.
func docProblems(doc map[string]any) []string {
	var out []string
	if got := doc["openapi"]; got != "3.1.0" {
		out = append(out, fmt.Sprintf("openapi is %v, want 3.1.0", got))
	}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, ok := resolve(doc, r); !ok {
					out = append(out, fmt.Sprintf("%s: $ref %s does not resolve", at, r))
				}
			}
			for k, x := range v {
				walk(at+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(at+"/"+strconv.Itoa(i), x)
			}
		}
	}
	walk("#", doc)

	ids := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for _, m := range operationMethods {
			op, ok := ops[m].(map[string]any)
			if !ok {
				continue
			}
			route := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				out = append(out, route+": no operationId")
			} else if other, dup := ids[id]; dup {
				out = append(out, fmt.Sprintf("%s: operationId %s is also %s's", route, id, other))
			}
			ids[id] = route
			declared := map[string]bool{}
			for _, list := range []any{ops["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, p := range ps {
					p, _ := deref(doc, p).(map[string]any)
					if p["in"] != "path" {
						continue
					}
					name, _ := p["name"].(string)
					if p["required"] != true {
						out = append(out, fmt.Sprintf("%s: path parameter %s is not required: true", route, name))
					}
					declared[name] = true
				}
			}
			for _, sub := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[sub[1]] {
					out = append(out, fmt.Sprintf("%s: path parameter %s is not declared", route, sub[1]))
				}
				delete(declared, sub[1])
			}
			for name := range declared {
				out = append(out, fmt.Sprintf("%s: path parameter %s is not in the path", route, name))
			}
		}
	}

	var codes []string
	if code, ok := resolve(doc, "#/components/schemas/ErrorCode"); ok {
		for _, c := range code.(map[string]any)["enum"].([]any) {
			codes = append(codes, c.(string))
		}
	}
	sort.Strings(codes)
	if want := httpapi.ErrorCodes(); !slices.Equal(codes, want) {
		out = append(out, fmt.Sprintf("components/schemas/ErrorCode enum is %q, want the error table's codes %q", codes, want))
	}
	sort.Strings(out)
	return out
}

// resolve returns what the local reference ref ("#/a/b") names in doc.
func resolve(doc map[string]any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var v any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// deref returns what v names when it is a {"$ref"}, else v.
func deref(doc map[string]any, v any) any {
	if m, ok := v.(map[string]any); ok {
		if r, ok := m["$ref"].(string); ok {
			if x, ok := resolve(doc, r); ok {
				return x
			}
		}
	}
	return v
}

// schemaProblems validates raw against the OpenAPI 3.1 specification's
// schema with libopenapi, building its model first (which resolves every
// reference).
func schemaProblems(t *testing.T, raw []byte) []string {
	t.Helper()
	d, err := libopenapi.NewDocument(raw)
	if err != nil {
		return []string{"libopenapi: " + err.Error()}
	}
	if v := d.GetVersion(); v != "3.1.0" {
		return []string{"libopenapi reads version " + v}
	}
	v, errs := validator.NewValidator(d)
	var out []string
	for _, err := range errs {
		out = append(out, "model: "+err.Error())
	}
	if v == nil {
		return out
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			out = append(out, e.Message+": "+e.Reason)
			for _, s := range e.SchemaValidationErrors {
				out = append(out, "  "+s.Error())
			}
		}
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	raw := httpapi.OpenAPIDocument()
	for _, p := range schemaProblems(t, raw) {
		t.Error(p)
	}
	for _, p := range docProblems(parseDoc(t, raw)) {
		t.Error(p)
	}
}

// TestOpenAPIChecksCatchMistakes breaks the document in the ways its checks
// are for and expects each to be reported.
func TestOpenAPIChecksCatchMistakes(t *testing.T) {
	mutate := func(t *testing.T, change func(doc map[string]any)) map[string]any {
		doc := parseDoc(t, httpapi.OpenAPIDocument())
		change(doc)
		return doc
	}
	op := func(doc map[string]any, path, method string) map[string]any {
		return doc["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
	}
	tests := []struct {
		name   string
		change func(doc map[string]any)
		want   string
	}{
		{"a schema removed", func(doc map[string]any) {
			delete(doc["components"].(map[string]any)["schemas"].(map[string]any), "RunPage")
		}, "$ref #/components/schemas/RunPage does not resolve"},
		{"a path parameter undeclared", func(doc map[string]any) {
			o := op(doc, "/v1/groups/{g}/runs/{r}", "get")
			o["parameters"] = o["parameters"].([]any)[:1]
		}, "GET /v1/groups/{g}/runs/{r}: path parameter r is not declared"},
		{"a parameter of another path", func(doc map[string]any) {
			o := op(doc, "/v1/groups/{g}/runs", "get")
			o["parameters"] = append(o["parameters"].([]any), map[string]any{"$ref": "#/components/parameters/f"})
		}, "GET /v1/groups/{g}/runs: path parameter f is not in the path"},
		{"an error code missing", func(doc map[string]any) {
			s := doc["components"].(map[string]any)["schemas"].(map[string]any)["ErrorCode"].(map[string]any)
			s["enum"] = s["enum"].([]any)[1:]
		}, "components/schemas/ErrorCode enum is"},
		{"an operation id twice", func(doc map[string]any) {
			op(doc, "/v1/groups", "get")["operationId"] = "createGroup"
		}, "operationId createGroup is also"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := docProblems(mutate(t, tt.change))
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems: got %q, want one with %q", got, tt.want)
			}
		})
	}
	t.Run("not OpenAPI", func(t *testing.T) {
		doc := mutate(t, func(doc map[string]any) {
			op(doc, "/v1/groups", "get")["responses"] = "200"
			doc["components"].(map[string]any)["securitySchemes"].(map[string]any)["apiKey"].(map[string]any)["in"] = "body"
		})
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaProblems(t, raw); len(got) == 0 {
			t.Errorf("schema problems of a document with a string for responses and an API key in the body: none, want some")
		}
	})
}

func TestOpenAPIIsServed(t *testing.T) {
	srv := httptest.NewServer(httpapi.OpenAPI{})
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + httpapi.OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("GET %s without credentials: status %d, want %d", httpapi.OpenAPIPath, got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if !bytes.Equal(body, httpapi.OpenAPIDocument()) {
		t.Errorf("body: got %d bytes, want the %d of openapi.json", len(body), len(httpapi.OpenAPIDocument()))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+httpapi.OpenAPIPath, nil)
	post, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if got, want := post.StatusCode, http.StatusMethodNotAllowed; got != want {
		t.Errorf("POST %s: status %d, want %d", httpapi.OpenAPIPath, got, want)
	}
	if got, want := post.Header.Get("Allow"), "GET"; got != want {
		t.Errorf("POST %s: Allow %q, want %q", httpapi.OpenAPIPath, got, want)
	}
}

// conformance validates real handlers' answers against the document, in
// strict mode: an answer whose status is not documented, whose body does
// not match its schema, or that has a property the schema does not
// declare fails the test. The free-form values (step inputs and outputs,
// request bodies, a catalog input's default) are not walked.
type conformance struct {
	v validator.Validator
}

func newConformance(t *testing.T) *conformance {
	t.Helper()
	d, err := libopenapi.NewDocument(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	// Maps (their keys are data: headers, params, config, counts by
	// trigger id) and free-form values are not walked.
	var ignore []string
	for _, p := range []string{"input.**", "output.**", "request.body.**", "inputs[*].default.**",
		"headers.*", "query.*", "params.*", "config.*", "byTrigger.*", "lastRunAt.*"} {
		ignore = append(ignore, "$.body."+p, "$.body.**."+p)
	}
	v, errs := validator.NewValidator(d, config.WithStrictMode(), config.WithStrictIgnorePaths(ignore...))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return &conformance{v: v}
}

// problems lists how the answer (status, header, body) to method path
// differs from the document.
func (c *conformance) problems(method, path string, status int, header http.Header, body []byte) []string {
	req := httptest.NewRequest(method, path, nil)
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" && len(body) > 0 {
		header.Set("Content-Type", "application/json")
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	var out []string
	if ok, errs := c.v.ValidateHttpResponse(req, resp); !ok {
		for _, e := range errs {
			out = append(out, e.Message+" ("+e.Reason+")")
			for _, s := range e.SchemaValidationErrors {
				out = append(out, "  "+s.Error())
			}
		}
	}
	return out
}

// check fails the test if the answer to method path differs from the
// document.
func (c *conformance) check(t *testing.T, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	if ps := c.problems(method, path, status, header, body); len(ps) > 0 {
		t.Errorf("%s %s → %d does not match openapi.json:\n%s\nthe answer: %s", method, path, status, strings.Join(ps, "\n"), body)
	}
}
