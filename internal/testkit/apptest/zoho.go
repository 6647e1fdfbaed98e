package apptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ZohoLeadID and ZohoLeadEmail are Patricia Boyle, a lead the Zoho CRM
// fake holds from the start (of ABC Corp, phone 111-1234567). The fake's
// Leads also hold Carissa Kidman (ABC Inc) and Christopher Brown (Zylker).
const (
	ZohoLeadID    = "5725767000000524157"
	ZohoLeadEmail = "boyle@abc.com"
)

// zohoError writes Zoho CRM's JSON error answer: {"code", "details",
// "message", "status": "error"}.
func zohoError(w http.ResponseWriter, status int, code, message string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(w, status, map[string]any{"code": code, "details": details, "message": message, "status": "error"})
}

// zohoFailure is the failure answer of the Zoho CRM fake.
func zohoFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		zohoError(w, status, "TOO_MANY_REQUESTS", "The number of API requests has exceeded the limit.", nil)
	case http.StatusNotFound:
		zohoError(w, status, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
	case http.StatusMethodNotAllowed:
		zohoError(w, status, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
	default:
		zohoError(w, status, "INTERNAL_ERROR", "Internal Server Error", nil)
	}
}

// zohoAuth checks the "Authorization: Zoho-oauthtoken <token>" header of a
// Zoho CRM request and returns the token, or answers Zoho's 401.
func zohoAuth(f *Fake, w http.ResponseWriter, r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case !ok || scheme != "Zoho-oauthtoken":
		zohoError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILURE", "Authentication failed", nil)
		return "", false
	case token != f.Token && token != f.Tokens[NoScope]:
		zohoError(w, http.StatusUnauthorized, "INVALID_TOKEN", "invalid oauth token", nil)
		return "", false
	}
	return token, true
}

// zohoModules are the modules of the fake's account and their mandatory
// field.
var zohoModules = map[string]string{"Leads": "Last_Name", "Contacts": "Last_Name", "Accounts": "Account_Name", "Deals": "Deal_Name"}

// zohoUnique are the fields Zoho checks for duplicates on insert, by module.
var zohoUnique = map[string]string{"Leads": "Email", "Contacts": "Email"}

// zohoOwner is the user the fake's records belong to.
var zohoOwner = map[string]any{"name": "Patricia Boyle", "id": "4150868000000225013", "email": "p.boyle@zylker.com"}

// zohoCRM is the records of a Zoho CRM fake.
type zohoCRM struct {
	mu      sync.Mutex
	next    int
	records map[string][]map[string]any // by module, oldest first
}

// insert stores rec in module and returns Zoho's success item.
func (c *zohoCRM) insert(module string, rec map[string]any) map[string]any {
	c.next++
	id := strconv.Itoa(5725767000000525000 + c.next)
	stored := map[string]any{}
	for k, v := range rec {
		stored[k] = v
	}
	const now = "2026-03-01T12:00:00+01:00"
	by := map[string]any{"name": zohoOwner["name"], "id": zohoOwner["id"]}
	stored["id"], stored["Owner"], stored["Created_Time"], stored["Modified_Time"] = id, zohoOwner, now, now
	stored["Created_By"], stored["Modified_By"] = by, by
	c.records[module] = append(c.records[module], stored)
	return map[string]any{
		"code": "SUCCESS",
		"details": map[string]any{
			"Modified_Time": now, "Modified_By": by, "Created_Time": now, "id": id, "Created_By": by, "$approval_state": "approved",
		},
		"message": "record added",
		"status":  "success",
	}
}

// check returns Zoho's error item for rec, the i-th record of an insert
// into module, or nil when Zoho takes it.
func (c *zohoCRM) check(module string, i int, rec map[string]any) map[string]any {
	fail := func(code, message, field string, extra map[string]any) map[string]any {
		details := map[string]any{"api_name": field, "json_path": fmt.Sprintf("$.data[%d].%s", i, field)}
		for k, v := range extra {
			details[k] = v
		}
		return map[string]any{"code": code, "details": details, "message": message, "status": "error"}
	}
	mandatory := zohoModules[module]
	if s, _ := rec[mandatory].(string); strings.TrimSpace(s) == "" {
		return fail("MANDATORY_NOT_FOUND", "required field not found", mandatory, nil)
	}
	for _, field := range []string{"Email", "Secondary_Email"} {
		if v, ok := rec[field]; ok {
			if s, _ := v.(string); !strings.Contains(s, "@") {
				return fail("INVALID_DATA", "invalid data", field, map[string]any{"expected_data_type": "email"})
			}
		}
	}
	if field := zohoUnique[module]; field != "" {
		v, _ := rec[field].(string)
		for _, old := range c.records[module] {
			if s, _ := old[field].(string); v != "" && strings.EqualFold(s, v) {
				return fail("DUPLICATE_DATA", "duplicate data", field, map[string]any{
					"id": old["id"], "more_records": false,
					"duplicate_record": map[string]any{"id": old["id"], "Owner": zohoOwner, "module": map[string]any{"api_name": module, "id": "4150868000000002175"}},
				})
			}
		}
	}
	return nil
}

// zohoCondition is one (field:operator:value) of a search criteria.
type zohoCondition struct{ field, op, value string }

// zohoCriteria parses Zoho's search criteria: one condition, or
// conditions joined by "and", with the equals and starts_with operators
// and "\(", "\)", "\," escapes in values; ok is false for anything else.
func zohoCriteria(s string) (conds []zohoCondition, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "((") && strings.HasSuffix(s, "))") {
		s = s[1 : len(s)-1]
	}
	// Split on the parentheses that are not escaped.
	var parts []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case ch == '(':
			if depth++; depth != 1 {
				return nil, false
			}
			if between := strings.TrimSpace(cur.String()); len(parts) > 0 && !strings.EqualFold(between, "and") || len(parts) == 0 && between != "" {
				return nil, false
			}
			cur.Reset()
		case ch == ')':
			if depth--; depth != 0 {
				return nil, false
			}
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	if depth != 0 || len(parts) == 0 || strings.TrimSpace(cur.String()) != "" {
		return nil, false
	}
	for _, p := range parts {
		field, rest, ok1 := strings.Cut(p, ":")
		op, value, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || field == "" || (op != "equals" && op != "starts_with") {
			return nil, false
		}
		conds = append(conds, zohoCondition{field, op, value})
	}
	return conds, true
}

// text returns a record's field as text.
func zohoText(rec map[string]any, field string) string {
	if v, ok := rec[field]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// newZoho plays Zoho CRM's API v8 with "Authorization: Zoho-oauthtoken
// <token>" (not Bearer) on the API domain of the account's data centre
// (www.zohoapis.<domain>, https://www.zoho.com/crm/developer/docs/api/v8/multi-dc.html):
//
//   - Users (https://www.zoho.com/crm/developer/docs/api/v8/get-users.html):
//     GET /crm/v8/users?type=CurrentUser answers 200 {"users": [{"full_name",
//     "email", "id", "role", "profile", "status", ...}], "info": {...}}; the
//     type parameter is required (400 REQUIRED_PARAM_MISSING).
//   - Insert records
//     (https://www.zoho.com/crm/developer/docs/api/v8/insert-records.html,
//     and the v8.0 OAS of https://github.com/zoho/crm-oas): POST
//     /crm/v8/{module} {"data": [records], "trigger"} answers 201 {"data":
//     [{"code": "SUCCESS", "details": {"id", "Created_Time", "Created_By",
//     ...}, "message": "record added", "status": "success"}]}. A record
//     Zoho refuses is an item {"code", "details": {"api_name",
//     "json_path"}, "message", "status": "error"}: MANDATORY_NOT_FOUND
//     "required field not found" (Last_Name of Leads and Contacts,
//     Account_Name, Deal_Name), INVALID_DATA "invalid data" (an email
//     without "@"), DUPLICATE_DATA "duplicate data" with the
//     duplicate_record (the Email of Leads and Contacts). All refused is
//     HTTP 400, some refused 207 Multi-Status
//     (https://www.zoho.com/crm/developer/docs/api/v8/status-codes.html).
//   - Search records
//     (https://www.zoho.com/crm/developer/docs/api/v8/search-records.html):
//     GET /crm/v8/{module}/search with criteria ("(Field:equals:value)",
//     equals matching as contains, or starts_with, joined by "and"),
//     email, phone or word, and page and per_page (default 200), answers
//     200 {"data": [records], "info": {"per_page", "count", "page",
//     "more_records"}}, and 204 with no body when nothing matches. Without
//     any of the four the answer is 400 REQUIRED_PARAM_MISSING; a criteria
//     the fake cannot read is 400 INVALID_QUERY "invalid query formed". A
//     NoScope token (without ZohoSearch.securesearch.READ) answers 401
//     OAUTH_SCOPE_MISMATCH "Unauthorized".
//
// An unknown module answers 400 INVALID_MODULE "the module name given
// seems to be invalid". A missing Authorization header or another scheme
// answers 401 {"code": "AUTHENTICATION_FAILURE", ...}; an invalid or
// Expired token 401 {"code": "INVALID_TOKEN", "details": {}, "message":
// "invalid oauth token", "status": "error"}. Rate limiting is 429
// TOO_MANY_REQUESTS. The fake's Config is an EU account (domain eu).
func newZoho() (*Fake, *spec) {
	f := &Fake{
		Token:   "1000.8cb99dxxxxxxxxxxxxx9be93.9b8xxxxxxxxxxxxxxxf",
		Tokens:  map[string]string{Expired: "1000.b49947a410a0323ec63c8f85bd60af5e.a40efb432d615595c28dc8d30f221a7e", NoScope: "1000.0c0ffee0000000000000000modules.9b8000000000000000000f"},
		Account: "p.boyle@zylker.com",
		Config:  map[string]string{"domain": "eu"},
	}
	crm := &zohoCRM{records: map[string][]map[string]any{}}
	for _, l := range []map[string]any{
		{"First_Name": "Patricia", "Last_Name": "Boyle", "Email": ZohoLeadEmail, "Company": "ABC Corp", "Phone": "111-1234567", "Lead_Status": "Not Contacted"},
		{"First_Name": "Carissa", "Last_Name": "Kidman", "Email": "carissa@abcinc.example", "Company": "ABC Inc", "Phone": "555-0101", "Lead_Status": "Contacted"},
		{"First_Name": "Christopher", "Last_Name": "Brown", "Email": "chris@zylker.example", "Company": "Zylker", "Mobile": "555-0199", "Lead_Status": "Not Contacted"},
	} {
		crm.insert("Leads", l)
	}
	crm.records["Leads"][0]["id"] = ZohoLeadID
	// module checks r's token and module, answering Zoho's 400 for an
	// unknown module.
	module := func(f *Fake, w http.ResponseWriter, r *http.Request) (string, string, bool) {
		token, ok := zohoAuth(f, w, r)
		if !ok {
			return "", "", false
		}
		m := r.PathValue("module")
		if _, ok := zohoModules[m]; !ok {
			zohoError(w, http.StatusBadRequest, "INVALID_MODULE", "the module name given seems to be invalid", nil)
			return "", "", false
		}
		return token, m, true
	}
	return f, &spec{
		failure: zohoFailure,
		methods: map[string]Handler{
			"POST /crm/v8/{module}": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				_, m, ok := module(f, w, r)
				if !ok {
					return
				}
				var req struct {
					Data []map[string]any `json:"data"`
				}
				if err := json.Unmarshal(body, &req); err != nil {
					zohoError(w, http.StatusBadRequest, "INVALID_DATA", "body", nil)
					return
				}
				if len(req.Data) == 0 {
					zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "data"})
					return
				}
				crm.mu.Lock()
				defer crm.mu.Unlock()
				items := make([]any, len(req.Data))
				failed := 0
				for i, rec := range req.Data {
					if e := crm.check(m, i, rec); e != nil {
						items[i] = e
						failed++
						continue
					}
					items[i] = crm.insert(m, rec)
				}
				status := http.StatusCreated
				switch {
				case failed == len(items):
					status = http.StatusBadRequest
				case failed > 0:
					status = http.StatusMultiStatus
				}
				writeJSON(w, status, map[string]any{"data": items})
			},
			"GET /crm/v8/{module}/search": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				token, m, ok := module(f, w, r)
				if !ok {
					return
				}
				if token == f.Tokens[NoScope] {
					zohoError(w, http.StatusUnauthorized, "OAUTH_SCOPE_MISMATCH", "Unauthorized", nil)
					return
				}
				q := r.URL.Query()
				var match func(rec map[string]any) bool
				switch {
				case q.Has("criteria"):
					conds, ok := zohoCriteria(q.Get("criteria"))
					if !ok {
						zohoError(w, http.StatusBadRequest, "INVALID_QUERY", "invalid query formed", map[string]any{"param_name": "criteria"})
						return
					}
					match = func(rec map[string]any) bool {
						for _, c := range conds {
							v, want := strings.ToLower(zohoText(rec, c.field)), strings.ToLower(c.value)
							if c.op == "starts_with" && !strings.HasPrefix(v, want) || c.op == "equals" && !strings.Contains(v, want) {
								return false
							}
						}
						return true
					}
				case q.Has("email"):
					match = func(rec map[string]any) bool {
						return strings.EqualFold(zohoText(rec, "Email"), q.Get("email")) || strings.EqualFold(zohoText(rec, "Secondary_Email"), q.Get("email"))
					}
				case q.Has("phone"):
					match = func(rec map[string]any) bool {
						return zohoText(rec, "Phone") == q.Get("phone") || zohoText(rec, "Mobile") == q.Get("phone")
					}
				case q.Has("word"):
					match = func(rec map[string]any) bool {
						for _, v := range rec {
							if s, ok := v.(string); ok && strings.Contains(strings.ToLower(s), strings.ToLower(q.Get("word"))) {
								return true
							}
						}
						return false
					}
				default:
					zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "criteria"})
					return
				}
				page, perPage := 1, 200
				if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
					page = n
				}
				if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 && n <= 200 {
					perPage = n
				}
				crm.mu.Lock()
				var found []map[string]any
				for _, rec := range crm.records[m] {
					if match(rec) {
						found = append(found, rec)
					}
				}
				crm.mu.Unlock()
				start := (page - 1) * perPage
				if start >= len(found) {
					// No match: 204 No Content, no body.
					w.WriteHeader(http.StatusNoContent)
					return
				}
				end := min(start+perPage, len(found))
				data := make([]any, 0, end-start)
				for _, rec := range found[start:end] {
					data = append(data, rec)
				}
				writeJSON(w, http.StatusOK, map[string]any{
					"data": data,
					"info": map[string]any{"per_page": perPage, "count": len(data), "page": page, "more_records": end < len(found)},
				})
			},
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			if !route(w, r, http.MethodGet, "/crm/v8/users", zohoFailure) {
				return
			}
			if _, ok := zohoAuth(f, w, r); !ok {
				return
			}
			if r.URL.Query().Get("type") == "" {
				zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "type"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"users": []any{map[string]any{
					"country":    "US",
					"role":       map[string]any{"name": "CEO", "id": "4150868000000026005"},
					"language":   "en_US",
					"locale":     "en_US",
					"first_name": "Patricia",
					"last_name":  "Boyle",
					"full_name":  "Patricia Boyle",
					"email":      "p.boyle@zylker.com",
					"profile":    map[string]any{"name": "Administrator", "id": "4150868000000026011"},
					"id":         "4150868000000225013",
					"status":     "active",
					"confirm":    true,
				}},
				"info": map[string]any{"per_page": 200, "count": 1, "page": 1, "more_records": false},
			})
		},
	}
}
