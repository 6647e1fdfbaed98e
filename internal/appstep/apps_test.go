package appstep_test

import (
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
