package dynamo_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/connection"
	"wiresk/internal/dynamo"
	"wiresk/internal/testkit/storetest"
)

// attrNames returns the attribute names of item, nested map keys included.
func attrNames(item map[string]types.AttributeValue) []string {
	var out []string
	var walk func(av types.AttributeValue)
	walk = func(av types.AttributeValue) {
		switch v := av.(type) {
		case *types.AttributeValueMemberM:
			for k, e := range v.Value {
				out = append(out, k)
				walk(e)
			}
		case *types.AttributeValueMemberL:
			for _, e := range v.Value {
				walk(e)
			}
		}
	}
	for k, av := range item {
		out = append(out, k)
		walk(av)
	}
	return out
}

func num(av types.AttributeValue) int64 {
	n, _ := av.(*types.AttributeValueMemberN)
	if n == nil {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

var (
	atPattern  = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z`
	dueSK      = regexp.MustCompile(`^` + atPattern + `#grp_a#con_[0-9a-z]{26}$`)
	auditSK    = regexp.MustCompile(`^AUDIT#` + atPattern + `#aud_[0-9a-z]{26}$`)
	stateKey   = regexp.MustCompile(`^OAUTHSTATE#[0-9a-f]{64}$`)
	leaseTimes = regexp.MustCompile(`^` + atPattern + `$`)
)

// TestConnectionItems checks the shape of the Connection items after a
// lifecycle: a type on each, keys as documented, ttl on OAuth states and
// leases, and no attribute named like a secret.
func TestConnectionItems(t *testing.T) {
	s, client, table := newStore(t, dynamo.Options{})
	storetest.ConnectionLifecycle(t, s)
	seen := map[string]int{}
	for _, it := range scan(t, client, table) {
		typ, pk, sk := str(it["type"]), str(it["PK"]), str(it["SK"])
		seen[typ]++
		for _, name := range attrNames(it) {
			if storetest.SecretLikeName(name) {
				t.Errorf("%s item %s/%s has an attribute named %q", typ, pk, sk, name)
			}
		}
		switch typ {
		case "connection":
			if !strings.HasPrefix(pk, "GROUP#grp_a") || !strings.HasPrefix(sk, "CONNECTION#con_") {
				t.Errorf("connection keys = %s/%s, want GROUP#grp_a/CONNECTION#con_…", pk, sk)
			}
			if _, ok := it["config"].(*types.AttributeValueMemberM); !ok {
				t.Errorf("connection config = %#v, want a map", it["config"])
			}
			if got, want := str(it["status"]), "active"; got != want {
				t.Errorf("connection status = %q, want %q", got, want)
			}
			if got, want := str(it["GSI1PK"]), "DUE"; got != want {
				t.Errorf("connection GSI1PK = %q, want %q", got, want)
			}
			if !dueSK.MatchString(str(it["GSI1SK"])) {
				t.Errorf("connection GSI1SK = %q, want <dueAt>#grp_a#<id>", str(it["GSI1SK"]))
			}
			if it["ttl"] != nil {
				t.Errorf("connection has a ttl: %#v", it["ttl"])
			}
		case "oauth_state":
			if !stateKey.MatchString(pk) || sk != "OAUTHSTATE" {
				t.Errorf("oauth_state keys = %s/%s, want OAUTHSTATE#<sha256>/OAUTHSTATE", pk, sk)
			}
			exp, err := time.Parse(time.RFC3339Nano, str(it["expiresAt"]))
			must(t, err)
			if got, want := num(it["ttl"]), exp.Unix(); got < want || got > want+1 {
				t.Errorf("oauth_state ttl = %d, want %d (its expiry)", got, want)
			}
		case "lease":
			if !strings.HasPrefix(pk, "LEASE#connection-refresh/con_") || sk != "LEASE" || str(it["holder"]) != "worker-1" {
				t.Errorf("lease item = %v", it)
			}
			if !leaseTimes.MatchString(str(it["expiresAt"])) {
				t.Errorf("lease expiresAt = %q, want a fixed-width time", str(it["expiresAt"]))
			}
			if num(it["ttl"]) < time.Now().Unix() {
				t.Errorf("lease ttl = %d, want its expiry, in the future", num(it["ttl"]))
			}
		case "audit":
			if !strings.HasPrefix(pk, "CONNECTION#grp_a#con_") || !auditSK.MatchString(sk) {
				t.Errorf("audit keys = %s/%s, want CONNECTION#grp_a#<id>/AUDIT#<at>#<unique>", pk, sk)
			}
		default:
			t.Errorf("unexpected item type %q (%s/%s)", typ, pk, sk)
		}
	}
	want := map[string]int{"connection": 2, "oauth_state": 1, "lease": 1, "audit": 3}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("items by type = %v, want %v", seen, want)
	}
}

// TestConnectionCalls checks the DynamoDB calls behind the Connection
// operations: single-item conditional writes, and Queries (never a Scan).
func TestConnectionCalls(t *testing.T) {
	counter := &opCounter{}
	client := newClient(counter.register)
	s := dynamo.New(client, newTable(t, client), dynamo.Options{})
	ctx := t.Context()
	c := storetest.NewConnection("grp_a", "con_1")
	_, st := connection.NewOAuthState("grp_a", "con_1", "u1", "https://wiresk.example/cb", time.Now())
	event := connection.AuditEvent{ConnectionID: "con_1", GroupID: "grp_a", At: time.Now(), Actor: "u1", Event: connection.EventCreated}
	cases := []struct {
		name  string
		call  func() error
		want  string
		check func(in any) error
	}{
		{"CreateConnection", func() error { return s.CreateConnection(ctx, c) }, "PutItem", conditioned},
		{"UpdateConnection", func() error { c.Version++; return s.UpdateConnection(ctx, c) }, "PutItem", conditioned},
		{"GetConnection", func() error { _, err := s.GetConnection(ctx, "grp_a", "con_1"); return err }, "GetItem", nil},
		{"ListConnections", func() error { _, err := s.ListConnections(ctx, "grp_a"); return err }, "Query", nil},
		{"ListConnectionsDue", func() error { _, err := s.ListConnectionsDue(ctx, time.Now()); return err }, "Query", func(in any) error {
			if q := in.(*dynamodb.QueryInput); aws.ToString(q.IndexName) != "GSI1" {
				return fmt.Errorf("index = %q, want GSI1", aws.ToString(q.IndexName))
			}
			return nil
		}},
		{"PutOAuthState", func() error { return s.PutOAuthState(ctx, st) }, "PutItem", conditioned},
		{"TakeOAuthState", func() error { _, err := s.TakeOAuthState(ctx, st.ID); return err }, "DeleteItem", func(in any) error {
			if d := in.(*dynamodb.DeleteItemInput); d.ReturnValues != types.ReturnValueAllOld || d.ConditionExpression == nil {
				return fmt.Errorf("ReturnValues = %q, condition %v; want ALL_OLD and a condition", d.ReturnValues, d.ConditionExpression)
			}
			return nil
		}},
		{"AcquireLease", func() error { _, err := s.AcquireLease(ctx, "l", "h", time.Minute); return err }, "PutItem", conditioned},
		{"ReleaseLease", func() error { return s.ReleaseLease(ctx, "l", "h") }, "DeleteItem", nil},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, event) }, "PutItem", nil},
		{"ListAudit", func() error { _, err := s.ListAudit(ctx, "grp_a", "con_1", 5); return err }, "Query", func(in any) error {
			if q := in.(*dynamodb.QueryInput); aws.ToBool(q.ScanIndexForward) || aws.ToInt32(q.Limit) != 5 || !aws.ToBool(q.ConsistentRead) {
				return fmt.Errorf("forward = %v, limit %d, consistent %v; want backwards, 5, consistent",
					aws.ToBool(q.ScanIndexForward), aws.ToInt32(q.Limit), aws.ToBool(q.ConsistentRead))
			}
			return nil
		}},
		{"DeleteConnection", func() error { return s.DeleteConnection(ctx, "grp_a", "con_1") }, "DeleteItem", nil},
	}
	for _, c := range cases {
		counter.reset()
		must(t, c.call())
		ops, _, inputs := counter.snapshot()
		if !slices.Equal(ops, []string{c.want}) {
			t.Errorf("%s made %v, want [%s]", c.name, ops, c.want)
			continue
		}
		if c.check != nil {
			if err := c.check(inputs[0]); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}
}

// conditioned checks that a PutItem has a condition.
func conditioned(in any) error {
	if p := in.(*dynamodb.PutItemInput); p.ConditionExpression == nil {
		return fmt.Errorf("PutItem without a condition")
	}
	return nil
}
