package poll_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/poll"
	"wiresk/internal/signature"
	"wiresk/internal/testkit/apptest"
	"wiresk/internal/wiresk"
)

// airtablePush is an airtable.new_record poller with its Subscriber and
// a receiver of the fake's notifications.
type airtablePush struct {
	*airtablePoller
	sub      poll.Subscriber
	in       poll.SubscribeInput
	received chan signature.Request
}

func newAirtablePush(t *testing.T, params map[string]string) *airtablePush {
	t.Helper()
	p := newAirtablePoller(t, params)
	sub, ok := p.source.(poll.Subscriber)
	if !ok {
		t.Fatal("airtable.new_record is not a Subscriber")
	}
	got := make(chan signature.Request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- signature.Request{Method: r.Method, URL: "http://" + r.Host + r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	p.a.SetNow(airtableNow)
	return &airtablePush{
		airtablePoller: p, sub: sub, received: got,
		in: poll.SubscribeInput{Call: p.in.Call, BaseURL: p.in.BaseURL, Params: p.in.Params, NotifyURL: srv.URL + "/hooks/trg_1"},
	}
}

func (p *airtablePush) subscribe() poll.Subscription {
	p.t.Helper()
	p.in.Call = p.airtablePoller.in.Call
	s, err := p.sub.Subscribe(p.t.Context(), p.in)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// notify makes the fake notify webhook id and returns the request as
// the receiver got it.
func (p *airtablePush) notify(id string) signature.Request {
	p.t.Helper()
	n, err := p.a.Notify(id)
	if err != nil {
		p.t.Fatal(err)
	}
	if n.Status != http.StatusNoContent {
		p.t.Fatalf("notify: the receiver answered %d", n.Status)
	}
	return <-p.received
}

func TestAirtableSubscribe(t *testing.T) {
	for _, tc := range []struct{ name, table, scope string }{
		{"table id", apptest.AirtableTableID, apptest.AirtableTableID},
		{"table name", apptest.AirtableTableName, apptest.AirtableTableID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newAirtablePush(t, map[string]string{"table": tc.table, "view": apptest.AirtableView})
			s := p.subscribe()
			hooks := p.a.Webhooks()
			if len(hooks) != 1 {
				t.Fatalf("the fake holds %d webhooks, want 1", len(hooks))
			}
			h := hooks[0]
			want := map[string]any{"options": map[string]any{"filters": map[string]any{
				"dataTypes": []any{"tableData"}, "recordChangeScope": tc.scope, "changeTypes": []any{"add"},
			}}}
			if !reflect.DeepEqual(h.Specification, want) {
				t.Errorf("specification = %v, want %v", h.Specification, want)
			}
			if h.NotificationURL != p.in.NotifyURL || h.Base != apptest.AirtableBaseID {
				t.Errorf("webhook = %+v, want notification URL %s in base %s", h, p.in.NotifyURL, apptest.AirtableBaseID)
			}
			if s.ID != h.ID || string(s.Secret) != string(h.MACSecret) {
				t.Errorf("subscription %v is not webhook %s with its secret", s, h.ID)
			}
			if wantExp := airtableNow.Add(apptest.AirtableWebhookLife).Truncate(time.Millisecond); !s.ExpiresAt.Equal(wantExp) {
				t.Errorf("ExpiresAt = %v, want %v", s.ExpiresAt, wantExp)
			}
		})
	}
}

func TestAirtableSubscribeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		notify string
		field  string
	}{
		{"unknown table name", map[string]string{"table": "Nope"}, "https://hooks.example/x", "params.table"},
		{"unknown param", map[string]string{"table": apptest.AirtableTableID, "colour": "red"}, "https://hooks.example/x", "params.colour"},
		{"relative notify URL", map[string]string{"table": apptest.AirtableTableID}, "/hooks/x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newAirtablePush(t, tc.params)
			p.in.NotifyURL = tc.notify
			_, err := p.sub.Subscribe(t.Context(), p.in)
			var we *wiresk.Error
			switch {
			case err == nil:
				t.Fatal("Subscribe succeeded")
			case tc.field != "" && (!errors.As(err, &we) || we.Field != tc.field):
				t.Errorf("Subscribe: %v, want a field error on %s", err, tc.field)
			}
			if n := len(p.a.Webhooks()); n != 0 {
				t.Errorf("the fake holds %d webhooks", n)
			}
		})
	}
}

func TestAirtableRenewAndUnsubscribe(t *testing.T) {
	p := newAirtablePush(t, map[string]string{"table": apptest.AirtableTableID})
	s := p.subscribe()
	later := airtableNow.Add(5 * 24 * time.Hour)
	p.a.SetNow(later)
	r, err := p.sub.Renew(t.Context(), p.in, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := later.Add(apptest.AirtableWebhookLife).Truncate(time.Millisecond); !r.ExpiresAt.Equal(want) || !r.ExpiresAt.After(s.ExpiresAt) {
		t.Errorf("renewed ExpiresAt = %v, want %v", r.ExpiresAt, want)
	}
	if r.ID != s.ID || string(r.Secret) != string(s.Secret) {
		t.Errorf("Renew changed the ID or the secret: %v", r)
	}
	if h := p.a.Webhooks(); len(h) != 1 || h[0].Refreshes != 1 {
		t.Errorf("webhooks = %+v, want one refreshed once", h)
	}
	for i := range 2 {
		if err := p.sub.Unsubscribe(t.Context(), p.in, r); err != nil {
			t.Fatalf("unsubscribe %d: %v", i+1, err)
		}
		if h := p.a.Webhooks(); len(h) != 0 {
			t.Fatalf("after unsubscribe %d the fake holds %v", i+1, h)
		}
	}
	var ae *appcall.Error
	if _, err := p.sub.Renew(t.Context(), p.in, r); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("renew of a deleted webhook: %v, want a 404 *appcall.Error", err)
	}
}

func TestAirtableRenewExpired(t *testing.T) {
	p := newAirtablePush(t, map[string]string{"table": apptest.AirtableTableID})
	s := p.subscribe()
	p.a.SetNow(s.ExpiresAt.Add(time.Second))
	var ae *appcall.Error
	if _, err := p.sub.Renew(t.Context(), p.in, s); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("renew of an expired webhook: %v, want a 404 *appcall.Error", err)
	}
	if err := p.sub.Unsubscribe(t.Context(), p.in, s); err != nil {
		t.Errorf("unsubscribe of an expired webhook: %v", err)
	}
}

func TestAirtableVerify(t *testing.T) {
	p := newAirtablePush(t, map[string]string{"table": apptest.AirtableTableID})
	s := p.subscribe()
	other := p.subscribe()
	p.seed()
	p.a.AddRecord(apptest.AirtableBaseID, apptest.AirtableTableID, map[string]any{"Name": "Alan Turing"}, airtableNow.Add(time.Minute))
	req := p.notify(s.ID)
	if err := p.sub.Verify(req, s, airtableNow); err != nil {
		t.Fatalf("Verify of the fake's notification: %v", err)
	}
	otherReq := p.notify(other.ID)
	for _, tc := range []struct {
		name   string
		req    func() signature.Request
		sub    poll.Subscription
		reason string
	}{
		{"tampered body", func() signature.Request {
			r := req
			r.Body = []byte(strings.Replace(string(r.Body), s.ID, other.ID, 1))
			return r
		}, s, signature.ReasonMismatch},
		{"another webhook's secret", func() signature.Request { return req }, other, signature.ReasonMismatch},
		{"another webhook's notification, signed", func() signature.Request {
			r := otherReq
			r.Header = r.Header.Clone()
			r.Header.Set("X-Airtable-Content-MAC", req.Header.Get("X-Airtable-Content-MAC"))
			return r
		}, s, signature.ReasonMismatch},
		{"no header", func() signature.Request {
			r := req
			r.Header = r.Header.Clone()
			r.Header.Del("X-Airtable-Content-MAC")
			return r
		}, s, signature.ReasonMissing},
		{"no prefix", func() signature.Request {
			r := req
			r.Header = r.Header.Clone()
			r.Header.Set("X-Airtable-Content-MAC", strings.TrimPrefix(r.Header.Get("X-Airtable-Content-MAC"), "hmac-sha256="))
			return r
		}, s, signature.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.sub.Verify(tc.req(), tc.sub, airtableNow)
			if got := signature.Reason(err); got != tc.reason {
				t.Errorf("Verify: %v (reason %q), want reason %q", err, got, tc.reason)
			}
		})
	}
	// The notification only starts a poll: the poll finds the record.
	if ids := p.drain(10); len(ids) != 1 {
		t.Errorf("the poll after a notification found %v, want the new record", ids)
	}
}

func TestAirtableSubscribeUnauthenticated(t *testing.T) {
	p := newAirtablePush(t, map[string]string{"table": apptest.AirtableTableID})
	p.useToken("patWrong.token")
	p.in.Call = p.airtablePoller.in.Call
	s := poll.Subscription{ID: "ach00000000000001", Secret: []byte("x")}
	for name, call := range map[string]func() error{
		"subscribe":   func() error { _, err := p.sub.Subscribe(t.Context(), p.in); return err },
		"renew":       func() error { _, err := p.sub.Renew(t.Context(), p.in, s); return err },
		"unsubscribe": func() error { return p.sub.Unsubscribe(t.Context(), p.in, s) },
	} {
		var ae *appcall.Error
		if err := call(); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Errorf("%s with a bad token: %v, want a 401 *appcall.Error", name, err)
		}
	}
}

func TestSubscriptionRedactsSecret(t *testing.T) {
	secret := "s3cr3t-mac-key"
	s := poll.Subscription{ID: "ach00000000000001", Secret: []byte(secret), ExpiresAt: airtableNow}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) || strings.Contains(out, fmt.Sprint([]byte(secret))) {
			t.Errorf("%s shows the secret: %s", verb, out)
		}
	}
	if out := fmt.Sprintf("%+v", struct{ Sub poll.Subscription }{s}); strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint([]byte(secret))) {
		t.Errorf("a struct holding it shows the secret: %s", out)
	}
	if !strings.Contains(s.String(), s.ID) {
		t.Errorf("String() = %s, want the ID", s)
	}
}
