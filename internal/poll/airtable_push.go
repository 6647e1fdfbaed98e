package poll

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/signature"
	"wiresk/internal/wiresk"
)

// airtable.new_record is instant too: it implements Subscriber with
// Airtable's webhooks API
// (https://airtable.com/developers/web/api/webhooks-overview), which
// needs the webhook:manage scope (an optional scope of the catalog's
// Airtable app) besides data.records:read.
//
//   - Subscribe is "Create a webhook": POST /v0/bases/{baseId}/webhooks
//     {"notificationUrl", "specification": {"options": {"filters":
//     {"dataTypes": ["tableData"], "recordChangeScope": "<table id>",
//     "changeTypes": ["add"]}}}}, answered {"id": "ach...",
//     "macSecretBase64", "expirationTime"}. The scope is the table, not
//     the view, even when the trigger has one: a notification only
//     starts a poll, which applies the view, so a table-wide scope misses
//     nothing and costs only a poll that finds no record. Only "add" is
//     watched, as the trigger starts Runs for created records only.
//   - recordChangeScope takes a table id (tbl...) or a view id, not a
//     name: a table param that is a name is resolved to its id by "Get
//     base schema", GET /v0/meta/bases/{baseId}/tables (the
//     schema.bases:read scope, a default one); a base that has no table
//     of that name fails Subscribe with a wiresk.FieldError on
//     params.table. The id is resolved when the trigger subscribes: a
//     table renamed later stays watched (the poll, which lists by the
//     name, fails then, as it does without instant).
//   - Renew is "Refresh a webhook": POST
//     /v0/bases/{baseId}/webhooks/{webhookId}/refresh, answered
//     {"expirationTime"}. Airtable drops a webhook 7 days after it was
//     made or last refreshed; renew a day or more before ExpiresAt. A
//     webhook without an expirationTime (null) never expires.
//   - Unsubscribe is "Delete a webhook": DELETE
//     /v0/bases/{baseId}/webhooks/{webhookId}; a 404 (gone already,
//     expired) is no error.
//   - Verify checks X-Airtable-Content-MAC: "hmac-sha256=" and the hex
//     HMAC-SHA256 of the raw body keyed with the base64-decoded
//     macSecretBase64 (airtableScheme; Airtable signs no timestamp, so a
//     replay of a signed notification is accepted: it only starts a
//     poll). The body, {"base": {"id"}, "webhook": {"id"}, "timestamp"},
//     must then name sub's webhook, or Verify answers "signature
//     mismatch".
//
// Subscribe is not idempotent: when its request is retried after Airtable
// made the webhook (a timeout, a 5xx), Airtable may hold an extra one.
// Its notifications start polls, which find nothing twice, and unrenewed
// it is gone after 7 days. Airtable sends notifications only; the trigger
// never lists the webhook's payloads (its poll reads the records), so
// Airtable's payload cursor is left to grow and expire, as it allows.
var (
	_ Subscriber = airtableNewRecord{}

	// airtableTableID matches an Airtable table id.
	airtableTableID = regexp.MustCompile(`^tbl[A-Za-z0-9]{14}$`)
	// airtableWebhookID matches an Airtable webhook id.
	airtableWebhookID = regexp.MustCompile(`^ach[A-Za-z0-9]{14}$`)
)

// airtableScheme is how Airtable signs a webhook notification.
var airtableScheme = signature.Scheme{
	Name:      "airtable",
	Algorithm: signature.SHA256,
	Header:    "X-Airtable-Content-MAC",
	Prefix:    "hmac-sha256=",
	Encoding:  signature.Hex,
	Content:   []signature.Part{signature.Body()},
}

func (s airtableNewRecord) Subscribe(ctx context.Context, in SubscribeInput) (Subscription, error) {
	p, err := airtableParamsOf(in.Params)
	if err != nil {
		return Subscription{}, err
	}
	if u, err := url.Parse(in.NotifyURL); err != nil || !u.IsAbs() || u.Host == "" {
		return Subscription{}, fmt.Errorf("airtable.new_record: subscribe: the notify URL %q is not an absolute URL", in.NotifyURL)
	}
	table, err := s.tableID(ctx, in, p)
	if err != nil {
		return Subscription{}, err
	}
	resp, err := in.Call(ctx, &catalog.Request{
		Method: http.MethodPost,
		URL:    airtableWebhooks(in.BaseURL, p.base, ""),
		Body: map[string]any{
			"notificationUrl": in.NotifyURL,
			"specification": map[string]any{"options": map[string]any{"filters": map[string]any{
				"dataTypes":         []any{"tableData"},
				"recordChangeScope": table,
				"changeTypes":       []any{"add"},
			}}},
		},
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: create a webhook: %w", err)
	}
	var out struct {
		ID             string  `json:"id"`
		MACSecret      string  `json:"macSecretBase64"`
		ExpirationTime *string `json:"expirationTime"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: create a webhook: the answer is not Airtable's JSON: %w", err)
	}
	if !airtableWebhookID.MatchString(out.ID) {
		return Subscription{}, fmt.Errorf("airtable.new_record: create a webhook: the answer has no webhook id")
	}
	secret, err := base64.StdEncoding.DecodeString(out.MACSecret)
	if err != nil || len(secret) == 0 {
		return Subscription{}, fmt.Errorf("airtable.new_record: create a webhook: webhook %s: the answer has no base64 macSecretBase64", out.ID)
	}
	exp, err := airtableExpiry(out.ExpirationTime)
	if err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: create a webhook: webhook %s: %w", out.ID, err)
	}
	return Subscription{ID: out.ID, Secret: secret, ExpiresAt: exp}, nil
}

func (airtableNewRecord) Renew(ctx context.Context, in SubscribeInput, sub Subscription) (Subscription, error) {
	p, err := airtableParamsOf(in.Params)
	if err != nil {
		return Subscription{}, err
	}
	if !airtableWebhookID.MatchString(sub.ID) {
		return Subscription{}, fmt.Errorf("airtable.new_record: refresh a webhook: %q is not an Airtable webhook id", sub.ID)
	}
	resp, err := in.Call(ctx, &catalog.Request{Method: http.MethodPost, URL: airtableWebhooks(in.BaseURL, p.base, sub.ID) + "/refresh"})
	if err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: refresh webhook %s: %w", sub.ID, err)
	}
	var out struct {
		ExpirationTime *string `json:"expirationTime"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: refresh webhook %s: the answer is not Airtable's JSON: %w", sub.ID, err)
	}
	if sub.ExpiresAt, err = airtableExpiry(out.ExpirationTime); err != nil {
		return Subscription{}, fmt.Errorf("airtable.new_record: refresh webhook %s: %w", sub.ID, err)
	}
	return sub, nil
}

func (airtableNewRecord) Unsubscribe(ctx context.Context, in SubscribeInput, sub Subscription) error {
	p, err := airtableParamsOf(in.Params)
	if err != nil {
		return err
	}
	if !airtableWebhookID.MatchString(sub.ID) {
		return fmt.Errorf("airtable.new_record: delete a webhook: %q is not an Airtable webhook id", sub.ID)
	}
	_, err = in.Call(ctx, &catalog.Request{Method: http.MethodDelete, URL: airtableWebhooks(in.BaseURL, p.base, sub.ID)})
	if e := (*appcall.Error)(nil); errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("airtable.new_record: delete webhook %s: %w", sub.ID, err)
	}
	return nil
}

func (airtableNewRecord) Verify(req signature.Request, sub Subscription, now time.Time) error {
	if err := airtableScheme.Verify(req, [][]byte{sub.Secret}, now); err != nil {
		return err
	}
	var n struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
	}
	if err := json.Unmarshal(req.Body, &n); err != nil || n.Webhook.ID != sub.ID {
		return wiresk.Errorf(wiresk.EUnauthenticated, "signature %s: the notification is not about webhook %s", signature.ReasonMismatch, sub.ID)
	}
	return nil
}

// tableID returns the id of p's table: the param itself when it is one,
// else the id "Get base schema" gives the table of that name.
func (airtableNewRecord) tableID(ctx context.Context, in SubscribeInput, p airtableParams) (string, error) {
	if airtableTableID.MatchString(p.table) {
		return p.table, nil
	}
	resp, err := in.Call(ctx, &catalog.Request{Method: http.MethodGet, URL: in.BaseURL + "/v0/meta/bases/" + url.PathEscape(p.base) + "/tables"})
	if err != nil {
		return "", fmt.Errorf("airtable.new_record: get the base schema for the id of table %q: %w", p.table, err)
	}
	var schema struct {
		Tables []struct{ ID, Name string } `json:"tables"`
	}
	if err := json.Unmarshal(resp.Body, &schema); err != nil {
		return "", fmt.Errorf("airtable.new_record: get the base schema: the answer is not Airtable's JSON: %w", err)
	}
	for _, t := range schema.Tables {
		if t.Name == p.table && airtableTableID.MatchString(t.ID) {
			return t.ID, nil
		}
	}
	return "", wiresk.FieldError("params.table", "base %s has no table named %q", p.base, p.table)
}

// airtableWebhooks is the URL of base's webhooks, or of webhook id.
func airtableWebhooks(baseURL, base, id string) string {
	u := baseURL + "/v0/bases/" + url.PathEscape(base) + "/webhooks"
	if id != "" {
		u += "/" + url.PathEscape(id)
	}
	return u
}

// airtableExpiry reads an expirationTime; null is no expiry.
func airtableExpiry(s *string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expirationTime %q is not an ISO 8601 time", *s)
	}
	return t, nil
}
