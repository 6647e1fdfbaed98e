package appstep_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/testkit/apptest"
)

func TestHubSpotContacts(t *testing.T) {
	reg, f := mustApp(t, "hubspot")
	conn := connectionTo(f, appcall.CredentialBearer)

	out, _, err := execute(t, reg, conn, "create_contact", map[string]any{
		"properties": map[string]any{"email": "grace@example.com", "firstname": "Grace"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /crm/v3/objects/contacts")
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := req.Header.Get("Content-Type"), "application/json"; !strings.HasPrefix(got, want) {
		t.Errorf("Content-Type = %q, want %s", got, want)
	}
	if got, want := mustJSON(t, req.Body), map[string]any{"properties": map[string]any{"email": "grace@example.com", "firstname": "Grace"}}; !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	id, _ := out["contact_id"].(string)
	if id == "" || id == apptest.HubSpotContactID {
		t.Fatalf("contact_id = %v, want the new contact's id", out["contact_id"])
	}
	if props, _ := out["properties"].(map[string]any); props["email"] != "grace@example.com" {
		t.Errorf("properties = %v, want the new contact's", out["properties"])
	}

	// The same email again: HubSpot's 409 CONFLICT is a permanent failure
	// that quotes HubSpot.
	_, _, err = execute(t, reg, conn, "create_contact", map[string]any{"properties": map[string]any{"email": "grace@example.com"}})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusConflict || !strings.Contains(se.Message, "Contact already exists. Existing ID: "+id) {
		t.Errorf("duplicate: %q (permanent %v, status %d), want a permanent 409 quoting HubSpot", se.Message, se.Permanent, se.Status)
	}

	// Update by email (idProperty), then read back by id.
	if _, _, err := execute(t, reg, conn, "update_contact", map[string]any{
		"contact_id": "grace@example.com", "id_property": "email", "properties": map[string]any{"lastname": "Hopper"},
	}); err != nil {
		t.Fatal(err)
	}
	req = mustOne(t, f, "PATCH /crm/v3/objects/contacts/grace@example.com")
	if got, want := req.Query.Get("idProperty"), "email"; got != want {
		t.Errorf("idProperty = %q, want %q", got, want)
	}
	out, _, err = execute(t, reg, conn, "get_contact", map[string]any{"contact_id": id, "properties": "email,lastname"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustOne(t, f, "GET /crm/v3/objects/contacts/"+id).Query.Get("properties"), "email,lastname"; got != want {
		t.Errorf("properties query = %q, want %q", got, want)
	}
	if got, want := out["email"], "grace@example.com"; got != want {
		t.Errorf("email = %v, want %v", got, want)
	}
	if props, _ := out["properties"].(map[string]any); props["lastname"] != "Hopper" {
		t.Errorf("properties = %v, want the update applied", out["properties"])
	}

	// An unknown contact: HubSpot's 404 is permanent.
	_, _, err = execute(t, reg, conn, "get_contact", map[string]any{"contact_id": "999999"})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusNotFound {
		t.Errorf("unknown contact: %q (permanent %v, status %d), want a permanent 404", se.Message, se.Permanent, se.Status)
	}
}

func TestHubSpotFindContactSearchesByEmail(t *testing.T) {
	reg, f := mustApp(t, "hubspot")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "find_contact", map[string]any{"email": apptest.HubSpotContactEmail})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /crm/v3/objects/contacts/search")
	want := map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "email", "operator": "EQ", "value": apptest.HubSpotContactEmail}}}},
		"limit":        1,
	}
	if got := mustJSON(t, req.Body); !sameJSON(t, got, want) {
		t.Errorf("search body = %v, want %v", got, want)
	}
	if out["contact_id"] != apptest.HubSpotContactID || sameJSON(t, out["total"], 1) == false {
		t.Errorf("output = %v, want contact_id %s and total 1", out, apptest.HubSpotContactID)
	}

	// No match is a success with total 0 and no contact_id, so a filter
	// step can branch on it.
	out, _, err = execute(t, reg, conn, "find_contact", map[string]any{"email": "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["contact_id"]; ok || !sameJSON(t, out["total"], 0) {
		t.Errorf("no match: output = %v, want total 0 and no contact_id", out)
	}
}

func TestHubSpotDealAssociatedWithAContact(t *testing.T) {
	reg, f := mustApp(t, "hubspot")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "create_deal", map[string]any{
		"properties": map[string]any{"dealname": "Ada - Pro plan", "dealstage": "appointmentscheduled", "pipeline": "default", "amount": "1500"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, mustOne(t, f, "POST /crm/v3/objects/deals").Body)
	if props, _ := body["properties"].(map[string]any); props["dealname"] != "Ada - Pro plan" || len(body) != 1 {
		t.Errorf("deal body = %v, want {properties: ...}", body)
	}
	deal, _ := out["deal_id"].(string)
	if deal == "" {
		t.Fatalf("deal_id = %v, want the new deal's id", out["deal_id"])
	}
	out, _, err = execute(t, reg, conn, "associate_contact_deal", map[string]any{"contact_id": apptest.HubSpotContactID, "deal_id": deal})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "PUT /crm/v4/objects/contact/"+apptest.HubSpotContactID+"/associations/default/deal/"+deal)
	if len(req.Body) != 0 {
		t.Errorf("association body = %q, want none", req.Body)
	}
	if !sameJSON(t, out["association_type_id"], 4) {
		t.Errorf("association_type_id = %v, want 4", out["association_type_id"])
	}

	// A deal without dealname: HubSpot's 400 names the property.
	_, _, err = execute(t, reg, conn, "create_deal", map[string]any{"properties": map[string]any{"amount": "10"}})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusBadRequest || !strings.Contains(se.Message, "dealname") {
		t.Errorf("no dealname: %q (permanent %v, status %d), want a permanent 400 naming dealname", se.Message, se.Permanent, se.Status)
	}
}

func TestHubSpotFailures(t *testing.T) {
	reg, f := mustApp(t, "hubspot")

	// A token granted only the default contact scopes: 403 MISSING_SCOPES
	// is permanent, names the scope, and does not break the Connection.
	noScope := connectionTo(f, appcall.CredentialBearer)
	noScope.Credential.Token = f.Tokens[apptest.NoScope]
	_, _, err := execute(t, reg, noScope, "create_deal", map[string]any{"properties": map[string]any{"dealname": "x"}})
	se := mustStepError(t, err)
	if !se.Permanent || se.Unauthorized || se.Status != http.StatusForbidden || !strings.Contains(se.Message, "needs scope crm.objects.deals.write") {
		t.Errorf("missing scope: %q (permanent %v, unauthorized %v, status %d), want a permanent 403 naming crm.objects.deals.write", se.Message, se.Permanent, se.Unauthorized, se.Status)
	}

	// An expired token: the worker re-tests the Connection.
	expired := connectionTo(f, appcall.CredentialBearer)
	expired.Credential.Token = f.Tokens[apptest.Expired]
	_, _, err = execute(t, reg, expired, "find_contact", map[string]any{"email": apptest.HubSpotContactEmail})
	if se := mustStepError(t, err); !se.Unauthorized || se.Permanent || strings.Contains(se.Message, expired.Credential.Token) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v), want an Unauthorized, retryable failure without the token", se.Message, se.Unauthorized, se.Permanent)
	}

	// HubSpot's secondly limit twice, then the answer: three attempts.
	f.Throttle(2, "1")
	out, attempts, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "get_contact", map[string]any{"contact_id": apptest.HubSpotContactID})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || out["email"] != apptest.HubSpotContactEmail {
		t.Errorf("after rate limits: attempts %d, output %v; want 3 attempts and the contact", attempts, out)
	}
}

// TestAnIDGivenAsANumberIsSentAsText: HubSpot's webhooks carry objectId as
// a JSON number; a step that passes it to a string input sends "123".
func TestAnIDGivenAsANumberIsSentAsText(t *testing.T) {
	reg, f := mustApp(t, "hubspot")
	if err := reg.ValidateStep("hubspot", "get_contact", map[string]any{"contact_id": 123}); err != nil {
		t.Errorf("saving a step with contact_id 123: %v, want it accepted", err)
	}
	out, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "get_contact", map[string]any{"contact_id": json.Number("123")})
	if err != nil {
		t.Fatal(err)
	}
	mustOne(t, f, "GET /crm/v3/objects/contacts/123")
	if got, want := out["contact_id"], apptest.HubSpotContactID; got != want {
		t.Errorf("contact_id = %v, want %v", got, want)
	}
	if _, _, err := execute(t, reg, connectionTo(f, appcall.CredentialBearer), "get_contact", map[string]any{"contact_id": 123.5}); err == nil {
		t.Errorf("contact_id 123.5: no error, want HubSpot's 404 for /contacts/123.5")
	}
}
