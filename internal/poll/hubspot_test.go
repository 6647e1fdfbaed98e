package poll_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/poll"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/wiresk"
)

const hubspotSearch = "POST /crm/v3/objects/contacts/search"

// hubspotSeed is when the tests' triggers are made.
var hubspotSeed = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func hubspotMS(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// hubspotRig is a HubSpot fake and the Call and base URL of a Connection
// to it.
type hubspotRig struct {
	f    *apptest.Fake
	call poll.Call
	base string
}

// newHubSpot starts the HubSpot fake and connects to it with token (the
// fake's own when "").
func newHubSpot(t *testing.T, token string) *hubspotRig {
	t.Helper()
	f, ok := apptest.New(t, "hubspot")
	if !ok {
		t.Fatal("no HubSpot fake")
	}
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"hubspot": f})))
	if err != nil {
		t.Fatal(err)
	}
	app, ok := cat.App("hubspot")
	if !ok {
		t.Fatal("no hubspot app in the catalog")
	}
	base, err := app.BaseURL(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client := &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}
	if token == "" {
		token = f.Token
	}
	cred := appcall.Credential{Kind: appcall.CredentialBearer, Token: token}
	call := func(ctx context.Context, req *catalog.Request) (*appcall.Response, error) {
		return client.Do(ctx, app, f.Config, cred, req)
	}
	return &hubspotRig{f: f, call: call, base: base}
}

func hubspotSource(t *testing.T, name string) poll.Source {
	t.Helper()
	e, ok := poll.Lookup("hubspot", name)
	if !ok {
		t.Fatalf("hubspot.%s is not registered", name)
	}
	return e.Source
}

// poll polls the event name from cursor.
func (r *hubspotRig) poll(t *testing.T, name, cursor string, max int, params map[string]string) poll.Result {
	t.Helper()
	res, err := hubspotSource(t, name).Poll(t.Context(), poll.Input{
		Call: r.call, BaseURL: r.base, Params: params, Cursor: cursor, Now: hubspotSeed, Max: max,
	})
	if err != nil {
		t.Fatalf("poll hubspot.%s from %q: %v", name, cursor, err)
	}
	return res
}

// addContacts adds n contacts created one millisecond apart from at and
// returns their ids, oldest first.
func (r *hubspotRig) addContacts(n int, at time.Time) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = r.f.AddContact(map[string]string{"email": "c" + strconv.Itoa(i) + "@example.com", "firstname": "C" + strconv.Itoa(i)}, at.Add(time.Duration(i)*time.Millisecond))
	}
	return ids
}

func hubspotItemIDs(items []poll.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestHubSpotEventsAreRegistered(t *testing.T) {
	for name, label := range map[string]string{"new_contact": "New contact", "updated_contact": "Contact updated"} {
		e, ok := poll.Lookup("hubspot", name)
		if !ok || e.Label != label || len(e.Params) != 1 || e.Params[0].Name != "properties" || e.Params[0].Required {
			t.Errorf("hubspot.%s = %+v, %v; want label %q and an optional properties param", name, e, ok, label)
		}
	}
}

func TestHubSpotCheck(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		field  string // "" when accepted
	}{
		{"no params", nil, ""},
		{"properties", map[string]string{"properties": "email, firstname,hs_lead_status"}, ""},
		{"blank properties", map[string]string{"properties": " "}, ""},
		{"an unknown param", map[string]string{"properties": "email", "list": "7"}, "params.list"},
		{"an empty name", map[string]string{"properties": "email,,firstname"}, "params.properties"},
		{"a trailing comma", map[string]string{"properties": "email,"}, "params.properties"},
		{"a space in a name", map[string]string{"properties": "first name"}, "params.properties"},
		{"a semicolon list", map[string]string{"properties": "email;firstname"}, "params.properties"},
		{"a leading digit", map[string]string{"properties": "1email"}, "params.properties"},
	}
	for _, event := range []string{"new_contact", "updated_contact"} {
		src := hubspotSource(t, event)
		for _, c := range cases {
			t.Run(event+"/"+c.name, func(t *testing.T) {
				err := src.Check(c.params)
				if c.field == "" {
					if err != nil {
						t.Fatalf("Check = %v, want nil", err)
					}
					return
				}
				var we *wiresk.Error
				if !errors.As(err, &we) || we.Field != c.field || we.Code != wiresk.EValidation {
					t.Fatalf("Check = %v, want a validation error on %s", err, c.field)
				}
			})
		}
	}
}

func TestHubSpotFirstPollSeeds(t *testing.T) {
	for _, event := range []string{"new_contact", "updated_contact"} {
		t.Run(event, func(t *testing.T) {
			r := newHubSpot(t, "")
			r.addContacts(3, hubspotSeed.Add(-time.Hour))
			res := r.poll(t, event, "", 0, nil)
			if len(res.Items) != 0 || res.More || res.Cursor != hubspotMS(hubspotSeed) {
				t.Fatalf("first poll = %+v, want no items and the cursor %s", res, hubspotMS(hubspotSeed))
			}
			if n := len(r.f.Received(hubspotSearch)); n != 0 {
				t.Errorf("first poll searched %d times, want 0", n)
			}
		})
	}
}

// TestHubSpotNewContactsAcrossPages polls 100 new contacts the fake pages
// by 40, then polls again from the cursor.
func TestHubSpotNewContactsAcrossPages(t *testing.T) {
	r := newHubSpot(t, "")
	r.f.SetSearchPageMax(40)
	old := r.addContacts(2, hubspotSeed.Add(-time.Minute)) // before the trigger
	cursor := r.poll(t, "new_contact", "", 0, nil).Cursor
	ids := r.addContacts(100, hubspotSeed.Add(time.Second))

	res := r.poll(t, "new_contact", cursor, 0, nil)
	if got := hubspotItemIDs(res.Items); !slices.Equal(got, ids) {
		t.Fatalf("items = %v, want the 100 new contacts once, oldest first %v", got, ids)
	}
	lastAt := hubspotSeed.Add(time.Second + 99*time.Millisecond)
	if res.More || res.Cursor != hubspotMS(lastAt) {
		t.Errorf("More %v, Cursor %q; want false and the last contact's createdate %s", res.More, res.Cursor, hubspotMS(lastAt))
	}
	reqs := r.f.Received(hubspotSearch)
	if len(reqs) != 3 {
		t.Fatalf("the fake got %d searches, want 3 (pages of 40, 40, 20)", len(reqs))
	}
	for i, req := range reqs {
		var body map[string]any
		if err := json.Unmarshal(req.Body, &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "createdate", "operator": "GTE", "value": cursor}}}},
			"sorts":        []any{map[string]any{"propertyName": "createdate", "direction": "ASCENDING"}},
			"properties":   []any{"email", "firstname", "lastname", "createdate", "lastmodifieddate"},
			"limit":        float64(100),
		}
		if i > 0 {
			want["after"] = strconv.Itoa(40 * i)
		}
		if !hubspotSameJSON(t, body, want) {
			t.Errorf("search %d body = %v, want %v", i, body, want)
		}
	}
	first := res.Items[0]
	props, _ := first.Data["properties"].(map[string]any)
	if first.Data["id"] != ids[0] || props["email"] != "c0@example.com" || props["createdate"] != "2026-03-02T09:00:01.000Z" ||
		first.Data["createdAt"] != "2026-03-02T09:00:01.000Z" || first.Data["updatedAt"] != "2026-03-02T09:00:01.000Z" {
		t.Errorf("first item data = %v", first.Data)
	}

	// Polling again from the cursor: nothing new, at most the boundary
	// contact again, with the same ID.
	again := r.poll(t, "new_contact", res.Cursor, 0, nil)
	for _, it := range again.Items {
		if it.ID != ids[99] {
			t.Errorf("second poll listed %s, want nothing but the boundary contact %s", it.ID, ids[99])
		}
	}
	if again.Cursor != res.Cursor || again.More {
		t.Errorf("second poll cursor %q more %v, want %q and false", again.Cursor, again.More, res.Cursor)
	}

	// A contact at the boundary instant and one after it are listed; one
	// created before the cursor is not (and the old ones never are).
	atBoundary := r.f.AddContact(map[string]string{"email": "tie@example.com"}, lastAt)
	before := r.f.AddContact(map[string]string{"email": "late@example.com"}, lastAt.Add(-time.Millisecond))
	later := r.f.AddContact(map[string]string{"email": "later@example.com"}, lastAt.Add(time.Minute))
	third := r.poll(t, "new_contact", again.Cursor, 0, nil)
	got := hubspotItemIDs(third.Items)
	for _, id := range append(old, before) {
		if slices.Contains(got, id) {
			t.Errorf("third poll listed %s, created before the cursor", id)
		}
	}
	if !slices.Contains(got, atBoundary) || got[len(got)-1] != later || third.Cursor != hubspotMS(lastAt.Add(time.Minute)) {
		t.Errorf("third poll = %v cursor %q, want %s (at the boundary) and %s last, cursor %s", got, third.Cursor, atBoundary, later, hubspotMS(lastAt.Add(time.Minute)))
	}
	for _, id := range got {
		if id != ids[99] && id != atBoundary && id != later {
			t.Errorf("third poll listed %s", id)
		}
	}
}

func TestHubSpotUpdatedContacts(t *testing.T) {
	r := newHubSpot(t, "")
	newCursor := r.poll(t, "new_contact", "", 0, nil).Cursor
	updCursor := r.poll(t, "updated_contact", "", 0, nil).Cursor

	// Ada, made in 2019, changes twice between polls, then once more.
	t1 := hubspotSeed.Add(time.Minute)
	r.f.TouchContact(apptest.HubSpotContactID, t1)
	upd := r.poll(t, "updated_contact", updCursor, 0, nil)
	want := apptest.HubSpotContactID + "@" + hubspotMS(t1)
	if got := hubspotItemIDs(upd.Items); !slices.Equal(got, []string{want}) || upd.Cursor != hubspotMS(t1) {
		t.Fatalf("updated_contact = %v cursor %q, want [%s] and %s", got, upd.Cursor, want, hubspotMS(t1))
	}
	if upd.Items[0].Data["id"] != apptest.HubSpotContactID || upd.Items[0].Data["updatedAt"] != "2026-03-02T09:01:00.000Z" {
		t.Errorf("item data = %v", upd.Items[0].Data)
	}
	if nc := r.poll(t, "new_contact", newCursor, 0, nil); len(nc.Items) != 0 {
		t.Errorf("new_contact listed %v for a changed contact", hubspotItemIDs(nc.Items))
	}

	// The same change polled again has the same ID; a new change another.
	again := r.poll(t, "updated_contact", upd.Cursor, 0, nil)
	if got := hubspotItemIDs(again.Items); len(got) > 1 || len(got) == 1 && got[0] != want {
		t.Errorf("the same change polled again = %v, want at most [%s]", got, want)
	}
	t2 := t1.Add(30 * time.Second)
	r.f.TouchContact(apptest.HubSpotContactID, t2)
	upd2 := r.poll(t, "updated_contact", again.Cursor, 0, nil)
	want2 := apptest.HubSpotContactID + "@" + hubspotMS(t2)
	if got := hubspotItemIDs(upd2.Items); !slices.Equal(got, []string{want2}) {
		t.Errorf("after a second change = %v, want [%s]", got, want2)
	}

	// A new contact is new_contact's event, not updated_contact's, until it
	// changes.
	t3 := t2.Add(time.Minute)
	id := r.f.AddContact(map[string]string{"email": "grace@example.com"}, t3)
	upd3 := r.poll(t, "updated_contact", upd2.Cursor, 0, nil)
	if slices.Contains(hubspotItemIDs(upd3.Items), id+"@"+hubspotMS(t3)) {
		t.Errorf("updated_contact listed the creation of %s", id)
	}
	if got := hubspotItemIDs(r.poll(t, "new_contact", newCursor, 0, nil).Items); !slices.Equal(got, []string{id}) {
		t.Errorf("new_contact = %v, want [%s]", got, id)
	}
	t4 := t3.Add(time.Second)
	r.f.TouchContact(id, t4)
	upd4 := r.poll(t, "updated_contact", upd3.Cursor, 0, nil)
	if got := hubspotItemIDs(upd4.Items); !slices.Equal(got, []string{id + "@" + hubspotMS(t4)}) {
		t.Errorf("after the new contact changed = %v, want [%s@%s]", got, id, hubspotMS(t4))
	}
}

// TestHubSpotMaxCutsAndContinues polls with a small Max until More is
// false: every contact comes, in order, none skipped.
func TestHubSpotMaxCutsAndContinues(t *testing.T) {
	cases := []struct {
		name  string
		event string
		max   int
		ties  bool // all contacts in one millisecond
	}{
		{"new contacts by 4", "new_contact", 4, false},
		{"new contacts by 1", "new_contact", 1, false},
		{"updated contacts by 3", "updated_contact", 3, false},
		{"new contacts in one millisecond by 4", "new_contact", 4, true},
		{"updated contacts in one millisecond by 3", "updated_contact", 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newHubSpot(t, "")
			r.f.SetSearchPageMax(5)
			cursor := r.poll(t, c.event, "", 0, nil).Cursor
			var want []string
			for i := range 10 {
				at := hubspotSeed.Add(time.Second)
				if !c.ties {
					at = at.Add(time.Duration(i) * time.Millisecond)
				}
				if c.event == "new_contact" {
					want = append(want, r.f.AddContact(map[string]string{"email": "n" + strconv.Itoa(i) + "@example.com"}, at))
					continue
				}
				id := r.f.AddContact(map[string]string{"email": "m" + strconv.Itoa(i) + "@example.com"}, hubspotSeed.Add(-time.Hour))
				r.f.TouchContact(id, at)
				want = append(want, id+"@"+hubspotMS(at))
			}
			var got []string
			for polls := 0; ; polls++ {
				if polls > 30 {
					t.Fatalf("still More after %d polls: %v", polls, got)
				}
				res := r.poll(t, c.event, cursor, c.max, nil)
				if len(res.Items) > c.max {
					t.Fatalf("poll listed %d items, Max is %d", len(res.Items), c.max)
				}
				for _, it := range res.Items {
					if !slices.Contains(got, it.ID) {
						got = append(got, it.ID)
					}
				}
				cursor = res.Cursor
				if !res.More {
					break
				}
				if len(res.Items) != c.max {
					t.Errorf("More with %d items, want Max %d", len(res.Items), c.max)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("items over the polls = %v, want %v", got, want)
			}
		})
	}
}

// TestHubSpotMaxKeepsOrder checks that a poll cut by Max lists the oldest
// contacts and that the next poll goes on from the last one listed.
func TestHubSpotMaxKeepsOrder(t *testing.T) {
	r := newHubSpot(t, "")
	cursor := r.poll(t, "new_contact", "", 0, nil).Cursor
	ids := r.addContacts(10, hubspotSeed.Add(time.Second))
	res := r.poll(t, "new_contact", cursor, 4, nil)
	if got := hubspotItemIDs(res.Items); !slices.Equal(got, ids[:4]) || !res.More || res.Cursor != hubspotMS(hubspotSeed.Add(time.Second+3*time.Millisecond)) {
		t.Fatalf("cut poll = %v more %v cursor %q, want %v, true and the 4th contact's createdate", got, res.More, res.Cursor, ids[:4])
	}
	next := r.poll(t, "new_contact", res.Cursor, 0, nil)
	if got := hubspotItemIDs(next.Items); !slices.Equal(got, ids[3:]) || next.More {
		t.Errorf("next poll = %v more %v, want the 4th contact again and the rest %v", got, next.More, ids[3:])
	}
}

// TestHubSpotBeyondTheSearchWindow lists more contacts in one poll than
// HubSpot pages one query through (10,000).
func TestHubSpotBeyondTheSearchWindow(t *testing.T) {
	r := newHubSpot(t, "")
	cursor := r.poll(t, "new_contact", "", 0, nil).Cursor
	ids := r.addContacts(10050, hubspotSeed.Add(time.Second))
	res := r.poll(t, "new_contact", cursor, 20000, nil)
	if got := hubspotItemIDs(res.Items); !slices.Equal(got, ids) {
		t.Fatalf("listed %d items (first %v), want the %d contacts once, in order", len(got), got[:min(3, len(got))], len(ids))
	}
	reqs := r.f.Received(hubspotSearch)
	if len(reqs) != 101 {
		t.Errorf("the fake got %d searches, want 100 pages of the first query and 1 of the next", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	wantFrom := hubspotMS(hubspotSeed.Add(time.Second + 9999*time.Millisecond))
	if _, ok := body["after"]; ok || !hubspotSameJSON(t, body["filterGroups"], []any{map[string]any{"filters": []any{map[string]any{"propertyName": "createdate", "operator": "GTE", "value": wantFrom}}}}) {
		t.Errorf("the restarted query = %v, want GTE %s and no after", body, wantFrom)
	}
}

func TestHubSpotErrors(t *testing.T) {
	cases := []struct {
		name   string
		token  string
		fail   func(f *apptest.Fake)
		status int
	}{
		{"a bad token", "pat-na1-not-a-token", nil, http.StatusUnauthorized},
		{"rate limited", "", func(f *apptest.Fake) { f.Throttle(-1, "") }, http.StatusTooManyRequests},
		{"a server error", "", func(f *apptest.Fake) { f.Fail(-1, http.StatusInternalServerError, "") }, http.StatusInternalServerError},
	}
	for _, event := range []string{"new_contact", "updated_contact"} {
		for _, c := range cases {
			t.Run(event+"/"+c.name, func(t *testing.T) {
				r := newHubSpot(t, c.token)
				if c.fail != nil {
					c.fail(r.f)
				}
				_, err := hubspotSource(t, event).Poll(t.Context(), poll.Input{Call: r.call, BaseURL: r.base, Cursor: hubspotMS(hubspotSeed), Now: hubspotSeed})
				var ae *appcall.Error
				if !errors.As(err, &ae) || ae.Status != c.status {
					t.Fatalf("Poll = %v, want an *appcall.Error with status %d", err, c.status)
				}
			})
		}
	}
}

func TestHubSpotBadCursor(t *testing.T) {
	r := newHubSpot(t, "")
	for _, cursor := range []string{"yesterday", "-5", "1700000000000+x"} {
		if _, err := hubspotSource(t, "new_contact").Poll(t.Context(), poll.Input{Call: r.call, BaseURL: r.base, Cursor: cursor, Now: hubspotSeed}); err == nil {
			t.Errorf("cursor %q: Poll succeeded, want an error", cursor)
		}
	}
}

// TestHubSpotProperties checks the properties param reaches the search.
func TestHubSpotProperties(t *testing.T) {
	r := newHubSpot(t, "")
	cursor := r.poll(t, "new_contact", "", 0, nil).Cursor
	r.f.AddContact(map[string]string{"email": "p@example.com", "phone": "+1 555 0100", "firstname": "P"}, hubspotSeed.Add(time.Second))
	res := r.poll(t, "new_contact", cursor, 0, map[string]string{"properties": "phone, email"})
	var body map[string]any
	if err := json.Unmarshal(r.f.LastRequest().Body, &body); err != nil {
		t.Fatal(err)
	}
	if !hubspotSameJSON(t, body["properties"], []any{"phone", "email", "createdate", "lastmodifieddate"}) {
		t.Errorf("properties sent = %v", body["properties"])
	}
	if len(res.Items) != 1 {
		t.Fatalf("items = %v", res.Items)
	}
	props, _ := res.Items[0].Data["properties"].(map[string]any)
	if props["phone"] != "+1 555 0100" || props["email"] != "p@example.com" {
		t.Errorf("properties = %v", props)
	}
	if _, ok := props["firstname"]; ok {
		t.Errorf("properties = %v, want no firstname (not asked for)", props)
	}
}

// TestHubSpotFakeSearch checks the fake's search as the real API answers
// it, for requests the sources do not make.
func TestHubSpotFakeSearch(t *testing.T) {
	r := newHubSpot(t, "")
	a := r.f.AddContact(map[string]string{"email": "a@example.com", "lifecyclestage": "lead"}, hubspotSeed)
	b := r.f.AddContact(map[string]string{"email": "b@example.com", "lifecyclestage": "customer"}, hubspotSeed.Add(time.Second))
	filter := func(prop, op, value string) map[string]any {
		return map[string]any{"propertyName": prop, "operator": op, "value": value}
	}
	cases := []struct {
		name   string
		body   map[string]any
		status int
		ids    []string
		after  string
	}{
		{"EQ by email", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("email", "EQ", "A@example.com")}}}}, 200, []string{a}, ""},
		{"LT createdate", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("createdate", "LT", hubspotMS(hubspotSeed))}}}}, 200, []string{apptest.HubSpotContactID}, ""},
		{"GT createdate", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("createdate", "GT", hubspotMS(hubspotSeed))}}}}, 200, []string{b}, ""},
		{"GTE and EQ ANDed", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("createdate", "GTE", hubspotMS(hubspotSeed)), filter("lifecyclestage", "EQ", "lead")}}}}, 200, []string{a}, ""},
		{"groups ORed, sorted descending", map[string]any{
			"filterGroups": []any{map[string]any{"filters": []any{filter("email", "EQ", "b@example.com")}}, map[string]any{"filters": []any{filter("email", "EQ", apptest.HubSpotContactEmail)}}},
			"sorts":        []any{map[string]any{"propertyName": "createdate", "direction": "DESCENDING"}},
		}, 200, []string{b, apptest.HubSpotContactID}, ""},
		{"a page of one", map[string]any{"sorts": []any{map[string]any{"propertyName": "createdate", "direction": "ASCENDING"}}, "limit": 1, "after": "1"}, 200, []string{a}, "2"},
		{"limit 200", map[string]any{"limit": 200}, 200, []string{apptest.HubSpotContactID, a, b}, ""},
		{"limit 201", map[string]any{"limit": 201}, 400, nil, ""},
		{"after 10000", map[string]any{"after": "10000"}, 400, nil, ""},
		{"an unknown operator", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("email", "LIKE", "a")}}}}, 400, nil, ""},
		{"a bad date", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{filter("createdate", "GTE", "soon")}}}}, 400, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := r.call(t.Context(), &catalog.Request{Method: http.MethodPost, URL: r.base + "/crm/v3/objects/contacts/search", Body: c.body})
			if c.status != 200 {
				var ae *appcall.Error
				var body map[string]any
				_ = json.Unmarshal(resp.Body, &body)
				if !errors.As(err, &ae) || ae.Status != c.status || body["category"] != "VALIDATION_ERROR" {
					t.Fatalf("search = %v %s, want %d VALIDATION_ERROR", err, resp.Body, c.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Total   int
				Results []struct{ ID string }
				Paging  struct{ Next struct{ After string } }
			}
			if err := json.Unmarshal(resp.Body, &page); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, res := range page.Results {
				got = append(got, res.ID)
			}
			if !slices.Equal(got, c.ids) || page.Paging.Next.After != c.after {
				t.Errorf("results %v after %q (total %d), want %v after %q", got, page.Paging.Next.After, page.Total, c.ids, c.after)
			}
		})
	}
}

// hubspotSameJSON reports whether got and want encode to the same JSON.
func hubspotSameJSON(t *testing.T, got, want any) bool {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(g) == string(w)
}
