package appstep_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/testkit/apptest"
)

func TestZohoCreateRecord(t *testing.T) {
	reg, f := mustApp(t, "zoho_crm")
	conn := connectionTo(f, appcall.CredentialBearer)
	record := map[string]any{"First_Name": "Ada", "Last_Name": "Lovelace", "Email": "ada@analytical.example", "Company": "Analytical Engines"}
	out, attempts, err := execute(t, reg, conn, "create_record", map[string]any{"module": "Leads", "record": record, "trigger": []any{"workflow"}})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /crm/v8/Leads")
	if got, want := req.Header.Get("Authorization"), "Zoho-oauthtoken "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := req.Header.Get("Content-Type"), "application/json"; !strings.HasPrefix(got, want) {
		t.Errorf("Content-Type = %q, want %s", got, want)
	}
	if got, want := mustJSON(t, req.Body), map[string]any{"data": []any{record}, "trigger": []any{"workflow"}}; !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	id, _ := out["record_id"].(string)
	if id == "" || out["created_time"] == nil || attempts != 1 {
		t.Fatalf("output = %v, attempts %d; want record_id and created_time, one attempt", out, attempts)
	}

	// The new lead is found by its email.
	out, _, err = execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "email": "ada@analytical.example"})
	if err != nil {
		t.Fatal(err)
	}
	if out["record_id"] != id {
		t.Errorf("search by email: record_id %v, want the new lead %s", out["record_id"], id)
	}

	// Records Zoho refuses: permanent failures quoting Zoho's code and
	// message and naming the field.
	for _, tc := range []struct {
		name   string
		module string
		record map[string]any
		want   []string
	}{
		{"duplicate email", "Leads", map[string]any{"Last_Name": "Byron", "Email": "ada@analytical.example"},
			[]string{"(DUPLICATE_DATA)", "duplicate data (field Email); duplicate of record " + id}},
		{"no last name", "Contacts", map[string]any{"First_Name": "Ada"}, []string{"(MANDATORY_NOT_FOUND)", "required field not found (field Last_Name)"}},
		{"bad email", "Leads", map[string]any{"Last_Name": "Byron", "Email": "not an email"}, []string{"(INVALID_DATA)", "invalid data (field Email)"}},
		{"unknown module", "Leeds", map[string]any{"Last_Name": "Byron"}, []string{"(INVALID_MODULE)", "the module name given seems to be invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, attempts, err := execute(t, reg, conn, "create_record", map[string]any{"module": tc.module, "record": tc.record})
			se := mustStepError(t, err)
			if !se.Permanent || se.Unauthorized || se.Status != http.StatusBadRequest || attempts != 1 {
				t.Errorf("%q (permanent %v, unauthorized %v, status %d, attempts %d), want a permanent 400, one attempt", se.Message, se.Permanent, se.Unauthorized, se.Status, attempts)
			}
			for _, w := range tc.want {
				if !strings.Contains(se.Message, w) {
					t.Errorf("message %q, want it to hold %q", se.Message, w)
				}
			}
		})
	}
}

// TestZohoRecordRefusedInside2xx sends an insert of two records, the first
// refused: Zoho answers 207 Multi-Status, which the catalog's rules make a
// permanent failure quoting the refused record.
func TestZohoRecordRefusedInside2xx(t *testing.T) {
	f, _ := apptest.New(t, "zoho_crm")
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"zoho_crm": f})))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cat.App("zoho_crm")
	req, err := app.BuildRequest("create_record", f.Config, map[string]any{"module": "Leads", "record": map[string]any{"Last_Name": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	req.Body = map[string]any{"data": []any{
		map[string]any{"Email": apptest.ZohoLeadEmail, "Last_Name": "Boyle"},
		map[string]any{"Last_Name": "Hopper"},
	}}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client := &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}
	resp, err := client.Do(t.Context(), app, f.Config, appcall.Credential{Kind: appcall.CredentialBearer, Token: f.Token}, req)
	if !errors.Is(err, appcall.ErrPermanent) || resp.Status != http.StatusMultiStatus {
		t.Fatalf("status %d, err %v; want 207 and a permanent failure", resp.Status, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "(DUPLICATE_DATA)") || !strings.Contains(msg, "duplicate of record "+apptest.ZohoLeadID) {
		t.Errorf("message %q, want Zoho's DUPLICATE_DATA naming record %s", msg, apptest.ZohoLeadID)
	}
	if resp.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", resp.Attempts)
	}
}

func TestZohoSearchRecords(t *testing.T) {
	reg, f := mustApp(t, "zoho_crm")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "criteria": "(Company:equals:ABC)"})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "GET /crm/v8/Leads/search")
	if got, want := req.Query, (url.Values{"criteria": {"(Company:equals:ABC)"}}); got.Encode() != want.Encode() {
		t.Errorf("query = %v, want %v", got, want)
	}
	if got, want := req.Header.Get("Authorization"), "Zoho-oauthtoken "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	// Zoho's equals matches like contains: ABC Corp and ABC Inc.
	records, _ := out["records"].([]any)
	if len(records) != 2 || out["record_id"] != apptest.ZohoLeadID || !sameJSON(t, out["count"], 2) || out["more_records"] != false {
		t.Errorf("output = %v, want the 2 ABC leads, Patricia Boyle first", out)
	}

	// One record per page: more_records says there is another.
	out, _, err = execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "criteria": "((Company:starts_with:abc)and(Lead_Status:equals:Contacted))", "page": 1, "per_page": 1})
	if err != nil {
		t.Fatal(err)
	}
	q := f.Received("GET /crm/v8/Leads/search")[1].Query
	if q.Get("page") != "1" || q.Get("per_page") != "1" {
		t.Errorf("query = %v, want page=1 and per_page=1", q)
	}
	if !sameJSON(t, out["count"], 1) || out["more_records"] != true {
		t.Errorf("per_page 1: output = %v, want count 1 and more_records", out)
	}

	// By phone.
	out, _, err = execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "phone": "111-1234567"})
	if err != nil || out["record_id"] != apptest.ZohoLeadID {
		t.Errorf("by phone: output %v, err %v; want %s", out, err, apptest.ZohoLeadID)
	}

	// Nothing matches: Zoho's 204 No Content is a success without records.
	out, attempts, err := execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "email": "nobody@example.com"})
	if err != nil {
		t.Fatalf("no match: %v, want a success", err)
	}
	for _, k := range []string{"records", "record_id", "count", "more_records"} {
		if _, ok := out[k]; ok {
			t.Errorf("no match: output has %s = %v, want none", k, out[k])
		}
	}
	if out["body"] != "" || attempts != 1 {
		t.Errorf("no match: body %v, attempts %d; want an empty body, one attempt", out["body"], attempts)
	}
}

func TestZohoFailures(t *testing.T) {
	reg, f := mustApp(t, "zoho_crm")
	conn := connectionTo(f, appcall.CredentialBearer)

	// INVALID_TOKEN: Unauthorized, the token never shown.
	expired := connectionTo(f, appcall.CredentialBearer)
	expired.Credential.Token = f.Tokens[apptest.Expired]
	_, _, err := execute(t, reg, expired, "create_record", map[string]any{"module": "Leads", "record": map[string]any{"Last_Name": "x"}})
	if se := mustStepError(t, err); !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || !strings.Contains(se.Message, "INVALID_TOKEN") || strings.Contains(se.Message, expired.Credential.Token) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v, status %d), want an Unauthorized 401 naming INVALID_TOKEN without the token", se.Message, se.Unauthorized, se.Permanent, se.Status)
	}

	// A token without the search scope: 401 OAUTH_SCOPE_MISMATCH is
	// permanent, not a broken Connection.
	noScope := connectionTo(f, appcall.CredentialBearer)
	noScope.Credential.Token = f.Tokens[apptest.NoScope]
	_, attempts, err := execute(t, reg, noScope, "search_records", map[string]any{"module": "Leads", "email": apptest.ZohoLeadEmail})
	if se := mustStepError(t, err); !se.Permanent || se.Unauthorized || !strings.Contains(se.Message, "OAUTH_SCOPE_MISMATCH") || attempts != 1 {
		t.Errorf("no search scope: %q (permanent %v, unauthorized %v, attempts %d), want a permanent failure naming OAUTH_SCOPE_MISMATCH", se.Message, se.Permanent, se.Unauthorized, attempts)
	}

	for _, tc := range []struct {
		name  string
		input map[string]any
		code  string
	}{
		{"criteria Zoho cannot read", map[string]any{"module": "Leads", "criteria": "Email = ada"}, "INVALID_QUERY"},
		{"nothing to search by", map[string]any{"module": "Leads"}, "REQUIRED_PARAM_MISSING"},
	} {
		_, _, err := execute(t, reg, conn, "search_records", tc.input)
		if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusBadRequest || !strings.Contains(se.Message, tc.code) {
			t.Errorf("%s: %q (permanent %v, status %d), want a permanent 400 naming %s", tc.name, se.Message, se.Permanent, se.Status, tc.code)
		}
	}

	// TOO_MANY_REQUESTS twice, then the answer.
	f.Throttle(2, "1")
	out, attempts, err := execute(t, reg, conn, "search_records", map[string]any{"module": "Leads", "email": apptest.ZohoLeadEmail})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || out["record_id"] != apptest.ZohoLeadID {
		t.Errorf("after rate limits: attempts %d, output %v; want 3 attempts and the lead", attempts, out)
	}
}

// TestZohoDataCentre checks, without URL overrides, that a Connection's
// data centre picks the API host its requests go to, with Zoho's
// authorization scheme.
func TestZohoDataCentre(t *testing.T) {
	app, ok := catalog.MustLoad().App("zoho_crm")
	if !ok {
		t.Fatal("no zoho_crm app")
	}
	for _, tc := range []struct {
		domain, want string
	}{
		{"", "https://www.zohoapis.com/crm/v8/Leads"},
		{"eu", "https://www.zohoapis.eu/crm/v8/Leads"},
		{"com.au", "https://www.zohoapis.com.au/crm/v8/Leads"},
		{"ca", "https://www.zohoapis.ca/crm/v8/Leads"},
	} {
		config := map[string]string{}
		if tc.domain != "" {
			config["domain"] = tc.domain
		}
		req, err := app.BuildRequest("create_record", config, map[string]any{"module": "Leads", "record": map[string]any{"Last_Name": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != http.MethodPost || req.URL != tc.want {
			t.Errorf("domain %q: %s %s, want POST %s", tc.domain, req.Method, req.URL, tc.want)
		}
	}

	eu := map[string]string{"domain": "eu"}
	req, err := app.BuildRequest("search_records", eu, map[string]any{"module": "Contacts", "email": "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.URL, "https://www.zohoapis.eu/crm/v8/Contacts/search?email=ada%40example.com"; req.Method != http.MethodGet || got != want {
		t.Errorf("search on eu: %s %s, want GET %s", req.Method, got, want)
	}
	u, _ := url.Parse(req.URL)
	if err := appcall.Authenticate(app, eu, appcall.Credential{Kind: appcall.CredentialBearer, Token: "1000.abc.def"}, req.Header, u); err != nil {
		t.Fatal(err)
	}
	if got, want := req.Header.Get("Authorization"), "Zoho-oauthtoken 1000.abc.def"; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}

	// A data centre Zoho does not have cannot move the request elsewhere.
	if _, err := app.BuildRequest("create_record", map[string]string{"domain": "evil.example"}, map[string]any{"module": "Leads", "record": map[string]any{}}); err == nil {
		t.Error("domain evil.example: no error, want the config refused")
	}
}
