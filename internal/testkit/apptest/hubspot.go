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
}

// record is HubSpot's CRM object answer: {"id", "properties",
// "createdAt", "updatedAt", "archived"}; properties always hold
// hs_object_id, createdate and lastmodifieddate.
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
		"createdAt":  "2019-10-30T03:30:17.883Z",
		"updatedAt":  "2019-12-07T16:50:06.678Z",
		"archived":   false,
	}
}

// create stores props as a new record of kind (contacts or deals).
func (c *hubspotCRM) create(kind string, props map[string]any) (string, map[string]any) {
	c.next++
	id := strconv.Itoa(c.next)
	stored := map[string]any{"hs_object_id": id, "createdate": "2019-10-30T03:30:17.883Z", "lastmodifieddate": "2019-12-07T16:50:06.678Z"}
	for k, v := range props {
		stored[k] = v
	}
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
//   - POST /crm/v3/objects/contacts/search {"filterGroups": [{"filters":
//     [{"propertyName", "operator": "EQ", "value"}]}], "properties",
//     "limit"} answers 200 {"total", "results": [...]}.
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
// (HubSpotContactEmail, Ada Lovelace).
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
				id, stored := crm.create("contacts", props)
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
				writeJSON(w, http.StatusOK, crm.record(id, crm.contacts[id], nil))
			}),
			"POST /crm/v3/objects/contacts/search": authed(func(f *Fake, w http.ResponseWriter, r *http.Request, body []byte) {
				var req struct {
					FilterGroups []struct {
						Filters []struct {
							PropertyName string `json:"propertyName"`
							Operator     string `json:"operator"`
							Value        any    `json:"value"`
						} `json:"filters"`
					} `json:"filterGroups"`
					Properties []string `json:"properties"`
					Limit      int      `json:"limit"`
				}
				if err := json.Unmarshal(body, &req); err != nil || len(req.FilterGroups) != 1 || len(req.FilterGroups[0].Filters) != 1 {
					hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: the fake takes one filter group with one filter")
					return
				}
				flt := req.FilterGroups[0].Filters[0]
				value, isString := flt.Value.(string)
				if flt.Operator != "EQ" || !isString {
					hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", "There was a problem with the request.")
					return
				}
				results := []any{}
				if id := crm.findContact(flt.PropertyName, value); id != "" {
					only := req.Properties
					if len(only) == 0 {
						only = []string{"email", "firstname", "lastname"}
					}
					results = append(results, crm.record(id, crm.contacts[id], only))
				}
				writeJSON(w, http.StatusOK, map[string]any{"total": len(results), "results": results})
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
				id, stored := crm.create("deals", props)
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
