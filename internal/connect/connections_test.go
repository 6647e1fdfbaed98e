package connect_test

import (
	"slices"
	"testing"

	"wiresk/internal/auth"
	"wiresk/internal/connect"
	"wiresk/internal/wiresk"
)

// TestConnectionsAccess: every Connections use case asks the one access
// check first. A user outside the Group gets not_found (the Group cannot
// be probed) and changes nothing; a member through the token's groups
// claim is let in.
func TestConnectionsAccess(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	conns := connect.New(e.svc.Config).Connections
	v, err := conns.Create(ctx, e.owner, e.groupID, connect.CreateInput{Name: "OpenAI", App: "openai", APIKey: e.openai.Token})
	if err != nil {
		t.Fatal(err)
	}
	renamed := "Renamed"
	calls := []struct {
		name string
		do   func(who auth.Identity) error
	}{
		{"List", func(who auth.Identity) error { _, err := conns.List(ctx, who, e.groupID); return err }},
		{"Get", func(who auth.Identity) error { _, err := conns.Get(ctx, who, e.groupID, v.ID); return err }},
		{"Audit", func(who auth.Identity) error { _, err := conns.Audit(ctx, who, e.groupID, v.ID, 0); return err }},
		{"Test", func(who auth.Identity) error { _, err := conns.Test(ctx, who, e.groupID, v.ID); return err }},
		{"Update", func(who auth.Identity) error {
			_, err := conns.Update(ctx, who, e.groupID, v.ID, connect.UpdateInput{Name: &renamed})
			return err
		}},
	}
	claim := auth.Identity{UserID: "user-claim", Groups: []string{e.groupID}}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if got, want := wiresk.ErrorCode(c.do(e.stranger)), wiresk.ENotFound; got != want {
				t.Errorf("as an outsider: code %q, want %q", got, want)
			}
			if err := c.do(claim); err != nil {
				t.Errorf("as a member by the groups claim: %v, want no error", err)
			}
		})
	}

	// An outsider cannot delete it, nor reach it through their own Group.
	wantCode(t, conns.Delete(ctx, e.stranger, e.groupID, v.ID), wiresk.ENotFound, "")
	_, err = conns.Get(ctx, e.stranger, e.otherGroupID, v.ID)
	wantCode(t, err, wiresk.ENotFound, "")
	if got, want := e.conn(v.ID).Name, renamed; got != want {
		t.Errorf("name = %q, want %q (the member's edit, no one else's)", got, want)
	}
}

// TestConnectionsApps: the apps Connections are made for are the catalog's;
// use cases wired without a catalog fail with an internal error (500), not
// a client error.
func TestConnectionsApps(t *testing.T) {
	e := newEnv(t)
	apps, err := connect.New(e.svc.Config).Connections.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	for _, want := range []string{"openai", "idp"} {
		if !slices.Contains(ids, want) {
			t.Errorf("apps %v, want %s among them", ids, want)
		}
	}

	cfg := e.svc.Config
	cfg.Catalog = nil
	_, err = connect.New(cfg).Connections.Apps()
	if got, want := wiresk.ErrorCode(err), wiresk.EInternal; got != want {
		t.Errorf("Apps without a catalog: code %q, want %q (%v)", got, want, err)
	}
}
