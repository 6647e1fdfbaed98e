package poll_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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

// googleNow is when the tests' triggers are made: after every message
// and file the fakes start with.
var googleNow = time.Date(2026, time.March, 1, 10, 0, 0, 0, time.UTC)

// Routes of the list requests.
const (
	gmailList = "GET /gmail/v1/users/me/messages"
	driveList = "GET /drive/v3/files"
)

// googleRig is a trigger's event with its app's fake and the Input of its
// polls, as the framework makes them.
type googleRig struct {
	f  *apptest.Fake
	ev poll.Event
	in poll.Input
}

// newGoogleRig starts the fake of app and returns the event app.event polling
// it with params, through appcall and egress as a trigger's Connection
// would.
func newGoogleRig(t *testing.T, app, event string, params map[string]string) *googleRig {
	t.Helper()
	f, ok := apptest.New(t, app)
	if !ok {
		t.Fatalf("no fake for %s", app)
	}
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{app: f})))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := cat.App(app)
	if !ok {
		t.Fatalf("no catalog app %s", app)
	}
	base, err := a.BaseURL(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client := &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}
	cred := appcall.Credential{Kind: appcall.CredentialBearer, Token: f.Token}
	ev, ok := poll.Lookup(app, event)
	if !ok {
		t.Fatalf("no event %s.%s", app, event)
	}
	if err := ev.Source.Check(params); err != nil {
		t.Fatalf("Check(%v) = %v", params, err)
	}
	call := func(ctx context.Context, req *catalog.Request) (*appcall.Response, error) {
		return client.Do(ctx, a, f.Config, cred, req)
	}
	return &googleRig{f: f, ev: ev, in: poll.Input{Call: call, BaseURL: base, Params: params, Now: googleNow}}
}

// poll polls from cursor with max.
func (r *googleRig) poll(t *testing.T, cursor string, max int) poll.Result {
	t.Helper()
	in := r.in
	in.Cursor, in.Max = cursor, max
	res, err := r.ev.Source.Poll(t.Context(), in)
	if err != nil {
		t.Fatalf("Poll(%q) = %v", cursor, err)
	}
	return res
}

// seed makes the trigger's first poll and returns its cursor.
func (r *googleRig) seed(t *testing.T) string {
	t.Helper()
	res := r.poll(t, "", 0)
	if len(res.Items) != 0 || res.More || res.Cursor == "" {
		t.Fatalf("first poll = %+v, want no items and a cursor", res)
	}
	return res.Cursor
}

// add adds an item at at to the rig's fake: a message from from with
// subject name (Gmail), or a file named name in folder from (Drive). It
// returns the item's ID.
func (r *googleRig) add(from, name string, at time.Time) string {
	if r.f.App == "gmail" {
		return r.f.AddMessage(from, name, at)
	}
	return r.f.AddFile(name, from, at)
}

// googleIDs returns the items' IDs, checking each is its data's id.
func googleIDs(t *testing.T, items []poll.Item) []string {
	t.Helper()
	var out []string
	for _, it := range items {
		if it.Data["id"] != it.ID {
			t.Errorf("item %s has data id %v", it.ID, it.Data["id"])
		}
		out = append(out, it.ID)
	}
	return out
}

// googleSources are the two events, each with the params of a trigger, where
// items come from (a sender or a folder) and one it ignores.
var googleSources = []struct {
	app, event    string
	params        map[string]string
	from, ignored string
	list          string
}{
	{"gmail", "new_message", map[string]string{"query": "from:billing@example.com"}, "Billing <billing@example.com>", "Bob <bob@example.com>", gmailList},
	{"google_drive", "new_file", map[string]string{"folder_id": apptest.DriveFolderID}, apptest.DriveFolderID, "root", driveList},
}

func TestGoogleEventsRegistered(t *testing.T) {
	for _, tc := range []struct {
		app, name, label string
		params           []poll.Param
	}{
		{"gmail", "new_message", "New email matching a search", []poll.Param{{Name: "query", Label: "Search"}}},
		{"google_drive", "new_file", "New file in folder", []poll.Param{{Name: "folder_id", Required: true, Label: "Folder ID"}, {Name: "mime_type", Label: "MIME type"}}},
	} {
		ev, ok := poll.Lookup(tc.app, tc.name)
		if !ok || ev.App != tc.app || ev.Name != tc.name || ev.Label != tc.label || !slices.Equal(ev.Params, tc.params) {
			t.Errorf("Lookup(%s, %s) = %+v, %v", tc.app, tc.name, ev, ok)
		}
	}
}

func TestGoogleFirstPollSeeds(t *testing.T) {
	for _, src := range googleSources {
		t.Run(src.app, func(t *testing.T) {
			r := newGoogleRig(t, src.app, src.event, src.params)
			r.add(src.from, "before.pdf", googleNow.Add(-time.Second))
			r.add(src.from, "same-instant.pdf", googleNow)
			cursor := r.seed(t)
			want := strconv.FormatInt(googleNow.UnixMilli(), 10)
			if src.app == "google_drive" {
				want = "2026-03-01T10:00:00.000Z"
			}
			if cursor != want {
				t.Errorf("cursor = %q, want %q", cursor, want)
			}
			if n := r.f.Requests(); n != 0 {
				t.Errorf("the first poll sent %d requests, want none", n)
			}
		})
	}
}

// TestGoogleHundredItemsThreePages adds 100 items after the seed (and
// some the trigger ignores), out of time order, with list pages of at
// most 40: one poll returns each once, oldest first, from 3 list
// requests; the next returns nothing, and then only what is new.
func TestGoogleHundredItemsThreePages(t *testing.T) {
	for _, src := range googleSources {
		t.Run(src.app, func(t *testing.T) {
			r := newGoogleRig(t, src.app, src.event, src.params)
			r.f.SetGooglePageCap(40)
			cursor := r.seed(t)
			byTime := make([]string, 100)
			for k := range 100 {
				i := k * 37 % 100 // every index once, out of order
				at := googleNow.Add(time.Duration(i+1)*time.Second + time.Duration(i)*time.Millisecond)
				byTime[i] = r.add(src.from, fmt.Sprintf("item %03d.pdf", i), at)
				if k%5 == 0 {
					r.add(src.ignored, fmt.Sprintf("other %03d.pdf", i), at)
				}
			}
			res := r.poll(t, cursor, 0)
			if got := googleIDs(t, res.Items); !slices.Equal(got, byTime) || res.More {
				t.Fatalf("poll = %d items %q (more %v), want the 100 oldest first %q", len(got), got, res.More, byTime)
			}
			lists := r.f.Received(src.list)
			if len(lists) != 3 {
				t.Fatalf("%d list requests, want 3", len(lists))
			}
			googleCheckListQuery(t, src.app, lists[0], lists[1:])

			before := len(r.f.Received(src.list))
			again := r.poll(t, res.Cursor, 0)
			if len(again.Items) != 0 || again.More || again.Cursor != res.Cursor {
				t.Errorf("second poll = %q (cursor %q), want nothing and cursor %q", googleIDs(t, again.Items), again.Cursor, res.Cursor)
			}
			if n := len(r.f.Received(src.list)) - before; n != 1 {
				t.Errorf("second poll: %d list requests, want 1", n)
			}

			late := r.add(src.from, "late.pdf", googleNow.Add(2*time.Minute))
			if got := googleIDs(t, r.poll(t, again.Cursor, 0).Items); !slices.Equal(got, []string{late}) {
				t.Errorf("third poll = %q, want the new %s only", got, late)
			}
		})
	}
}

// googleCheckListQuery checks the query of the first list request and that
// the others ask for the next pages.
func googleCheckListQuery(t *testing.T, app string, first apptest.Request, next []apptest.Request) {
	t.Helper()
	want := map[string]string{
		"q":          fmt.Sprintf("(from:billing@example.com) after:%d", googleNow.Unix()-1),
		"maxResults": "100",
	}
	if app == "google_drive" {
		want = map[string]string{
			"q":                         "'" + apptest.DriveFolderID + "' in parents and trashed = false and createdTime >= '2026-03-01T10:00:00.000Z' and mimeType != 'application/vnd.google-apps.folder'",
			"orderBy":                   "createdTime",
			"pageSize":                  "100",
			"fields":                    "nextPageToken,files(id,name,mimeType,createdTime,modifiedTime,parents,webViewLink,size)",
			"supportsAllDrives":         "true",
			"includeItemsFromAllDrives": "true",
		}
	}
	for k, v := range want {
		if got := first.Query.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if first.Query.Has("pageToken") {
		t.Errorf("the first page has pageToken %q", first.Query.Get("pageToken"))
	}
	for _, req := range next {
		if req.Query.Get("pageToken") == "" || req.Query.Get("q") != want["q"] {
			t.Errorf("a next page asks %v, want the same q and a pageToken", req.Query)
		}
	}
}

// TestGoogleBoundary: items of the cursor's millisecond are not returned
// again, and one of that millisecond found late, or of the cursor's
// second, still comes.
func TestGoogleBoundary(t *testing.T) {
	for _, src := range googleSources {
		t.Run(src.app, func(t *testing.T) {
			r := newGoogleRig(t, src.app, src.event, src.params)
			cursor := r.seed(t)
			sec := googleNow.Add(5 * time.Second)
			a := r.add(src.from, "a.pdf", sec.Add(100*time.Millisecond))
			b := r.add(src.from, "b.pdf", sec.Add(900*time.Millisecond))
			res := r.poll(t, cursor, 0)
			if got := googleIDs(t, res.Items); !slices.Equal(got, []string{a, b}) {
				t.Fatalf("poll = %q, want %q", got, []string{a, b})
			}
			again := r.poll(t, res.Cursor, 0)
			if len(again.Items) != 0 {
				t.Errorf("again = %q, want nothing", googleIDs(t, again.Items))
			}
			tie := r.add(src.from, "tie.pdf", sec.Add(900*time.Millisecond))
			c := r.add(src.from, "c.pdf", sec.Add(950*time.Millisecond))
			res = r.poll(t, again.Cursor, 0)
			if got := googleIDs(t, res.Items); !slices.Equal(got, []string{tie, c}) {
				t.Errorf("after the boundary = %q, want %q", got, []string{tie, c})
			}
		})
	}
}

// TestGoogleMax: with more new items than Max, each poll returns at most
// Max, oldest first, with More until the last; together they return
// every item once, items of one millisecond included.
func TestGoogleMax(t *testing.T) {
	for _, src := range googleSources {
		for _, max := range []int{1, 2, 3, 7, 10, 11} {
			t.Run(fmt.Sprintf("%s/max%d", src.app, max), func(t *testing.T) {
				r := newGoogleRig(t, src.app, src.event, src.params)
				r.f.SetGooglePageCap(4)
				cursor := r.seed(t)
				var want []string
				for i := range 10 {
					// Pairs share a millisecond.
					at := googleNow.Add(time.Duration(i/2+1) * time.Second)
					want = append(want, r.add(src.from, fmt.Sprintf("item %d.pdf", i), at))
				}
				var got []string
				for polls := 0; ; polls++ {
					if polls > 20 {
						t.Fatal("no end to More")
					}
					res := r.poll(t, cursor, max)
					if len(res.Items) > max {
						t.Fatalf("poll %d returned %d items, more than %d", polls, len(res.Items), max)
					}
					got = append(got, googleIDs(t, res.Items)...)
					cursor = res.Cursor
					if !res.More {
						break
					}
				}
				if !googleSameItems(got, want) {
					t.Errorf("polls returned %q, want each of %q once, in time order", got, want)
				}
			})
		}
	}
}

// googleSameItems reports whether got holds want's items once each, in want's
// order except within a pair of one millisecond (want[2k], want[2k+1]),
// which is ordered by ID.
func googleSameItems(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for k := 0; k < len(want); k += 2 {
		pair := []string{want[k], want[k+1]}
		slices.Sort(pair)
		if !slices.Equal(got[k:k+2], pair) {
			return false
		}
	}
	return true
}

// TestGoogleFailures: a refused credential, rate limiting that outlasts
// the retries and a server error come back as errors wrapping the
// *appcall.Error.
func TestGoogleFailures(t *testing.T) {
	for _, src := range googleSources {
		for _, tc := range []struct {
			status int
			kind   appcall.ErrorKind
		}{
			{http.StatusUnauthorized, appcall.KindUnauthorized},
			{http.StatusTooManyRequests, appcall.KindRateLimited},
			{http.StatusInternalServerError, appcall.KindTransient},
		} {
			t.Run(fmt.Sprintf("%s/%d", src.app, tc.status), func(t *testing.T) {
				r := newGoogleRig(t, src.app, src.event, src.params)
				cursor := r.seed(t)
				r.f.Fail(-1, tc.status, "")
				in := r.in
				in.Cursor = cursor
				res, err := r.ev.Source.Poll(t.Context(), in)
				var ae *appcall.Error
				if !errors.As(err, &ae) || ae.Status != tc.status || ae.Kind != tc.kind {
					t.Fatalf("Poll = %+v, %v; want an *appcall.Error of HTTP %d (%s)", res, err, tc.status, tc.kind)
				}
				if !strings.HasPrefix(err.Error(), src.app+"."+src.event+": ") {
					t.Errorf("error %q does not name the event", err)
				}
			})
		}
	}
}

// TestGmailMetadataFailure: a failure of a message's metadata is an
// error, not a skipped message.
func TestGmailMetadataFailure(t *testing.T) {
	r := newGoogleRig(t, "gmail", "new_message", nil)
	cursor := r.seed(t)
	r.f.AddMessage("billing@example.com", "Invoice", googleNow.Add(time.Second))
	r.f.Before = func(req *http.Request) bool {
		if req.URL.Path != "/gmail/v1/users/me/messages" {
			r.f.Fail(-1, http.StatusInternalServerError, "")
		}
		return true
	}
	in := r.in
	in.Cursor = cursor
	_, err := r.ev.Source.Poll(t.Context(), in)
	var ae *appcall.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || !strings.Contains(err.Error(), "get message") {
		t.Fatalf("Poll = %v, want the metadata's HTTP 500", err)
	}
}

func TestGmailNewMessageFilters(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        []string // subjects
	}{
		{"every message", "", []string{"Invoice 1", "Lunch", "Invoice 2", "Receipt"}},
		{"from", "from:billing@example.com", []string{"Invoice 1", "Invoice 2", "Receipt"}},
		{"subject", "subject:invoice", []string{"Invoice 1", "Invoice 2"}},
		{"from and subject", "from:billing@example.com subject:receipt", []string{"Receipt"}},
		{"or", "from:bob@example.com OR subject:receipt", []string{"Lunch", "Receipt"}},
		{"negation", "-from:billing@example.com", []string{"Lunch"}},
		{"none", "from:nobody@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGoogleRig(t, "gmail", "new_message", map[string]string{"query": tc.query})
			cursor := r.seed(t)
			subjects := map[string]string{}
			for i, m := range []struct{ from, subject string }{
				{"Billing <billing@example.com>", "Invoice 1"},
				{"Bob <bob@example.com>", "Lunch"},
				{"billing@example.com", "Invoice 2"},
				{"Billing <billing@example.com>", "Receipt"},
			} {
				subjects[r.f.AddMessage(m.from, m.subject, googleNow.Add(time.Duration(i+1)*time.Minute))] = m.subject
			}
			var got []string
			for _, it := range r.poll(t, cursor, 0).Items {
				got = append(got, subjects[it.ID])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("items %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGmailNewMessageData(t *testing.T) {
	r := newGoogleRig(t, "gmail", "new_message", map[string]string{"query": "has:attachment OR subject:hello"})
	cursor := r.seed(t)
	at := googleNow.Add(90*time.Second + 250*time.Millisecond)
	id := r.f.AddMessage("Billing <billing@example.com>", "Hello there", at)
	res := r.poll(t, cursor, 0)
	if len(res.Items) != 1 {
		t.Fatalf("items %q, want %s", googleIDs(t, res.Items), id)
	}
	want := map[string]any{
		"id": id, "threadId": id, "labelIds": []any{"INBOX", "UNREAD"}, "snippet": "Message Hello there.",
		"internalDate": strconv.FormatInt(at.UnixMilli(), 10),
		"from":         "Billing <billing@example.com>", "to": "Ada Lovelace <ada@example.com>", "subject": "Hello there",
		"date": at.Format(time.RFC1123Z),
	}
	if got := res.Items[0].Data; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("data = %v\nwant   %v", got, want)
	}
	if want := strconv.FormatInt(at.UnixMilli(), 10) + "," + id; res.Cursor != want {
		t.Errorf("cursor = %q, want %q", res.Cursor, want)
	}
	get := r.f.Received("GET /gmail/v1/users/me/messages/" + id)
	if len(get) != 1 || get[0].Query.Get("format") != "metadata" || !slices.Equal(get[0].Query["metadataHeaders"], []string{"From", "To", "Subject", "Date"}) {
		t.Errorf("metadata requests %v, want one with format=metadata and the four headers", get)
	}
}

func TestDriveNewFileFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   []string // names
	}{
		{"folder", map[string]string{"folder_id": apptest.DriveFolderID}, []string{"a.pdf", "b.txt", "c.pdf"}},
		{"pdf", map[string]string{"folder_id": apptest.DriveFolderID, "mime_type": "application/pdf"}, []string{"a.pdf", "c.pdf"}},
		{"folders", map[string]string{"folder_id": apptest.DriveFolderID, "mime_type": "application/vnd.google-apps.folder"}, []string{"Sub"}},
		{"root", map[string]string{"folder_id": "root"}, []string{"top.pdf"}},
		{"empty mime type", map[string]string{"folder_id": apptest.DriveFolderID, "mime_type": ""}, []string{"a.pdf", "b.txt", "c.pdf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGoogleRig(t, "google_drive", "new_file", tc.params)
			cursor := r.seed(t)
			sub := r.f.AddFolder("Sub", apptest.DriveFolderID, googleNow.Add(time.Second))
			names := map[string]string{sub: "Sub"}
			for i, f := range []struct{ name, folder string }{
				{"a.pdf", apptest.DriveFolderID},
				{"in-sub.pdf", sub},
				{"b.txt", apptest.DriveFolderID},
				{"top.pdf", "root"},
				{"c.pdf", apptest.DriveFolderID},
			} {
				names[r.f.AddFile(f.name, f.folder, googleNow.Add(time.Duration(i+2)*time.Second))] = f.name
			}
			var got []string
			for _, it := range r.poll(t, cursor, 0).Items {
				got = append(got, names[it.ID])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("items %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDriveNewFileData(t *testing.T) {
	r := newGoogleRig(t, "google_drive", "new_file", map[string]string{"folder_id": apptest.DriveFolderID})
	cursor := r.seed(t)
	at := googleNow.Add(90*time.Second + 250*time.Millisecond)
	id := r.f.AddFile("report.pdf", apptest.DriveFolderID, at)
	res := r.poll(t, cursor, 0)
	if len(res.Items) != 1 {
		t.Fatalf("items %q, want %s", googleIDs(t, res.Items), id)
	}
	want := map[string]any{
		"id": id, "name": "report.pdf", "mimeType": "application/pdf",
		"createdTime": "2026-03-01T10:01:30.250Z", "modifiedTime": "2026-03-01T10:01:30.250Z",
		"parents": []any{apptest.DriveFolderID}, "webViewLink": "https://drive.google.com/file/d/" + id + "/view?usp=drivesdk",
		"size": strconv.Itoa(len("content of report.pdf")),
	}
	if got := res.Items[0].Data; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("data = %v\nwant   %v", got, want)
	}
	if want := "2026-03-01T10:01:30.250Z," + id; res.Cursor != want {
		t.Errorf("cursor = %q, want %q", res.Cursor, want)
	}
}

func TestGoogleCheck(t *testing.T) {
	for _, tc := range []struct {
		app, event string
		params     map[string]string
		field      string // "" when accepted
	}{
		{"gmail", "new_message", nil, ""},
		{"gmail", "new_message", map[string]string{"query": "from:billing@example.com has:attachment"}, ""},
		{"gmail", "new_message", map[string]string{"query": ""}, ""},
		{"gmail", "new_message", map[string]string{"label_ids": "INBOX"}, "params.label_ids"},
		{"gmail", "new_message", map[string]string{"query": "from:a\nsubject:b"}, "params.query"},
		{"gmail", "new_message", map[string]string{"query": strings.Repeat("a", 1025)}, "params.query"},
		{"google_drive", "new_file", map[string]string{"folder_id": apptest.DriveFolderID}, ""},
		{"google_drive", "new_file", map[string]string{"folder_id": "root", "mime_type": "application/vnd.google-apps.spreadsheet"}, ""},
		{"google_drive", "new_file", nil, "params.folder_id"},
		{"google_drive", "new_file", map[string]string{"folder_id": ""}, "params.folder_id"},
		{"google_drive", "new_file", map[string]string{"mime_type": "application/pdf"}, "params.folder_id"},
		{"google_drive", "new_file", map[string]string{"folder_id": "x' or name contains '"}, "params.folder_id"},
		{"google_drive", "new_file", map[string]string{"folder_id": "https://drive.google.com/drive/folders/1AbC"}, "params.folder_id"},
		{"google_drive", "new_file", map[string]string{"folder_id": "root", "mime_type": "pdf"}, "params.mime_type"},
		{"google_drive", "new_file", map[string]string{"folder_id": "root", "mime_type": "application/pdf'"}, "params.mime_type"},
		{"google_drive", "new_file", map[string]string{"folder_id": "root", "name": "x"}, "params.name"},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.app, tc.params), func(t *testing.T) {
			ev, _ := poll.Lookup(tc.app, tc.event)
			err := ev.Source.Check(tc.params)
			var we *wiresk.Error
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.field != "" && (!errors.As(err, &we) || we.Code != wiresk.EValidation || we.Field != tc.field):
				t.Errorf("Check = %v, want a validation error of %s", err, tc.field)
			}
		})
	}
}

// TestGmailRefusedSearch: a search Gmail answers 400 for (here one the
// fake cannot evaluate) is an error, a permanent one.
func TestGmailRefusedSearch(t *testing.T) {
	r := newGoogleRig(t, "gmail", "new_message", map[string]string{"query": "newer_than:2d"})
	in := r.in
	in.Cursor = r.seed(t)
	_, err := r.ev.Source.Poll(t.Context(), in)
	var ae *appcall.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Kind != appcall.KindPermanent {
		t.Fatalf("Poll = %v, want Gmail's 400 as a permanent *appcall.Error", err)
	}
	if n := len(r.f.Received(gmailList)); n != 1 {
		t.Errorf("%d list requests, want 1 (no retry)", n)
	}
}
