package apptest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// NotionDatabaseID is the database the Notion fake's integration is
// shared with: its properties are Name (title), Email (email), Status
// (select) and Score (number), and it holds NotionPageCount pages from the
// start, the first being Ada Lovelace (ada@example.com, Customer).
const NotionDatabaseID = "d9824bdc-8445-4327-be8b-5b47500af6ce"

// NotionParentPageID is a page shared with the Notion fake's integration,
// under which pages may be created.
const NotionParentPageID = "59833787-2cf9-4fdf-8782-e53db20768a5"

// NotionPageCount is how many pages NotionDatabaseID holds from the start.
const NotionPageCount = 3

// notionError writes Notion's JSON error answer: {"object": "error",
// "status", "code", "message", "request_id"}.
func notionError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{
		"object":     "error",
		"status":     status,
		"code":       code,
		"message":    message,
		"request_id": "1f0b3a5c-8d1e-4a3f-9f7e-2c6d9b1a0e42",
	})
}

// notionFailure is the failure answer of the Notion fake, with the codes
// and example messages of Notion's status codes page.
func notionFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		notionError(w, status, "rate_limited", "You have been rate limited. Please try again in a few minutes.")
	case http.StatusConflict:
		notionError(w, status, "conflict_error", "Conflict occurred while saving. Please try again.")
	case http.StatusServiceUnavailable:
		notionError(w, status, "service_unavailable", "Notion is unavailable, try again later.")
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		notionError(w, http.StatusBadRequest, "invalid_request_url", "Invalid request URL.")
	default:
		notionError(w, status, "internal_server_error", "Unexpected error occurred.")
	}
}

// notionAuth checks a Notion request's bearer token, then its
// Notion-Version header, answering Notion's 401 unauthorized or 400
// missing_version.
func notionAuth(f *Fake, w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer(r)
	if !ok || (token != f.Token && token != f.Tokens[Internal]) {
		notionError(w, http.StatusUnauthorized, "unauthorized", "API token is invalid.")
		return "", false
	}
	if r.Header.Get("Notion-Version") == "" {
		notionError(w, http.StatusBadRequest, "missing_version",
			"Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.")
		return "", false
	}
	return token, true
}

// notionID returns a Notion ID in its dashed form: Notion takes IDs with
// or without dashes.
func notionID(s string) string {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return s
	}
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// notionWorkspace is the content shared with the Notion fake's
// integration.
type notionWorkspace struct {
	mu     sync.Mutex
	next   int
	schema map[string]string // the database's property types, by name
	rows   []map[string]any  // the database's pages, oldest first
	pages  map[string]bool   // IDs of the pages that may be parents
}

// notionProperty names of NotionDatabaseID and their Notion ids.
var notionPropertyIDs = map[string]string{"Name": "title", "Email": "%3AEmail", "Status": "%3FStat", "Score": "%5EScor"}

// page returns a page object of Notion's shape for a page with id under
// parent (of type "database_id" or "page_id") with properties.
func (n *notionWorkspace) page(id, parentType, parent string, props map[string]any) map[string]any {
	out := map[string]any{}
	title := "Untitled"
	for name, v := range props {
		m, _ := v.(map[string]any)
		typ := n.schema[name]
		if parentType == "page_id" {
			typ = "title"
		}
		val := map[string]any{"id": notionPropertyIDs[name], "type": typ}
		if val["id"] == "" {
			val["id"] = "title"
		}
		if items, ok := m[typ].([]any); ok {
			items = notionRichText(items)
			val[typ] = items
			if typ == "title" && len(items) > 0 {
				title, _ = items[0].(map[string]any)["plain_text"].(string)
			}
		} else {
			val[typ] = m[typ]
		}
		out[name] = val
	}
	slug := strings.Join(strings.Fields(title), "-")
	return map[string]any{
		"object":           "page",
		"id":               id,
		"created_time":     "2026-03-01T12:00:00.000Z",
		"last_edited_time": "2026-03-01T12:00:00.000Z",
		"created_by":       map[string]any{"object": "user", "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905"},
		"last_edited_by":   map[string]any{"object": "user", "id": "16d84278-ab0e-484c-9bdd-b35da3bd8905"},
		"cover":            nil,
		"icon":             nil,
		"parent":           map[string]any{"type": parentType, parentType: parent},
		"archived":         false,
		"in_trash":         false,
		"properties":       out,
		"url":              "https://www.notion.so/" + slug + "-" + strings.ReplaceAll(id, "-", ""),
		"public_url":       nil,
	}
}

// notionRichText completes rich text objects given as {"text":
// {"content"}} with the fields Notion answers: type, annotations,
// plain_text, href.
func notionRichText(items []any) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		m, _ := it.(map[string]any)
		text, _ := m["text"].(map[string]any)
		content, _ := text["content"].(string)
		out = append(out, map[string]any{
			"type": "text",
			"text": map[string]any{"content": content, "link": text["link"]},
			"annotations": map[string]any{
				"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default",
			},
			"plain_text": content,
			"href":       nil,
		})
	}
	return out
}

// newID returns a new page ID.
func (n *notionWorkspace) newID() string {
	n.next++
	return fmt.Sprintf("7c3b2a1e-0000-4000-8000-%012d", n.next)
}

// notionNotShared is Notion's 404 for a database the integration cannot
// see: unknown, or not shared with it.
func notionNotShared(w http.ResponseWriter, kind, id string) {
	notionError(w, http.StatusNotFound, "object_not_found",
		fmt.Sprintf("Could not find %s with ID: %s. Make sure the relevant pages and databases are shared with your integration.", kind, notionID(id)))
}

// checkProperties checks page property values against the database schema
// as Notion does, returning Notion's validation message.
func (n *notionWorkspace) checkProperties(props map[string]any) string {
	for _, name := range sortedNames(props) {
		typ, ok := n.schema[name]
		if !ok {
			return name + " is not a property that exists."
		}
		m, _ := props[name].(map[string]any)
		v, ok := m[typ]
		valid := ok
		switch typ {
		case "title", "rich_text":
			_, valid = v.([]any)
		case "email":
			_, valid = v.(string)
		case "number":
			_, valid = v.(float64)
		case "select":
			sel, _ := v.(map[string]any)
			_, valid = sel["name"].(string)
		}
		if !valid {
			return fmt.Sprintf("%s is expected to be %s.", name, typ)
		}
	}
	return ""
}

// sortedNames returns the keys of m, sorted.
func sortedNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// plain returns the comparable value of a page's property: the text of a
// title or rich text, the email, the select's name, the number.
func plain(page map[string]any, name string) any {
	props, _ := page["properties"].(map[string]any)
	p, _ := props[name].(map[string]any)
	typ, _ := p["type"].(string)
	switch v := p[typ].(type) {
	case []any:
		var b strings.Builder
		for _, it := range v {
			s, _ := it.(map[string]any)["plain_text"].(string)
			b.WriteString(s)
		}
		return b.String()
	case map[string]any:
		return v["name"]
	default:
		return v
	}
}

// newNotion plays Notion's API (version 2022-06-28, the catalog's
// Notion-Version) with "Authorization: Bearer <token>" and the required
// Notion-Version header on every endpoint:
//
//   - "Retrieve your token's bot user"
//     (https://developers.notion.com/reference/get-self): GET /v1/users/me
//     answers 200 with a bot user {"object": "user", "id", "name",
//     "type": "bot", "bot": {"owner": {"type": "user", "user": {...,
//     "name"}}, "workspace_name"}}; an Internal integration's bot is
//     owned by the workspace ({"type": "workspace", "workspace": true}).
//   - "Create a page" (https://developers.notion.com/reference/post-page):
//     POST /v1/pages {"parent": {"database_id"} or {"page_id"},
//     "properties", "children", "icon", "cover"} answers 200 with the page
//     object {"object": "page", "id", "url", "parent", "properties", ...}.
//     Property values must match NotionDatabaseID's schema (400
//     validation_error "X is not a property that exists." or "X is
//     expected to be title."); under a page only title is taken; a missing
//     parent or properties is 400 validation_error "body failed
//     validation: body.parent should be defined, instead was
//     `undefined`."; more than 100 children is a validation_error.
//   - "Query a database"
//     (https://developers.notion.com/reference/post-database-query):
//     POST /v1/databases/{database_id}/query {"filter", "sorts",
//     "page_size" (at most 100, the default), "start_cursor"} answers 200
//     {"object": "list", "results": [pages], "next_cursor", "has_more",
//     "type": "page_or_database", "page_or_database": {}}. The fake takes
//     a single property filter ({"property", "<type>": {"equals" |
//     "contains": value}}) and property sorts; an unknown property is 400
//     validation_error "Could not find property with name or id: X".
//
// A database or page the integration cannot see answers 404
// object_not_found "Could not find database with ID: <id>. Make sure the
// relevant pages and databases are shared with your integration." Without
// Notion-Version the answer is 400 {"code": "missing_version"}; a
// missing, invalid or Expired token answers 401 {"code": "unauthorized",
// "message": "API token is invalid."}; a body that is not JSON is 400
// invalid_json (https://developers.notion.com/reference/status-codes).
// Rate limiting is 429 {"code": "rate_limited"} with Retry-After in
// seconds (https://developers.notion.com/reference/request-limits); Fail
// with 409 answers conflict_error.
func newNotion() (*Fake, *spec) {
	f := &Fake{
		Token:   "ntn_4518xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		Tokens:  map[string]string{Expired: "ntn_expired0000000000000000000000000000000000", Internal: "ntn_internal000000000000000000000000000000000"},
		Account: "Ada Lovelace (Ada's Workspace)",
	}
	ws := &notionWorkspace{
		schema: map[string]string{"Name": "title", "Email": "email", "Status": "select", "Score": "number"},
		pages:  map[string]bool{NotionParentPageID: true},
	}
	for _, p := range []struct {
		name, email, status string
		score               float64
	}{{"Ada Lovelace", "ada@example.com", "Customer", 90}, {"Grace Hopper", "grace@example.com", "Lead", 70}, {"Alan Turing", "alan@example.com", "Lead", 80}} {
		id := ws.newID()
		ws.rows = append(ws.rows, ws.page(id, "database_id", NotionDatabaseID, map[string]any{
			"Name":   map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": p.name}}}},
			"Email":  map[string]any{"email": p.email},
			"Status": map[string]any{"select": map[string]any{"name": p.status}},
			"Score":  map[string]any{"number": p.score},
		}))
		ws.pages[id] = true
	}
	// authed wraps a handler with the token and version checks, the
	// workspace's lock and the decoding of the JSON body.
	authed := func(h func(w http.ResponseWriter, r *http.Request, body map[string]any)) Handler {
		return func(f *Fake, w http.ResponseWriter, r *http.Request, raw []byte) {
			if _, ok := notionAuth(f, w, r); !ok {
				return
			}
			body := map[string]any{}
			if len(raw) > 0 && json.Unmarshal(raw, &body) != nil {
				notionError(w, http.StatusBadRequest, "invalid_json", "Error parsing JSON body.")
				return
			}
			ws.mu.Lock()
			defer ws.mu.Unlock()
			h(w, r, body)
		}
	}
	return f, &spec{
		failure: notionFailure,
		methods: map[string]Handler{
			"POST /v1/pages": authed(func(w http.ResponseWriter, r *http.Request, body map[string]any) {
				parent, _ := body["parent"].(map[string]any)
				if parent == nil {
					notionError(w, http.StatusBadRequest, "validation_error", "body failed validation: body.parent should be defined, instead was `undefined`.")
					return
				}
				props, _ := body["properties"].(map[string]any)
				if props == nil {
					notionError(w, http.StatusBadRequest, "validation_error", "body failed validation: body.properties should be defined, instead was `undefined`.")
					return
				}
				if children, ok := body["children"].([]any); ok && len(children) > 100 {
					notionError(w, http.StatusBadRequest, "validation_error", fmt.Sprintf("body failed validation: body.children.length should be ≤ `100`, instead was `%d`.", len(children)))
					return
				}
				db, _ := parent["database_id"].(string)
				pg, _ := parent["page_id"].(string)
				id := ws.newID()
				switch {
				case db != "":
					if notionID(db) != NotionDatabaseID {
						notionNotShared(w, "database", db)
						return
					}
					if msg := ws.checkProperties(props); msg != "" {
						notionError(w, http.StatusBadRequest, "validation_error", msg)
						return
					}
					page := ws.page(id, "database_id", NotionDatabaseID, props)
					ws.rows = append(ws.rows, page)
					writeJSON(w, http.StatusOK, page)
				case pg != "":
					if !ws.pages[notionID(pg)] {
						notionNotShared(w, "page", pg)
						return
					}
					for name := range props {
						if name != "title" {
							notionError(w, http.StatusBadRequest, "validation_error", "body failed validation: body.properties."+name+" should be not present, instead was present.")
							return
						}
					}
					writeJSON(w, http.StatusOK, ws.page(id, "page_id", notionID(pg), props))
				default:
					notionError(w, http.StatusBadRequest, "validation_error",
						"body failed validation. Fix one:\nbody.parent.page_id should be defined, instead was `undefined`.\nbody.parent.database_id should be defined, instead was `undefined`.")
				}
			}),
			"POST /v1/databases/{database_id}/query": authed(func(w http.ResponseWriter, r *http.Request, body map[string]any) {
				if notionID(r.PathValue("database_id")) != NotionDatabaseID {
					notionNotShared(w, "database", r.PathValue("database_id"))
					return
				}
				size := 100
				if v, ok := body["page_size"].(float64); ok {
					if v < 1 || v > 100 || v != float64(int(v)) {
						notionError(w, http.StatusBadRequest, "validation_error", fmt.Sprintf("body failed validation: body.page_size should be ≤ `100`, instead was `%v`.", v))
						return
					}
					size = int(v)
				}
				rows := slices.Clone(ws.rows)
				if flt, ok := body["filter"].(map[string]any); ok {
					name, _ := flt["property"].(string)
					typ, known := ws.schema[name]
					if !known {
						notionError(w, http.StatusBadRequest, "validation_error", "Could not find property with name or id: "+name)
						return
					}
					cond, _ := flt[typ].(map[string]any)
					eq, hasEq := cond["equals"]
					sub, hasSub := cond["contains"].(string)
					if !hasEq && !hasSub {
						notionError(w, http.StatusBadRequest, "validation_error", "body failed validation: body.filter."+typ+" should be defined, instead was `undefined`.")
						return
					}
					rows = slices.DeleteFunc(rows, func(p map[string]any) bool {
						v := plain(p, name)
						if hasSub {
							s, _ := v.(string)
							return !strings.Contains(strings.ToLower(s), strings.ToLower(sub))
						}
						return v != eq
					})
				}
				sorts, _ := body["sorts"].([]any)
				for i := len(sorts) - 1; i >= 0; i-- {
					s, _ := sorts[i].(map[string]any)
					name, _ := s["property"].(string)
					if _, known := ws.schema[name]; !known {
						notionError(w, http.StatusBadRequest, "validation_error", "Could not find sort property with name or id: "+name)
						return
					}
					desc := s["direction"] == "descending"
					slices.SortStableFunc(rows, func(a, b map[string]any) int {
						x, y := plain(a, name), plain(b, name)
						c := strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
						if xn, ok := x.(float64); ok {
							yn, _ := y.(float64)
							c = cmp.Compare(xn, yn)
						}
						if desc {
							return -c
						}
						return c
					})
				}
				if cursor, ok := body["start_cursor"].(string); ok {
					i := slices.IndexFunc(rows, func(p map[string]any) bool { return p["id"] == notionID(cursor) })
					if i < 0 {
						notionError(w, http.StatusBadRequest, "validation_error", "body failed validation: body.start_cursor should be a valid uuid, instead was `\""+cursor+"\"`.")
						return
					}
					rows = rows[i:]
				}
				var next any
				if len(rows) > size {
					next, rows = rows[size]["id"], rows[:size]
				}
				results := make([]any, len(rows))
				for i, p := range rows {
					results[i] = p
				}
				writeJSON(w, http.StatusOK, map[string]any{
					"object":           "list",
					"results":          results,
					"next_cursor":      next,
					"has_more":         next != nil,
					"type":             "page_or_database",
					"page_or_database": map[string]any{},
					"request_id":       "6e1f7c0a-2b3d-4c5e-8f90-a1b2c3d4e5f6",
				})
			}),
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/v1/users/me", notionFailure) {
				return
			}
			token, ok := notionAuth(f, w, r)
			if !ok {
				return
			}
			owner := map[string]any{"type": "workspace", "workspace": true}
			if token == f.Token {
				owner = map[string]any{"type": "user", "user": map[string]any{
					"object":     "user",
					"id":         "5389a034-eb5c-47b5-8a9e-f79c99ef166c",
					"name":       "Ada Lovelace",
					"avatar_url": nil,
					"type":       "person",
					"person":     map[string]any{"email": "ada@example.com"},
				}}
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"object":     "user",
				"id":         "16d84278-ab0e-484c-9bdd-b35da3bd8905",
				"name":       "Wiresk",
				"avatar_url": nil,
				"type":       "bot",
				"bot":        map[string]any{"owner": owner, "workspace_name": "Ada's Workspace"},
				"request_id": "9a6e2f4c-1b3d-4e5f-8a7b-0c1d2e3f4a5b",
			})
		},
	}
}
