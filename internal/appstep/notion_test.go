package appstep_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/testkit/apptest"
)

// notionVersion returns the Notion-Version the catalog sends.
func notionVersion(t *testing.T) string {
	t.Helper()
	app, ok := catalog.MustLoad().App("notion")
	if !ok || app.Headers["Notion-Version"] == "" {
		t.Fatal("the catalog's notion app has no Notion-Version header")
	}
	return app.Headers["Notion-Version"]
}

// notionTitle is a title property value of Notion's shape.
func notionTitle(s string) map[string]any {
	return map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": s}}}}
}

func TestNotionCreatePageInDatabase(t *testing.T) {
	reg, f := mustApp(t, "notion")
	conn := connectionTo(f, appcall.CredentialBearer)
	props := map[string]any{
		"Name":   notionTitle("Katherine Johnson"),
		"Email":  map[string]any{"email": "katherine@example.com"},
		"Status": map[string]any{"select": map[string]any{"name": "Lead"}},
	}
	children := []any{map[string]any{"object": "block", "type": "paragraph", "paragraph": map[string]any{
		"rich_text": []any{map[string]any{"type": "text", "text": map[string]any{"content": "Met at the conference."}}},
	}}}
	out, _, err := execute(t, reg, conn, "create_page", map[string]any{
		"database_id": apptest.NotionDatabaseID, "properties": props, "children": children,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /v1/pages")
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := req.Header.Get("Notion-Version"), notionVersion(t); got != want {
		t.Errorf("Notion-Version = %q, want %q", got, want)
	}
	if got, want := req.Header.Get("Content-Type"), "application/json"; !strings.HasPrefix(got, want) {
		t.Errorf("Content-Type = %q, want %s", got, want)
	}
	want := map[string]any{"parent": map[string]any{"database_id": apptest.NotionDatabaseID}, "properties": props, "children": children}
	if got := mustJSON(t, req.Body); !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	id, _ := out["page_id"].(string)
	url, _ := out["url"].(string)
	if id == "" || !strings.HasPrefix(url, "https://www.notion.so/") || !strings.HasSuffix(url, strings.ReplaceAll(id, "-", "")) {
		t.Fatalf("output page_id %q, url %q; want the new page's id and its Notion URL", id, url)
	}

	// The new page is in the database: a query by its email finds it.
	out, _, err = execute(t, reg, conn, "query_database", map[string]any{
		"database_id": apptest.NotionDatabaseID,
		"filter":      map[string]any{"property": "Email", "email": map[string]any{"equals": "katherine@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := out["results"].([]any)
	if len(results) != 1 || results[0].(map[string]any)["id"] != id {
		t.Errorf("results = %v, want the new page only", out["results"])
	}
	if _, ok := out["next_cursor"]; ok || out["has_more"] != false {
		t.Errorf("has_more %v, next_cursor %v; want false and none", out["has_more"], out["next_cursor"])
	}

	// Under a page, the title is the only property.
	out, _, err = execute(t, reg, conn, "create_page", map[string]any{
		"page_id": apptest.NotionParentPageID, "properties": map[string]any{"title": notionTitle("Meeting notes")["title"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, f.Received("POST /v1/pages")[1].Body)["parent"]; !sameJSON(t, got, map[string]any{"page_id": apptest.NotionParentPageID}) {
		t.Errorf("parent = %v, want the page", got)
	}
	if out["page_id"] == nil || out["page_id"] == id {
		t.Errorf("page under a page: output %v, want a new page_id", out)
	}
}

func TestNotionQueryDatabasePages(t *testing.T) {
	reg, f := mustApp(t, "notion")
	conn := connectionTo(f, appcall.CredentialBearer)
	sorts := []any{map[string]any{"property": "Score", "direction": "descending"}}
	out, _, err := execute(t, reg, conn, "query_database", map[string]any{
		"database_id": apptest.NotionDatabaseID, "sorts": sorts, "page_size": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /v1/databases/"+apptest.NotionDatabaseID+"/query")
	if got, want := mustJSON(t, req.Body), map[string]any{"sorts": sorts, "page_size": 2}; !sameJSON(t, got, want) {
		t.Errorf("query body = %v, want %v", got, want)
	}
	if got, want := req.Header.Get("Notion-Version"), notionVersion(t); got != want {
		t.Errorf("Notion-Version = %q, want %q", got, want)
	}
	results, _ := out["results"].([]any)
	cursor, _ := out["next_cursor"].(string)
	if len(results) != 2 || out["has_more"] != true || cursor == "" {
		t.Fatalf("first page: %d results, has_more %v, next_cursor %q; want 2, true and a cursor", len(results), out["has_more"], cursor)
	}
	first := results[0].(map[string]any)["properties"].(map[string]any)["Name"].(map[string]any)["title"].([]any)[0].(map[string]any)["plain_text"]
	if first != "Ada Lovelace" {
		t.Errorf("first result = %v, want Ada Lovelace (the highest score)", first)
	}

	// The next page of results, from the cursor.
	out, _, err = execute(t, reg, conn, "query_database", map[string]any{
		"database_id": apptest.NotionDatabaseID, "sorts": sorts, "page_size": 2, "start_cursor": cursor,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, f.Received("POST /v1/databases/" + apptest.NotionDatabaseID + "/query")[1].Body)["start_cursor"]; got != cursor {
		t.Errorf("start_cursor sent = %v, want %v", got, cursor)
	}
	results, _ = out["results"].([]any)
	if _, ok := out["next_cursor"]; len(results) != apptest.NotionPageCount-2 || out["has_more"] != false || ok {
		t.Errorf("last page: %d results, has_more %v, next_cursor %v; want %d, false and none", len(results), out["has_more"], out["next_cursor"], apptest.NotionPageCount-2)
	}
}

func TestNotionFailures(t *testing.T) {
	reg, f := mustApp(t, "notion")
	conn := connectionTo(f, appcall.CredentialBearer)
	const unshared = "b55c9c91384d452b81dbd1ef79372b75"

	// A database not shared with the integration: Notion's 404 says so,
	// and the step fails for good.
	for _, tc := range []struct {
		method string
		input  map[string]any
	}{
		{"create_page", map[string]any{"database_id": unshared, "properties": map[string]any{"Name": notionTitle("x")}}},
		{"query_database", map[string]any{"database_id": unshared}},
	} {
		_, attempts, err := execute(t, reg, conn, tc.method, tc.input)
		se := mustStepError(t, err)
		if !se.Permanent || se.Status != http.StatusNotFound || !strings.Contains(se.Message, "object_not_found") ||
			!strings.Contains(se.Message, "shared with your integration") || attempts != 1 {
			t.Errorf("%s in an unshared database: %q (permanent %v, status %d, attempts %d), want a permanent 404 saying to share it", tc.method, se.Message, se.Permanent, se.Status, attempts)
		}
	}

	// A property the database does not have: 400 validation_error quoting
	// Notion.
	_, _, err := execute(t, reg, conn, "create_page", map[string]any{
		"database_id": apptest.NotionDatabaseID, "properties": map[string]any{"Nickname": map[string]any{"rich_text": []any{}}},
	})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusBadRequest || !strings.Contains(se.Message, "Nickname is not a property that exists.") {
		t.Errorf("unknown property: %q (permanent %v, status %d), want a permanent 400 quoting Notion", se.Message, se.Permanent, se.Status)
	}
	// Neither database_id nor page_id: Notion refuses the request.
	_, _, err = execute(t, reg, conn, "create_page", map[string]any{"properties": map[string]any{"Name": notionTitle("x")}})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusBadRequest || !strings.Contains(se.Message, "body.parent should be defined") {
		t.Errorf("no parent: %q (permanent %v, status %d), want a permanent 400 naming body.parent", se.Message, se.Permanent, se.Status)
	}

	// An expired token: Unauthorized, the token never shown.
	expired := connectionTo(f, appcall.CredentialBearer)
	expired.Credential.Token = f.Tokens[apptest.Expired]
	_, _, err = execute(t, reg, expired, "query_database", map[string]any{"database_id": apptest.NotionDatabaseID})
	if se := mustStepError(t, err); !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || strings.Contains(se.Message, expired.Credential.Token) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v, status %d), want an Unauthorized 401 without the token", se.Message, se.Unauthorized, se.Permanent, se.Status)
	}

	// 409 conflict_error ("Please try again"): retried, then the page.
	f.Fail(1, http.StatusConflict, "")
	if _, attempts, err := execute(t, reg, conn, "create_page", map[string]any{"database_id": apptest.NotionDatabaseID, "properties": map[string]any{"Name": notionTitle("x")}}); err != nil || attempts != 2 {
		t.Errorf("conflict once: err %v, attempts %d; want the page after 2 attempts", err, attempts)
	}

	// rate_limited with Retry-After twice, then the answer.
	f.Throttle(2, "1")
	out, attempts, err := execute(t, reg, conn, "query_database", map[string]any{"database_id": apptest.NotionDatabaseID})
	if err != nil {
		t.Fatal(err)
	}
	if results, _ := out["results"].([]any); attempts != 3 || len(results) == 0 {
		t.Errorf("after rate limits: attempts %d, %d results; want 3 attempts and the pages", attempts, len(results))
	}
}

func TestNotionRefusesARequestWithoutNotionVersion(t *testing.T) {
	f, _ := apptest.New(t, "notion")
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"notion": f})))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cat.App("notion")
	req, err := app.BuildRequest("query_database", nil, map[string]any{"database_id": apptest.NotionDatabaseID})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Del("Notion-Version")
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client := &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}
	resp, err := client.Do(t.Context(), app, nil, appcall.Credential{Kind: appcall.CredentialBearer, Token: f.Token}, req)
	if !errors.Is(err, appcall.ErrPermanent) || resp.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "missing_version") {
		t.Errorf("without Notion-Version: status %d, err %v; want a permanent 400 missing_version", resp.Status, err)
	}
}
