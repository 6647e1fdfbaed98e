package step_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"wiresk/internal/step"
)

func TestAuthenticatorAddsTheCredential(t *testing.T) {
	srv, rec := serve(t, status(200, `{"ok":true}`))
	ctx := step.WithAuthenticator(t.Context(), func(h http.Header, u *url.URL) error {
		h.Set("X-API-Key", "secret-key-1")
		q := u.Query()
		q.Set("token", "secret-2")
		u.RawQuery = q.Encode()
		return nil
	})
	if _, err := newKind(t).Execute(ctx, map[string]any{"url": srv.URL + "/x?a=1"}); err != nil {
		t.Fatal(err)
	}
	r := rec.reqs[0]
	if got := r.Header.Get("X-API-Key"); got != "secret-key-1" {
		t.Errorf("X-API-Key = %q, want the credential", got)
	}
	if got := r.URL.Query(); got.Get("token") != "secret-2" || got.Get("a") != "1" {
		t.Errorf("query = %v, want a=1 and the token", got)
	}
}

func TestAuthenticatorErrorFailsTheStepPermanently(t *testing.T) {
	srv, rec := serve(t, status(200, `{}`))
	ctx := step.WithAuthenticator(t.Context(), func(http.Header, *url.URL) error { return errors.New("the credential goes in the JSON body") })
	_, err := newKind(t).Execute(ctx, map[string]any{"url": srv.URL})
	if err == nil || !step.IsPermanent(err) || !strings.Contains(err.Error(), "connection:") || rec.count() != 0 {
		t.Fatalf("err = %v after %d requests, want a permanent connection error and no request", err, rec.count())
	}
}

func TestCredentialNeverFollowsARedirectToAnotherHost(t *testing.T) {
	other, otherRec := serve(t, status(200, `{}`))
	// The same server under another host name: 127.0.0.1 vs localhost.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) })
	ctx := step.WithAuthenticator(t.Context(), func(h http.Header, _ *url.URL) error { h.Set("X-API-Key", "secret"); return nil })
	_, err := newKind(t).Execute(ctx, map[string]any{"url": srv.URL})
	if err == nil || !strings.Contains(err.Error(), "another host") || otherRec.count() != 0 {
		t.Fatalf("err = %v, other host got %d requests; want the redirect refused", err, otherRec.count())
	}
	// Without a credential the same redirect is followed.
	if _, err := newKind(t).Execute(t.Context(), map[string]any{"url": srv.URL}); err != nil || otherRec.count() != 1 {
		t.Fatalf("without a credential: err = %v, other host got %d requests; want it followed", err, otherRec.count())
	}
}

func TestRedirectRefusedByPolicyIsPermanent(t *testing.T) {
	other, _ := serve(t, status(200, `{}`))
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name string
		to   string
		ctx  context.Context
	}{
		{"credential to another host", target, step.WithAuthenticator(t.Context(), func(h http.Header, _ *url.URL) error { h.Set("X-API-Key", "secret"); return nil })},
		{"not http", "ftp://files.example/x", t.Context()},
	}
	for _, tt := range tests {
		srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, tt.to, http.StatusFound) })
		res, err := newKind(t).Execute(tt.ctx, map[string]any{"url": srv.URL})
		if err == nil || !step.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent failure", tt.name, err)
		}
		if res.Attempts != 1 || rec.count() != 1 {
			t.Errorf("%s: Attempts = %d, requests = %d, want 1 and 1 (not retried)", tt.name, res.Attempts, rec.count())
		}
	}
}
