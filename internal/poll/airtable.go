package poll

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

func init() {
	register(Event{
		App: "airtable", Name: "new_record", Label: "New record in view",
		Params: []Param{
			{Name: "base_id", Required: true, Label: "Base ID"},
			{Name: "table", Required: true, Label: "Table"},
			{Name: "view", Label: "View"},
		},
		AnyScope: []string{"data.records:read"},
		Source:   airtableNewRecord{},
	})
}

// airtableNewRecord is "airtable.new_record": a Run for each record
// created in a table, or in one of its views, after the trigger was made.
//
// Params: base_id (appXXXXXXXXXXXXXX), table (its id tblXXXXXXXXXXXXXX or
// its name) and view (optional: its id viwXXXXXXXXXXXXXX or its name).
// A view narrows the records to those it shows when the poll runs: a
// record created outside the view and moved into it later does not start
// a Run (as Zapier's and n8n's "new record" triggers, this watches
// creation, not entry into a view); a record the view hides when it is
// created never does. An empty view is no view. Check refuses a base id
// that is not app and 14 letters or digits, and a table or view name that
// is blank, starts or ends with spaces, holds control characters or is
// longer than 1000 bytes; whether the table and view exist it cannot tell
// without the Connection: a poll of a missing one fails with Airtable's
// 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND or 422 VIEW_NAME_NOT_FOUND.
//
// Each item is a record: its ID the record id, its Data the record as
// Airtable lists it, {"id", "createdTime", "fields"} (Airtable leaves
// empty fields out). The table and view go in the URL path-escaped, so
// names with spaces, slashes or letters outside ASCII work.
//
// It polls "List records"
// (https://airtable.com/developers/web/api/list-records): GET
// /v0/{baseId}/{tableIdOrName}?view=&pageSize=100&offset=&filterByFormula=
// with the formula
//
//	NOT(IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('<from>')))
//
// (created at or after <from>), made of the formula functions Airtable
// documents (https://support.airtable.com/docs/formula-field-reference):
// no Created time field is needed in the table. <from> is the cursor's
// instant floored to the second, in case Airtable compares to the second
// only; the records before the cursor that this brings back are dropped.
// Airtable sorts only by a field (sort[0][field]) and CREATED_TIME() is
// none, and a view lists in its own order, so the poll reads every page
// of the window and sorts the records by createdTime, then record id.
//
// The cursor is the createdTime (RFC 3339, milliseconds) and id of the
// last record returned, "2026-03-01T12:00:00.000Z/recXXXXXXXXXXXXXX";
// the next poll goes on after that record in (createdTime, id) order.
// The id makes a burst of records created in one millisecond (an import,
// a batch create) that is larger than Max go on instead of starting over.
// The price: a record that shows up in lists only after another record of
// its millisecond with a greater id was returned is missed, which
// Airtable's server-side createdTime makes unlikely. The first poll's cursor is
// in.Now (no id: records created in its millisecond are new). A poll that
// finds nothing keeps the cursor.
//
// A window of more than max(4*Max, 1000) records (a large import) is not
// read whole: the poll narrows it to end at the second after the Max-th
// oldest record it read, adding AND(..., IS_BEFORE(CREATED_TIME(),
// DATETIME_PARSE('<to>'))), reads that window whole and sets More.
type airtableNewRecord struct{}

// airtableBaseID and airtableRecordID match Airtable's base and record
// ids: a prefix and 14 letters or digits.
var (
	airtableBaseID   = regexp.MustCompile(`^app[A-Za-z0-9]{14}$`)
	airtableRecordID = regexp.MustCompile(`^rec[A-Za-z0-9]{14}$`)
)

// airtableMaxName bounds a table or view name, in bytes.
const airtableMaxName = 1000

func (airtableNewRecord) Check(params map[string]string) error {
	_, err := airtableParamsOf(params)
	return err
}

// airtableParams are the checked params of airtable.new_record.
type airtableParams struct{ base, table, view string }

func airtableParamsOf(params map[string]string) (airtableParams, error) {
	for name := range params {
		if name != "base_id" && name != "table" && name != "view" {
			return airtableParams{}, wiresk.FieldError("params."+name, "airtable.new_record takes no param %q (it takes base_id, table and view)", name)
		}
	}
	p := airtableParams{base: params["base_id"], table: params["table"], view: params["view"]}
	switch {
	case p.base == "":
		return p, wiresk.FieldError("params.base_id", "the base ID is required")
	case !airtableBaseID.MatchString(p.base):
		return p, wiresk.FieldError("params.base_id", "a base ID is app and 14 letters or digits, like appXXXXXXXXXXXXXX (it is in the base's URL)")
	}
	if p.table == "" {
		return p, wiresk.FieldError("params.table", "the table (its ID tblXXXXXXXXXXXXXX or its name) is required")
	}
	if msg := airtableNameProblem(p.table); msg != "" {
		return p, wiresk.FieldError("params.table", "the table name %s", msg)
	}
	if msg := airtableNameProblem(p.view); p.view != "" && msg != "" {
		return p, wiresk.FieldError("params.view", "the view name %s", msg)
	}
	return p, nil
}

// airtableNameProblem says what is wrong with a table or view name, ""
// when nothing is.
func airtableNameProblem(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case len(name) > airtableMaxName:
		return fmt.Sprintf("is longer than %d bytes", airtableMaxName)
	case strings.TrimSpace(name) != name:
		return "starts or ends with spaces"
	case strings.ContainsFunc(name, unicode.IsControl):
		return "holds control characters"
	}
	return ""
}

// airtableCursor is where a poll goes on: after the record id created at
// at, or at at (included) when id is "".
type airtableCursor struct {
	at time.Time
	id string
}

const airtableTime = "2006-01-02T15:04:05.000Z07:00"

func (c airtableCursor) String() string {
	s := c.at.UTC().Format(airtableTime)
	if c.id != "" {
		s += "/" + c.id
	}
	return s
}

func parseAirtableCursor(s string) (airtableCursor, error) {
	at, id, _ := strings.Cut(s, "/")
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || (id != "" && !airtableRecordID.MatchString(id)) {
		return airtableCursor{}, fmt.Errorf("airtable.new_record: the cursor %q is not <RFC 3339 time>[/<record id>]", s)
	}
	return airtableCursor{at: t, id: id}, nil
}

// after reports whether r comes after c in (createdTime, id) order.
func (c airtableCursor) after(r airtableRecord) bool {
	if c.id == "" {
		return !r.at.Before(c.at)
	}
	return r.at.After(c.at) || r.at.Equal(c.at) && r.ID > c.id
}

// airtableRecord is a record as "List records" answers it.
type airtableRecord struct {
	ID          string         `json:"id"`
	CreatedTime string         `json:"createdTime"`
	Fields      map[string]any `json:"fields"`
	at          time.Time
}

// airtableNarrowings bounds how many times one poll narrows its window.
const airtableNarrowings = 8

func (s airtableNewRecord) Poll(ctx context.Context, in Input) (Result, error) {
	p, err := airtableParamsOf(in.Params)
	if err != nil {
		return Result{}, err
	}
	if in.Cursor == "" {
		return Result{Cursor: airtableCursor{at: in.Now}.String()}, nil
	}
	cur, err := parseAirtableCursor(in.Cursor)
	if err != nil {
		return Result{}, err
	}
	maxItems := in.Max
	if maxItems <= 0 {
		maxItems = DefaultMax
	}
	budget := max(4*maxItems, 1000)

	var fresh []airtableRecord
	var to time.Time // the window's end (excluded); zero: none
	narrowed := false
	for narrowing := 0; ; narrowing++ {
		recs, complete, err := s.list(ctx, in, p, cur.at.UTC().Truncate(time.Second), to, budget)
		if err != nil {
			return Result{}, err
		}
		fresh = slices.DeleteFunc(recs, func(r airtableRecord) bool { return !cur.after(r) })
		slices.SortFunc(fresh, func(a, b airtableRecord) int {
			return cmp.Or(a.at.Compare(b.at), strings.Compare(a.ID, b.ID))
		})
		if complete {
			break
		}
		if len(fresh) == 0 || narrowing == airtableNarrowings {
			return Result{}, fmt.Errorf("airtable.new_record: more than %d records were created since %s and the poll cannot narrow its window to fewer", budget, cur.at.UTC().Format(airtableTime))
		}
		end := fresh[min(maxItems, len(fresh))-1].at.UTC().Truncate(time.Second).Add(time.Second)
		if !to.IsZero() && !end.Before(to) {
			return Result{}, fmt.Errorf("airtable.new_record: more than %d records were created in the second before %s", budget, to.Format(airtableTime))
		}
		to, narrowed = end, true
	}
	if len(fresh) == 0 {
		return Result{Cursor: in.Cursor}, nil
	}
	more := narrowed || len(fresh) > maxItems
	fresh = fresh[:min(len(fresh), maxItems)]
	items := make([]Item, len(fresh))
	for i, r := range fresh {
		fields := r.Fields
		if fields == nil {
			fields = map[string]any{}
		}
		items[i] = Item{ID: r.ID, Data: map[string]any{"id": r.ID, "createdTime": r.CreatedTime, "fields": fields}}
	}
	last := fresh[len(fresh)-1]
	return Result{Items: items, Cursor: airtableCursor{at: last.at, id: last.ID}.String(), More: more}, nil
}

// list reads the records created at or after from (and before to, unless
// it is zero), page by page. complete is false when it stopped with more
// pages left, past budget records.
func (airtableNewRecord) list(ctx context.Context, in Input, p airtableParams, from, to time.Time, budget int) (recs []airtableRecord, complete bool, err error) {
	formula := fmt.Sprintf("NOT(IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('%s')))", from.Format(airtableTime))
	if !to.IsZero() {
		formula = fmt.Sprintf("AND(%s, IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('%s')))", formula, to.UTC().Format(airtableTime))
	}
	q := url.Values{"pageSize": {"100"}, "filterByFormula": {formula}}
	if p.view != "" {
		q.Set("view", p.view)
	}
	base := in.BaseURL + "/v0/" + url.PathEscape(p.base) + "/" + url.PathEscape(p.table) + "?"
	for pages := 1; ; pages++ {
		resp, err := in.Call(ctx, &catalog.Request{Method: http.MethodGet, URL: base + q.Encode()})
		if err != nil {
			return nil, false, fmt.Errorf("airtable.new_record: list records: %w", err)
		}
		var page struct {
			Records []airtableRecord `json:"records"`
			Offset  string           `json:"offset"`
		}
		if err := json.Unmarshal(resp.Body, &page); err != nil {
			return nil, false, fmt.Errorf("airtable.new_record: list records: the answer is not Airtable's JSON: %w", err)
		}
		for _, r := range page.Records {
			if r.ID == "" {
				return nil, false, fmt.Errorf("airtable.new_record: list records: a record has no id")
			}
			if r.at, err = time.Parse(time.RFC3339Nano, r.CreatedTime); err != nil {
				return nil, false, fmt.Errorf("airtable.new_record: list records: record %s has createdTime %s: %w", r.ID, strconv.Quote(r.CreatedTime), err)
			}
			recs = append(recs, r)
		}
		if page.Offset == "" {
			return recs, true, nil
		}
		if len(recs) >= budget || pages >= budget {
			return recs, false, nil
		}
		q.Set("offset", page.Offset)
	}
}
