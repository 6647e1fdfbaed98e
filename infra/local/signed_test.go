package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTheSigningSenderExamplesRunAsPrinted runs the README's examples of
// triggers authenticated by signature against the runner: GitHub's
// documented example is accepted and becomes a succeeded Run, a changed
// body is refused, a rotation keeps the scheme, and the Slack, Meta and
// custom triggers are made. No answer shows a secret.
func TestTheSigningSenderExamplesRunAsPrinted(t *testing.T) {
	r := startRunner(t, t.TempDir(), true)
	tg := newTarget(t)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{
		"name": "GitHub pings",
		"steps": []any{map[string]any{"id": "post", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/ping", "body": map[string]any{"got": "{{ trigger.body }}"}}}},
	}, &f)
	// The README's webhook goes to $SIG_HOOK, a trigger the user made as
	// its first command does.
	var sig struct{ ID, URL string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers",
		map[string]any{"auth": "signature", "signature": map[string]any{"preset": "github", "secret": "It's a Secret to Everybody"}}, &sig)

	cmd := exec.Command("bash", "-e", "-c", readmeBlock(t, "### Senders that sign instead of sending a key (GitHub, Stripe, Slack, Meta, ...)"))
	cmd.Env = append(os.Environ(), "WIRESK="+r.URL, "G=grp_dev", "TOKEN="+r.Token, "FLOW_ID="+f.ID,
		"SIG_HOOK="+sig.URL, "SIG_TRIGGER_ID="+sig.ID, "SLACK_SIGNING_SECRET=slack-secret-123", "META_APP_SECRET=meta-secret-456")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README block failed: %v\n%s", err, out)
	}
	for _, secret := range []string{"It's a Secret", "a-new-secret", "slack-secret-123", "meta-secret-456", "meatyhamhock", "s3cret"} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("an answer shows the secret %q:\n%s", secret, out)
		}
	}
	type triggerView struct {
		ID, Auth, Challenge, URL string
		Signature                struct {
			Preset        string
			SecretVersion int
		}
	}
	var created, rotated, slack, meta, custom triggerView
	var accepted struct{ RunID string }
	var refused struct {
		Error struct{ Code, Message string }
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for _, v := range []any{&created, &accepted, &refused, &rotated, &slack, &meta, &custom} {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("the README block printed %s: %v", out, err)
		}
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("the README block printed more than seven answers: %s", out)
	}
	if created.Auth != "signature" || created.Signature.Preset != "github" || created.Signature.SecretVersion != 1 {
		t.Errorf("the GitHub trigger = %+v", created)
	}
	if !strings.HasPrefix(accepted.RunID, "run_") {
		t.Errorf("GitHub's signed example: %s", out)
	}
	if refused.Error.Code != "invalid_signature" || !strings.Contains(refused.Error.Message, "mismatch") {
		t.Errorf("the changed body: %+v, want invalid_signature (mismatch)", refused.Error)
	}
	if rotated.ID != sig.ID || rotated.Signature.Preset != "github" || rotated.Signature.SecretVersion != 2 {
		t.Errorf("the rotation answered %+v, want %s at secret version 2", rotated, sig.ID)
	}
	if slack.Challenge != "slack" || slack.Signature.Preset != "slack-v0" || meta.Challenge != "meta" || meta.Signature.Preset != "meta" || custom.Signature.Preset != "" || custom.Auth != "signature" {
		t.Errorf("the Slack, Meta and custom triggers = %+v %+v %+v", slack, meta, custom)
	}
	// The accepted webhook ran the Flow with the body as sent.
	deadline := time.Now().Add(10 * time.Second)
	for len(tg.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	calls := tg.Calls()
	if len(calls) != 1 || calls[0]["got"] != "Hello, World!" {
		t.Fatalf("the target got %v, want one call with the signed body", calls)
	}
}
