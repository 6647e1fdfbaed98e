package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/auth"
	"wiresk/internal/bolt"
	"wiresk/internal/egress"
	"wiresk/internal/group"
	"wiresk/internal/httpapi"
	"wiresk/internal/ingest"
	"wiresk/internal/manage"
	"wiresk/internal/step"
	"wiresk/internal/testkit/embedded"
)

// clock is a settable time source shared by the services of a test system.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// system is the ingress and management API on the embedded adapters.
type system struct {
	db     *bolt.DB
	store  *bolt.Store
	queue  *bolt.Queue
	clock  *clock
	jwt    *auth.JWT
	server *httptest.Server
}

const testMaxBody = 1024

// publicHooks is the public scheme and host of the test system's webhooks:
// the URL senders sign starts with it.
const publicHooks = "https://hooks.example"

func MustSystem(t *testing.T) *system {
	t.Helper()
	db, store := embedded.MustStore(t)
	q := embedded.MustQueue(t, db, 3)
	guard, err := egress.NewGuard("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	steps := step.Registry{"http": {"request": &step.HTTP{Engine: egress.Engine{Client: egress.NewClient(guard), Guard: guard}}}}
	clk := &clock{t: time.Now().UTC()}
	j := &auth.JWT{Key: []byte("0123456789abcdef0123456789abcdef"), Issuer: "test", Audience: "wiresk"}
	vault, err := bolt.NewVault(db, filepath.Join(t.TempDir(), "vault.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc := manage.New(manage.Config{Store: store, Queue: q, DeadLetters: q, Kinds: steps, Vault: vault, Now: clk.Now, RunOnceWait: 200 * time.Millisecond})
	mux := http.NewServeMux()
	mux.Handle(httpapi.HooksPrefix, &httpapi.Hooks{Ingest: &ingest.Service{Store: store, Queue: q, Secrets: vault, Now: clk.Now}, MaxBody: testMaxBody,
		PublicURL: func(*http.Request) string { return publicHooks }})
	mux.Handle("/v1/", httpapi.NewManagement(svc, j, "http://hooks.example", nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &system{db: db, store: store, queue: q, clock: clk, jwt: j, server: srv}
}

// token mints a management JWT for user.
func (s *system) token(t *testing.T, user string, groups ...string) string {
	t.Helper()
	tok, err := s.jwt.Mint(user, groups, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// seedGroup creates a Group owned by owner, directly in the store.
func (s *system) seedGroup(t *testing.T, id, owner string) {
	t.Helper()
	now := s.clock.Now()
	if err := s.store.CreateGroup(context.Background(), group.Group{ID: id, Name: id, CreatedAt: now}, group.Member{GroupID: id, UserID: owner, Role: group.RoleOwner, AddedAt: now}); err != nil {
		t.Fatal(err)
	}
}

type response struct {
	Status int
	Body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorCode returns the error code of an error response.
func (r response) errorCode() string {
	var e struct {
		Error struct{ Code, Field string }
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (r response) errorField() string {
	var e struct {
		Error struct{ Code, Field string }
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Field
}

// do sends a request; body may be a string, []byte, io.Reader or a value to
// marshal. headers alternate name, value.
func (s *system) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(io.Reader); ok {
		req.ContentLength = -1 // unknown length: sent chunked
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: data}
}

// api calls the management API as the holder of tok.
func (s *system) api(t *testing.T, tok, method, path string, body any) response {
	t.Helper()
	return s.do(t, method, path, body, "Authorization", "Bearer "+tok)
}

// snapshot digests every key and value in the bbolt file and the queue's
// counters: equal snapshots mean nothing was written or enqueued.
func (s *system) snapshot(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	err := s.db.Bolt().View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			h.Write(name)
			return walk(h, b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.queue.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return string(h.Sum(nil)) + mustJSON(t, st)
}

func walk(h io.Writer, b *bbolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		h.Write(k)
		h.Write([]byte{0})
		if v == nil {
			return walk(h, b.Bucket(k))
		}
		h.Write(v)
		h.Write([]byte{1})
		return nil
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
