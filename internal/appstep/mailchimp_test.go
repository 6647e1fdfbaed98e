package appstep_test

import (
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/testkit/apptest"
)

// mailchimpInput is a send from the fake's verified domain to to.
func mailchimpInput(to ...any) map[string]any {
	return map[string]any{
		"to": to, "from_email": "support@" + apptest.MailchimpSendingDomain, "from_name": "Support",
		"subject": "Your order", "html": "<p>Thanks!</p>", "text": "Thanks!",
	}
}

func TestMailchimpSend(t *testing.T) {
	reg, f := mustApp(t, "mailchimp_transactional")
	conn := connectionTo(f, appcall.CredentialAPIKey)
	ada := map[string]any{"email": "ada@example.org", "name": "Ada", "type": "to"}
	out, attempts, err := execute(t, reg, conn, "send", mailchimpInput(ada))
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /api/1.0/messages/send")
	// The key travels in the body, and nowhere else.
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
	want := map[string]any{"key": f.Token, "message": map[string]any{
		"from_email": "support@" + apptest.MailchimpSendingDomain, "from_name": "Support", "html": "<p>Thanks!</p>",
		"subject": "Your order", "text": "Thanks!", "to": []any{ada},
	}}
	if got := mustJSON(t, req.Body); !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if out["status"] != "sent" || attempts != 1 {
		t.Errorf("status = %v, attempts %d; want sent after 1", out["status"], attempts)
	}
	statuses, _ := out["statuses"].([]any)
	if len(statuses) != 1 || statuses[0].(map[string]any)["email"] != "ada@example.org" {
		t.Errorf("statuses = %v, want ada's", out["statuses"])
	}
	if id, _ := out["message_id"].(string); id == "" || id != statuses[0].(map[string]any)["_id"] {
		t.Errorf("message_id = %v, want the recipient's _id", out["message_id"])
	}
	if _, ok := out["reject_reason"]; ok {
		t.Errorf("reject_reason = %v for a sent message, want none", out["reject_reason"])
	}

	// A later recipient refused: the message went out, so the step
	// succeeds and says who was refused.
	out, _, err = execute(t, reg, conn, "send", mailchimpInput(ada, map[string]any{"email": apptest.MailchimpUnsubscribed, "type": "cc"}))
	if err != nil {
		t.Fatalf("second recipient unsubscribed: %v, want success", err)
	}
	statuses, _ = out["statuses"].([]any)
	if len(statuses) != 2 || out["status"] != "sent" || statuses[1].(map[string]any)["status"] != "rejected" || statuses[1].(map[string]any)["reject_reason"] != "unsub" {
		t.Errorf("statuses = %v, want sent then rejected (unsub)", out["statuses"])
	}

	// Scheduled for later.
	in := mailchimpInput(ada)
	in["send_at"] = "2030-01-01 09:00:00"
	out, _, err = execute(t, reg, conn, "send", in)
	if err != nil || out["status"] != "scheduled" {
		t.Errorf("send_at: status %v, err %v; want scheduled", out["status"], err)
	}
	if got, want := mustJSON(t, f.LastRequest().Body)["send_at"], "2030-01-01 09:00:00"; got != want {
		t.Errorf("send_at in the body = %v, want %q at the top level", got, want)
	}
}

func TestMailchimpRefusedRecipient(t *testing.T) {
	reg, f := mustApp(t, "mailchimp_transactional")
	conn := connectionTo(f, appcall.CredentialAPIKey)
	for _, tc := range []struct {
		name  string
		input map[string]any
		want  string
	}{
		{"hard bounce", mailchimpInput(map[string]any{"email": apptest.MailchimpBounced}), "(hard-bounce)"},
		{"no address", mailchimpInput(map[string]any{"email": "ada.example.org"}), "(invalid)"},
		{"unverified sending domain", func() map[string]any {
			in := mailchimpInput(map[string]any{"email": "ada@example.org"})
			in["from_email"] = "support@unverified.example"
			return in
		}(), "(unsigned)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Received(""))
			_, attempts, err := execute(t, reg, conn, "send", tc.input)
			se := mustStepError(t, err)
			if !se.Permanent || se.Unauthorized || se.Status != http.StatusOK || !strings.Contains(se.Message, tc.want) {
				t.Errorf("%q (permanent %v, status %d), want a permanent failure naming %s", se.Message, se.Permanent, se.Status, tc.want)
			}
			if got := len(f.Received("")) - before; attempts != 1 || got != 1 {
				t.Errorf("attempts %d, requests %d; want 1, 1", attempts, got)
			}
			if strings.Contains(se.Message, f.Token) {
				t.Errorf("message %q holds the key", se.Message)
			}
		})
	}
}

func TestMailchimpFailures(t *testing.T) {
	reg, f := mustApp(t, "mailchimp_transactional")

	// A wrong key: HTTP 500 Invalid_Key is a refused credential, and the
	// key, echoed nowhere, stays out of the message.
	bad := connectionTo(f, appcall.CredentialAPIKey)
	bad.Credential.Token = "md-wrongwrongwrongwrong"
	_, attempts, err := execute(t, reg, bad, "send", mailchimpInput(map[string]any{"email": "ada@example.org"}))
	se := mustStepError(t, err)
	if !se.Unauthorized || se.Permanent || !strings.Contains(se.Message, "Invalid_Key") || strings.Contains(se.Message, bad.Credential.Token) || attempts != 1 {
		t.Errorf("wrong key: %q (unauthorized %v, permanent %v, attempts %d), want an Unauthorized Invalid_Key after 1 attempt, without the key", se.Message, se.Unauthorized, se.Permanent, attempts)
	}

	conn := connectionTo(f, appcall.CredentialAPIKey)
	// A bad from address: ValidationError (HTTP 500) is the caller's
	// mistake, permanent, quoting Mailchimp; not retried.
	in := mailchimpInput(map[string]any{"email": "ada@example.org"})
	in["from_email"] = "support"
	_, attempts, err = execute(t, reg, conn, "send", in)
	se = mustStepError(t, err)
	if !se.Permanent || se.Status != http.StatusInternalServerError || !strings.Contains(se.Message, "(ValidationError)") || !strings.Contains(se.Message, "An email address must contain a single @") || attempts != 1 {
		t.Errorf("bad from_email: %q (permanent %v, status %d, attempts %d), want a permanent ValidationError quoting Mailchimp after 1 attempt", se.Message, se.Permanent, se.Status, attempts)
	}

	// Mailchimp's own failure (GeneralError) is retried.
	f.Fail(1, http.StatusInternalServerError, "")
	out, attempts, err := execute(t, reg, conn, "send", mailchimpInput(map[string]any{"email": "ada@example.org"}))
	if err != nil || attempts != 2 || out["status"] != "sent" {
		t.Errorf("after a GeneralError: err %v, attempts %d, status %v; want sent after 2 attempts", err, attempts, out["status"])
	}
}
