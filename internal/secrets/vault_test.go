package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/secrets"
	"wiresk/internal/testkit/smtest"
	"wiresk/internal/testkit/vaulttest"
	"wiresk/internal/wiresk"
)

var _ vaulttest.Vault = (*secrets.Vault)(nil)

const prefix = "wiresk/test"

// newVault returns a vault with opts on srv, or fails the test.
func newVault(t *testing.T, srv *smtest.Server, opts secrets.Options) *secrets.Vault {
	t.Helper()
	v, err := secrets.New(srv.Client(), prefix, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustPut(t *testing.T, v *secrets.Vault, name, value string) {
	t.Helper()
	if err := v.Put(t.Context(), name, []byte(value)); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

func mustGet(t *testing.T, v *secrets.Vault, name, want string) {
	t.Helper()
	got, err := v.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	if string(got) != want {
		t.Errorf("Get(%q) = %q, want %q", name, got, want)
	}
}

func TestContract(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vaulttest.Vault {
		return newVault(t, smtest.NewServer(t), secrets.Options{})
	})
}

func TestContractWithoutCache(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vaulttest.Vault {
		return newVault(t, smtest.NewServer(t), secrets.Options{CacheTTL: -1})
	})
}

func TestNamesCarryPrefix(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{})
	mustPut(t, v, "connections/con_01JD", "xoxb-token-value-1")
	mustPut(t, v, "apps/slack", "client-secret-value-2")

	for _, name := range []string{"wiresk/test/connections/con_01JD", "wiresk/test/apps/slack"} {
		if exists, _, _ := srv.Secret(name); !exists {
			t.Errorf("Secret(%q) exists = false, want true", name)
		}
	}
	if exists, _, _ := srv.Secret("connections/con_01JD"); exists {
		t.Errorf("Secret(%q) exists = true, want false: the name lacks the prefix", "connections/con_01JD")
	}
	got, err := v.SecretName("connections/con_01JD")
	if want := "wiresk/test/connections/con_01JD"; err != nil || got != want {
		t.Errorf("SecretName = %q, %v; want %q, nil", got, err, want)
	}
}

func TestDeleteSchedulesWithRecoveryWindow(t *testing.T) {
	for _, tc := range []struct {
		opts     secrets.Options
		wantDays int
	}{
		{secrets.Options{}, 7},
		{secrets.Options{RecoveryWindowDays: 30}, 30},
	} {
		t.Run(fmt.Sprint(tc.wantDays), func(t *testing.T) {
			srv := smtest.NewServer(t)
			v := newVault(t, srv, tc.opts)
			mustPut(t, v, "connections/c1", "refresh-token-value-3")
			if err := v.Delete(t.Context(), "connections/c1"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			exists, pending, days := srv.Secret(prefix + "/connections/c1")
			if !exists || !pending || days != tc.wantDays {
				t.Errorf("Secret = exists %v, pending %v, %d days; want true, true, %d", exists, pending, days, tc.wantDays)
			}
			reqs := srv.Requests("DeleteSecret")
			if got, want := len(reqs), 1; got != want {
				t.Fatalf("DeleteSecret requests = %d, want %d", got, want)
			}
			var req map[string]any
			if err := json.Unmarshal(reqs[0], &req); err != nil {
				t.Fatal(err)
			}
			if force, ok := req["ForceDeleteWithoutRecovery"]; ok {
				t.Errorf("DeleteSecret sent ForceDeleteWithoutRecovery = %v, want it absent", force)
			}
			if got, want := req["RecoveryWindowInDays"], float64(tc.wantDays); got != want {
				t.Errorf("DeleteSecret RecoveryWindowInDays = %v, want %v", got, want)
			}
			// Deleting it again reports it missing, and schedules nothing.
			if err := v.Delete(t.Context(), "connections/c1"); !errors.Is(err, wiresk.ErrNotFound) {
				t.Errorf("second Delete = %v, want an error wrapping %v", err, wiresk.ErrNotFound)
			}
		})
	}
}

func TestPutAfterDeleteRestores(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{})
	mustPut(t, v, "connections/c2", "first-token-value-4")
	if err := v.Delete(t.Context(), "connections/c2"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustPut(t, v, "connections/c2", "second-token-value-5")

	exists, pending, _ := srv.Secret(prefix + "/connections/c2")
	if !exists || pending {
		t.Errorf("Secret = exists %v, pending %v; want true, false", exists, pending)
	}
	if got, want := srv.Calls("RestoreSecret"), 1; got != want {
		t.Errorf("RestoreSecret calls = %d, want %d", got, want)
	}
	// A vault with an empty cache reads what Secrets Manager holds.
	mustGet(t, newVault(t, srv, secrets.Options{}), "connections/c2", "second-token-value-5")
}

func TestPutReplacesSecretOfAnotherProcess(t *testing.T) {
	srv := smtest.NewServer(t)
	a := newVault(t, srv, secrets.Options{})
	b := newVault(t, srv, secrets.Options{})
	mustPut(t, a, "apps/hubspot", "value-from-a-6")
	mustPut(t, b, "apps/hubspot", "value-from-b-7")
	if got, want := srv.Calls("PutSecretValue"), 1; got != want {
		t.Errorf("PutSecretValue calls = %d, want %d", got, want)
	}
	mustGet(t, newVault(t, srv, secrets.Options{}), "apps/hubspot", "value-from-b-7")
}

func TestGetSecretStoredAsString(t *testing.T) {
	srv := smtest.NewServer(t)
	_, err := srv.Client().CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(prefix + "/apps/console"),
		SecretString: aws.String(`{"client_secret":"typed-in-console-8"}`),
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	mustGet(t, newVault(t, srv, secrets.Options{}), "apps/console", `{"client_secret":"typed-in-console-8"}`)
}

func TestCacheServesRepeatedGets(t *testing.T) {
	srv := smtest.NewServer(t)
	writer := newVault(t, srv, secrets.Options{})
	reader := newVault(t, srv, secrets.Options{})
	mustPut(t, writer, "connections/c3", "cached-value-9")

	mustGet(t, reader, "connections/c3", "cached-value-9")
	mustGet(t, reader, "connections/c3", "cached-value-9")
	if got, want := srv.Calls("GetSecretValue"), 1; got != want {
		t.Errorf("GetSecretValue calls after two Gets = %d, want %d", got, want)
	}

	// The reader's own Put updates its cache: no call to read it back.
	mustPut(t, reader, "connections/c3", "updated-value-10")
	mustGet(t, reader, "connections/c3", "updated-value-10")
	if got, want := srv.Calls("GetSecretValue"), 1; got != want {
		t.Errorf("GetSecretValue calls after Put and Get = %d, want %d", got, want)
	}

	// Its Delete invalidates it: the next Get asks, and finds nothing.
	if err := reader.Delete(t.Context(), "connections/c3"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, err := reader.Get(t.Context(), "connections/c3"); !errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Get after Delete = %q, %v; want an error wrapping %v", got, err, wiresk.ErrNotFound)
	}
	if got, want := srv.Calls("GetSecretValue"), 2; got != want {
		t.Errorf("GetSecretValue calls after Delete and Get = %d, want %d", got, want)
	}
}

func TestCacheReturnsCopies(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{})
	value := []byte("original-value-11")
	if err := v.Put(t.Context(), "apps/copy", value); err != nil {
		t.Fatal(err)
	}
	value[0] = 'X'
	got, err := v.Get(t.Context(), "apps/copy")
	if err != nil {
		t.Fatal(err)
	}
	got[1] = 'Y'
	mustGet(t, v, "apps/copy", "original-value-11")
}

func TestCacheTTL(t *testing.T) {
	srv := smtest.NewServer(t)
	clk := newClock()
	writer := newVault(t, srv, secrets.Options{})
	reader := newVault(t, srv, secrets.Options{CacheTTL: time.Minute, Now: clk.Now})
	mustPut(t, writer, "connections/c4", "old-value-12")
	mustGet(t, reader, "connections/c4", "old-value-12")

	// Another process changes the value: the reader serves its cached
	// value until the TTL ends, then reads the new one.
	mustPut(t, writer, "connections/c4", "new-value-13")
	clk.Advance(time.Minute - time.Nanosecond)
	mustGet(t, reader, "connections/c4", "old-value-12")
	if got, want := srv.Calls("GetSecretValue"), 1; got != want {
		t.Errorf("GetSecretValue calls within the TTL = %d, want %d", got, want)
	}
	clk.Advance(time.Nanosecond)
	mustGet(t, reader, "connections/c4", "new-value-13")
	if got, want := srv.Calls("GetSecretValue"), 2; got != want {
		t.Errorf("GetSecretValue calls at the TTL = %d, want %d", got, want)
	}
}

func TestGetFreshBypassesCache(t *testing.T) {
	srv := smtest.NewServer(t)
	writer := newVault(t, srv, secrets.Options{})
	reader := newVault(t, srv, secrets.Options{})
	mustPut(t, writer, "connections/c5", "refresh-token-old-14")
	mustGet(t, reader, "connections/c5", "refresh-token-old-14")
	mustPut(t, writer, "connections/c5", "refresh-token-new-15")

	got, err := reader.GetFresh(t.Context(), "connections/c5")
	if want := "refresh-token-new-15"; err != nil || string(got) != want {
		t.Errorf("GetFresh = %q, %v; want %q, nil", got, err, want)
	}
	// It refreshed the cache.
	mustGet(t, reader, "connections/c5", "refresh-token-new-15")
	if got, want := srv.Calls("GetSecretValue"), 2; got != want {
		t.Errorf("GetSecretValue calls = %d, want %d", got, want)
	}
}

func TestCacheDisabled(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{CacheTTL: -1})
	mustPut(t, v, "apps/nocache", "uncached-value-16")
	mustGet(t, v, "apps/nocache", "uncached-value-16")
	mustGet(t, v, "apps/nocache", "uncached-value-16")
	if got, want := srv.Calls("GetSecretValue"), 2; got != want {
		t.Errorf("GetSecretValue calls = %d, want %d", got, want)
	}
}

func TestCacheBounded(t *testing.T) {
	srv := smtest.NewServer(t)
	writer := newVault(t, srv, secrets.Options{})
	for _, name := range []string{"a", "b", "c"} {
		mustPut(t, writer, "apps/"+name, "value-of-"+name+"-17")
	}
	reader := newVault(t, srv, secrets.Options{CacheSize: 2})
	for _, name := range []string{"a", "b", "c"} {
		mustGet(t, reader, "apps/"+name, "value-of-"+name+"-17")
	}
	// The cache holds b and c: a, the oldest, was evicted.
	mustGet(t, reader, "apps/c", "value-of-c-17")
	if got, want := srv.Calls("GetSecretValue"), 3; got != want {
		t.Errorf("GetSecretValue calls after Get(c) = %d, want %d", got, want)
	}
	mustGet(t, reader, "apps/a", "value-of-a-17")
	if got, want := srv.Calls("GetSecretValue"), 4; got != want {
		t.Errorf("GetSecretValue calls after Get(a) = %d, want %d", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{CacheSize: 4})
	names := []string{"apps/n0", "apps/n1", "apps/n2", "apps/n3", "apps/n4", "apps/n5"}
	for _, name := range names {
		mustPut(t, v, name, "value-of-"+name)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 64*10)
	for g := range 64 {
		wg.Go(func() {
			for i := range 10 {
				name := names[(g+i)%len(names)]
				var err error
				var got []byte
				switch (g + i) % 8 {
				case 0:
					err = v.Put(ctx, name, []byte("value-of-"+name))
				case 1:
					got, err = v.GetFresh(ctx, name)
				default:
					got, err = v.Get(ctx, name)
				}
				if err != nil {
					errs <- err
				} else if got != nil && string(got) != "value-of-"+name {
					errs <- fmt.Errorf("Get(%q) = %q, want %q", name, got, "value-of-"+name)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// errorCode returns the Secrets Manager error code in err's chain, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestErrorsNeverContainValue(t *testing.T) {
	const secret = "sk_live_never_in_errors_18"
	for _, tc := range []struct {
		name     string
		op       string
		status   int
		body     string
		call     func(v *secrets.Vault) error
		wantCode string
	}{
		{
			name: "ServerError", op: "CreateSecret", status: http.StatusInternalServerError,
			body:     `{"__type":"InternalServiceError","message":"An error occurred on the server side."}`,
			call:     func(v *secrets.Vault) error { return v.Put(context.Background(), "apps/x", []byte(secret)) },
			wantCode: "InternalServiceError",
		},
		{
			name: "MessageQuotesValue", op: "CreateSecret", status: http.StatusBadRequest,
			body:     `{"__type":"InvalidParameterException","message":"bad value ` + secret + `"}`,
			call:     func(v *secrets.Vault) error { return v.Put(context.Background(), "apps/x", []byte(secret)) },
			wantCode: "InvalidParameterException",
		},
		{
			name: "MalformedValueResponse", op: "GetSecretValue", status: http.StatusOK,
			body: `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:x","SecretString":` + secret + `}`,
			call: func(v *secrets.Vault) error {
				_, err := v.Get(context.Background(), "apps/x")
				return err
			},
		},
		{
			name: "WrongTypeValueResponse", op: "GetSecretValue", status: http.StatusOK,
			body: `{"SecretBinary":"` + secret + `!"}`,
			call: func(v *secrets.Vault) error {
				_, err := v.Get(context.Background(), "apps/x")
				return err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtest.NewServer(t)
			// Retries would replay the injected answer only once; turn them off.
			client := secretsmanager.New(srv.Client().Options(), func(o *secretsmanager.Options) {
				o.RetryMaxAttempts = 1
			})
			v, err := secrets.New(client, prefix, secrets.Options{})
			if err != nil {
				t.Fatal(err)
			}
			srv.Inject(tc.op, tc.status, tc.body)
			err = tc.call(v)
			if err == nil {
				t.Fatal("err = nil, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret value", err)
			}
			if got := errorCode(err); got != tc.wantCode {
				t.Errorf("error code = %q, want %q (error %q)", got, tc.wantCode, err)
			}
			if errors.Is(err, wiresk.ErrNotFound) {
				t.Errorf("error %q wraps %v, want it not to", err, wiresk.ErrNotFound)
			}
		})
	}
}

func TestInvalidRequestWithUnknownMessage(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{CacheTTL: -1})
	mustPut(t, v, "apps/active", "active-value-19")
	mustPut(t, v, "apps/deleted", "deleted-value-20")
	if err := v.Delete(t.Context(), "apps/deleted"); err != nil {
		t.Fatal(err)
	}
	const odd = `{"__type":"InvalidRequestException","message":"Some new wording."}`

	// A secret scheduled for deletion: DescribeSecret says so, so not found.
	srv.Inject("GetSecretValue", http.StatusBadRequest, odd)
	if _, err := v.Get(t.Context(), "apps/deleted"); !errors.Is(err, wiresk.ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want an error wrapping %v", err, wiresk.ErrNotFound)
	}
	// An active secret: the error is reported as it is.
	srv.Inject("GetSecretValue", http.StatusBadRequest, odd)
	_, err := v.Get(t.Context(), "apps/active")
	if errors.Is(err, wiresk.ErrNotFound) || errorCode(err) != "InvalidRequestException" {
		t.Errorf("Get(active) = %v, want an InvalidRequestException not wrapping %v", err, wiresk.ErrNotFound)
	}
	if got, want := srv.Calls("DescribeSecret"), 2; got != want {
		t.Errorf("DescribeSecret calls = %d, want %d", got, want)
	}
}

func TestBadNames(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{})
	for _, name := range []string{
		"", "has space", "semi;colon", "a/../b", "..", "/lead", "trail/", "a//b", "ünï",
		strings.Repeat("n", 512),
	} {
		if err := v.Put(t.Context(), name, []byte("value-21")); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("Put(%q) = %v, want a %s error", name, err, wiresk.EValidation)
		}
		if _, err := v.Get(t.Context(), name); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("Get(%q) = %v, want a %s error", name, err, wiresk.EValidation)
		}
		if err := v.Delete(t.Context(), name); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("Delete(%q) = %v, want a %s error", name, err, wiresk.EValidation)
		}
	}
	for _, op := range []string{"CreateSecret", "GetSecretValue", "DeleteSecret"} {
		if got := srv.Calls(op); got != 0 {
			t.Errorf("%s calls = %d, want 0", op, got)
		}
	}
	for _, name := range []string{"a", "connections/con_01JD7Y", "apps/google-drive", "apps/oauth-abcdef", "x.y@z+w=v"} {
		mustPut(t, v, name, "value-22")
	}
}

func TestBadValues(t *testing.T) {
	srv := smtest.NewServer(t)
	v := newVault(t, srv, secrets.Options{})
	for _, value := range [][]byte{nil, {}, bytes.Repeat([]byte{1}, secrets.MaxValueSize+1)} {
		if err := v.Put(t.Context(), "apps/v", value); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("Put(%d bytes) = %v, want a %s error", len(value), err, wiresk.EValidation)
		}
	}
	value := bytes.Repeat([]byte{0xff}, secrets.MaxValueSize)
	if err := v.Put(t.Context(), "apps/v", value); err != nil {
		t.Fatalf("Put(%d bytes) = %v", len(value), err)
	}
	got, err := newVault(t, srv, secrets.Options{}).Get(t.Context(), "apps/v")
	if err != nil || !bytes.Equal(got, value) {
		t.Errorf("Get = %d bytes, %v; want %d bytes, nil", len(got), err, len(value))
	}
}

func TestNewValidates(t *testing.T) {
	client := smtest.NewServer(t).Client()
	for _, p := range []string{"", "/wiresk", "wiresk/", "wiresk//prod", "wiresk prod", "wiresk/../x", strings.Repeat("p", 511)} {
		if _, err := secrets.New(client, p, secrets.Options{}); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("New(prefix %q) = %v, want a %s error", p, err, wiresk.EValidation)
		}
	}
	for _, opts := range []secrets.Options{
		{RecoveryWindowDays: 6},
		{RecoveryWindowDays: 31},
		{RecoveryWindowDays: -1},
		{CacheTTL: 15*time.Minute + 1},
	} {
		if _, err := secrets.New(client, prefix, opts); wiresk.ErrorCode(err) != wiresk.EValidation {
			t.Errorf("New(%+v) = %v, want a %s error", opts, err, wiresk.EValidation)
		}
	}
	for _, opts := range []secrets.Options{
		{RecoveryWindowDays: 7, CacheTTL: 15 * time.Minute},
		{RecoveryWindowDays: 30, CacheTTL: time.Second},
		{CacheTTL: -1},
		{CacheSize: -1},
	} {
		if _, err := secrets.New(client, prefix, opts); err != nil {
			t.Errorf("New(%+v) = %v, want nil", opts, err)
		}
	}
	if _, err := secrets.New(nil, prefix, secrets.Options{}); err == nil {
		t.Error("New(nil client) = nil error, want an error")
	}
}
