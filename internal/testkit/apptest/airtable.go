package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The base and table the Airtable fake holds: a Contacts table with the
// fields Name (single line text), Email (email), Age (number) and Status
// (single select: Lead, Customer), holding AirtableRecords records from
// the start.
const (
	AirtableBaseID    = "appLkNDICXNqxSDhG"
	AirtableTableID   = "tblX4mZ2Wq3cT9pLk"
	AirtableTableName = "Contacts"
	// AirtableView is a view of the Contacts table that shows customers
	// only.
	AirtableView = "Customers"
)

// AirtableRecords is how many records the Airtable fake's Contacts table
// holds from the start; one of them is named "O'Brien & Sons", a name a
// formula must quote and a URL must escape.
const AirtableRecords = 3

// airtableError writes Airtable's JSON error answer: {"error": {"type",
// "message"}}.
func airtableError(w http.ResponseWriter, status int, typ, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": typ, "message": message}})
}

// airtableFailure is the failure answer of the Airtable fake: 429 is
// {"errors": [{"error": "RATE_LIMIT_REACHED", "message"}]}, an unknown
// path 404 {"error": "NOT_FOUND"}, other failures {"error": {"type",
// "message"}}.
func airtableFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeJSON(w, status, map[string]any{"errors": []any{map[string]any{
			"error":   "RATE_LIMIT_REACHED",
			"message": "Rate limit exceeded. Please try again later",
		}}})
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "NOT_FOUND"})
	case http.StatusServiceUnavailable:
		airtableError(w, status, "SERVICE_UNAVAILABLE", "Service unavailable")
	default:
		airtableError(w, status, "SERVER_ERROR", "Server error")
	}
}

// airtableAuth checks the "Authorization: Bearer" token of an Airtable
// request and answers 401 AUTHENTICATION_REQUIRED when it is missing, bad
// or Expired.
func airtableAuth(f *Fake, w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer(r)
	if !ok || (token != f.Token && token != f.Tokens[Internal]) {
		airtableError(w, http.StatusUnauthorized, "AUTHENTICATION_REQUIRED", "Authentication required")
		return "", false
	}
	return token, true
}

// airtableRecord is a record of the fake's table.
type airtableRecord struct {
	id      string
	created string
	fields  map[string]any
}

// json is the record as Airtable answers it: {"id", "createdTime",
// "fields"}, without the fields that are empty.
func (r airtableRecord) json() map[string]any {
	fields := map[string]any{}
	for k, v := range r.fields {
		if v != nil && v != "" && v != false {
			fields[k] = v
		}
	}
	return map[string]any{"id": r.id, "createdTime": r.created, "fields": fields}
}

// airtableTable is the Contacts table of the Airtable fake.
type airtableTable struct {
	mu      sync.Mutex
	next    int
	records []airtableRecord
}

// airtableFields are the table's fields by name, with their type.
var airtableFields = map[string]string{"Name": "singleLineText", "Email": "email", "Age": "number", "Status": "singleSelect"}

// airtableOptions are the choices of the Status single select.
var airtableOptions = []string{"Lead", "Customer"}

// cells checks the cell values of a record to create, converting them
// when typecast is set, and answers Airtable's 422 for an unknown field
// or a value its field cannot take.
func (t *airtableTable) cells(w http.ResponseWriter, in map[string]any, typecast bool) (map[string]any, bool) {
	out := map[string]any{}
	for name, v := range in {
		typ, ok := airtableFields[name]
		if !ok {
			airtableError(w, http.StatusUnprocessableEntity, "UNKNOWN_FIELD_NAME", fmt.Sprintf("Unknown field name: %q", name))
			return nil, false
		}
		bad := func() (map[string]any, bool) {
			airtableError(w, http.StatusUnprocessableEntity, "INVALID_VALUE_FOR_COLUMN", fmt.Sprintf("Field %q cannot accept the provided value", name))
			return nil, false
		}
		switch typ {
		case "number":
			switch x := v.(type) {
			case float64:
			case string:
				n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
				if !typecast || err != nil {
					return bad()
				}
				v = n
			default:
				return bad()
			}
		case "singleSelect":
			s, isText := v.(string)
			if !isText {
				return bad()
			}
			if !slices.Contains(airtableOptions, s) && !typecast {
				// Without typecast, a new choice is refused
				// (typecast would add it).
				airtableError(w, http.StatusUnprocessableEntity, "INVALID_MULTIPLE_CHOICE_OPTIONS", fmt.Sprintf("Insufficient permissions to create new select option \"\"%s\"\"", s))
				return nil, false
			}
		default:
			if _, isText := v.(string); !isText {
				if !typecast {
					return bad()
				}
				v = fmt.Sprint(v)
			}
		}
		out[name] = v
	}
	return out, true
}

// create stores a record with fields.
func (t *airtableTable) create(fields map[string]any) airtableRecord {
	t.next++
	rec := airtableRecord{
		id:      fmt.Sprintf("rec%014d", t.next),
		created: fmt.Sprintf("2026-03-01T12:%02d:%02d.000Z", t.next/60%60, t.next%60),
		fields:  fields,
	}
	t.records = append(t.records, rec)
	return rec
}

// airtableEquals is the one formula form the fake evaluates: {Field} =
// "text" or 'text', with \" or \' inside; and "" for no formula.
var airtableEquals = regexp.MustCompile(`^\s*\{([^}]+)\}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*$`)

// match reports which records a filterByFormula keeps; ok is false (and
// Airtable's 422 INVALID_FILTER_BY_FORMULA written) for a formula the fake
// cannot read or that names an unknown field.
func airtableMatch(w http.ResponseWriter, formula string) (func(airtableRecord) bool, bool) {
	if strings.TrimSpace(formula) == "" {
		return func(airtableRecord) bool { return true }, true
	}
	m := airtableEquals.FindStringSubmatch(formula)
	if m == nil {
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: Invalid formula. Please check your formula text.")
		return nil, false
	}
	field := m[1]
	if _, ok := airtableFields[field]; !ok {
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: Unknown field names: "+strings.ToLower(field))
		return nil, false
	}
	want := m[2] + m[3]
	want = strings.NewReplacer(`\"`, `"`, `\'`, `'`, `\\`, `\`).Replace(want)
	return func(r airtableRecord) bool { return fmt.Sprint(r.fields[field]) == want }, true
}

// newAirtable plays Airtable's Web API with "Authorization: Bearer
// <token>" (an OAuth access token or a personal access token):
//
//   - "Get user info"
//     (https://airtable.com/developers/web/api/get-user-id-scopes): GET
//     /v0/meta/whoami answers 200 {"id": "usr...", "scopes": [...],
//     "email"}, where email is present only with the user.email:read
//     scope (the Internal token lacks it).
//   - "Create records"
//     (https://airtable.com/developers/web/api/create-records): POST
//     /v0/{baseId}/{tableIdOrName} with {"fields": {...}} answers 200 with
//     the record {"id": "rec...", "createdTime", "fields"}; with
//     {"records": [{"fields"}, ...]} (up to 10) it answers {"records":
//     [...]}; "typecast": true converts text to the fields' types (and
//     adds select options). An unknown field answers 422
//     UNKNOWN_FIELD_NAME "Unknown field name: \"...\"", a value the field
//     cannot take 422 INVALID_VALUE_FOR_COLUMN, a new select option
//     without typecast 422 INVALID_MULTIPLE_CHOICE_OPTIONS, any other
//     body 422 INVALID_REQUEST_UNKNOWN ("Invalid request: parameter
//     validation failed. Check your request data.") or
//     INVALID_REQUEST_MISSING_FIELDS.
//   - "List records"
//     (https://airtable.com/developers/web/api/list-records): GET
//     /v0/{baseId}/{tableIdOrName}?filterByFormula=&maxRecords=&pageSize=&view=&offset=
//     answers 200 {"records": [...], "offset"?}, pages of pageSize (at
//     most 100) records with an offset until the last page or maxRecords.
//     The fake evaluates formulas of the form {Field} = "text" (or
//     'text'); another formula, or one naming an unknown field, answers
//     422 INVALID_FILTER_BY_FORMULA; an unknown view 422
//     VIEW_NAME_NOT_FOUND; a bad offset 422 INVALID_OFFSET_VALUE.
//
// The table is AirtableTableName (AirtableTableID) of base AirtableBaseID;
// another base or table answers 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND
// ("Invalid permissions, or the requested model was not found. ..."), as
// Airtable does for a base the token cannot reach too
// (https://airtable.com/developers/web/api/errors). A missing, invalid or
// Expired token answers 401 {"error": {"type": "AUTHENTICATION_REQUIRED",
// "message": "Authentication required"}}. Rate limiting is 429
// RATE_LIMIT_REACHED without Retry-After: Airtable documents that past 5
// requests per second per base every request fails for 30 seconds
// (https://airtable.com/developers/web/api/rate-limits); Throttle adds a
// Retry-After only when asked.
func newAirtable() (*Fake, *spec) {
	f := &Fake{
		Token:   "patAbCdEfGhIjKlMn.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Tokens:  map[string]string{Expired: "oaaExpiredAccessToken.v1.expired", Internal: "patNoEmailScope.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		Account: "ada@example.com",
	}
	t := &airtableTable{}
	t.create(map[string]any{"Name": "Ada Lovelace", "Email": "ada@example.com", "Age": float64(36), "Status": "Customer"})
	t.create(map[string]any{"Name": "O'Brien & Sons", "Email": "orders@obrien.example", "Status": "Lead"})
	t.create(map[string]any{"Name": "Grace Hopper", "Email": "grace@example.com", "Age": float64(85), "Status": "Customer"})

	// table answers 403 unless r names the fake's base and table.
	table := func(w http.ResponseWriter, r *http.Request) bool {
		name := r.PathValue("table")
		if r.PathValue("baseId") != AirtableBaseID || (name != AirtableTableName && name != AirtableTableID) {
			airtableError(w, http.StatusForbidden, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
				"Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.")
			return false
		}
		return true
	}
	invalid := func(w http.ResponseWriter) {
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
	}
	return f, &spec{
		failure: airtableFailure,
		methods: map[string]Handler{
			// More specific than the table patterns, which it would match.
			"GET /v0/meta/whoami": airtableWhoami,
			"POST /v0/{baseId}/{table}": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if _, ok := airtableAuth(f, w, r); !ok || !table(w, r) {
					return
				}
				var req struct {
					Fields                map[string]any                    `json:"fields"`
					Records               []struct{ Fields map[string]any } `json:"records"`
					Typecast              *bool                             `json:"typecast"`
					ReturnFieldsByFieldID *bool                             `json:"returnFieldsByFieldId"`
				}
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&req); err != nil {
					invalid(w)
					return
				}
				typecast := req.Typecast != nil && *req.Typecast
				t.mu.Lock()
				defer t.mu.Unlock()
				switch {
				case req.Fields != nil && req.Records == nil:
					cells, ok := t.cells(w, req.Fields, typecast)
					if !ok {
						return
					}
					writeJSON(w, http.StatusOK, t.create(cells).json())
				case req.Records != nil && req.Fields == nil:
					if len(req.Records) == 0 || len(req.Records) > 10 {
						invalid(w)
						return
					}
					var all []map[string]any
					for _, rec := range req.Records {
						cells, ok := t.cells(w, rec.Fields, typecast)
						if !ok {
							return
						}
						all = append(all, cells)
					}
					out := []any{}
					for _, cells := range all {
						out = append(out, t.create(cells).json())
					}
					writeJSON(w, http.StatusOK, map[string]any{"records": out})
				default:
					airtableError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_MISSING_FIELDS", `Could not find field "fields" in the request body`)
				}
			},
			"GET /v0/{baseId}/{table}": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if _, ok := airtableAuth(f, w, r); !ok || !table(w, r) {
					return
				}
				q := r.URL.Query()
				number := func(name string, lo, hi int) (int, bool) {
					s := q.Get(name)
					if s == "" {
						return hi, true
					}
					n, err := strconv.Atoi(s)
					if err != nil || n < lo || n > hi {
						invalid(w)
						return 0, false
					}
					return n, true
				}
				pageSize, ok := number("pageSize", 1, 100)
				if !ok {
					return
				}
				maxRecords, ok := number("maxRecords", 1, 1<<30)
				if !ok {
					return
				}
				keep, ok := airtableMatch(w, q.Get("filterByFormula"))
				if !ok {
					return
				}
				if v := q.Get("view"); v != "" && v != AirtableView {
					airtableError(w, http.StatusUnprocessableEntity, "VIEW_NAME_NOT_FOUND", fmt.Sprintf("Could not find view %s in table %s", v, AirtableTableName))
					return
				}
				t.mu.Lock()
				defer t.mu.Unlock()
				var matched []airtableRecord
				for _, rec := range t.records {
					if keep(rec) && (q.Get("view") == "" || rec.fields["Status"] == "Customer") {
						matched = append(matched, rec)
					}
				}
				matched = matched[:min(len(matched), maxRecords)]
				start := 0
				if off := q.Get("offset"); off != "" {
					// Offsets are "itr.../rec...": the record to start at.
					_, id, _ := strings.Cut(off, "/")
					start = slices.IndexFunc(matched, func(rec airtableRecord) bool { return rec.id == id })
					if !strings.HasPrefix(off, "itr") || start < 0 {
						airtableError(w, http.StatusUnprocessableEntity, "INVALID_OFFSET_VALUE", "The value of offset "+off+" is invalid")
						return
					}
				}
				end := min(start+pageSize, len(matched))
				page := []any{}
				for _, rec := range matched[start:end] {
					page = append(page, rec.json())
				}
				out := map[string]any{"records": page}
				if end < len(matched) {
					out["offset"] = "itrWm2Xf5Ja8KrqBs/" + matched[end].id
				}
				writeJSON(w, http.StatusOK, out)
			},
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			airtableFailure(w, http.StatusNotFound)
		},
	}
}

// airtableWhoami answers GET /v0/meta/whoami.
func airtableWhoami(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
	token, ok := airtableAuth(f, w, r)
	if !ok {
		return
	}
	out := map[string]any{
		"id":     "usrL2PNC5o3H4lBEi",
		"scopes": []string{"data.records:read", "data.records:write", "schema.bases:read"},
	}
	if token == f.Token {
		out["scopes"] = append(out["scopes"].([]string), "user.email:read")
		out["email"] = "ada@example.com"
	}
	writeJSON(w, http.StatusOK, out)
}
