package poll_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/poll"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/wiresk"
)

// airtableNow is when the tests' triggers first poll: between two
// seconds, so that a window floored to the second brings back records
// from before it.
var airtableNow = time.Date(2026, 4, 1, 9, 0, 0, 250_000_000, time.UTC)

// airtablePoller is an Airtable fake and a poller of airtable.new_record
// that reaches it.
type airtablePoller struct {
	t      *testing.T
	f      *apptest.Fake
	a      *apptest.Airtable
	app    *catalog.App
	client *appcall.Client
	source poll.Source
	in     poll.Input
}

// newAirtablePoller starts the Airtable fake and returns a poller with
// params (base_id defaults to the fake's base) and the fake's token, at
// airtableNow. Rate limits are retried without waiting.
func newAirtablePoller(t *testing.T, params map[string]string) *airtablePoller {
	t.Helper()
	f, _ := apptest.New(t, "airtable")
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"airtable": f})))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cat.App("airtable")
	base, err := app.BaseURL(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	event, ok := poll.Lookup("airtable", "new_record")
	if !ok {
		t.Fatal("airtable.new_record is not registered")
	}
	if _, ok := params["base_id"]; !ok {
		params["base_id"] = apptest.AirtableBaseID
	}
	p := &airtablePoller{
		t: t, f: f, a: f.Airtable(), app: app, source: event.Source,
		client: &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}},
		in:     poll.Input{BaseURL: base, Params: params, Now: airtableNow},
	}
	p.useToken(f.Token)
	return p
}

// useToken makes the poller call Airtable with token, a personal access
// token.
func (p *airtablePoller) useToken(token string) {
	app, client, config := p.app, p.client, p.f.Config
	cred := appcall.Credential{Kind: appcall.CredentialAPIKey, Token: token}
	p.in.Call = func(ctx context.Context, req *catalog.Request) (*appcall.Response, error) {
		return client.Do(ctx, app, config, cred, req)
	}
}

// poll polls once with max and moves the cursor on.
func (p *airtablePoller) poll(max int) poll.Result {
	p.t.Helper()
	p.in.Max = max
	res, err := p.source.Poll(p.t.Context(), p.in)
	if err != nil {
		p.t.Fatal(err)
	}
	if res.Cursor == "" {
		p.t.Fatalf("poll with cursor %q: empty cursor", p.in.Cursor)
	}
	p.in.Cursor = res.Cursor
	return res
}

// seed makes the trigger's first poll, which must return no items.
func (p *airtablePoller) seed() {
	p.t.Helper()
	if res := p.poll(0); len(res.Items) != 0 || res.More {
		p.t.Fatalf("first poll = %+v, want no items", res)
	}
}

// drain polls with max until More is false and returns the item ids, in
// order; it fails when a poll returns more than max items or the polls
// do not end.
func (p *airtablePoller) drain(max int) []string {
	p.t.Helper()
	var ids []string
	for range 1000 {
		res := p.poll(max)
		if len(res.Items) > max {
			p.t.Fatalf("poll with Max %d returned %d items", max, len(res.Items))
		}
		for _, it := range res.Items {
			ids = append(ids, it.ID)
		}
		if !res.More {
			return ids
		}
	}
	p.t.Fatal("the polls never ended")
	return nil
}

// listRequests returns the list requests the fake received for table.
func (p *airtablePoller) listRequests(table string) []apptest.Request {
	return p.f.Received("GET /v0/" + apptest.AirtableBaseID + "/" + table)
}

func TestAirtableNewRecordFirstPollSeeds(t *testing.T) {
	p := newAirtablePoller(t, map[string]string{"table": apptest.AirtableTableName})
	res := p.poll(0)
	if len(res.Items) != 0 || res.More {
		t.Errorf("first poll = %+v, want no items", res)
	}
	if want := "2026-04-01T09:00:00.250Z"; res.Cursor != want {
		t.Errorf("first cursor = %q, want in.Now, %q", res.Cursor, want)
	}
	if n := p.f.Requests(); n != 0 {
		t.Errorf("the first poll sent %d requests, want none", n)
	}
	// The records the table held are not new.
	if res := p.poll(0); len(res.Items) != 0 {
		t.Errorf("second poll = %+v, want no items", res)
	}
}

func TestAirtableNewRecordPages(t *testing.T) {
	p := newAirtablePoller(t, map[string]string{"table": apptest.AirtableTableID})
	p.seed()
	p.a.SetPageCap(40)
	var want []string
	for i := range 100 {
		want = append(want, p.a.AddRecord(apptest.AirtableBaseID, apptest.AirtableTableID,
			map[string]any{"Name": fmt.Sprintf("Contact %d", i), "Status": "Lead"}, airtableNow.Add(time.Duration(i+1)*time.Second)))
	}

	res := p.poll(0)
	var got []string
	for _, it := range res.Items {
		got = append(got, it.ID)
	}
	if !slices.Equal(got, want) || res.More {
		t.Fatalf("poll = %d items %v (More %v), want the 100 records once each, oldest first", len(got), got, res.More)
	}
	first := res.Items[0]
	fields := map[string]any{"Name": "Contact 0", "Status": "Lead"}
	if first.Data["id"] != want[0] || first.Data["createdTime"] != "2026-04-01T09:00:01.250Z" || fmt.Sprint(first.Data["fields"]) != fmt.Sprint(fields) || len(first.Data) != 3 {
		t.Errorf("item data = %v, want {id, createdTime, fields}", first.Data)
	}
	if want := "2026-04-01T09:01:40.250Z/" + want[99]; res.Cursor != want {
		t.Errorf("cursor = %q, want the last record's %q", res.Cursor, want)
	}

	reqs := p.listRequests(apptest.AirtableTableID)
	if len(reqs) != 3 {
		t.Fatalf("the fake received %d list requests, want 3 pages", len(reqs))
	}
	formula := "NOT(IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('2026-04-01T09:00:00.000Z')))"
	for i, r := range reqs {
		if r.Query.Get("pageSize") != "100" || r.Query.Get("filterByFormula") != formula || r.Query.Has("view") || r.Query.Has("sort[0][field]") {
			t.Errorf("request %d query = %v, want pageSize 100 and the formula %s", i, r.Query, formula)
		}
		if got := r.Query.Get("offset"); (i == 0) != (got == "") {
			t.Errorf("request %d offset = %q", i, got)
		}
	}

	// Nothing new: nothing, and the cursor stays.
	cursor := p.in.Cursor
	if res := p.poll(0); len(res.Items) != 0 || res.More || res.Cursor != cursor {
		t.Errorf("second poll = %+v, want no items and cursor %q", res, cursor)
	}
	if n := len(p.listRequests(apptest.AirtableTableID)); n != 4 {
		t.Errorf("the fake received %d list requests, want 4 (one for the second poll)", n)
	}
}

func TestAirtableNewRecordView(t *testing.T) {
	// A name with spaces, an ampersand, a slash, a hash, a question mark
	// and letters outside ASCII: the path must escape it whole.
	const table = "Leads & Deals / 2026 #1? — Ünïcode"
	p := newAirtablePoller(t, map[string]string{"table": table})
	tableID := p.a.AddTable(apptest.AirtableBaseID, table)
	viewID := p.a.AddView(apptest.AirtableBaseID, table, "Hot leads", func(_ string, fields map[string]any) bool { return fields["Hot"] == true })
	p.seed()
	var all, hot []string
	for i := range 6 {
		isHot := i%2 == 0
		id := p.a.AddRecord(apptest.AirtableBaseID, tableID, map[string]any{"Name": fmt.Sprint("Lead ", i), "Hot": isHot}, airtableNow.Add(time.Duration(i)*time.Minute))
		all = append(all, id)
		if isHot {
			hot = append(hot, id)
		}
	}
	for _, tc := range []struct {
		name, table, view string
		want              []string
	}{
		{"no view", table, "", all},
		{"view name", table, "Hot leads", hot},
		{"view id", tableID, viewID, hot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := *p
			q.t = t
			q.in.Params = map[string]string{"base_id": apptest.AirtableBaseID, "table": tc.table}
			if tc.view != "" {
				q.in.Params["view"] = tc.view
			}
			if got := q.drain(500); !slices.Equal(got, tc.want) {
				t.Errorf("items = %v, want %v", got, tc.want)
			}
			if tc.view != "" && q.f.LastRequest().Query.Get("view") != tc.view {
				t.Errorf("query = %v, want view %q", q.f.LastRequest().Query, tc.view)
			}
		})
	}
	// A view the table lacks is Airtable's 422.
	q := *p
	q.t = t
	q.in.Params = map[string]string{"base_id": apptest.AirtableBaseID, "table": table, "view": "Cold leads"}
	_, err := q.source.Poll(t.Context(), q.in)
	if e := mustAppError(t, err); e.Status != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "VIEW_NAME_NOT_FOUND") {
		t.Errorf("unknown view: %v, want Airtable's 422 VIEW_NAME_NOT_FOUND", err)
	}
}

func TestAirtableNewRecordMax(t *testing.T) {
	// Records before the first poll, at its very instant, and bursts of
	// records created in one millisecond.
	at := func(d time.Duration) time.Time { return airtableNow.Add(d) }
	for _, max := range []int{1, 2, 3, 4, 9, 500} {
		t.Run(fmt.Sprint("max ", max), func(t *testing.T) {
			p := newAirtablePoller(t, map[string]string{"table": apptest.AirtableTableName})
			p.seed()
			add := func(name string, created time.Time) string {
				return p.a.AddRecord(apptest.AirtableBaseID, apptest.AirtableTableName, map[string]any{"Name": name}, created)
			}
			add("before", at(-time.Millisecond))
			add("before, same second", at(-200*time.Millisecond))
			var want []string
			want = append(want, add("at the first poll", at(0)))
			var burst []string
			for i := range 4 {
				burst = append(burst, add(fmt.Sprint("burst ", i), at(time.Second)))
			}
			slices.Sort(burst) // records of one instant come in id order
			want = append(want, burst...)
			want = append(want, add("later", at(time.Minute)), add("later, same ms", at(time.Minute)), add("last", at(time.Hour)))

			got := p.drain(max)
			if !slices.Equal(got, want) {
				t.Errorf("items over the polls = %v, want %v once each, oldest first", got, want)
			}
			// A record created after the polls comes next, alone.
			late := add("late", at(2*time.Hour))
			if got := p.drain(max); !slices.Equal(got, []string{late}) {
				t.Errorf("after a new record: %v, want [%s]", got, late)
			}
		})
	}
}

func TestAirtableNewRecordNarrowsALargeWindow(t *testing.T) {
	p := newAirtablePoller(t, map[string]string{"table": apptest.AirtableTableName})
	p.seed()
	var want []string
	for i := range 1100 {
		want = append(want, p.a.AddRecord(apptest.AirtableBaseID, apptest.AirtableTableName, map[string]any{"Name": fmt.Sprint(i)}, airtableNow.Add(time.Duration(i+1)*time.Second)))
	}
	// 1100 records is past the 1000 a poll with Max 3 reads: it reads 10
	// pages, then the window up to the third record's next second.
	res := p.poll(3)
	if len(res.Items) != 3 || res.Items[0].ID != want[0] || res.Items[2].ID != want[2] || !res.More {
		t.Fatalf("poll with Max 3 = %d items (More %v), want the 3 oldest and More", len(res.Items), res.More)
	}
	reqs := p.listRequests(apptest.AirtableTableName)
	if len(reqs) != 11 {
		t.Fatalf("%d list requests, want 10 pages and one of the narrowed window", len(reqs))
	}
	narrowed := "AND(NOT(IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('2026-04-01T09:00:00.000Z'))), IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('2026-04-01T09:00:04.000Z')))"
	if got := reqs[10].Query.Get("filterByFormula"); got != narrowed {
		t.Errorf("narrowed formula = %s, want %s", got, narrowed)
	}
	got := []string{res.Items[0].ID, res.Items[1].ID, res.Items[2].ID}
	got = append(got, p.drain(500)...)
	if !slices.Equal(got, want) {
		t.Errorf("%d items over the polls, want the %d records once each, oldest first", len(got), len(want))
	}
}

func TestAirtableNewRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    func(p *airtablePoller)
		status int
		kind   appcall.ErrorKind
	}{
		{"expired token", func(p *airtablePoller) { p.useToken(p.f.Tokens[apptest.Expired]) }, http.StatusUnauthorized, appcall.KindUnauthorized},
		{"rate limited", func(p *airtablePoller) { p.f.Throttle(-1, "") }, http.StatusTooManyRequests, appcall.KindRateLimited},
		{"server error", func(p *airtablePoller) { p.f.Fail(-1, http.StatusInternalServerError, "") }, http.StatusInternalServerError, appcall.KindTransient},
		{"unknown table", func(p *airtablePoller) { p.in.Params["table"] = "Contcats" }, http.StatusForbidden, appcall.KindPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newAirtablePoller(t, map[string]string{"table": apptest.AirtableTableName})
			p.seed()
			p.a.AddRecord(apptest.AirtableBaseID, apptest.AirtableTableName, map[string]any{"Name": "Ada"}, airtableNow.Add(time.Second))
			tc.set(p)
			res, err := p.source.Poll(t.Context(), p.in)
			if e := mustAppError(t, err); e.Status != tc.status || e.Kind != tc.kind || len(res.Items) != 0 {
				t.Errorf("poll = %+v, %v (status %d, kind %s), want a %s *appcall.Error with status %d", res, err, e.Status, e.Kind, tc.kind, tc.status)
			}
		})
	}
}

// mustAppError returns the *appcall.Error in err's chain.
func mustAppError(t *testing.T, err error) *appcall.Error {
	t.Helper()
	var e *appcall.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *appcall.Error", err, err)
	}
	return e
}

func TestAirtableNewRecordCheck(t *testing.T) {
	event, _ := poll.Lookup("airtable", "new_record")
	if event.Label != "New record in view" || len(event.Params) != 3 || !event.Params[0].Required || !event.Params[1].Required || event.Params[2].Required {
		t.Errorf("event = %+v", event)
	}
	base := apptest.AirtableBaseID
	for _, tc := range []struct {
		name   string
		params map[string]string
		field  string // "" when the params are good
	}{
		{"table name", map[string]string{"base_id": base, "table": "Contacts"}, ""},
		{"table id and view id", map[string]string{"base_id": base, "table": "tblX4mZ2Wq3cT9pLk", "view": "viwQ7cUstM3rs9XaB"}, ""},
		{"unicode names", map[string]string{"base_id": base, "table": "Leads & Deals / 2026 — Ü", "view": "Hot 🔥"}, ""},
		{"empty view", map[string]string{"base_id": base, "table": "Contacts", "view": ""}, ""},
		{"no base", map[string]string{"table": "Contacts"}, "params.base_id"},
		{"short base", map[string]string{"base_id": "appLkNDICXNqxSD", "table": "Contacts"}, "params.base_id"},
		{"table id for base", map[string]string{"base_id": "tblX4mZ2Wq3cT9pLk", "table": "Contacts"}, "params.base_id"},
		{"base with a path", map[string]string{"base_id": "appLkNDICXNqxSDhG/x", "table": "Contacts"}, "params.base_id"},
		{"no table", map[string]string{"base_id": base}, "params.table"},
		{"blank table", map[string]string{"base_id": base, "table": "  "}, "params.table"},
		{"table with a newline", map[string]string{"base_id": base, "table": "Con\ntacts"}, "params.table"},
		{"table too long", map[string]string{"base_id": base, "table": strings.Repeat("x", 1001)}, "params.table"},
		{"view with spaces around", map[string]string{"base_id": base, "table": "Contacts", "view": " Customers"}, "params.view"},
		{"invalid UTF-8 view", map[string]string{"base_id": base, "table": "Contacts", "view": "\xff"}, "params.view"},
		{"unknown param", map[string]string{"base_id": base, "table": "Contacts", "formula": "TRUE()"}, "params.formula"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := event.Source.Check(tc.params)
			if tc.field == "" {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != tc.field {
				t.Errorf("Check = %v, want a validation error on %s", err, tc.field)
			}
			// Poll refuses them too, before calling Airtable.
			in := poll.Input{Params: tc.params, Cursor: "2026-04-01T09:00:00.000Z", Now: airtableNow,
				Call: func(context.Context, *catalog.Request) (*appcall.Response, error) {
					t.Fatal("Poll called Airtable with bad params")
					return nil, nil
				}}
			if _, err := event.Source.Poll(t.Context(), in); wiresk.ErrorField(err) != tc.field {
				t.Errorf("Poll = %v, want a validation error on %s", err, tc.field)
			}
		})
	}
}

// TestAirtableFakeRefuses checks that the fake refuses what Airtable
// refuses, where the source's tests rely on it.
func TestAirtableFakeRefuses(t *testing.T) {
	f, _ := apptest.New(t, "airtable")
	path := "/v0/" + apptest.AirtableBaseID + "/" + apptest.AirtableTableName + "?"
	for _, tc := range []struct {
		name  string
		query url.Values
		typ   string
	}{
		{"page size over 100", url.Values{"pageSize": {"101"}}, "INVALID_REQUEST_UNKNOWN"},
		{"formula it cannot evaluate", url.Values{"filterByFormula": {"SEARCH('a', {Name})"}}, "INVALID_FILTER_BY_FORMULA"},
		{"formula with an unknown field", url.Values{"filterByFormula": {"IS_AFTER({Created}, '2026-01-01T00:00:00Z')"}}, "INVALID_FILTER_BY_FORMULA"},
		{"formula cut short", url.Values{"filterByFormula": {"NOT(IS_BEFORE(CREATED_TIME(), '2026-01-01T00:00:00Z')"}}, "INVALID_FILTER_BY_FORMULA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.Get(t, path+tc.query.Encode())
			if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"type":"`+tc.typ+`"`) {
				t.Errorf("answer %d %s, want 422 %s", status, body, tc.typ)
			}
		})
	}
	// The formula the source sends is evaluated, to the millisecond.
	for _, tc := range []struct {
		from string
		want int
	}{
		{"2026-03-01T12:00:01.000Z", 3},
		{"2026-03-01T12:00:01.001Z", 2},
		{"2026-03-01T12:00:03.000Z", 1},
		{"2026-03-01T12:00:03.001Z", 0},
	} {
		q := url.Values{"filterByFormula": {fmt.Sprintf("NOT(IS_BEFORE(CREATED_TIME(), DATETIME_PARSE('%s')))", tc.from)}}
		status, body := f.Get(t, path+q.Encode())
		if got := strings.Count(string(body), `"createdTime"`); status != http.StatusOK || got != tc.want {
			t.Errorf("records created at or after %s: %d %s, want %d records", tc.from, status, body, tc.want)
		}
	}
}
