package appstep_test

import (
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/testkit/apptest"
)

func TestSlackPostMessage(t *testing.T) {
	reg, f := mustApp(t, "slack")
	conn := connectionTo(f, appcall.CredentialBearer)
	blocks := []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*New lead*: Ada"}}}
	out, attempts, err := execute(t, reg, conn, "post_message", map[string]any{
		"channel": "#sales", "text": "New lead: Ada", "blocks": blocks,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /api/chat.postMessage")
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := req.Header.Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := mustJSON(t, req.Body), map[string]any{"channel": "#sales", "text": "New lead: Ada", "blocks": blocks}; !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
	ts, _ := out["ts"].(string)
	if ts == "" || out["channel"] != apptest.SlackChannel {
		t.Fatalf("output = %v, want ts and channel %s (the ID, not the name)", out, apptest.SlackChannel)
	}
	body, _ := out["body"].(map[string]any)
	if _, warned := body["warning"]; warned || body["ok"] != true {
		t.Errorf("answer = %v, want ok and no warning (the charset is sent)", body)
	}

	// A reply in the thread, to a user's DM by user ID.
	out, _, err = execute(t, reg, conn, "post_message", map[string]any{"channel": apptest.SlackUser, "text": "Thanks!", "thread_ts": ts})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, f.Received("POST /api/chat.postMessage")[1].Body)["thread_ts"], any(ts); got != want {
		t.Errorf("thread_ts sent = %v, want %v", got, want)
	}
	if out["channel"] != apptest.SlackUserDM || out["ts"] == ts {
		t.Errorf("reply output = %v, want the DM %s and a new ts", out, apptest.SlackUserDM)
	}
}

func TestSlackPostMessageFailures(t *testing.T) {
	reg, f := mustApp(t, "slack")
	conn := connectionTo(f, appcall.CredentialBearer)
	writeOnly := connectionTo(f, appcall.CredentialBearer)
	writeOnly.Credential.Token = f.Tokens[apptest.SlackChatWriteOnly]

	// Slack's own failures inside HTTP 200 are permanent and name Slack's
	// error code.
	for _, tc := range []struct {
		name  string
		conn  string
		input map[string]any
		code  string
	}{
		{"unknown channel", "", map[string]any{"channel": "#nowhere", "text": "hi"}, "channel_not_found"},
		{"public channel the bot is not in", "write_only", map[string]any{"channel": apptest.SlackOtherChannel, "text": "hi"}, "not_in_channel"},
		{"archived channel", "", map[string]any{"channel": "#old-sales", "text": "hi"}, "is_archived"},
		{"no text nor blocks", "", map[string]any{"channel": "#sales"}, "no_text"},
		{"text too long", "", map[string]any{"channel": "#sales", "text": strings.Repeat("a", 40001)}, "msg_too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conn
			if tc.conn == "write_only" {
				c = writeOnly
			}
			before := len(f.Received("POST /api/chat.postMessage"))
			_, attempts, err := execute(t, reg, c, "post_message", tc.input)
			se := mustStepError(t, err)
			if !se.Permanent || se.Unauthorized || se.Status != http.StatusOK || !strings.Contains(se.Message, "("+tc.code+")") {
				t.Errorf("%q (permanent %v, unauthorized %v, status %d), want a permanent failure naming %s", se.Message, se.Permanent, se.Unauthorized, se.Status, tc.code)
			}
			if got := len(f.Received("POST /api/chat.postMessage")) - before; got != 1 || attempts != 1 {
				t.Errorf("requests %d, attempts %d; want 1 and 1", got, attempts)
			}
		})
	}

	// The same token may post where the bot is a member.
	if _, _, err := execute(t, reg, writeOnly, "post_message", map[string]any{"channel": apptest.SlackChannel, "text": "hi"}); err != nil {
		t.Errorf("chat:write only, in a channel of the bot: %v", err)
	}

	// A token without chat:write: missing_scope names the scope Slack says
	// is needed, and the Connection stays good.
	noScope := connectionTo(f, appcall.CredentialBearer)
	noScope.Credential.Token = f.Tokens[apptest.NoScope]
	_, _, err := execute(t, reg, noScope, "post_message", map[string]any{"channel": "#sales", "text": "hi"})
	se := mustStepError(t, err)
	if !se.Permanent || se.Unauthorized || !strings.Contains(se.Message, "missing_scope") || !strings.Contains(se.Message, "needs scope chat:write") {
		t.Errorf("missing scope: %q (permanent %v, unauthorized %v), want a permanent failure naming chat:write", se.Message, se.Permanent, se.Unauthorized)
	}
	if strings.Contains(se.Message, noScope.Credential.Token) {
		t.Errorf("missing scope: the message %q holds the token", se.Message)
	}

	// Expired, revoked or bad tokens: Unauthorized, so the worker re-tests
	// the Connection; the token never shows.
	for _, tc := range []struct{ name, token, code string }{
		{"expired", f.Tokens[apptest.Expired], "token_expired"},
		{"revoked", f.Tokens[apptest.Revoked], "token_revoked"},
		{"bad", "xoxb-not-a-real-token-000000", "invalid_auth"},
	} {
		c := connectionTo(f, appcall.CredentialBearer)
		c.Credential.Token = tc.token
		_, _, err := execute(t, reg, c, "post_message", map[string]any{"channel": "#sales", "text": "hi"})
		se := mustStepError(t, err)
		if !se.Unauthorized || se.Permanent || !strings.Contains(se.Message, tc.code) || strings.Contains(se.Message, tc.token) {
			t.Errorf("%s token: %q (unauthorized %v, permanent %v), want an Unauthorized failure naming %s without the token", tc.name, se.Message, se.Unauthorized, se.Permanent, tc.code)
		}
	}

	// HTTP 429 ratelimited with Retry-After twice, then the message: three
	// attempts.
	f.Throttle(2, "1")
	out, attempts, err := execute(t, reg, conn, "post_message", map[string]any{"channel": "#sales", "text": "after the limit"})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || out["channel"] != apptest.SlackChannel {
		t.Errorf("after rate limits: attempts %d, output %v; want 3 attempts and the message posted", attempts, out)
	}
}
