package connection_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"wiresk/internal/catalog"
	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestNewID(t *testing.T) {
	id := connection.NewID(t0)
	if !regexp.MustCompile(`^con_[0-9a-z]{26}$`).MatchString(id) {
		t.Fatalf("NewID = %q, want con_ and 26 base32 digits", id)
	}
	if got, want := connection.SecretName(id), "connections/"+id; got != want {
		t.Fatalf("SecretName = %q, want %q", got, want)
	}
}

func TestStatusAndEventValid(t *testing.T) {
	for _, s := range []connection.Status{connection.StatusPending, connection.StatusActive, connection.StatusBroken, connection.StatusDisconnected} {
		if !s.Valid() {
			t.Errorf("%q.Valid() = false, want true", s)
		}
	}
	if connection.Status("revoked").Valid() {
		t.Error(`"revoked".Valid() = true, want false`)
	}
	for _, e := range []connection.Event{connection.EventCreated, connection.EventAuthorized, connection.EventRefreshed,
		connection.EventRefreshFailed, connection.EventTested, connection.EventBroken, connection.EventDisconnected,
		connection.EventReconnected, connection.EventEdited, connection.EventDeleted} {
		if !e.Valid() {
			t.Errorf("%q.Valid() = false, want true", e)
		}
	}
	if connection.Event("hacked").Valid() {
		t.Error(`"hacked".Valid() = true, want false`)
	}
}

func TestValidateName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"Sales Gmail", true},
		{"Zoho CRM — EU", true},
		{strings.Repeat("a", connection.MaxNameLen), true},
		{"", false},
		{"   ", false},
		{strings.Repeat("a", connection.MaxNameLen+1), false},
		{"bad\nname", false},
		{"bad\x00name", false},
		{"\xff\xfe", false},
	}
	for _, c := range cases {
		err := connection.ValidateName(c.name)
		if got := err == nil; got != c.ok {
			t.Errorf("ValidateName(%q) = %v, want ok %v", c.name, err, c.ok)
			continue
		}
		if err != nil && (wiresk.ErrorCode(err) != wiresk.EValidation || wiresk.ErrorField(err) != "name") {
			t.Errorf("ValidateName(%q) = %v, want a validation error of field name", c.name, err)
		}
	}
}

func TestUsedBy(t *testing.T) {
	step := func(id, conn string) flow.Step {
		return flow.Step{ID: id, App: "slack", Method: "post_message", ConnectionID: conn}
	}
	flows := []flow.Flow{
		{ID: "flw_1", Name: "Leads", Steps: []flow.Step{step("a", "con_1"), step("b", "con_2"), step("c", "con_1")}},
		{ID: "flw_2", Name: "Other", Steps: []flow.Step{step("a", "con_2"), step("b", "")}},
		{ID: "flw_3", Name: "Also", Steps: []flow.Step{step("x", "con_1")}},
	}
	flows = append(flows, flow.Flow{ID: "flw_4", Name: "Polls", Steps: []flow.Step{step("a", "")}})
	triggers := []trigger.Schedule{
		{ID: "trg_1", FlowID: "flw_4", Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1"}},
		{ID: "trg_2", FlowID: "flw_3", Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_1"}},
		{ID: "trg_3", FlowID: "flw_2", Poll: &trigger.Poll{App: "hubspot", Event: "new_contact", ConnectionID: "con_2"}},
		{ID: "trg_4", FlowID: "flw_2", Expression: "rate(5 minutes)"},
	}
	got := connection.UsedBy(flows, triggers, "con_1")
	want := []connection.FlowRef{{ID: "flw_1", Name: "Leads", Steps: []string{"a", "c"}}, {ID: "flw_3", Name: "Also", Steps: []string{"x"}, Triggers: []string{"trg_2"}},
		{ID: "flw_4", Name: "Polls", Steps: []string{}, Triggers: []string{"trg_1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UsedBy(con_1) = %+v, want %+v", got, want)
	}
	for _, id := range []string{"con_9", ""} {
		got := connection.UsedBy(flows, triggers, id)
		if got == nil || len(got) != 0 {
			t.Errorf("UsedBy(%q) = %#v, want an empty list", id, got)
		}
	}
}

func TestDueAt(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	base := connection.Connection{Status: connection.StatusActive, CreatedAt: t0}
	cases := []struct {
		name   string
		change func(c *connection.Connection)
		want   *time.Time // nil: not scheduled
	}{
		{"never tested", func(c *connection.Connection) {}, at(connection.TestInterval)},
		{"tested", func(c *connection.Connection) { c.LastTest = &connection.TestResult{At: t0.Add(time.Hour)} },
			at(time.Hour + connection.TestInterval)},
		{"token expires first", func(c *connection.Connection) { c.TokenExpiresAt = at(time.Hour) },
			at(time.Hour - connection.RefreshLead)},
		{"test comes first", func(c *connection.Connection) { c.TokenExpiresAt = at(48 * time.Hour) },
			at(connection.TestInterval)},
		{"cooldown delays the refresh", func(c *connection.Connection) {
			c.TokenExpiresAt, c.RefreshCooldownUntil = at(time.Hour), at(2*time.Hour)
		}, at(2 * time.Hour)},
		{"past cooldown ignored", func(c *connection.Connection) {
			c.TokenExpiresAt, c.RefreshCooldownUntil = at(time.Hour), at(-time.Hour)
		}, at(time.Hour - connection.RefreshLead)},
		{"pending", func(c *connection.Connection) { c.Status = connection.StatusPending; c.TokenExpiresAt = at(0) }, nil},
		{"broken", func(c *connection.Connection) { c.Status = connection.StatusBroken }, nil},
		{"disconnected", func(c *connection.Connection) { c.Status = connection.StatusDisconnected }, nil},
	}
	for _, c := range cases {
		conn := base
		c.change(&conn)
		got, ok := connection.DueAt(conn)
		switch {
		case c.want == nil && ok:
			t.Errorf("%s: DueAt = %v, want not scheduled", c.name, got)
		case c.want != nil && (!ok || !got.Equal(*c.want)):
			t.Errorf("%s: DueAt = %v, %v; want %v", c.name, got, ok, *c.want)
		}
	}
}

func TestOAuthState(t *testing.T) {
	raw, s := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/cb", t0)
	if len(raw) < 43 || strings.ContainsAny(raw, "+/=") {
		t.Fatalf("raw state = %q, want at least 256 bits of base64url", raw)
	}
	if got, want := s.ID, connection.StateID(raw); got != want || len(got) != 64 {
		t.Fatalf("ID = %q, want %q (64 hex digits)", got, want)
	}
	if strings.Contains(fmt.Sprintf("%+v", s), raw) {
		t.Fatal("the state record holds the raw state")
	}
	if got, want := s.ExpiresAt, t0.Add(10*time.Minute); !got.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", got, want)
	}
	if s.Expired(t0.Add(10*time.Minute - time.Nanosecond)) {
		t.Error("expired just before ExpiresAt")
	}
	if !s.Expired(t0.Add(10 * time.Minute)) {
		t.Error("not expired at ExpiresAt")
	}
	raw2, _ := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/cb", t0)
	if raw2 == raw {
		t.Fatal("two states are equal")
	}
	// The well-known SHA-256 of "abc".
	if got, want := connection.StateID("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("StateID(abc) = %s, want %s", got, want)
	}
}

func testCredentials() connection.Credentials {
	return connection.Credentials{AccessToken: "at-secret-1", RefreshToken: "rt-secret-2", TokenType: "Bearer",
		Expiry: t0, APIKey: "ak-secret-3", Username: "ada", Password: "pw-secret-4", ClientID: "client-5",
		ClientSecret: "cs-secret-6", Extra: map[string]string{"id_token": "idt-secret-7", "dup": "at-secret-1"}}
}

func TestCredentialsRoundTrip(t *testing.T) {
	c := testCredentials()
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := connection.DecodeCredentials(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("DecodeCredentials(Encode) = %#v, want %#v", got.Secrets(), c.Secrets())
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["access_token"] != "at-secret-1" || fields["client_secret"] != "cs-secret-6" {
		t.Fatalf("encoded fields = %v, want the OAuth token response's snake_case names", fields)
	}
	empty, err := connection.Credentials{}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(empty), "{}"; got != want {
		t.Fatalf("empty Credentials encode as %s, want %s", got, want)
	}
}

func TestDecodeCredentialsErrorQuotesNothing(t *testing.T) {
	for _, data := range []string{`{"access_token": "leaky-secret-xyz"`, `{"access_token": 42}`, `leaky-secret-xyz`, ``} {
		_, err := connection.DecodeCredentials([]byte(data))
		if err == nil {
			t.Fatalf("DecodeCredentials(%q): err = nil, want an error", data)
		}
		if strings.Contains(err.Error(), "leaky") || strings.Contains(err.Error(), "42") {
			t.Fatalf("DecodeCredentials(%q) error %q quotes the input", data, err)
		}
	}
}

func TestCredentialsSecrets(t *testing.T) {
	c := testCredentials()
	got := c.Secrets()
	want := map[string]bool{"at-secret-1": true, "rt-secret-2": true, "ak-secret-3": true, "pw-secret-4": true, "cs-secret-6": true, "idt-secret-7": true}
	if len(got) != len(want) {
		t.Fatalf("Secrets = %v, want each of %v once", got, want)
	}
	for i, s := range got {
		if !want[s] {
			t.Errorf("Secrets holds %q, not a secret", s)
		}
		if i > 0 && len(s) > len(got[i-1]) {
			t.Errorf("Secrets = %v, want longest first", got)
		}
	}
	if s := (connection.Credentials{}).Secrets(); len(s) != 0 {
		t.Errorf("Secrets of empty Credentials = %v, want none", s)
	}

	// A secret that contains another is redacted whole.
	nested := connection.Credentials{AccessToken: "abc", RefreshToken: "xxabcxx"}
	if got, want := nested.Redact("a=abc r=xxabcxx"), "a=[redacted] r=[redacted]"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got, want := c.Redact("user ada sent at-secret-1 with client-5"), "user ada sent [redacted] with client-5"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

func TestCredentialsNeverFormatSecrets(t *testing.T) {
	c := testCredentials()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("refreshed", "credentials", c, "ptr", &c)
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c),
		fmt.Sprintf("%v", []connection.Credentials{c}), logged.String(),
	}
	for _, out := range outputs {
		for _, s := range c.Secrets() {
			if strings.Contains(out, s) {
				t.Errorf("formatted Credentials %q hold the secret %q", out, s)
			}
		}
	}
	if got := fmt.Sprint(c); !strings.Contains(got, "accessToken") || !strings.Contains(got, connection.Redacted) {
		t.Errorf("String = %q, want the names of the fields set and %s", got, connection.Redacted)
	}
}

// secretLike matches field names that suggest secret material.
var secretLike = regexp.MustCompile(`(?i)token|secret|passw|credential|key`)

// TestRecordsHaveNoSecretField checks every JSON field of the types the
// store keeps: none is named like a secret, apart from token metadata.
func TestRecordsHaveNoSecretField(t *testing.T) {
	allowed := map[string]bool{"tokenExpiresAt": true}
	var check func(typ reflect.Type, path string)
	check = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
			return
		}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if secretLike.MatchString(name) && !allowed[name] {
				t.Errorf("%s.%s is named like a secret", path, name)
			}
			check(f.Type, path+"."+name)
		}
	}
	for _, v := range []any{connection.Connection{}, connection.OAuthState{}, connection.AuditEvent{}, connection.FlowRef{}} {
		check(reflect.TypeOf(v), reflect.TypeOf(v).Name())
	}
	// A Connection with every field set, as JSON, has no secret-like key.
	exp := t0
	c := connection.Connection{ID: "con_1", GroupID: "grp_a", Name: "n", App: "gmail", AuthType: catalog.AuthOAuth2,
		Config: map[string]string{"domain": "eu"}, Scopes: []string{"s"}, Status: connection.StatusActive, Account: "a",
		StatusReason: "r", BrokenAt: &exp, LastTest: &connection.TestResult{At: t0, OK: true, Message: "m"},
		TokenExpiresAt: &exp, LastRefreshAt: &exp, RefreshFailures: 1, RefreshCooldownUntil: &exp,
		CreatedAt: t0, UpdatedAt: t0, CreatedBy: "u", Version: 1}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got, want := len(m), reflect.TypeFor[connection.Connection]().NumField(); got != want {
		t.Fatalf("Connection JSON has %d fields, want %d (all set)", got, want)
	}
}
