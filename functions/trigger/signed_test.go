package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/bolt"
	"wiresk/internal/httpapi"
	"wiresk/internal/trigger"
)

// hubSpotSecret is the client secret of HubSpot's v1 example, which signed
// events/trigger-webhook.json's X-HubSpot-Signature (HubSpot's docs, see
// internal/signature/testdata/vectors.json, hubspot-v1/contact.creation-v1).
const hubSpotSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"

// signedSystem is newSystem with its trigger authenticated by preset's
// signature alone, the secret in the vault the handler reads.
func signedSystem(t *testing.T, ev events.APIGatewayV2HTTPRequest, preset string) *system {
	t.Helper()
	s := newSystem(t, ev)
	db, err := bolt.Open(t.TempDir(), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	vault, err := bolt.NewVault(db, filepath.Join(t.TempDir(), "vault.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sec, _ := json.Marshal(trigger.SigningSecrets{Version: 1, Current: hubSpotSecret})
	if err := vault.Put(ctx, trigger.SigningSecretName(s.trigID), sec); err != nil {
		t.Fatal(err)
	}
	tr, err := s.store.GetTrigger(ctx, s.groupID, s.flowID, s.trigID)
	if err != nil {
		t.Fatal(err)
	}
	tr.APIKeyIDs = nil
	tr.Ingress = trigger.Ingress{Auth: trigger.AuthSignature, Signature: &trigger.Verification{Preset: preset, SecretVersion: 1, SecretSetAt: time.Now().UTC()}}
	if err := s.store.UpdateTrigger(ctx, tr); err != nil {
		t.Fatal(err)
	}
	s.handler = newHandler(config{MaxBody: httpapi.DefaultMaxBody}, deps{Store: s.store, Queue: s.queue, Vault: vault})
	return s
}

// TestSignedWebhookEvent: the sample event, without its API key, reaches a
// trigger authenticated by HubSpot's v1 signature through the function's
// handler; tampered, it is refused and nothing is queued.
func TestSignedWebhookEvent(t *testing.T) {
	ev := readEvent(t, "trigger-webhook.json")
	delete(ev.Headers, "x-api-key")
	s := signedSystem(t, ev, "hubspot-v1")
	resp, err := s.handler(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusAccepted; got != want {
		t.Fatalf("signed sample: got %d %s, want %d", got, resp.Body, want)
	}
	tampered := ev
	tampered.Body = ev.Body[:len(ev.Body)-2] + " ]"
	resp, err = s.handler(context.Background(), tampered)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Fatalf("tampered sample: got %d %s, want %d", got, resp.Body, want)
	}
	if st, err := s.queue.Stats(context.Background()); err != nil || st.Visible != 1 {
		t.Fatalf("queued: %+v %v, want the signed sample's job only", st, err)
	}
}

// TestSignedWebhookEventURL: HubSpot's v3 signature signs the URL the
// sender called; on Lambda that is API Gateway's domain name and the raw
// path and query, which the handler rebuilds.
func TestSignedWebhookEventURL(t *testing.T) {
	ev := readEvent(t, "trigger-webhook.json")
	delete(ev.Headers, "x-api-key")
	ev.RawQueryString = "portal=62515"
	ev.QueryStringParameters = map[string]string{"portal": "62515"}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	called := "https://" + ev.RequestContext.DomainName + ev.RawPath + "?" + ev.RawQueryString
	mac := hmac.New(sha256.New, []byte(hubSpotSecret))
	mac.Write([]byte("POST" + called + ev.Body + ts))
	ev.Headers["x-hubspot-signature-v3"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ev.Headers["x-hubspot-request-timestamp"] = ts
	s := signedSystem(t, ev, "hubspot-v3")
	resp, err := s.handler(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusAccepted; got != want {
		t.Fatalf("v3-signed sample: got %d %s, want %d", got, resp.Body, want)
	}
	ev.RawQueryString = "portal=1"
	ev.QueryStringParameters = map[string]string{"portal": "1"}
	resp, err = s.handler(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
		t.Fatalf("signed for another query: got %d %s, want %d", got, resp.Body, want)
	}
}
