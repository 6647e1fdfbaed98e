package apptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"weak"
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
	// only; AirtableViewID is its id.
	AirtableView   = "Customers"
	AirtableViewID = "viwQ7cUstM3rs9XaB"
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

// airtableRecord is a record of one of the fake's tables.
type airtableRecord struct {
	id      string
	created time.Time
	fields  map[string]any
}

// airtableTimeLayout is how Airtable writes a createdTime: UTC with
// milliseconds.
const airtableTimeLayout = "2006-01-02T15:04:05.000Z"

// json is the record as Airtable answers it: {"id", "createdTime",
// "fields"}, without the fields that are empty.
func (r airtableRecord) json() map[string]any {
	fields := map[string]any{}
	for k, v := range r.fields {
		if v != nil && v != "" && v != false {
			fields[k] = v
		}
	}
	return map[string]any{"id": r.id, "createdTime": r.created.UTC().Format(airtableTimeLayout), "fields": fields}
}

// airtableView is a view of a table: the records keep reports true for,
// in the table's (created) order.
type airtableView struct {
	id, name string
	keep     func(id string, fields map[string]any) bool
}

// airtableTable is a table of the Airtable fake.
type airtableTable struct {
	base, id, name string
	// fields are the table's fields by name, with their type; nil for a
	// table a test added, which takes any field and knows the fields its
	// records hold.
	fields map[string]string
	// records are in created order (records created at the same instant
	// in the order they were added).
	records []airtableRecord
	views   []airtableView
}

// Airtable is what an Airtable fake holds: its bases' tables, their
// records and views. Get it with Fake.Airtable; it is safe for concurrent
// use.
type Airtable struct {
	mu      sync.Mutex
	next    int // the last record, table or view number handed out
	pageCap int
	tables  []*airtableTable
	// webhooks are the webhooks made through the API, in creation order.
	webhooks []*airtableWebhook
	// now is the fake's clock for webhook expiries; zero: time.Now.
	now time.Time
}

// airtables maps each Airtable fake to what it holds. The key is weak and
// a fake's entry goes with the fake.
var airtables sync.Map // weak.Pointer[Fake] -> *Airtable

// Airtable returns what the fake holds, for an Airtable fake; nil for the
// fake of another app.
func (f *Fake) Airtable() *Airtable {
	a, _ := airtables.Load(weak.Make(f))
	at, _ := a.(*Airtable)
	return at
}

// AddTable adds a table named name to base (a base the fake did not hold
// yet is made) and returns its id. The table takes any field; a formula
// may name the fields its records hold.
func (a *Airtable) AddTable(base, name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	t := &airtableTable{base: base, id: fmt.Sprintf("tbl%014d", a.next), name: name}
	a.tables = append(a.tables, t)
	return t.id
}

// AddView adds a view named name to table (its name or id) of base, which
// shows the records keep reports true for (see AirtableRecordIDs), and
// returns the view's id. It panics for a table the fake does not hold.
func (a *Airtable) AddView(base, table, name string, keep func(id string, fields map[string]any) bool) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.mustTable(base, table)
	a.next++
	v := airtableView{id: fmt.Sprintf("viw%014d", a.next), name: name, keep: keep}
	t.views = append(t.views, v)
	return v.id
}

// AirtableRecordIDs is a view's keep func that shows the records ids.
func AirtableRecordIDs(ids ...string) func(id string, fields map[string]any) bool {
	return func(id string, _ map[string]any) bool { return slices.Contains(ids, id) }
}

// AddRecord adds a record with fields, created at created, to table (its
// name or id) of base, as if someone had created it in Airtable then, and
// returns its id. Lists return it in created order. It panics for a table
// the fake does not hold.
func (a *Airtable) AddRecord(base, table string, fields map[string]any, created time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.add(a.mustTable(base, table), fields, created).id
}

// SetPageCap makes the fake answer a list with at most n records a page
// (0: pageSize, at most 100, as Airtable does), as an API may answer
// short pages: a client must follow offset, not count records.
func (a *Airtable) SetPageCap(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pageCap = n
}

// mustTable returns table (its name or id) of base, or panics.
func (a *Airtable) mustTable(base, table string) *airtableTable {
	t := a.table(base, table)
	if t == nil {
		panic(fmt.Sprintf("apptest: the Airtable fake holds no table %q in base %q", table, base))
	}
	return t
}

// table returns table (its name or id) of base, nil when there is none.
func (a *Airtable) table(base, table string) *airtableTable {
	for _, t := range a.tables {
		if t.base == base && (t.id == table || t.name == table) {
			return t
		}
	}
	return nil
}

// add stores a record with fields created at created in t.
func (a *Airtable) add(t *airtableTable, fields map[string]any, created time.Time) airtableRecord {
	a.next++
	rec := airtableRecord{id: fmt.Sprintf("rec%014d", a.next), created: created.UTC().Truncate(time.Millisecond), fields: fields}
	at, _ := slices.BinarySearchFunc(t.records, rec.created, func(r airtableRecord, c time.Time) int {
		if r.created.After(c) {
			return 1
		}
		return -1
	})
	t.records = slices.Insert(t.records, at, rec)
	return rec
}

// create stores a record with fields that the API was asked to create:
// created a second after the one the fake created before.
func (a *Airtable) create(t *airtableTable, fields map[string]any) airtableRecord {
	return a.add(t, fields, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(a.next%3600+1)*time.Second))
}

// known reports whether t has a field named name.
func (t *airtableTable) known(name string) bool {
	if t.fields != nil {
		_, ok := t.fields[name]
		return ok
	}
	for _, r := range t.records {
		if _, ok := r.fields[name]; ok {
			return true
		}
	}
	return false
}

// view returns the view of t named or identified by v.
func (t *airtableTable) view(v string) (airtableView, bool) {
	for _, view := range t.views {
		if view.id == v || view.name == v {
			return view, true
		}
	}
	return airtableView{}, false
}

// airtableOptions are the choices of the Status single select.
var airtableOptions = []string{"Lead", "Customer"}

// cells checks the cell values of a record to create, converting them
// when typecast is set, and answers Airtable's 422 for an unknown field
// or a value its field cannot take. A table a test added takes any
// value.
func (t *airtableTable) cells(w http.ResponseWriter, in map[string]any, typecast bool) (map[string]any, bool) {
	if t.fields == nil {
		return in, true
	}
	out := map[string]any{}
	for name, v := range in {
		typ, ok := t.fields[name]
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

// airtableFormula is a parsed filterByFormula: its value for a record.
type airtableFormula func(r airtableRecord) any

// airtableFormulaError is why the fake cannot evaluate a formula: an
// unknown field, or text it cannot read.
type airtableFormulaError struct{ unknown string }

// airtableParser reads the formulas the fake evaluates (see newAirtable).
type airtableParser struct {
	s     string
	pos   int
	known func(string) bool
}

// airtableMatch reports which records of t a filterByFormula keeps; ok is
// false (and Airtable's 422 INVALID_FILTER_BY_FORMULA written) for a
// formula the fake cannot read or that names an unknown field.
func airtableMatch(w http.ResponseWriter, t *airtableTable, formula string) (func(airtableRecord) bool, bool) {
	if strings.TrimSpace(formula) == "" {
		return func(airtableRecord) bool { return true }, true
	}
	f, err := parseAirtableFormula(formula, t.known)
	if err != nil {
		msg := "Invalid formula. Please check your formula text."
		if err.unknown != "" {
			msg = "Unknown field names: " + strings.ToLower(err.unknown)
		}
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: "+msg)
		return nil, false
	}
	return func(r airtableRecord) bool { return airtableTruthy(f(r)) }, true
}

// parseAirtableFormula parses formula, whose field references must be
// fields known reports.
func parseAirtableFormula(formula string, known func(string) bool) (f airtableFormula, ferr *airtableFormulaError) {
	p := &airtableParser{s: formula, known: known}
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(*airtableFormulaError)
			if !ok {
				panic(v)
			}
			f, ferr = nil, e
		}
	}()
	f = p.expr()
	if p.skip(); p.pos != len(p.s) {
		p.fail()
	}
	return f, nil
}

func (p *airtableParser) fail() { panic(&airtableFormulaError{}) }

func (p *airtableParser) skip() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

// eat consumes tok after spaces and reports whether it was there.
func (p *airtableParser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// expr is a primary, or two compared with = or !=.
func (p *airtableParser) expr() airtableFormula {
	left := p.primary()
	switch {
	case p.eat("!="):
		right := p.primary()
		return func(r airtableRecord) any { return airtableText(left(r)) != airtableText(right(r)) }
	case p.eat("="):
		right := p.primary()
		return func(r airtableRecord) any { return airtableText(left(r)) == airtableText(right(r)) }
	}
	return left
}

// primary is a text literal in double or single quotes (a backslash
// escapes the next character), a field {Name}, a parenthesized expr or
// a function call.
func (p *airtableParser) primary() airtableFormula {
	p.skip()
	if p.pos == len(p.s) {
		p.fail()
	}
	switch c := p.s[p.pos]; {
	case c == '"' || c == '\'':
		p.pos++
		var b strings.Builder
		for {
			if p.pos == len(p.s) {
				p.fail()
			}
			ch := p.s[p.pos]
			p.pos++
			if ch == c {
				break
			}
			if ch == '\\' && p.pos < len(p.s) {
				ch = p.s[p.pos]
				p.pos++
			}
			b.WriteByte(ch)
		}
		text := b.String()
		return func(airtableRecord) any { return text }
	case c == '{':
		end := strings.IndexByte(p.s[p.pos:], '}')
		if end < 0 {
			p.fail()
		}
		name := p.s[p.pos+1 : p.pos+end]
		p.pos += end + 1
		if !p.known(name) {
			panic(&airtableFormulaError{unknown: name})
		}
		return func(r airtableRecord) any { return r.fields[name] }
	case c == '(':
		p.pos++
		e := p.expr()
		if !p.eat(")") {
			p.fail()
		}
		return e
	}
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == '_' || unicode.IsLetter(rune(p.s[p.pos]))) {
		p.pos++
	}
	name := strings.ToUpper(p.s[start:p.pos])
	if name == "" || !p.eat("(") {
		p.fail()
	}
	var args []airtableFormula
	if !p.eat(")") {
		for {
			args = append(args, p.expr())
			if p.eat(")") {
				break
			}
			if !p.eat(",") {
				p.fail()
			}
		}
	}
	return p.call(name, args)
}

// call is the function name applied to args.
func (p *airtableParser) call(name string, args []airtableFormula) airtableFormula {
	arity := map[string]int{"CREATED_TIME": 0, "DATETIME_PARSE": 1, "NOT": 1, "IS_BEFORE": 2, "IS_AFTER": 2}
	if n, ok := arity[name]; ok && len(args) != n || !ok && (name != "AND" && name != "OR" || len(args) == 0) {
		p.fail()
	}
	switch name {
	case "CREATED_TIME":
		return func(r airtableRecord) any { return r.created }
	case "DATETIME_PARSE":
		return func(r airtableRecord) any { return airtableTime(args[0](r)) }
	case "NOT":
		return func(r airtableRecord) any { return !airtableTruthy(args[0](r)) }
	case "IS_BEFORE", "IS_AFTER":
		return func(r airtableRecord) any {
			a, b := airtableTime(args[0](r)), airtableTime(args[1](r))
			if a == nil || b == nil {
				return nil // #ERROR!
			}
			if name == "IS_BEFORE" {
				return a.(time.Time).Before(b.(time.Time))
			}
			return a.(time.Time).After(b.(time.Time))
		}
	}
	return func(r airtableRecord) any {
		for _, a := range args {
			if airtableTruthy(a(r)) == (name == "OR") {
				return name == "OR"
			}
		}
		return name == "AND"
	}
}

// airtableTime is v as a time: a time, or text in ISO 8601 (RFC 3339);
// nil (#ERROR!) for anything else.
func airtableTime(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t
		}
	}
	return nil
}

// airtableText is v as text, as = compares it: an empty cell is "".
func airtableText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.UTC().Format(airtableTimeLayout)
	}
	return fmt.Sprint(v)
}

// airtableTruthy reports whether a formula's value keeps a record: not 0,
// false, "", an empty cell or #ERROR!.
func airtableTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	}
	return true
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
//     answers 200 {"records": [...], "offset"?}, in created order, pages
//     of pageSize (1 to 100, the default; another answers 422
//     INVALID_REQUEST_UNKNOWN) records, or fewer under SetPageCap, with an
//     offset until the last page or maxRecords. A view (its name or id)
//     keeps its records; an unknown view answers 422 VIEW_NAME_NOT_FOUND,
//     a bad offset 422 INVALID_OFFSET_VALUE.
//   - "Get base schema"
//     (https://airtable.com/developers/web/api/get-base-schema): GET
//     /v0/meta/bases/{baseId}/tables answers {"tables": [{"id", "name",
//     "primaryFieldId", "fields", "views"}]}.
//   - The webhooks API
//     (https://airtable.com/developers/web/api/webhooks-overview), : POST
//     /v0/bases/{baseId}/webhooks (serveCreateWebhook), GET (list), POST
//     .../webhooks/{webhookId}/refresh and DELETE .../webhooks/{webhookId}
//     (a webhook gone or expired answers 404 {"error": "NOT_FOUND"});
//     Airtable.Notify sends a notification, Airtable.Webhooks reads them.
//
// The fake evaluates formulas made of text literals ("..." or '...'),
// fields ({Name}), = and !=, parentheses, and the functions AND, OR, NOT,
// CREATED_TIME(), DATETIME_PARSE(text) (ISO 8601 only), IS_BEFORE and
// IS_AFTER (to the millisecond), as Airtable's formula field reference
// describes them (https://support.airtable.com/docs/formula-field-reference);
// a record is kept unless the value is false, 0, "", empty or an error.
// Another formula, or one naming an unknown field, answers 422
// INVALID_FILTER_BY_FORMULA.
//
// It holds the table AirtableTableName (AirtableTableID) of base
// AirtableBaseID, with its view AirtableView (AirtableViewID), and the
// tables, views and records a test adds through Fake.Airtable. Another
// base or table answers 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND
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
	a := &Airtable{}
	contacts := &airtableTable{
		base: AirtableBaseID, id: AirtableTableID, name: AirtableTableName,
		fields: map[string]string{"Name": "singleLineText", "Email": "email", "Age": "number", "Status": "singleSelect"},
		views: []airtableView{{id: AirtableViewID, name: AirtableView, keep: func(_ string, fields map[string]any) bool {
			return fields["Status"] == "Customer"
		}}},
	}
	a.tables = append(a.tables, contacts)
	a.create(contacts, map[string]any{"Name": "Ada Lovelace", "Email": "ada@example.com", "Age": float64(36), "Status": "Customer"})
	a.create(contacts, map[string]any{"Name": "O'Brien & Sons", "Email": "orders@obrien.example", "Status": "Lead"})
	a.create(contacts, map[string]any{"Name": "Grace Hopper", "Email": "grace@example.com", "Age": float64(85), "Status": "Customer"})
	key := weak.Make(f)
	airtables.Store(key, a)
	runtime.AddCleanup(f, func(k weak.Pointer[Fake]) { airtables.Delete(k) }, key)

	// table returns the table r names, or answers 403; a.mu is held.
	table := func(w http.ResponseWriter, r *http.Request) *airtableTable {
		t := a.table(r.PathValue("baseId"), r.PathValue("table"))
		if t == nil {
			airtableError(w, http.StatusForbidden, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
				"Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.")
		}
		return t
	}
	invalid := func(w http.ResponseWriter) {
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
	}
	return f, &spec{
		failure: airtableFailure,
		methods: map[string]Handler{
			// More specific than the table patterns, which it would match.
			"GET /v0/meta/whoami":                                  airtableWhoami,
			"GET /v0/meta/bases/{baseId}/tables":                   a.serveSchema,
			"GET /v0/bases/{baseId}/webhooks":                      a.serveListWebhooks,
			"POST /v0/bases/{baseId}/webhooks":                     a.serveCreateWebhook,
			"POST /v0/bases/{baseId}/webhooks/{webhookId}/refresh": a.serveRefreshWebhook,
			"DELETE /v0/bases/{baseId}/webhooks/{webhookId}":       a.serveDeleteWebhook,
			"POST /v0/{baseId}/{table}": func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if _, ok := airtableAuth(f, w, r); !ok {
					return
				}
				a.mu.Lock()
				defer a.mu.Unlock()
				t := table(w, r)
				if t == nil {
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
				switch {
				case req.Fields != nil && req.Records == nil:
					cells, ok := t.cells(w, req.Fields, typecast)
					if !ok {
						return
					}
					writeJSON(w, http.StatusOK, a.create(t, cells).json())
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
						out = append(out, a.create(t, cells).json())
					}
					writeJSON(w, http.StatusOK, map[string]any{"records": out})
				default:
					airtableError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_MISSING_FIELDS", `Could not find field "fields" in the request body`)
				}
			},
			"GET /v0/{baseId}/{table}": func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if _, ok := airtableAuth(f, w, r); !ok {
					return
				}
				a.mu.Lock()
				defer a.mu.Unlock()
				t := table(w, r)
				if t == nil {
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
				keep, ok := airtableMatch(w, t, q.Get("filterByFormula"))
				if !ok {
					return
				}
				inView := func(airtableRecord) bool { return true }
				if v := q.Get("view"); v != "" {
					view, ok := t.view(v)
					if !ok {
						airtableError(w, http.StatusUnprocessableEntity, "VIEW_NAME_NOT_FOUND", fmt.Sprintf("Could not find view %s in table %s", v, t.name))
						return
					}
					inView = func(rec airtableRecord) bool { return view.keep(rec.id, rec.fields) }
				}
				var matched []airtableRecord
				for _, rec := range t.records {
					if inView(rec) && keep(rec) {
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
				if a.pageCap > 0 {
					pageSize = min(pageSize, a.pageCap)
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

// AirtableWebhookLife is how long a webhook of the Airtable fake lives
// after it is made or refreshed, as Airtable's do.
const AirtableWebhookLife = 7 * 24 * time.Hour

// airtableWebhook is a webhook made through the fake's webhooks API.
type airtableWebhook struct {
	id, base, notificationURL string
	spec                      map[string]any
	secret                    []byte
	created, expires          time.Time
	refreshes                 int
}

// AirtableWebhook is a webhook the Airtable fake holds, as Webhooks
// reads it.
type AirtableWebhook struct {
	// ID is its id (ach...), Base its base's.
	ID, Base string
	// NotificationURL is where Notify posts; "" when none was given.
	NotificationURL string
	// Specification is the specification it was made with, as decoded
	// JSON.
	Specification map[string]any
	// MACSecret is the key that signs its notifications (Airtable gives
	// it base64 as macSecretBase64).
	MACSecret []byte
	// ExpiresAt is when it expires unless refreshed; Refreshes counts
	// the refreshes.
	ExpiresAt time.Time
	Refreshes int
}

// SetNow sets the fake's clock for webhook expiries (zero: the real
// time): a webhook expires AirtableWebhookLife after it was made or
// refreshed, and the fake answers an expired one as gone (404).
func (a *Airtable) SetNow(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = t
}

// clock is the fake's time; a.mu is held.
func (a *Airtable) clock() time.Time {
	if a.now.IsZero() {
		return time.Now().UTC()
	}
	return a.now.UTC()
}

// Webhooks returns the webhooks the fake holds (not deleted nor
// expired), in creation order.
func (a *Airtable) Webhooks() []AirtableWebhook {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AirtableWebhook
	for _, h := range a.webhooks {
		if h.expires.After(a.clock()) {
			out = append(out, AirtableWebhook{
				ID: h.id, Base: h.base, NotificationURL: h.notificationURL, Specification: h.spec,
				MACSecret: slices.Clone(h.secret), ExpiresAt: h.expires, Refreshes: h.refreshes,
			})
		}
	}
	return out
}

// AirtableNotification is a notification Notify sent.
type AirtableNotification struct {
	// URL is where it went, Header and Body what it held.
	URL    string
	Header http.Header
	Body   []byte
	// Status is the receiver's answer (Airtable expects 200 or 204).
	Status int
}

// Notify sends the notification Airtable sends when a change webhookID
// watches happens (a record a test added, say): POST to its notification
// URL with the body {"base": {"id"}, "webhook": {"id"}, "timestamp"} and
// the header X-Airtable-Content-MAC: hmac-sha256=<hex HMAC-SHA256 of the
// body keyed with the webhook's MAC secret>. The fake sends nothing on
// its own when records change. It answers an error for a webhook it does
// not hold, one without a notification URL or a request that got no
// answer; a receiver's non-2xx answer is in Status, not an error.
func (a *Airtable) Notify(webhookID string) (AirtableNotification, error) {
	a.mu.Lock()
	var hook *airtableWebhook
	if i := a.webhook("", webhookID); i >= 0 {
		hook = a.webhooks[i]
	}
	var body []byte
	var secret []byte
	var to string
	if hook != nil {
		to, secret = hook.notificationURL, hook.secret
		body, _ = json.Marshal(map[string]any{
			"base":      map[string]any{"id": hook.base},
			"webhook":   map[string]any{"id": hook.id},
			"timestamp": a.clock().Format(airtableTimeLayout),
		})
	}
	a.mu.Unlock()
	switch {
	case hook == nil:
		return AirtableNotification{}, fmt.Errorf("apptest: the Airtable fake holds no webhook %q", webhookID)
	case to == "":
		return AirtableNotification{}, fmt.Errorf("apptest: Airtable webhook %s has no notification URL", webhookID)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	n := AirtableNotification{URL: to, Body: body, Header: http.Header{
		"Content-Type":           {"application/json"},
		"X-Airtable-Content-Mac": {"hmac-sha256=" + hex.EncodeToString(mac.Sum(nil))},
	}}
	req, err := http.NewRequest(http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return n, fmt.Errorf("apptest: Airtable webhook %s: %w", webhookID, err)
	}
	req.Header = n.Header.Clone()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return n, fmt.Errorf("apptest: Airtable webhook %s: notify: %w", webhookID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	n.Status = resp.StatusCode
	return n, nil
}

// webhook returns the index of the live webhook id (of base, unless base
// is ""), -1 when there is none; a.mu is held.
func (a *Airtable) webhook(base, id string) int {
	return slices.IndexFunc(a.webhooks, func(h *airtableWebhook) bool {
		return h.id == id && (base == "" || h.base == base) && h.expires.After(a.clock())
	})
}

// hasBase reports whether the fake holds base; a.mu is held.
func (a *Airtable) hasBase(base string) bool {
	return slices.ContainsFunc(a.tables, func(t *airtableTable) bool { return t.base == base })
}

// airtableNoBase answers 403 for a base the fake does not hold.
func airtableNoBase(w http.ResponseWriter) {
	airtableError(w, http.StatusForbidden, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
		"Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.")
}

// lockBase authenticates r and locks a for the request's base. When it
// reports false it has answered (401, or 403 for a base the fake does
// not hold) and holds no lock; otherwise the caller unlocks a.mu.
func (a *Airtable) lockBase(f *Fake, w http.ResponseWriter, r *http.Request) (string, bool) {
	if _, ok := airtableAuth(f, w, r); !ok {
		return "", false
	}
	a.mu.Lock()
	base := r.PathValue("baseId")
	if !a.hasBase(base) {
		a.mu.Unlock()
		airtableNoBase(w)
		return "", false
	}
	return base, true
}

// lockWebhook authenticates r and locks a for the request's webhook,
// returning its index. When it reports false it has answered (401, or 404
// for a webhook gone) and holds no lock; otherwise the caller unlocks a.mu.
func (a *Airtable) lockWebhook(f *Fake, w http.ResponseWriter, r *http.Request) (int, bool) {
	if _, ok := airtableAuth(f, w, r); !ok {
		return 0, false
	}
	a.mu.Lock()
	i := a.webhook(r.PathValue("baseId"), r.PathValue("webhookId"))
	if i < 0 {
		a.mu.Unlock()
		airtableFailure(w, http.StatusNotFound)
		return 0, false
	}
	return i, true
}

// serveSchema answers "Get base schema".
func (a *Airtable) serveSchema(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
	base, ok := a.lockBase(f, w, r)
	if !ok {
		return
	}
	defer a.mu.Unlock()
	tables := []any{}
	for _, t := range a.tables {
		if t.base != base {
			continue
		}
		names := slices.Sorted(maps.Keys(t.fields))
		fields := []any{}
		for i, name := range names {
			fields = append(fields, map[string]any{"id": fmt.Sprintf("fld%s%03d", t.id[3:14], i), "name": name, "type": t.fields[name]})
		}
		views := []any{}
		for _, v := range t.views {
			views = append(views, map[string]any{"id": v.id, "name": v.name, "type": "grid"})
		}
		out := map[string]any{"id": t.id, "name": t.name, "fields": fields, "views": views}
		if len(fields) > 0 {
			out["primaryFieldId"] = fields[0].(map[string]any)["id"]
		}
		tables = append(tables, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": tables})
}

// airtableWebhookSpec is the specification of "Create a webhook".
type airtableWebhookSpec struct {
	Options *struct {
		Filters *struct {
			DataTypes              []string `json:"dataTypes"`
			RecordChangeScope      *string  `json:"recordChangeScope"`
			ChangeTypes            []string `json:"changeTypes"`
			FromSources            []string `json:"fromSources"`
			SourceOptions          any      `json:"sourceOptions"`
			WatchDataInFieldIDs    []string `json:"watchDataInFieldIds"`
			WatchSchemasOfFieldIDs []string `json:"watchSchemasOfFieldIds"`
		} `json:"filters"`
		Includes any `json:"includes"`
	} `json:"options"`
}

// serveCreateWebhook answers "Create a webhook": 200 {"id",
// "macSecretBase64", "expirationTime"}; a body that is not {"notificationUrl"
// (an absolute http or https URL, or null), "specification": {"options":
// {"filters": {"dataTypes": [tableData, tableFields or tableMetadata...],
// "recordChangeScope" (a table or view id of the base), "changeTypes":
// [add, remove or update...], ...}}}} answers 422
// INVALID_REQUEST_UNKNOWN.
func (a *Airtable) serveCreateWebhook(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
	base, ok := a.lockBase(f, w, r)
	if !ok {
		return
	}
	defer a.mu.Unlock()
	invalid := func(why string) {
		airtableError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data. ("+why+")")
	}
	var req struct {
		NotificationURL *string              `json:"notificationUrl"`
		Specification   *airtableWebhookSpec `json:"specification"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		invalid("the body is not a webhook")
		return
	}
	to := ""
	if req.NotificationURL != nil {
		u, err := url.Parse(*req.NotificationURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			invalid("notificationUrl is not a URL")
			return
		}
		to = *req.NotificationURL
	}
	spec := req.Specification
	if spec == nil || spec.Options == nil || spec.Options.Filters == nil || len(spec.Options.Filters.DataTypes) == 0 {
		invalid("specification.options.filters.dataTypes is required")
		return
	}
	flt := spec.Options.Filters
	for _, d := range flt.DataTypes {
		if d != "tableData" && d != "tableFields" && d != "tableMetadata" {
			invalid("unknown dataType " + strconv.Quote(d))
			return
		}
	}
	for _, c := range flt.ChangeTypes {
		if c != "add" && c != "remove" && c != "update" {
			invalid("unknown changeType " + strconv.Quote(c))
			return
		}
	}
	if sc := flt.RecordChangeScope; sc != nil {
		found := slices.ContainsFunc(a.tables, func(t *airtableTable) bool {
			_, isView := t.view(*sc)
			return t.base == base && (t.id == *sc || isView && strings.HasPrefix(*sc, "viw"))
		})
		if !found {
			invalid("recordChangeScope must be a table or view id")
			return
		}
	}
	var decoded map[string]any
	_ = json.Unmarshal(body, &struct {
		Specification *map[string]any `json:"specification"`
	}{&decoded})
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	a.next++
	now := a.clock()
	h := &airtableWebhook{
		id: fmt.Sprintf("ach%014d", a.next), base: base, notificationURL: to, spec: decoded,
		secret: secret, created: now, expires: now.Add(AirtableWebhookLife),
	}
	a.webhooks = append(a.webhooks, h)
	writeJSON(w, http.StatusOK, map[string]any{
		"id":              h.id,
		"macSecretBase64": base64.StdEncoding.EncodeToString(secret),
		"expirationTime":  h.expires.Format(airtableTimeLayout),
	})
}

// serveListWebhooks answers "List webhooks": {"webhooks": [...]}.
func (a *Airtable) serveListWebhooks(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
	base, ok := a.lockBase(f, w, r)
	if !ok {
		return
	}
	defer a.mu.Unlock()
	out := []any{}
	for _, h := range a.webhooks {
		if h.base != base || !h.expires.After(a.clock()) {
			continue
		}
		var to any
		if h.notificationURL != "" {
			to = h.notificationURL
		}
		out = append(out, map[string]any{
			"id": h.id, "type": "client", "isHookEnabled": true, "notificationUrl": to,
			"cursorForNextPayload": 1, "areNotificationsEnabled": to != nil, "lastSuccessfulNotificationTime": nil,
			"lastNotificationResult": nil, "expirationTime": h.expires.Format(airtableTimeLayout), "specification": h.spec,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

// serveRefreshWebhook answers "Refresh a webhook": {"expirationTime"},
// AirtableWebhookLife from now; an unknown or expired webhook answers 404
// {"error": "NOT_FOUND"}.
func (a *Airtable) serveRefreshWebhook(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
	i, ok := a.lockWebhook(f, w, r)
	if !ok {
		return
	}
	defer a.mu.Unlock()
	h := a.webhooks[i]
	h.expires = a.clock().Add(AirtableWebhookLife)
	h.refreshes++
	writeJSON(w, http.StatusOK, map[string]any{"expirationTime": h.expires.Format(airtableTimeLayout)})
}

// serveDeleteWebhook answers "Delete a webhook": 200 {}; an unknown or
// expired webhook answers 404 {"error": "NOT_FOUND"}.
func (a *Airtable) serveDeleteWebhook(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
	i, ok := a.lockWebhook(f, w, r)
	if !ok {
		return
	}
	defer a.mu.Unlock()
	a.webhooks = slices.Delete(a.webhooks, i, i+1)
	writeJSON(w, http.StatusOK, map[string]any{})
}
