package apptest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hubspotCorrelationID is the correlationId of the HubSpot fake's errors.
const hubspotCorrelationID = "c033cdaa-2c40-4a64-ae48-b4cec88dad24"

// HubSpotContactID and HubSpotContactEmail are the contact the HubSpot
// fake holds from the start: the objectId of HubSpot's contact.creation
// webhook sample, so a Flow started by that sample finds it.
const (
	HubSpotContactID    = "123"
	HubSpotContactEmail = "ada@example.com"
)

// hubspotError writes HubSpot's JSON error answer: {"status": "error",
// "message", "correlationId", "category"}.
func hubspotError(w http.ResponseWriter, status int, category, message string) {
	writeJSON(w, status, map[string]any{
		"status":        "error",
		"message":       message,
		"correlationId": hubspotCorrelationID,
		"category":      category,
	})
}

// hubspotFailure is the failure answer of the HubSpot fake. Rate limiting
// is HubSpot's documented 429 {"status": "error", "message": "You have
// reached your secondly limit.", "errorType": "RATE_LIMIT",
// "policyName": "SECONDLY", ...}.
func hubspotFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeJSON(w, status, map[string]any{
			"status":        "error",
			"message":       "You have reached your secondly limit.",
			"errorType":     "RATE_LIMIT",
			"correlationId": hubspotCorrelationID,
			"policyName":    "SECONDLY",
			"requestId":     "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
		})
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		hubspotError(w, status, "OBJECT_NOT_FOUND", "Resource not found")
	default:
		hubspotError(w, status, "INTERNAL_ERROR", "internal error")
	}
}

// hubspotAuth checks the "Authorization: Bearer" token of a HubSpot
// request and answers HubSpot's 401 when it is missing, bad or Expired.
func hubspotAuth(f *Fake, w http.ResponseWriter, r *http.Request) bool {
	token, ok := bearer(r)
	switch {
	case ok && (f.accepts(token) || token == f.Tokens[NoScope]):
		return true
	case ok && token == f.Tokens[Expired]:
		hubspotError(w, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION",
			"The OAuth token used to make this call expired 2 hour(s) ago.")
	default:
		hubspotError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
	}
	return false
}

// hubspotCRM is the CRM records of a HubSpot fake.
type hubspotCRM struct {
	mu       sync.Mutex
	next     int
	contacts map[string]map[string]any // by id: properties
	deals    map[string]map[string]any
	assoc    map[string]string // contact id -> deal id
	pageMax  int               // SetSearchPageMax; 0: no cap below limit
}

// hubspotCRMs are the CRMs of the HubSpot fakes, by *Fake, for the
// methods tests call (AddContact, TouchContact, SetSearchPageMax).
var hubspotCRMs sync.Map

// hubspotOf returns the CRM of f, which must be a HubSpot fake.
func hubspotOf(f *Fake) *hubspotCRM {
	c, ok := hubspotCRMs.Load(f)
	if !ok {
		panic("apptest: the fake of " + f.App + " is not HubSpot's")
	}
	return c.(*hubspotCRM)
}

// hubspotTime formats t as HubSpot's CRM answers a datetime property
// (createdate, lastmodifieddate) and createdAt/updatedAt:
// "2019-10-30T03:30:17.883Z", UTC, milliseconds.
func hubspotTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// hubspotDates are the datetime properties of a contact whose filter
// values are epoch milliseconds.
var hubspotDates = []string{"createdate", "lastmodifieddate"}

// hubspotMillis reads a datetime value, epoch milliseconds ("1572406217883")
// or ISO 8601 ("2019-10-30T03:30:17.883Z"), as epoch milliseconds.
func hubspotMillis(v any) (int64, bool) {
	s, _ := v.(string)
	if strings.Contains(s, "T") {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UnixMilli(), err == nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}

// AddContact adds a contact with props to the HubSpot fake (f must be
// one), created at created: its createdate and lastmodifieddate are
// created, as HubSpot sets them when it creates a contact. It returns the
// contact's id.
func (f *Fake) AddContact(props map[string]string, created time.Time) string {
	c := hubspotOf(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]any, len(props))
	for k, v := range props {
		m[k] = v
	}
	id, _ := c.create("contacts", m, created)
	return id
}

// TouchContact changes the contact id of the HubSpot fake at at: its
// lastmodifieddate becomes at, as any change of a property makes it. It
// panics when there is no such contact.
func (f *Fake) TouchContact(id string, at time.Time) {
	c := hubspotOf(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.contacts[id]
	if !ok {
		panic("apptest: HubSpot has no contact " + id)
	}
	p["lastmodifieddate"] = hubspotTime(at)
}

// SetSearchPageMax caps the results of one page of the HubSpot fake's
// search at n (0: no cap but the request's limit), so that a test sees a
// search paged without making thousands of contacts.
func (f *Fake) SetSearchPageMax(n int) {
	c := hubspotOf(f)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pageMax = n
}

// record is HubSpot's CRM object answer: {"id", "properties",
// "createdAt", "updatedAt", "archived"}; properties always hold
// hs_object_id, createdate and lastmodifieddate, and createdAt and
// updatedAt are the record's createdate and lastmodifieddate.
func (c *hubspotCRM) record(id string, props map[string]any, only []string) map[string]any {
	out := map[string]any{}
	for k, v := range props {
		if len(only) == 0 || slices.Contains(only, k) || k == "hs_object_id" || k == "createdate" || k == "lastmodifieddate" {
			out[k] = v
		}
	}
	return map[string]any{
		"id":         id,
		"properties": out,
		"createdAt":  props["createdate"],
		"updatedAt":  props["lastmodifieddate"],
		"archived":   false,
	}
}

// create stores props as a new record of kind (contacts or deals), created
// (and last modified) at.
func (c *hubspotCRM) create(kind string, props map[string]any, at time.Time) (string, map[string]any) {
	c.next++
	id := strconv.Itoa(c.next)
	stored := map[string]any{}
	for k, v := range props {
		stored[k] = v
	}
	stored["hs_object_id"] = id
	stored["createdate"] = hubspotTime(at)
	stored["lastmodifieddate"] = hubspotTime(at)
	if kind == "deals" {
		c.deals[id] = stored
	} else {
		c.contacts[id] = stored
	}
	return id, stored
}

// findContact returns the id of the contact whose property prop is value.
func (c *hubspotCRM) findContact(prop, value string) string {
	for id, p := range c.contacts {
		if s, _ := p[prop].(string); strings.EqualFold(s, value) && s != "" {
			return id
		}
	}
	return ""
}

// HubSpot's search limits
// (https://developers.hubspot.com/docs/api-reference/search/guide): at
// most 200 results a page, 10,000 results a query (paging beyond answers
// 400), 5 filter groups of at most 6 filters, 18 filters in all, and one
// sort.
const (
	hubspotSearchLimit   = 200
	hubspotSearchWindow  = 10000
	hubspotSearchGroups  = 5
	hubspotSearchFilters = 6
	hubspotSearchAll     = 18
)

// hubspotFilter is one filter of a search request.
type hubspotFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        any    `json:"value"`
}

// hubspotSort is a sort of a search request: {"propertyName",
// "direction"}, or the string form "createdate" / "-createdate".
type hubspotSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

func (s *hubspotSort) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		s.PropertyName, s.Direction = strings.TrimPrefix(name, "-"), "ASCENDING"
		if strings.HasPrefix(name, "-") {
			s.Direction = "DESCENDING"
		}
		return nil
	}
	type plain hubspotSort
	return json.Unmarshal(b, (*plain)(s))
}

// hubspotCompare compares a contact's property value a with b: as epoch
// milliseconds for a datetime property, as numbers when both are, and as
// case-insensitive text otherwise.
func hubspotCompare(prop string, a, b any) int {
	if slices.Contains(hubspotDates, prop) {
		x, _ := hubspotMillis(a)
		y, _ := hubspotMillis(b)
		return cmpInt(x, y)
	}
	sa, _ := a.(string)
	sb, _ := b.(string)
	if x, err := strconv.ParseFloat(sa, 64); err == nil {
		if y, err := strconv.ParseFloat(sb, 64); err == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(strings.ToLower(sa), strings.ToLower(sb))
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// match reports whether a contact's props pass flt.
func (flt hubspotFilter) match(props map[string]any) bool {
	v, has := props[flt.PropertyName]
	if s, _ := v.(string); s == "" {
		has = false
	}
	switch flt.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "NEQ":
		return !has || hubspotCompare(flt.PropertyName, v, flt.Value) != 0
	}
	if !has {
		return false
	}
	c := hubspotCompare(flt.PropertyName, v, flt.Value)
	switch flt.Operator {
	case "EQ":
		return c == 0
	case "GT":
		return c > 0
	case "GTE":
		return c >= 0
	case "LT":
		return c < 0
	case "LTE":
		return c <= 0
	}
	return false
}

// hubspotSearchError writes the 400 VALIDATION_ERROR HubSpot answers a
// search request it cannot run.
func hubspotSearchError(w http.ResponseWriter, message string) {
	hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", message)
}

// search answers POST /crm/v3/objects/contacts/search.
func (c *hubspotCRM) search(w http.ResponseWriter, body []byte) {
	var req struct {
		FilterGroups []struct {
			Filters []hubspotFilter `json:"filters"`
		} `json:"filterGroups"`
		Sorts      []hubspotSort `json:"sorts"`
		Properties []string      `json:"properties"`
		Limit      *int          `json:"limit"`
		After      string        `json:"after"`
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		hubspotSearchError(w, "Invalid input JSON on line 1, column 1: "+err.Error())
		return
	}
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 0 || limit > hubspotSearchLimit {
		hubspotSearchError(w, "There was a problem with the request. limit must be between 0 and "+strconv.Itoa(hubspotSearchLimit))
		return
	}
	after := 0
	if req.After != "" {
		n, err := strconv.Atoi(req.After)
		if err != nil || n < 0 {
			hubspotSearchError(w, "There was a problem with the request. after must be a paging cursor")
			return
		}
		after = n
	}
	if after >= hubspotSearchWindow {
		hubspotSearchError(w, "There was a problem with the request. Search results are limited to 10000 per query")
		return
	}
	all := 0
	if len(req.FilterGroups) > hubspotSearchGroups {
		hubspotSearchError(w, "There was a problem with the request. At most 5 filterGroups are allowed")
		return
	}
	for _, g := range req.FilterGroups {
		all += len(g.Filters)
		if len(g.Filters) == 0 || len(g.Filters) > hubspotSearchFilters {
			hubspotSearchError(w, "There was a problem with the request. A filterGroup takes 1 to 6 filters")
			return
		}
		for _, flt := range g.Filters {
			switch flt.Operator {
			case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
				continue
			case "EQ", "NEQ", "GT", "GTE", "LT", "LTE":
			default:
				hubspotSearchError(w, "There was a problem with the request. The fake does not know the operator "+strconv.Quote(flt.Operator))
				return
			}
			if _, ok := flt.Value.(string); !ok || flt.PropertyName == "" {
				hubspotSearchError(w, "There was a problem with the request.")
				return
			}
			if _, ok := hubspotMillis(flt.Value); slices.Contains(hubspotDates, flt.PropertyName) && !ok {
				hubspotSearchError(w, "There was a problem with the request. "+strconv.Quote(flt.Value.(string))+" is not a valid datetime for "+flt.PropertyName)
				return
			}
		}
	}
	if all > hubspotSearchAll || len(req.Sorts) > 1 {
		hubspotSearchError(w, "There was a problem with the request. At most 18 filters and one sort are allowed")
		return
	}

	// Filter groups are ORed, the filters of a group ANDed. Each hit
	// carries its sort keys, read once: a query may hold thousands.
	type hit struct {
		id    string
		n     int64 // the id as a number, for ties
		stamp int64 // a datetime sort property's value
	}
	var sortBy *hubspotSort
	if len(req.Sorts) == 1 {
		sortBy = &req.Sorts[0]
	}
	dateSort := sortBy != nil && slices.Contains(hubspotDates, sortBy.PropertyName)
	var hits []hit
	for id, props := range c.contacts {
		ok := len(req.FilterGroups) == 0
		for _, g := range req.FilterGroups {
			every := true
			for _, flt := range g.Filters {
				every = every && flt.match(props)
			}
			ok = ok || every
		}
		if ok {
			h := hit{id: id}
			h.n, _ = strconv.ParseInt(id, 10, 64)
			if dateSort {
				h.stamp, _ = hubspotMillis(props[sortBy.PropertyName])
			}
			hits = append(hits, h)
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if sortBy != nil {
			var r int
			if dateSort {
				r = cmpInt(a.stamp, b.stamp)
			} else {
				r = hubspotCompare(sortBy.PropertyName, c.contacts[a.id][sortBy.PropertyName], c.contacts[b.id][sortBy.PropertyName])
			}
			if r != 0 {
				if sortBy.Direction == "DESCENDING" {
					return -r
				}
				return r
			}
		}
		return cmpInt(a.n, b.n)
	})

	size := limit
	if c.pageMax > 0 && c.pageMax < size {
		size = c.pageMax
	}
	only := req.Properties
	if len(only) == 0 {
		only = []string{"email", "firstname", "lastname"}
	}
	results := []any{}
	for _, h := range hits[min(after, len(hits)):min(after+size, len(hits))] {
		results = append(results, c.record(h.id, c.contacts[h.id], only))
	}
	answer := map[string]any{"total": len(hits), "results": results}
	if next := after + len(results); next < len(hits) && len(results) > 0 {
		answer["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(next)}}
	}
	writeJSON(w, http.StatusOK, answer)
}

// hubspotProperties decodes a {"properties": {...}} request body; it
// answers HubSpot's 400 VALIDATION_ERROR for anything else, and for a
// property that is not a string, number or boolean.
func hubspotProperties(w http.ResponseWriter, body []byte) (map[string]any, bool) {
	var req struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Properties == nil {
		hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON on line 1, column 1: Cannot build SimplePublicObjectInputForCreate, some of required attributes are not set [properties]")
		return nil, false
	}
	for k, v := range req.Properties {
		switch v.(type) {
		case string, float64, bool:
		default:
			hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", `Property values were not valid: [{"isValid":false,"message":"Property \"`+k+`\" must be a string, number or boolean","error":"INVALID_OPTION","name":"`+k+`"}]`)
			return nil, false
		}
	}
	return req.Properties, true
}

// hubspotMissingScopes writes HubSpot's 403 for a token without the scope
// an endpoint needs: category MISSING_SCOPES, the scopes in
// errors[0].context.requiredGranularScopes.
func hubspotMissingScopes(w http.ResponseWriter, scope string) {
	writeJSON(w, http.StatusForbidden, map[string]any{
		"status":        "error",
		"message":       "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
		"correlationId": hubspotCorrelationID,
		"errors": []any{map[string]any{
			"message": "One or more of the following scopes are required.",
			"context": map[string]any{"requiredGranularScopes": []string{scope}},
		}},
		"links":    map[string]any{"scopes": "https://developers.hubspot.com/scopes"},
		"category": "MISSING_SCOPES",
	})
}

// newHubSpot plays HubSpot's account information API
// (https://developers.hubspot.com/docs/api-reference/latest/account/account-information/guide)
// and the CRM endpoints the catalog's methods use
// (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/guide,
// .../crm-deals-v3/guide, .../crm-associations-v4/guide), all with
// "Authorization: Bearer <token>" (an OAuth access token or a private app
// token):
//
//   - GET /account-info/v3/details (or /account-info/2026-03/details)
//     answers 200 {"portalId", "accountType", "timeZone", ...}.
//   - POST /crm/v3/objects/contacts {"properties": {...}} answers 201 with
//     the record {"id", "properties", "createdAt", "updatedAt",
//     "archived"}; an email that another contact has answers 409
//     category CONFLICT "Contact already exists. Existing ID: <id>".
//   - GET and PATCH /crm/v3/objects/contacts/{contactId} (idProperty=email
//     to address it by email; properties=a,b to pick what GET returns)
//     answer 200 with the record, 404 category OBJECT_NOT_FOUND.
//   - POST /crm/v3/objects/contacts/search (https://developers.hubspot.com/docs/api-reference/search/guide)
//     {"filterGroups": [{"filters": [{"propertyName", "operator",
//     "value"}]}], "sorts": [{"propertyName", "direction"}], "properties",
//     "limit", "after"} answers 200 {"total", "results": [...], "paging":
//     {"next": {"after"}}} (paging only when more results follow). Filter
//     groups are ORed (at most 5), the filters of a group ANDed (at most
//     6, 18 in all); operators EQ, NEQ, GT, GTE, LT, LTE compare
//     createdate and lastmodifieddate as epoch milliseconds (or ISO 8601)
//     strings, numbers as numbers, other text case-insensitively, and
//     HAS_PROPERTY / NOT_HAS_PROPERTY take no value. One sort at most;
//     ties, and a search without a sort, go by record id. limit defaults
//     to 10 and may be at most 200; after is the offset of the page, and
//     one query pages through at most 10,000 results: after reaching
//     10000 answers 400 VALIDATION_ERROR, as does a larger limit, an
//     unknown operator or a value that is not a string. SetSearchPageMax
//     caps a page below limit. properties picks the properties returned
//     (email, firstname and lastname when left out), with hs_object_id,
//     createdate and lastmodifieddate always.
//   - POST /crm/v3/objects/deals answers 201 with the deal record; a deal
//     without dealname answers 400 VALIDATION_ERROR.
//   - PUT /crm/v4/objects/contact/{contactId}/associations/default/deal/{dealId}
//     answers 200 {"status": "COMPLETE", "results": [{"from", "to",
//     "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
//     "associationTypeId": 4}}], ...}; an unknown id answers 404.
//
// Malformed bodies answer 400 category VALIDATION_ERROR. A missing or bad
// token answers 401 category INVALID_AUTHENTICATION, an Expired token 401
// EXPIRED_AUTHENTICATION; a NoScope token (granted the default contact
// scopes only) is refused on the deal endpoints with 403 MISSING_SCOPES
// naming crm.objects.deals.write. Rate limiting is 429 with errorType
// RATE_LIMIT (HubSpot documents no Retry-After; Throttle adds one when
// asked). Tokens Accept takes are treated as Token. The fake starts with one contact, HubSpotContactID
// (HubSpotContactEmail, Ada Lovelace), created in 2019; AddContact and
// TouchContact add and change contacts at given times, and a contact the
// API creates or changes is created or modified at the time of the
// request (createdAt and updatedAt are always the createdate and
// lastmodifieddate properties).
func newHubSpot() (*Fake, *spec) {
	f := &Fake{
		Token: "pat-na1-11111111-2222-3333-4444-555555555555",
		Tokens: map[string]string{
			Expired: "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4",
			NoScope: "pat-na1-99999999-8888-7777-6666-contactsonly",
		},
		Account: "62515",
	}
	crm := &hubspotCRM{next: 1000, contacts: map[string]map[string]any{}, deals: map[string]map[string]any{}, assoc: map[string]string{}}
	crm.contacts[HubSpotContactID] = map[string]any{
		"hs_object_id": HubSpotContactID, "email": HubSpotContactEmail, "firstname": "Ada", "lastname": "Lovelace",
		"createdate": "2019-10-30T03:30:17.883Z", "lastmodifieddate": "2019-12-07T16:50:06.678Z",
	}
	hubspotCRMs.Store(f, crm)
	// authed wraps a CRM handler with the token check and the CRM's lock.
	authed := func(h Handler) Handler {
		return func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
			if !hubspotAuth(f, w, r) {
				return
			}
			crm.mu.Lock()
			defer crm.mu.Unlock()
			h(f, w, r, body)
		}
	}
	// contact returns the id of the contact r's {contactId} names (by
	// idProperty when given), answering 404 when there is none.
	contact := func(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
		id := r.PathValue(key)
		if prop := r.URL.Query().Get("idProperty"); prop != "" && prop != "hs_object_id" {
			id = crm.findContact(prop, id)
		}
		if _, ok := crm.contacts[id]; !ok {
			hubspotError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found")
			return "", false
		}
		return id, true
	}
	noDealScope := func(f *Fake, w http.ResponseWriter, r *http.Request) bool {
		if token, _ := bearer(r); token == f.Tokens[NoScope] {
			hubspotMissingScopes(w, "crm.objects.deals.write")
			return true
		}
		return false
	}
	return f, &spec{
		failure: hubspotFailure,
		methods: map[string]Handler{
			"POST /crm/v3/objects/contacts": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				props, ok := hubspotProperties(w, body)
				if !ok {
					return
				}
				if email, _ := props["email"].(string); email != "" {
					if id := crm.findContact("email", email); id != "" {
						hubspotError(w, http.StatusConflict, "CONFLICT", "Contact already exists. Existing ID: "+id)
						return
					}
				}
				id, stored := crm.create("contacts", props, time.Now())
				writeJSON(w, http.StatusCreated, crm.record(id, stored, nil))
			}),
			"GET /crm/v3/objects/contacts/{contactId}": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				id, ok := contact(w, r, "contactId")
				if !ok {
					return
				}
				var only []string
				if p := r.URL.Query().Get("properties"); p != "" {
					only = strings.Split(p, ",")
				} else {
					only = []string{"email", "firstname", "lastname"}
				}
				writeJSON(w, http.StatusOK, crm.record(id, crm.contacts[id], only))
			}),
			"PATCH /crm/v3/objects/contacts/{contactId}": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				id, ok := contact(w, r, "contactId")
				if !ok {
					return
				}
				props, ok := hubspotProperties(w, body)
				if !ok {
					return
				}
				for k, v := range props {
					crm.contacts[id][k] = v
				}
				crm.contacts[id]["lastmodifieddate"] = hubspotTime(time.Now())
				writeJSON(w, http.StatusOK, crm.record(id, crm.contacts[id], nil))
			}),
			"POST /crm/v3/objects/contacts/search": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				crm.search(w, body)
			}),
			"POST /crm/v3/objects/deals": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				if noDealScope(f, w, r) {
					return
				}
				props, ok := hubspotProperties(w, body)
				if !ok {
					return
				}
				if name, _ := props["dealname"].(string); name == "" {
					hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", `Property values were not valid: [{"isValid":false,"message":"dealname is required","error":"REQUIRED_FIELD","name":"dealname"}]`)
					return
				}
				id, stored := crm.create("deals", props, time.Now())
				writeJSON(w, http.StatusCreated, crm.record(id, stored, nil))
			}),
			"PUT /crm/v4/objects/contact/{contactId}/associations/default/deal/{dealId}": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
				if noDealScope(f, w, r) {
					return
				}
				id, ok := contact(w, r, "contactId")
				if !ok {
					return
				}
				deal := r.PathValue("dealId")
				if _, ok := crm.deals[deal]; !ok {
					hubspotError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found")
					return
				}
				crm.assoc[id] = deal
				now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)
				writeJSON(w, http.StatusOK, map[string]any{
					"status": "COMPLETE",
					"results": []any{map[string]any{
						"from":            map[string]any{"id": id},
						"to":              map[string]any{"id": deal},
						"associationSpec": map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4},
					}},
					"startedAt":   now,
					"completedAt": now,
				})
			}),
		},
		serve: func(f *Fake, w http.ResponseWriter, r *http.Request, _ []byte) {
			path := "/account-info/v3/details"
			if r.URL.Path == "/account-info/2026-03/details" {
				path = r.URL.Path
			}
			if !route(w, r, http.MethodGet, path, hubspotFailure) || !hubspotAuth(f, w, r) {
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"portalId":              62515,
				"accountType":           "STANDARD",
				"timeZone":              "US/Eastern",
				"companyCurrency":       "USD",
				"additionalCurrencies":  []string{"EUR"},
				"utcOffset":             "-05:00",
				"utcOffsetMilliseconds": -18000000,
				"uiDomain":              "app.hubspot.com",
				"dataHostingLocation":   "na1",
			})
		},
	}
}
