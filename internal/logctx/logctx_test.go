package logctx_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wiresk/internal/logctx"
	"wiresk/internal/testkit/jsonlines"
)

func TestContextAttributesAreOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, nil))).With("fn", "worker")
	ctx := logctx.IDs(context.Background(), logctx.RequestID, "req-1", logctx.GroupID, "grp_1")
	ctx = logctx.IDs(ctx, logctx.RunID, "run_1", logctx.FlowID, "", logctx.GroupID, "grp_2")
	log.InfoContext(ctx, "step done", "step", "create")
	log.WarnContext(ctx, "run failed", logctx.RunID, "run_other")
	log.Info("no context")
	got := jsonlines.MustDecode(t, buf.String())
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	first := got[0]
	for k, want := range map[string]any{"requestId": "req-1", "groupId": "grp_2", "runId": "run_1", "step": "create", "fn": "worker", "msg": "step done"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v in %v", k, first[k], want, first)
		}
	}
	if _, ok := first["flowId"]; ok {
		t.Errorf("an empty id is logged: %v", first)
	}
	// The record's own value wins, once.
	if got[1]["runId"] != "run_other" {
		t.Errorf("runId = %v, want the record's run_other", got[1]["runId"])
	}
	if strings.Count(buf.String(), `"runId"`) != 2 {
		t.Errorf("runId repeated on a line:\n%s", buf.String())
	}
	if _, ok := got[2]["requestId"]; ok {
		t.Errorf("a line without the context has its ids: %v", got[2])
	}
}

func TestTheParentContextIsUnchanged(t *testing.T) {
	parent := logctx.IDs(context.Background(), logctx.GroupID, "grp_1")
	_ = logctx.IDs(parent, logctx.RunID, "run_1")
	_ = logctx.IDs(parent, logctx.RunID, "run_2")
	if got := logctx.Value(parent, logctx.RunID); got != "" {
		t.Errorf("parent runId = %q, want none", got)
	}
}

func TestLevelIsTheWrappedHandlers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.InfoContext(logctx.IDs(context.Background(), logctx.RunID, "r"), "hidden")
	if buf.Len() != 0 {
		t.Errorf("an info line passed a warn level: %s", buf.String())
	}
}

func TestRequestIDs(t *testing.T) {
	var seen string
	h := logctx.RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = logctx.Value(r.Context(), logctx.RequestID)
	}))
	serve := func(header string, ctx context.Context) (string, string) {
		r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		if header != "" {
			r.Header.Set("X-Request-Id", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return seen, w.Header().Get("X-Request-Id")
	}
	if got, answered := serve("abc-123", context.Background()); got != "abc-123" || answered != "abc-123" {
		t.Errorf("caller's id: got %q, answered %q", got, answered)
	}
	got, answered := serve("bad id\nwith newline", context.Background())
	if got == "" || strings.ContainsAny(got, " \n") || answered != got {
		t.Errorf("implausible id: got %q, answered %q, want a generated one", got, answered)
	}
	other, _ := serve("", context.Background())
	if other == "" || other == got {
		t.Errorf("generated ids %q and %q, want two different ones", got, other)
	}
	apigw := logctx.IDs(context.Background(), logctx.RequestID, "apigw-1")
	if got, answered := serve("abc", apigw); got != "apigw-1" || answered != "apigw-1" {
		t.Errorf("with API Gateway's id: got %q, answered %q, want apigw-1", got, answered)
	}
}
