package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestByDomainBoundsItsCache(t *testing.T) {
	built := 0
	b := ByDomain(func(string) http.Handler { built++; return http.NotFoundHandler() }).(*byDomain)
	// 2*maxDomains distinct domains, then the first maxDomains again: only
	// the first maxDomains are kept, and reused.
	for i := range 3 * maxDomains {
		b.handler("https://d" + strings.Repeat("x", i%(2*maxDomains)))
	}
	if got, want := len(b.byURL), maxDomains; got != want {
		t.Errorf("cached handlers: got %d, want %d", got, want)
	}
	if got, want := built, 2*maxDomains; got != want {
		t.Errorf("handlers built: got %d, want %d (cached domains are reused)", got, want)
	}
}

func TestByDomainUsesTheRequestDomain(t *testing.T) {
	var got string
	h := ByDomain(func(public string) http.Handler {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = public })
	})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://api.example.com/x", nil))
	if want := "https://api.example.com"; got != want {
		t.Errorf("public URL: got %q, want %q", got, want)
	}
}

func TestLazyRetriesAfterAFailure(t *testing.T) {
	calls := 0
	h := Lazy("the key", func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", errors.New("vault down")
		}
		return "k", nil
	}, func(v string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(v)) })
	}, nil)
	for i, want := range []struct {
		status int
		body   string
	}{{503, "the key could not be loaded"}, {200, "k"}, {200, "k"}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != want.status || !strings.Contains(rec.Body.String(), want.body) {
			t.Errorf("request %d: got %d %s, want %d %s", i, rec.Code, rec.Body, want.status, want.body)
		}
	}
	if calls != 2 {
		t.Errorf("loads: got %d, want 2 (once failed, once for good)", calls)
	}
}

func TestURLChecks(t *testing.T) {
	for _, c := range []struct {
		s          string
		abs, based bool
	}{
		{"https://api.example.com", true, true},
		{"http://127.0.0.1:8080/base", true, true},
		{"https://api.example.com/?q=1", true, false},
		{"https://user:pw@api.example.com", false, false},
		{"ftp://x", false, false},
		{"/relative", false, false},
	} {
		if AbsoluteURL(c.s) != c.abs || BaseURL(c.s) != c.based {
			t.Errorf("%q: AbsoluteURL %v BaseURL %v, want %v %v", c.s, AbsoluteURL(c.s), BaseURL(c.s), c.abs, c.based)
		}
	}
}
