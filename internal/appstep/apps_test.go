package appstep_test

import (
	"encoding/json"
	"errors"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/appstep"
	"wiresk/internal/catalog"
	"wiresk/internal/egress"
	"wiresk/internal/step"
	"wiresk/internal/testkit/apptest"
)

// mustApp starts the fake of the catalog app id and returns a registry of
// every catalog method, with that app pointed at its fake, and the fake.
// Rate limits are retried without waiting more than a millisecond.
func mustApp(t *testing.T, id string) (step.Registry, *apptest.Fake) {
	t.Helper()
	f, ok := apptest.New(t, id)
	if !ok {
		t.Fatalf("no fake for app %s", id)
	}
	cat, err := catalog.Load(catalog.WithOverrides(apptest.Overrides(map[string]*apptest.Fake{id: f})))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := egress.NewGuard("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	reg := step.Registry{}
	if err := appstep.Register(reg, cat, &appcall.Client{Engine: egress.Engine{Client: egress.NewClient(guard), MaxDelay: 1}}); err != nil {
		t.Fatal(err)
	}
	return reg, f
}

// connectionTo returns a Connection to f's app with the credential f
// accepts (an OAuth access token, or the API key for apps that only take
// keys) and f's config.
func connectionTo(f *apptest.Fake, kind appcall.CredentialKind) step.Connection {
	return step.Connection{ID: "con_" + f.App, App: f.App, Config: f.Config, Credential: appcall.Credential{Kind: kind, Token: f.Token}}
}

// execute runs the app's method with input through conn and returns its
// output as a map.
func execute(t *testing.T, reg step.Registry, conn step.Connection, method string, input map[string]any) (map[string]any, int, error) {
	t.Helper()
	out, attempts, err := reg.Execute(step.WithConnection(t.Context(), conn), conn.App, method, input)
	m, _ := out.(map[string]any)
	return m, attempts, err
}

// mustJSON decodes a request body the fake received.
func mustJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("request body %q: %v", body, err)
	}
	return v
}

// sameJSON reports whether got and want encode to the same JSON.
func sameJSON(t *testing.T, got, want any) bool {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(g) == string(w)
}

// mustOne returns the one request the fake received on route.
func mustOne(t *testing.T, f *apptest.Fake, route string) apptest.Request {
	t.Helper()
	got := f.Received(route)
	if len(got) != 1 {
		t.Fatalf("%s received %d requests %q, want 1 (all: %d)", f.App, len(got), route, len(f.Received("")))
	}
	return got[0]
}

// mustStepError returns err as a *step.Error.
func mustStepError(t *testing.T, err error) *step.Error {
	t.Helper()
	var se *step.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want a *step.Error", err, err)
	}
	return se
}
