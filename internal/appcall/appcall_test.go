package appcall_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"wiresk/internal/appcall"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/testkit/apptest"
)

// env is a catalog whose apps point at their fakes.
type env struct {
	cat   *catalog.Catalog
	fakes map[string]*apptest.Fake
}

// newEnv starts a fake of every app and loads the catalog with the fakes'
// URLs as overrides (apptest.Overrides).
func newEnv(t *testing.T) *env {
	t.Helper()
	fakes := apptest.NewAll(t)
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(fakes)))
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	return &env{cat: cat, fakes: fakes}
}

// app returns the catalog app id and its fake; a catalog app without a
// fake fails the test, so that a new app must come with one.
func (e *env) app(t *testing.T, id string) (*catalog.App, *apptest.Fake) {
	t.Helper()
	app, ok := e.cat.App(id)
	if !ok {
		t.Fatalf("catalog has no app %q", id)
	}
	f, ok := e.fakes[id]
	if !ok {
		t.Fatalf("catalog app %q has no fake in internal/appcall/apptest: add one that plays its documented test endpoint", id)
	}
	return app, f
}

// eachApp runs fn in a parallel subtest for every app of the catalog.
func (e *env) eachApp(t *testing.T, fn func(t *testing.T, app *catalog.App, f *apptest.Fake)) {
	t.Helper()
	apps := e.cat.Apps()
	if len(apps) == 0 {
		t.Fatal("the catalog has no apps")
	}
	for _, app := range apps {
		t.Run(app.ID, func(t *testing.T) {
			t.Parallel()
			_, f := e.app(t, app.ID)
			fn(t, app, f)
		})
	}
}

// loopbackClient returns a client allowed to reach the fakes on
// 127.0.0.1, with short backoffs.
func loopbackClient(t *testing.T) *appcall.Client {
	t.Helper()
	guard, err := egress.NewGuard("127.0.0.0/8", "::1/128")
	if err != nil {
		t.Fatal(err)
	}
	return &appcall.Client{Engine: egress.Engine{
		Client:      egress.NewClient(guard),
		MaxAttempts: 3,
		BaseDelay:   5 * time.Millisecond,
		MaxDelay:    3 * time.Second,
		Timeout:     5 * time.Second,
	}}
}

// credential returns the credential of the kind the app takes, with
// token: an OAuth access token for OAuth apps, an API key otherwise.
func credential(app *catalog.App, token string) appcall.Credential {
	if app.Offers(catalog.AuthOAuth2) || app.Offers(catalog.AuthOAuth2Advanced) {
		return appcall.Credential{Kind: appcall.CredentialBearer, Token: token}
	}
	return appcall.Credential{Kind: appcall.CredentialAPIKey, Token: token}
}

// checkNoSecret fails the test when a secret appears in the result or in
// the error, its chain included.
func checkNoSecret(t *testing.T, res appcall.Result, err error, secrets ...string) {
	t.Helper()
	texts := []string{fmt.Sprintf("%+v", res), fmt.Sprintf("%#v", res)}
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a credential appears in %q", text)
			}
		}
	}
}

func TestEveryCatalogAppHasAFake(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range apptest.Apps() {
		have[id] = true
	}
	for _, app := range cat.Apps() {
		if !have[app.ID] {
			t.Errorf("catalog app %q has no fake in internal/appcall/apptest: add one that plays its documented test endpoint", app.ID)
		}
		delete(have, app.ID)
	}
	for id := range have {
		t.Errorf("apptest has a fake for %q, which is not in the catalog", id)
	}
}

func TestTestSucceeds(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	e.eachApp(t, func(t *testing.T, app *catalog.App, f *apptest.Fake) {
		cred := credential(app, f.Token)
		res, err := c.Test(context.Background(), app, f.Config, cred)
		if err != nil {
			t.Fatalf("Test: %v", err)
		}
		if got, want := res.OK, true; got != want {
			t.Errorf("OK = %v, want %v", got, want)
		}
		if got, want := res.Account, f.Account; got != want {
			t.Errorf("Account = %q, want %q", got, want)
		}
		if got, want := res.Attempts, 1; got != want {
			t.Errorf("Attempts = %d, want %d", got, want)
		}
		if got, want := f.Requests(), 1; got != want {
			t.Errorf("fake requests = %d, want %d", got, want)
		}
		if res.Status < 200 || res.Status > 299 {
			t.Errorf("Status = %d, want 2xx", res.Status)
		}
		if !strings.Contains(res.Message, res.Account) {
			t.Errorf("Message = %q, want it to name the account %q", res.Message, res.Account)
		}
		checkNoSecret(t, res, err, f.Token)
	})
}

func TestBadCredentialIsUnauthorized(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	e.eachApp(t, func(t *testing.T, app *catalog.App, f *apptest.Fake) {
		bad := "bad-" + app.ID + "-0123456789abcdef"
		res, err := c.Test(context.Background(), app, f.Config, credential(app, bad))
		if !errors.Is(err, appcall.ErrUnauthorized) {
			t.Fatalf("Test with a bad credential: err = %v, want ErrUnauthorized", err)
		}
		if got, want := appcall.KindOf(err), appcall.KindUnauthorized; got != want {
			t.Errorf("KindOf = %q, want %q", got, want)
		}
		if res.OK || res.Account != "" {
			t.Errorf("Result = %+v, want not OK and no account", res)
		}
		if got, want := res.Attempts, 1; got != want {
			t.Errorf("Attempts = %d, want %d (a refused credential is not retried)", got, want)
		}
		if got, want := f.Requests(), 1; got != want {
			t.Errorf("fake requests = %d, want %d", got, want)
		}
		var ae *appcall.Error
		if !errors.As(err, &ae) {
			t.Fatalf("err is %T, want *appcall.Error", err)
		}
		if got, want := ae.Status, res.Status; got != want || got == 0 {
			t.Errorf("Error.Status = %d, Result.Status = %d, want equal and set", got, want)
		}
		if got, want := ae.App, app.ID; got != want {
			t.Errorf("Error.App = %q, want %q", got, want)
		}
		if res.Message == "" {
			t.Error("Result.Message is empty")
		}
		checkNoSecret(t, res, err, bad, f.Token)
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	// The calls wait a second each: make them all at once rather than
	// within the parallel subtests, which run only GOMAXPROCS at a time.
	type outcome struct {
		res     appcall.Result
		err     error
		elapsed time.Duration
	}
	apps := e.cat.Apps()
	outcomes := make([]outcome, len(apps))
	var wg sync.WaitGroup
	for i, app := range apps {
		f, ok := e.fakes[app.ID]
		if !ok {
			continue // reported below
		}
		f.Throttle(1, "1")
		wg.Go(func() {
			start := time.Now()
			res, err := c.Test(context.Background(), app, f.Config, credential(app, f.Token))
			outcomes[i] = outcome{res, err, time.Since(start)}
		})
	}
	wg.Wait()
	for i, app := range apps {
		t.Run(app.ID, func(t *testing.T) {
			_, f := e.app(t, app.ID)
			o := outcomes[i]
			if o.err != nil {
				t.Fatalf("Test after one 429: %v", o.err)
			}
			if got, want := o.res.Account, f.Account; got != want {
				t.Errorf("Account = %q, want %q", got, want)
			}
			if got, want := o.res.Attempts, 2; got != want {
				t.Errorf("Attempts = %d, want %d", got, want)
			}
			if got, want := f.Requests(), 2; got != want {
				t.Errorf("fake requests = %d, want %d", got, want)
			}
			if o.elapsed < 950*time.Millisecond || o.elapsed > 10*time.Second {
				t.Errorf("Test took %v, want about the 1s Retry-After asked for", o.elapsed)
			}
			checkNoSecret(t, o.res, o.err, f.Token)
		})
	}
}

func TestRateLimitedAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	e.eachApp(t, func(t *testing.T, app *catalog.App, f *apptest.Fake) {
		f.Throttle(-1, "")
		res, err := c.Test(context.Background(), app, f.Config, credential(app, f.Token))
		if !errors.Is(err, appcall.ErrRateLimited) {
			t.Fatalf("Test against a fake that always answers 429: err = %v, want ErrRateLimited", err)
		}
		if got, want := res.Attempts, c.MaxAttempts; got != want {
			t.Errorf("Attempts = %d, want %d", got, want)
		}
		if got, want := f.Requests(), c.MaxAttempts; got != want {
			t.Errorf("fake requests = %d, want %d", got, want)
		}
		if got, want := res.Status, http.StatusTooManyRequests; got != want {
			t.Errorf("Status = %d, want %d", got, want)
		}
		var ae *appcall.Error
		if !errors.As(err, &ae) || ae.Attempts != c.MaxAttempts {
			t.Errorf("err = %#v, want an *appcall.Error with Attempts %d", err, c.MaxAttempts)
		}
		if res.OK {
			t.Error("OK = true, want false")
		}
		checkNoSecret(t, res, err, f.Token)
	})
}

func TestGuardRefusesPrivateAddresses(t *testing.T) {
	e := newEnv(t)
	c := &appcall.Client{Engine: egress.Engine{MaxAttempts: 3, BaseDelay: time.Millisecond}} // default guard: no loopback
	e.eachApp(t, func(t *testing.T, app *catalog.App, f *apptest.Fake) {
		res, err := c.Test(context.Background(), app, f.Config, credential(app, f.Token))
		var refused *egress.RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("Test of a loopback server with the default guard: err = %v, want a *egress.RefusedError", err)
		}
		if !errors.Is(err, appcall.ErrPermanent) {
			t.Errorf("err = %v, want it permanent", err)
		}
		if got, want := res.Attempts, 1; got != want {
			t.Errorf("Attempts = %d, want %d (a refused destination is not retried)", got, want)
		}
		if got, want := f.Requests(), 0; got != want {
			t.Errorf("fake requests = %d, want %d", got, want)
		}
		if !strings.Contains(res.Message, egress.AllowEnv) {
			t.Errorf("Message = %q, want it to say how to allow the address (%s)", res.Message, egress.AllowEnv)
		}
		checkNoSecret(t, res, err, f.Token)
	})
}

func TestExpiredTokenIsUnauthorized(t *testing.T) {
	e := newEnv(t)
	c := loopbackClient(t)
	e.eachApp(t, func(t *testing.T, app *catalog.App, f *apptest.Fake) {
		expired, ok := f.Tokens[apptest.Expired]
		if !ok {
			return // the app's credentials do not expire (API keys)
		}
		res, err := c.Test(context.Background(), app, f.Config, credential(app, expired))
		if !errors.Is(err, appcall.ErrUnauthorized) {
			t.Fatalf("Test with an expired token: err = %v, want ErrUnauthorized", err)
		}
		if got, want := res.Attempts, 1; got != want {
			t.Errorf("Attempts = %d, want %d", got, want)
		}
		checkNoSecret(t, res, err, expired)
	})
}

func TestAuthenticate(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	httpApp, _ := cat.App("http")
	mandrill, _ := cat.App("mailchimp_transactional")
	cases := []struct {
		name    string
		app     *catalog.App
		config  map[string]string
		cred    appcall.Credential
		header  string
		want    string
		wantErr bool
	}{
		{"custom header", httpApp, map[string]string{"base_url": "https://api.example.com", "header_name": "X-API-Key", "header_prefix": ""},
			appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "k-123"}, "X-API-Key", "k-123", false},
		{"default bearer header", httpApp, map[string]string{"base_url": "https://api.example.com"},
			appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "k-123"}, "Authorization", "Bearer k-123", false},
		{"basic", httpApp, map[string]string{"base_url": "https://api.example.com"},
			appcall.Credential{Kind: appcall.CredentialBasic, Username: "ada", Password: "pw"}, "Authorization", "Basic YWRhOnB3", false},
		{"body field refused", mandrill, nil, appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "k-123"}, "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			u, _ := url.Parse("https://api.example.com/x")
			err := appcall.Authenticate(c.app, c.config, c.cred, h, u)
			if c.wantErr {
				if err == nil || strings.Contains(err.Error(), "k-123") {
					t.Fatalf("err = %v, want a refusal that does not quote the key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Get(c.header); got != c.want {
				t.Errorf("%s = %q, want %q", c.header, got, c.want)
			}
		})
	}
}
