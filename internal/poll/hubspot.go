package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/wiresk"
)

// init registers HubSpot's contact events, hubspot.new_contact and
// hubspot.updated_contact (see hubspotContacts).
func init() {
	hubspotRead := []string{"crm.objects.contacts.read"}
	params := []Param{{Name: "properties", Label: "Properties to fetch (comma-separated internal names; email, firstname, lastname, createdate and lastmodifieddate when left out)"}}
	register(Event{App: "hubspot", Name: "new_contact", Label: "New contact", Params: params, AnyScope: hubspotRead, Source: hubspotContacts{name: "new_contact", date: "createdate"}})
	register(Event{App: "hubspot", Name: "updated_contact", Label: "Contact updated", Params: params, AnyScope: hubspotRead, Source: hubspotContacts{name: "updated_contact", date: "lastmodifieddate", updated: true}})
}

// hubspotDefaultProperties are the properties a contact event fetches when
// its properties param is left out.
var hubspotDefaultProperties = []string{"email", "firstname", "lastname", "createdate", "lastmodifieddate"}

// hubspotPropertyName is the shape of a HubSpot property's internal name:
// a letter, then letters, digits and underscores.
var hubspotPropertyName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,99}$`)

// hubspotPageLimit is the page size the contact events ask for.
const hubspotPageLimit = 100

// hubspotSearchWindow is how many results HubSpot pages one search query
// through: asking for a page after it answers 400.
const hubspotSearchWindow = 10000

// hubspotContacts is HubSpot's new_contact (date createdate) or
// updated_contact (date lastmodifieddate) event, polled with the CRM
// search API (https://developers.hubspot.com/docs/api-reference/search/guide):
//
//	POST {base}/crm/v3/objects/contacts/search
//	{"filterGroups": [{"filters": [{"propertyName": "createdate",
//	  "operator": "GTE", "value": "<epoch ms>"}]}],
//	 "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
//	 "properties": [...], "limit": 100, "after": "<paging.next.after>"}
//
// (lastmodifieddate for updated contacts), answered with {"total",
// "results": [{"id", "properties", "createdAt", "updatedAt",
// "archived"}], "paging": {"next": {"after"}}}.
//
// The cursor is the epoch-ms timestamp of the last item: the next poll
// asks for the contacts at or after it, so the contacts of that instant
// come again and are deduplicated by their ID. Decisions where HubSpot or
// the port leave a choice:
//
//   - new_contact's item ID is the contact id; updated_contact's is
//     "<id>@<lastmodifieddate ms>", so that each change is its own event
//     and the same change listed twice is one.
//   - updated_contact leaves out a contact's creation (a version whose
//     lastmodifieddate is its createdate): that is new_contact's event,
//     and a "Contact updated" Flow should not run for a contact nobody
//     changed. HubSpot often changes a contact on its own moments after
//     creating it (lifecycle stage, analytics properties); those are
//     changes, and updated_contact lists them.
//   - Only the latest version of a contact can be listed: two changes
//     between two polls are one event, the later (as with any polling
//     trigger).
//   - HubSpot pages one query through at most 10,000 results; when
//     paging reaches that, the poll queries again from the last item's
//     timestamp (the items seen again are left out). Should more than
//     10,000 contacts share one millisecond, HubSpot cannot list them
//     all: the poll then goes on after that millisecond.
//   - One sort is all HubSpot's search takes, so the contacts of one
//     millisecond come in no documented order. When a poll cut by Max
//     ends at the very instant it started from (more than Max contacts
//     in one millisecond), a plain timestamp would list the same ones
//     forever: the cursor is then "<ms>+<n>", and the next poll leaves
//     out the first n contacts of that instant, trusting HubSpot to
//     answer ties in the same order for the same query.
//   - HubSpot's search may show a new or changed contact a few seconds
//     late (its guide warns of the delay). A contact that shows up only
//     after a later one was polled is before the cursor and is not
//     listed: the cursor rule (the last item's instant) leaves no room
//     for a look-back.
//   - Archived contacts are not searched (HubSpot's search leaves them
//     out).
type hubspotContacts struct {
	name    string
	date    string // the property the search filters and sorts by
	updated bool
}

// Check implements Source.
func (s hubspotContacts) Check(params map[string]string) error {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name != "properties" {
			return wiresk.FieldError("params."+name, "hubspot.%s takes no param %q (its only param is properties)", s.name, name)
		}
	}
	_, err := hubspotProperties(params["properties"])
	return err
}

// hubspotProperties reads the properties param: comma-separated internal
// names, spaces around them ignored, repeats once; the defaults when it is
// blank.
func hubspotProperties(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return slices.Clone(hubspotDefaultProperties), nil
	}
	var out []string
	for raw := range strings.SplitSeq(v, ",") {
		name := strings.TrimSpace(raw)
		if name == "" {
			return nil, wiresk.FieldError("params.properties", "properties has an empty name: give comma-separated property names, like email,firstname")
		}
		if !hubspotPropertyName.MatchString(name) {
			return nil, wiresk.FieldError("params.properties", "%q is not a HubSpot property's internal name (a letter, then letters, digits and underscores, like hs_lead_status)", name)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// hubspotCursor is a parsed cursor: "<ms>", or "<ms>+<n>" when the first
// n contacts at ms were listed already.
type hubspotCursor struct {
	ms   int64
	skip int
}

func parseHubSpotCursor(s string) (hubspotCursor, error) {
	msText, skipText, hasSkip := strings.Cut(s, "+")
	ms, err := strconv.ParseInt(msText, 10, 64)
	if err != nil || ms < 0 {
		return hubspotCursor{}, fmt.Errorf("cursor %q is not an epoch-ms timestamp", s)
	}
	c := hubspotCursor{ms: ms}
	if hasSkip {
		if c.skip, err = strconv.Atoi(skipText); err != nil || c.skip < 0 {
			return hubspotCursor{}, fmt.Errorf("cursor %q has a bad count after +", s)
		}
	}
	return c, nil
}

func (c hubspotCursor) String() string {
	if c.skip > 0 {
		return strconv.FormatInt(c.ms, 10) + "+" + strconv.Itoa(c.skip)
	}
	return strconv.FormatInt(c.ms, 10)
}

// hubspotRecord is a contact of a search answer.
type hubspotRecord struct {
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
	CreatedAt  string         `json:"createdAt"`
	UpdatedAt  string         `json:"updatedAt"`
}

// hubspotPage is a search answer.
type hubspotPage struct {
	Total   int             `json:"total"`
	Results []hubspotRecord `json:"results"`
	Paging  struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

// Poll implements Source.
func (s hubspotContacts) Poll(ctx context.Context, in Input) (Result, error) {
	props, err := hubspotProperties(in.Params["properties"])
	if err != nil {
		return Result{}, err
	}
	if in.Cursor == "" {
		return Result{Cursor: strconv.FormatInt(in.Now.UnixMilli(), 10)}, nil
	}
	start, err := parseHubSpotCursor(in.Cursor)
	if err != nil {
		return Result{}, fmt.Errorf("hubspot.%s: %w", s.name, err)
	}
	// The item IDs and the cursor need both dates, whatever the user picked.
	for _, p := range []string{"createdate", "lastmodifieddate"} {
		if !slices.Contains(props, p) {
			props = append(props, p)
		}
	}
	limit := in.Max
	if limit <= 0 {
		limit = DefaultMax
	}

	var (
		res     Result
		from    = start.ms // the query's GTE bound
		after   = ""
		last    = start.ms // the timestamp of the last contact examined
		atStart = 0        // contacts at start.ms examined, the skipped ones included
		seen    = map[string]bool{}
	)
	for {
		page, err := s.search(ctx, in, props, from, after)
		if err != nil {
			return Result{}, err
		}
		for i, r := range page.Results {
			ts, err := s.stamp(r)
			if err != nil {
				return Result{}, err
			}
			if ts == start.ms {
				atStart++
				if atStart <= start.skip {
					continue
				}
			}
			last = ts
			id := r.ID
			if s.updated {
				id = r.ID + "@" + strconv.FormatInt(ts, 10)
			}
			if seen[id] { // listed before a restart of the query
				continue
			}
			seen[id] = true
			if s.updated && s.isCreation(r, ts) {
				continue
			}
			res.Items = append(res.Items, Item{ID: id, Data: map[string]any{
				"id":         r.ID,
				"properties": r.Properties,
				"createdAt":  r.CreatedAt,
				"updatedAt":  r.UpdatedAt,
			}})
			if len(res.Items) == limit {
				res.More = i < len(page.Results)-1 || page.Paging.Next.After != ""
				res.Cursor = s.cursor(start, last, atStart, res.More)
				return res, nil
			}
		}
		next := page.Paging.Next.After
		if next == "" || len(page.Results) == 0 {
			break
		}
		if n, err := strconv.Atoi(next); err == nil && n >= hubspotSearchWindow {
			// HubSpot pages no further: query again from the last instant
			// (past it when a whole window was that one instant).
			if last > from {
				from = last
			} else {
				from = last + 1
			}
			after = ""
			continue
		}
		after = next
	}
	res.Cursor = s.cursor(start, last, atStart, false)
	return res, nil
}

// cursor is the cursor after a poll that started at start and examined
// contacts up to the timestamp last (atStart of them at start's instant).
// When the poll made no progress past its start, and either more follow
// or it skipped some, the count of that instant's contacts listed goes
// with it (none listed: the plain timestamp, as no contact is at it).
func (s hubspotContacts) cursor(start hubspotCursor, last int64, atStart int, more bool) string {
	if last == start.ms && (more || start.skip > 0) {
		return hubspotCursor{ms: last, skip: atStart}.String()
	}
	return hubspotCursor{ms: last}.String()
}

// search sends one search request and decodes its answer.
func (s hubspotContacts) search(ctx context.Context, in Input, props []string, from int64, after string) (hubspotPage, error) {
	body := map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{map[string]any{
			"propertyName": s.date, "operator": "GTE", "value": strconv.FormatInt(from, 10),
		}}}},
		"sorts":      []any{map[string]any{"propertyName": s.date, "direction": "ASCENDING"}},
		"properties": props,
		"limit":      hubspotPageLimit,
	}
	if after != "" {
		body["after"] = after
	}
	resp, err := in.Call(ctx, &catalog.Request{
		Method: http.MethodPost,
		URL:    in.BaseURL + "/crm/v3/objects/contacts/search",
		Body:   body,
	})
	if err != nil {
		return hubspotPage{}, fmt.Errorf("hubspot.%s: search contacts with %s from %d: %w", s.name, s.date, from, err)
	}
	var page hubspotPage
	if err := json.Unmarshal(resp.Body, &page); err != nil {
		return hubspotPage{}, fmt.Errorf("hubspot.%s: the contact search answer is not the documented JSON: %w", s.name, err)
	}
	return page, nil
}

// stamp returns the epoch ms of r's date property (createdate or
// lastmodifieddate), or else of createdAt or updatedAt.
func (s hubspotContacts) stamp(r hubspotRecord) (int64, error) {
	fallback := r.CreatedAt
	if s.updated {
		fallback = r.UpdatedAt
	}
	v, _ := r.Properties[s.date].(string)
	if ms, ok := hubspotMillis(v); ok {
		return ms, nil
	}
	if ms, ok := hubspotMillis(fallback); ok {
		return ms, nil
	}
	return 0, fmt.Errorf("hubspot.%s: contact %s has no readable %s (%q)", s.name, r.ID, s.date, v)
}

// isCreation reports whether the version of r last modified at ts is its
// creation.
func (s hubspotContacts) isCreation(r hubspotRecord, ts int64) bool {
	v, _ := r.Properties["createdate"].(string)
	if v == "" {
		v = r.CreatedAt
	}
	created, ok := hubspotMillis(v)
	return ok && created == ts
}

// hubspotMillis reads a HubSpot datetime, ISO 8601 as the CRM answers it
// ("2019-10-30T03:30:17.883Z") or epoch milliseconds, as epoch ms.
func hubspotMillis(s string) (int64, bool) {
	if strings.Contains(s, "T") {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UnixMilli(), err == nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}
