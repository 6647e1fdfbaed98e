package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"wiresk/internal/testkit/apptest"
)

// recipe is one copy-paste block of the README's Recipes section.
type recipe struct {
	title  string // after "# Recipe: ", up to " (needs"
	script string
}

var recipeLine = regexp.MustCompile(`(?m)^# Recipe: (.+?) \(needs [^)]*\)$`)

// readmeRecipes returns the sh blocks of the README's Recipes section.
func readmeRecipes(t *testing.T) []recipe {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Recipes\n")
	if start < 0 {
		t.Fatal("README has no Recipes section")
	}
	s = s[start+1:]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	var out []recipe
	for _, block := range strings.Split(s, "```sh\n")[1:] {
		script, _, ok := strings.Cut(block, "```")
		if !ok {
			t.Fatalf("an unclosed sh block in Recipes: %q", block)
		}
		m := recipeLine.FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("a Recipes block without a \"# Recipe: <title> (needs ...)\" line:\n%s", script)
		}
		out = append(out, recipe{title: m[1], script: script})
	}
	return out
}

// createFlow runs a recipe's script in bash with env beside the
// walkthrough's WIRESK, G and TOKEN, and returns the Flow it created.
func (e *appsEnv) createFlow(t *testing.T, rc recipe, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", rc.script)
	cmd.Env = append(os.Environ(), append([]string{"WIRESK=" + e.r.URL, "G=grp_dev", "TOKEN=" + e.r.Token}, env...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recipe %q: %v\n%s", rc.title, err, out)
	}
	var f struct{ ID string }
	if err := json.Unmarshal(out, &f); err != nil || !strings.HasPrefix(f.ID, "flw_") {
		t.Fatalf("recipe %q printed %s, want the created Flow", rc.title, out)
	}
	return f.ID
}

// hookFor gives flow an HTTP trigger with a new API key and returns its
// URL and the key.
func (e *appsEnv) hookFor(t *testing.T, flow string) (url, key string) {
	t.Helper()
	var k struct{ ID, Key string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "recipe"}, &k)
	var tr struct{ URL string }
	e.r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+flow+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	return tr.URL, k.Key
}

// fire posts body to the hook and waits for the Run.
func (e *appsEnv) fire(t *testing.T, url, key, body string, headers ...string) runView {
	t.Helper()
	status, runID, err := hook(url, key, body, headers...)
	if err != nil || status != 202 {
		t.Fatalf("webhook = %d %v, want 202", status, err)
	}
	return e.r.waitRun(t, "grp_dev", runID)
}

// TestTheRecipesRunAsPrinted runs every README recipe against the app
// fakes, each with the webhook its text describes.
func TestTheRecipesRunAsPrinted(t *testing.T) {
	runs := map[string]func(t *testing.T, rc recipe){
		"welcome new HubSpot contacts": seedExample,
		"lead form to HubSpot": func(t *testing.T, rc recipe) {
			e := startWithApps(t, t.TempDir(), []string{"hubspot"})
			flow := e.createFlow(t, rc, "HUBSPOT_CONNECTION_ID="+e.connectOAuth(t, "hubspot", "HubSpot"))
			url, key := e.hookFor(t, flow)
			lead := `{"email":"Grace@Example.com","firstname":"Grace","plan":"Pro","amount":1500}`
			run := e.fire(t, url, key, lead)
			if run.Status != "succeeded" || len(run.Steps) != 5 {
				t.Fatalf("a new lead's Run = %+v, want succeeded with 5 steps", run)
			}
			if got := run.Steps[4].Output["association_type_id"]; got != float64(4) {
				t.Errorf("link output association_type_id = %v, want 4", got)
			}
			if got := run.Steps[3].Input["properties"].(map[string]any)["dealname"]; got != "Grace - Pro" {
				t.Errorf("deal name = %v, want \"Grace - Pro\"", got)
			}
			// The same lead again: HubSpot has the email, so the Run stops.
			again := e.fire(t, url, key, lead)
			if again.Status != "filtered" || len(again.Steps) != 2 {
				t.Fatalf("the same lead's Run = %+v, want filtered after 2 steps", again)
			}
			if n := len(e.fakes["hubspot"].Received("POST /crm/v3/objects/contacts")); n != 1 {
				t.Errorf("HubSpot got %d contact creations, want 1", n)
			}
		},
	}
	runs["file an upload in Drive"] = fileUpload
	runs["email every Airtable customer"] = emailCustomers
	recipes := readmeRecipes(t)
	if len(recipes) < 3 {
		t.Errorf("the README has %d recipes, want the seed example and two others", len(recipes))
	}
	for _, rc := range recipes {
		run, ok := runs[rc.title]
		if !ok {
			t.Errorf("recipe %q has no test here", rc.title)
			continue
		}
		t.Run(rc.title, func(t *testing.T) { run(t, rc) })
	}
}

// seedExample runs the README's seed recipe, the product's example end to
// end: a new HubSpot contact (HubSpot's webhook) → get the contact from
// HubSpot → send a welcome email from Gmail, both Connections made through
// the OAuth flow. The Run shows both steps' inputs and outputs and no
// token; the Flow's statistics and the API key's usage count it.
func seedExample(t *testing.T, rc recipe) {
	e := startWithApps(t, t.TempDir(), []string{"hubspot", "gmail"})
	r := e.r
	hubspot := e.connectOAuth(t, "hubspot", "HubSpot")
	gmail := e.connectOAuth(t, "gmail", "Gmail")
	flow := e.createFlow(t, rc, "HUBSPOT_CONNECTION_ID="+hubspot, "GMAIL_CONNECTION_ID="+gmail)

	var k struct{ ID, Key string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": "HubSpot"}, &k)
	var tr struct{ URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+flow+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)

	body, headers := hubspotSample(t)
	status, runID, err := hook(tr.URL, k.Key, body, headers...)
	if err != nil || status != 202 {
		t.Fatalf("HubSpot's webhook = %d %v, want 202", status, err)
	}
	run := r.waitRun(t, "grp_dev", runID)
	if run.Status != "succeeded" || len(run.Steps) != 2 {
		t.Fatalf("the Run = %+v, want succeeded with 2 steps", run)
	}
	if got, want := fmt.Sprint(run.Steps[0].Input["contact_id"]), "123"; got != want {
		t.Errorf("contact step input contact_id = %v, want %q (the webhook's objectId)", got, want)
	}
	if got, want := run.Steps[0].Output["email"], apptest.HubSpotContactEmail; got != want {
		t.Errorf("contact step output email = %v, want %v", got, want)
	}
	if got, want := run.Steps[1].Input["to"], apptest.HubSpotContactEmail; got != want {
		t.Errorf("email step input to = %v, want %v", got, want)
	}
	if got, want := run.Steps[1].Input["subject"], "Welcome, Ada!"; got != want {
		t.Errorf("email step input subject = %v, want %v", got, want)
	}
	if run.Steps[1].Output["message_id"] == nil {
		t.Errorf("email step output = %v, want Gmail's message id", run.Steps[1].Output)
	}
	if n := len(e.fakes["hubspot"].Received("GET /crm/v3/objects/contacts/123")); n != 1 {
		t.Errorf("HubSpot got %d contact reads, want 1", n)
	}
	sent := sentEmails(t, e.fakes["gmail"])
	if len(sent) != 1 {
		t.Fatalf("Gmail got %d sends, want 1", len(sent))
	}
	m := sent[0]
	if to, subject := m.Header.Get("To"), m.Subject; !strings.Contains(to, apptest.HubSpotContactEmail) || subject != "Welcome, Ada!" || !strings.Contains(m.Text, "Hi Ada,") {
		t.Errorf("the email went To %q with Subject %q and text %q, want %s, \"Welcome, Ada!\", \"Hi Ada,...\"", to, subject, m.Text, apptest.HubSpotContactEmail)
	}
	var raw json.RawMessage
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs/"+runID, nil, &raw)
	for app, f := range e.fakes {
		for _, req := range f.Received("") {
			token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
			if token != "" && strings.Contains(string(raw), token) {
				t.Errorf("the Run shows the %s access token", app)
			}
		}
	}

	var stats struct {
		Total struct{ Triggered, Succeeded int }
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/flows/"+flow+"/stats", nil, &stats)
	if stats.Total.Triggered != 1 || stats.Total.Succeeded != 1 {
		t.Errorf("stats total = %+v, want 1 triggered, 1 succeeded", stats.Total)
	}
	var key struct {
		LastUsedAt string
		Usage      []struct{ Calls int }
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/api-keys/"+k.ID, nil, &key)
	used := 0
	for _, u := range key.Usage {
		used += u.Calls
	}
	if key.LastUsedAt == "" || used != 1 {
		t.Errorf("API key = %+v, want last used now and 1 use", key)
	}
}

// fileUpload runs the Drive recipe: a form's base64 file lands in Drive
// byte for byte, and the receipt email links to it with the file attached.
func fileUpload(t *testing.T, rc recipe) {
	e := startWithApps(t, t.TempDir(), []string{"google_drive", "gmail"})
	flow := e.createFlow(t, rc, "DRIVE_CONNECTION_ID="+e.connectOAuth(t, "google_drive", "Drive"),
		"DRIVE_FOLDER_ID="+apptest.DriveFolderID, "GMAIL_CONNECTION_ID="+e.connectOAuth(t, "gmail", "Gmail"))
	url, key := e.hookFor(t, flow)
	file := make([]byte, 2048)
	for i := range file {
		file[i] = byte(i * 7)
	}
	form, _ := json.Marshal(map[string]string{"email": "grace@example.com", "filename": "scan é.pdf", "mime_type": "application/pdf",
		"content": base64.StdEncoding.EncodeToString(file)})
	run := e.fire(t, url, key, string(form))
	if run.Status != "succeeded" || len(run.Steps) != 2 {
		t.Fatalf("the Run = %+v, want succeeded with 2 steps", run)
	}
	id, _ := run.Steps[0].Output["file_id"].(string)
	link, _ := run.Steps[0].Output["web_view_link"].(string)
	if id == "" || link == "" {
		t.Fatalf("upload output = %v, want file_id and web_view_link", run.Steps[0].Output)
	}
	drive := e.fakes["google_drive"]
	if _, stored := drive.Get(t, "/drive/v3/files/"+id+"?alt=media"); !bytes.Equal(stored, file) {
		t.Errorf("Drive holds %d bytes, want the form's %d bytes unchanged", len(stored), len(file))
	}
	sent := sentEmails(t, e.fakes["gmail"])
	if len(sent) != 1 {
		t.Fatalf("Gmail got %d sends, want 1", len(sent))
	}
	m := sent[0]
	if !strings.Contains(m.HTML, link) || len(m.Attachments) != 1 || !bytes.Equal(m.Attachments[0].Data, file) || m.Attachments[0].Filename != "scan é.pdf" {
		t.Errorf("the receipt = html %q, %d attachments; want the link %s and the file attached as scan é.pdf", m.HTML, len(m.Attachments), link)
	}
}

// emailCustomers runs the loop recipe: the Airtable records the formula
// picks each get one email, in order, and no other record gets one.
func emailCustomers(t *testing.T, rc recipe) {
	e := startWithApps(t, t.TempDir(), []string{"airtable", "gmail"})
	flow := e.createFlow(t, rc, "AIRTABLE_CONNECTION_ID="+e.connectKey(t, "airtable"), "AIRTABLE_BASE_ID="+apptest.AirtableBaseID,
		"GMAIL_CONNECTION_ID="+e.connectOAuth(t, "gmail", "Gmail"))
	url, key := e.hookFor(t, flow)
	run := e.fire(t, url, key, `{}`)
	if run.Status != "succeeded" || len(run.Steps) != 2 {
		t.Fatalf("the Run = %+v, want succeeded with 2 steps", run)
	}
	if got := run.Steps[1].Output["count"]; got != float64(2) {
		t.Errorf("loop output count = %v, want 2 (the two customers)", got)
	}
	var to []string
	for _, m := range sentEmails(t, e.fakes["gmail"]) {
		var addrs []string
		for _, a := range m.Addresses("To") {
			addrs = append(addrs, a.Address)
		}
		to = append(to, strings.Join(addrs, ",")+" / "+m.Subject)
	}
	want := []string{"ada@example.com / News for you, Ada Lovelace", "grace@example.com / News for you, Grace Hopper"}
	if !slices.Equal(to, want) {
		t.Errorf("emails sent %q, want %q", to, want)
	}
	if got := e.fakes["airtable"].Received("GET /v0/" + apptest.AirtableBaseID + "/Contacts"); len(got) != 1 || got[0].Query.Get("filterByFormula") != `{Status} = "Customer"` {
		t.Errorf("Airtable list requests %+v, want one with the formula", got)
	}
}

// sentEmails returns the messages the Gmail fake was asked to send,
// decoded from their base64url raw and parsed.
func sentEmails(t *testing.T, gmail *apptest.Fake) []*apptest.Email {
	t.Helper()
	var out []*apptest.Email
	for _, req := range gmail.Received("POST /gmail/v1/users/me/messages/send") {
		var send struct{ Raw string }
		if err := json.Unmarshal(req.Body, &send); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.URLEncoding.DecodeString(send.Raw)
		if err != nil {
			t.Fatalf("Gmail's raw is not base64url: %v", err)
		}
		m, err := apptest.ParseEmail(raw)
		if err != nil {
			t.Fatalf("Gmail's raw is not an RFC 2822 message: %v\n%s", err, raw)
		}
		out = append(out, m)
	}
	return out
}
