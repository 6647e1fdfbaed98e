package appstep_test

import (
	"net/http"
	"strings"
	"testing"

	"wiresk/internal/appcall"
	"wiresk/internal/testkit/apptest"
)

// openaiMessages is a short conversation.
var openaiMessages = []any{
	map[string]any{"role": "system", "content": "You are terse."},
	map[string]any{"role": "user", "content": "Summarise the ticket in one line"},
}

func TestOpenAIChatCompletion(t *testing.T) {
	reg, f := mustApp(t, "openai")
	conn := connectionTo(f, appcall.CredentialAPIKey)
	out, attempts, err := execute(t, reg, conn, "chat_completion", map[string]any{
		"model": "gpt-4o-mini", "messages": openaiMessages, "temperature": 0.2, "max_completion_tokens": 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := mustOne(t, f, "POST /v1/chat/completions")
	if got, want := req.Header.Get("Authorization"), "Bearer "+f.Token; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got := req.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	// Inputs left out are left out of the body, not sent as null.
	want := map[string]any{"max_completion_tokens": 200, "messages": openaiMessages, "model": "gpt-4o-mini", "temperature": 0.2}
	if got := mustJSON(t, req.Body); !sameJSON(t, got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if got, want := out["text"], "You said: Summarise the ticket in one line"; got != want {
		t.Errorf("text = %v, want %q", got, want)
	}
	if got, want := out["finish_reason"], "stop"; got != want {
		t.Errorf("finish_reason = %v, want %q", got, want)
	}
	usage, _ := out["usage"].(map[string]any)
	for _, k := range []string{"prompt_tokens", "completion_tokens", "total_tokens"} {
		if _, ok := usage[k]; !ok {
			t.Errorf("usage = %v, want %s", out["usage"], k)
		}
	}
	if got, want := out["model"], "gpt-4o-mini-2024-07-18"; got != want {
		t.Errorf("model = %v, want %q", got, want)
	}
	if attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}

	// A reply cut by max_completion_tokens says so.
	out, _, err = execute(t, reg, conn, "chat_completion", map[string]any{"model": "gpt-4o", "messages": openaiMessages, "max_completion_tokens": 3})
	if err != nil {
		t.Fatal(err)
	}
	if out["finish_reason"] != "length" || out["text"] != "You said: Summarise" {
		t.Errorf("cut reply: text %q, finish_reason %v; want 3 words and length", out["text"], out["finish_reason"])
	}

	// JSON mode: the text is the JSON the model wrote.
	out, _, err = execute(t, reg, conn, "chat_completion", map[string]any{
		"model":           "gpt-4o-mini",
		"messages":        []any{map[string]any{"role": "user", "content": "Answer in JSON: hello"}},
		"response_format": map[string]any{"type": "json_object"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out["text"], `{"reply":"You said: Answer in JSON: hello"}`; got != want {
		t.Errorf("json_object text = %v, want %s", got, want)
	}
}

func TestOpenAIRequestErrorsArePermanent(t *testing.T) {
	reg, f := mustApp(t, "openai")
	conn := connectionTo(f, appcall.CredentialAPIKey)
	for _, tc := range []struct {
		name   string
		input  map[string]any
		status int
		want   string
	}{
		{"unknown model", map[string]any{"model": "gpt-9", "messages": openaiMessages}, http.StatusNotFound, "(model_not_found): The model `gpt-9` does not exist or you do not have access to it."},
		{"context length", map[string]any{"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": strings.Repeat("long ", apptest.OpenAIContextWindow)}}}, http.StatusBadRequest, "(context_length_exceeded): This model's maximum context length is 128000 tokens."},
		{"bad role", map[string]any{"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "robot", "content": "hi"}}}, http.StatusBadRequest, "Invalid value: 'robot'."},
		{"json mode without json", map[string]any{"model": "gpt-4o-mini", "messages": openaiMessages, "response_format": map[string]any{"type": "json_object"}}, http.StatusBadRequest, "'messages' must contain the word 'json'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Received("POST /v1/chat/completions"))
			_, attempts, err := execute(t, reg, conn, "chat_completion", tc.input)
			se := mustStepError(t, err)
			if !se.Permanent || se.Unauthorized || se.Status != tc.status || !strings.Contains(se.Message, tc.want) {
				t.Errorf("%q (permanent %v, unauthorized %v, status %d), want a permanent %d containing %q", se.Message, se.Permanent, se.Unauthorized, se.Status, tc.status, tc.want)
			}
			if got := len(f.Received("POST /v1/chat/completions")) - before; attempts != 1 || got != 1 {
				t.Errorf("attempts %d, requests %d; want 1 and 1", attempts, got)
			}
		})
	}
}

func TestOpenAIFailures(t *testing.T) {
	reg, f := mustApp(t, "openai")
	input := map[string]any{"model": "gpt-4o-mini", "messages": openaiMessages}

	// A wrong key: OpenAI's answer quotes part of it, which must not reach
	// the message; the worker re-tests the Connection.
	bad := connectionTo(f, appcall.CredentialAPIKey)
	bad.Credential.Token = "sk-proj-wrongkey0123456789abcdefghijklmnopqrstuvWXYZ"
	_, attempts, err := execute(t, reg, bad, "chat_completion", input)
	se := mustStepError(t, err)
	if !se.Unauthorized || se.Permanent || se.Status != http.StatusUnauthorized || !strings.Contains(se.Message, "invalid_api_key") {
		t.Errorf("wrong key: %q (unauthorized %v, permanent %v, status %d), want an Unauthorized 401 naming invalid_api_key", se.Message, se.Unauthorized, se.Permanent, se.Status)
	}
	for _, leak := range []string{bad.Credential.Token, "sk-*****WXYZ", "*****", "WXYZ", "Incorrect API key provided"} {
		if strings.Contains(se.Message, leak) {
			t.Errorf("wrong key: message %q holds %q", se.Message, leak)
		}
	}
	if attempts != 1 {
		t.Errorf("wrong key: attempts = %d, want 1", attempts)
	}

	// No quota left: 429 insufficient_quota is permanent, not retried.
	broke := connectionTo(f, appcall.CredentialAPIKey)
	broke.Credential.Token = f.Tokens[apptest.QuotaExhausted]
	_, attempts, err = execute(t, reg, broke, "chat_completion", input)
	se = mustStepError(t, err)
	if !se.Permanent || se.Unauthorized || se.Status != http.StatusTooManyRequests || !strings.Contains(se.Message, "insufficient_quota") || !strings.Contains(se.Message, "check your plan and billing details") {
		t.Errorf("no quota: %q (permanent %v, status %d), want a permanent 429 insufficient_quota quoting OpenAI", se.Message, se.Permanent, se.Status)
	}
	if attempts != 1 {
		t.Errorf("no quota: attempts = %d, want 1 (no retry can fix it)", attempts)
	}

	conn := connectionTo(f, appcall.CredentialAPIKey)
	// A rate limit with Retry-After, then the answer.
	f.Throttle(1, "1")
	out, attempts, err := execute(t, reg, conn, "chat_completion", input)
	if err != nil || attempts != 2 || out["text"] == nil {
		t.Errorf("after a rate limit: err %v, attempts %d, output %v; want the reply after 2 attempts", err, attempts, out)
	}
	// OpenAI overloaded (503), then a server error (500): both retried.
	f.Fail(1, http.StatusServiceUnavailable, "")
	if _, attempts, err := execute(t, reg, conn, "chat_completion", input); err != nil || attempts != 2 {
		t.Errorf("after a 503: err %v, attempts %d; want the reply after 2 attempts", err, attempts)
	}
	f.Fail(-1, http.StatusInternalServerError, "")
	_, attempts, err = execute(t, reg, conn, "chat_completion", input)
	se = mustStepError(t, err)
	if se.Permanent || se.Status != http.StatusInternalServerError || attempts != 3 || !strings.Contains(se.Message, "The server had an error while processing your request.") {
		t.Errorf("500s: %q (permanent %v, status %d, attempts %d), want a transient 500 after 3 attempts quoting OpenAI", se.Message, se.Permanent, se.Status, attempts)
	}
}
