package appstep_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/step"
	"wiresk/internal/testkit/apptest"
)

// airtableTablePath is the fake's Contacts table endpoint.
const airtableTablePath = "/v0/" + apptest.AirtableBaseID + "/" + apptest.AirtableTableName

func TestAirtableCreateRecord(t *testing.T) {
	reg, f := mustApp(t, "airtable")
	conn := connectionTo(f, appcall.CredentialBearer)
	out, _, err := execute(t, reg, conn, "create_record", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName,
		"fields": map[string]any{"Name": "Katherine Johnson", "Email": "katherine@example.com", "Age": "101"}, "typecast": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST "+airtableTablePath)
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got := req.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	want := map[string]any{"fields": map[string]any{"Age": "101", "Email": "katherine@example.com", "Name": "Katherine Johnson"}, "typecast": true}
	if got := mustJSON(t, req.Body); !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if id, _ := out["record_id"].(string); !strings.HasPrefix(id, "rec") {
		t.Errorf("record_id = %v, want a rec... id", out["record_id"])
	}
	// typecast made Airtable store the text "101" as the number 101.
	if fields, _ := out["fields"].(map[string]any); !sameJSON(t, fields["Age"], 101) {
		t.Errorf("fields = %v, want Age 101", out["fields"])
	}
	if out["created_time"] == nil {
		t.Errorf("created_time missing from %v", out)
	}

	// Without typecast Airtable refuses the text for a number: 422, for
	// good, quoting Airtable.
	_, _, err = execute(t, reg, conn, "create_record", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "fields": map[string]any{"Age": "101"},
	})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusUnprocessableEntity || !strings.Contains(se.Message, "INVALID_VALUE_FOR_COLUMN") || !strings.Contains(se.Message, `Field "Age" cannot accept the provided value`) {
		t.Errorf("text for a number: %q (permanent %v, status %d), want a permanent 422 INVALID_VALUE_FOR_COLUMN quoting Airtable", se.Message, se.Permanent, se.Status)
	}
	// A field the table does not have.
	_, _, err = execute(t, reg, conn, "create_record", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableID, "fields": map[string]any{"Nmae": "x"},
	})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusUnprocessableEntity || !strings.Contains(se.Message, `UNKNOWN_FIELD_NAME): Unknown field name: "Nmae"`) {
		t.Errorf("unknown field: %q (permanent %v, status %d), want a permanent 422 naming the field", se.Message, se.Permanent, se.Status)
	}
	// A table that does not exist, or a base the token cannot reach:
	// Airtable's 403 is permanent and leaves the Connection alone.
	_, _, err = execute(t, reg, conn, "create_record", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": "Contcats", "fields": map[string]any{"Name": "x"},
	})
	if se := mustStepError(t, err); !se.Permanent || se.Unauthorized || se.Status != http.StatusForbidden || !strings.Contains(se.Message, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND") || !strings.Contains(se.Message, "the requested model was not found") {
		t.Errorf("unknown table: %q (permanent %v, unauthorized %v, status %d), want a permanent 403 quoting Airtable", se.Message, se.Permanent, se.Unauthorized, se.Status)
	}
	if got, want := len(f.Received("POST "+airtableTablePath)), 2; got != want {
		t.Errorf("POSTs to the table = %d, want %d (no retry of a 422)", got, want)
	}
}

func TestAirtableListRecords(t *testing.T) {
	reg, f := mustApp(t, "airtable")
	conn := connectionTo(f, appcall.CredentialBearer)

	// A formula with quotes and an ampersand, which must reach Airtable
	// whole: an unescaped & would cut it.
	formula := `{Name} = "O'Brien & Sons"`
	out, _, err := execute(t, reg, conn, "list_records", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "filter_by_formula": formula, "max_records": 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "GET "+airtableTablePath)
	if got, want := req.Query, (url.Values{"filterByFormula": {formula}, "maxRecords": {"10"}}); !sameJSON(t, got, want) {
		t.Errorf("query = %v, want %v", got, want)
	}
	records, _ := out["records"].([]any)
	if len(records) != 1 {
		t.Fatalf("records = %v, want the one O'Brien & Sons record", out["records"])
	}
	if fields, _ := records[0].(map[string]any)["fields"].(map[string]any); fields["Name"] != "O'Brien & Sons" {
		t.Errorf("record = %v, want O'Brien & Sons", records[0])
	}
	if out["record_id"] != records[0].(map[string]any)["id"] {
		t.Errorf("record_id = %v, want the first record's id", out["record_id"])
	}
	if _, ok := out["offset"]; ok {
		t.Errorf("offset = %v on the only page, want none", out["offset"])
	}

	// Pages of one record: offset leads to the next page, and the last
	// page has none.
	var ids []string
	offset := ""
	for page := 1; ; page++ {
		in := map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableID, "page_size": 1}
		if offset != "" {
			in["offset"] = offset
		}
		out, _, err := execute(t, reg, conn, "list_records", in)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := out["record_id"].(string)
		ids = append(ids, id)
		offset, _ = out["offset"].(string)
		if offset == "" {
			break
		}
		if page > apptest.AirtableRecords {
			t.Fatalf("more than %d pages of one record", apptest.AirtableRecords)
		}
	}
	if len(ids) != apptest.AirtableRecords || slices.Contains(ids, "") {
		t.Errorf("paged ids = %v, want the %d records", ids, apptest.AirtableRecords)
	}

	// A view keeps its records only.
	out, _, err = execute(t, reg, conn, "list_records", map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "view": apptest.AirtableView})
	if err != nil {
		t.Fatal(err)
	}
	if records, _ := out["records"].([]any); len(records) != 2 {
		t.Errorf("view %s: %d records, want 2", apptest.AirtableView, len(records))
	}

	// No match is a success with no records.
	out, _, err = execute(t, reg, conn, "list_records", map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "filter_by_formula": `{Email} = 'nobody@example.com'`})
	if err != nil {
		t.Fatal(err)
	}
	if records, ok := out["records"].([]any); !ok || len(records) != 0 {
		t.Errorf("no match: records = %v, want []", out["records"])
	}
	if _, ok := out["record_id"]; ok {
		t.Errorf("no match: record_id = %v, want none", out["record_id"])
	}

	// A formula naming an unknown field: 422, for good, quoting Airtable.
	_, _, err = execute(t, reg, conn, "list_records", map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "filter_by_formula": `{Nmae} = "x"`})
	if se := mustStepError(t, err); !se.Permanent || se.Status != http.StatusUnprocessableEntity || !strings.Contains(se.Message, "INVALID_FILTER_BY_FORMULA") || !strings.Contains(se.Message, "Unknown field names: nmae") {
		t.Errorf("bad formula: %q (permanent %v, status %d), want a permanent 422 quoting Airtable", se.Message, se.Permanent, se.Status)
	}
}

func TestAirtableExpiredToken(t *testing.T) {
	reg, f := mustApp(t, "airtable")
	conn := connectionTo(f, appcall.CredentialBearer)
	conn.Credential.Token = f.Tokens[apptest.Expired]
	_, attempts, err := execute(t, reg, conn, "list_records", map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName})
	se := mustStepError(t, err)
	if !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || strings.Contains(se.Message, conn.Credential.Token) {
		t.Errorf("expired token: %q (unauthorized %v, permanent %v, status %d), want an Unauthorized 401 without the token", se.Message, se.Unauthorized, se.Permanent, se.Status)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
}

// airtableRegistry is mustApp with a retrier that records the waits it
// asks for instead of waiting, under the default 30 s cap.
func airtableRegistry(t *testing.T) (step.Registry, *apptest.Fake, *[]time.Duration) {
	t.Helper()
	f, _ := apptest.New(t, "airtable")
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{"airtable": f})))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	client := &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}}}
	reg := step.Registry{}
	if err := appstep.Register(reg, cat, client); err != nil {
		t.Fatal(err)
	}
	return reg, f, &waits
}

func TestAirtableRateLimitWaitsThirtySeconds(t *testing.T) {
	reg, f, waits := airtableRegistry(t)
	conn := connectionTo(f, appcall.CredentialBearer)

	// Airtable's 429 has no Retry-After; it documents that nothing
	// succeeds for 30 s, so the retry waits that long, once.
	f.Throttle(1, "")
	out, attempts, err := execute(t, reg, conn, "create_record", map[string]any{
		"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName, "fields": map[string]any{"Name": "Mary Jackson"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *waits, []time.Duration{30 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if attempts != 2 || out["record_id"] == nil {
		t.Errorf("attempts %d, output %v; want 2 attempts and the record", attempts, out)
	}
	if got := len(f.Received("POST " + airtableTablePath)); got != 2 {
		t.Errorf("POSTs = %d, want 2", got)
	}

	// Still limited after the tries: transient (the queue redelivers the
	// Run), saying the wait.
	*waits = nil
	f.Throttle(-1, "")
	_, attempts, err = execute(t, reg, conn, "list_records", map[string]any{"base_id": apptest.AirtableBaseID, "table": apptest.AirtableTableName})
	se := mustStepError(t, err)
	if se.Permanent || se.Status != http.StatusTooManyRequests || !strings.Contains(se.Message, "RATE_LIMIT_REACHED") || !strings.Contains(se.Message, "Airtable documents a wait of 30s") {
		t.Errorf("rate limited: %q (permanent %v, status %d), want a transient 429 naming the 30 s wait", se.Message, se.Permanent, se.Status)
	}
	if got, want := *waits, []time.Duration{30 * time.Second, 30 * time.Second}; attempts != egress.DefaultMaxAttempts || !slices.Equal(got, want) {
		t.Errorf("attempts %d, waits %v; want %d attempts and waits %v", attempts, got, egress.DefaultMaxAttempts, want)
	}
}
