package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// rawTarget records each call's body and Content-Type as received.
type rawTarget struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]rawCall // by path
}

type rawCall struct {
	body        []byte
	contentType string
}

func newRawTarget(t *testing.T) *rawTarget {
	tg := &rawTarget{calls: map[string][]rawCall{}}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.calls[r.URL.Path] = append(tg.calls[r.URL.Path], rawCall{b, r.Header.Get("Content-Type")})
		tg.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *rawTarget) last(t *testing.T, path string, n int) rawCall {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tg.mu.Lock()
		c := tg.calls[path]
		tg.mu.Unlock()
		if len(c) >= n {
			return c[n-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s got fewer than %d calls", path, n)
	return rawCall{}
}

// rawBodies: binary, pretty-printed JSON with the characters a JSON
// encoder escapes, a form with a repeated field and XML reach a step
// exactly as sent (forwardTriggerBody), with their Content-Type, and
// templates read them raw and parsed; a replay sends the same bytes again.
// TestFiveMiBBinaryBodyRoundTrips runs it locally, and
// TestFiveMiBBinaryBodyRoundTripsOnEmulators on DynamoDB Local and goaws,
// each on the runner it starts.
func rawBodies(t *testing.T, r *runner) {
	tg := newRawTarget(t)
	k, tr := keyedFlow(t, r, "Relay", []any{
		map[string]any{"id": "forward", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/forward", "forwardTriggerBody": true}},
		map[string]any{"id": "describe", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/describe", "body": map[string]any{
				"raw": "{{ trigger.rawBody }}", "encoding": "{{ trigger.rawBodyEncoding }}", "contentType": "{{ trigger.contentType }}",
				"parsed": "{{ trigger.body }}", "tags": "{{ trigger.form.tag }}"}}},
	})

	binary := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range binary {
		binary[i] = byte(rng.UintN(256))
	}
	cases := []struct {
		name, contentType string
		body              []byte
		check             func(t *testing.T, described map[string]any)
	}{
		{"binary", "application/octet-stream", binary, func(t *testing.T, d map[string]any) {
			if d["encoding"] != "base64" || d["raw"] != base64.StdEncoding.EncodeToString(binary) {
				t.Errorf("trigger.rawBody of a binary body: encoding %v, %d characters", d["encoding"], len(d["raw"].(string)))
			}
		}},
		{"pretty JSON", "application/json", []byte("{\n  \"html\": \"<b>Fish & chips</b>\",\n  \"n\": 1.50\n}\n"), func(t *testing.T, d map[string]any) {
			if p, _ := d["parsed"].(map[string]any); p["html"] != "<b>Fish & chips</b>" {
				t.Errorf("trigger.body of pretty JSON = %v", d["parsed"])
			}
			if d["raw"] != "{\n  \"html\": \"<b>Fish & chips</b>\",\n  \"n\": 1.50\n}\n" {
				t.Errorf("trigger.rawBody of pretty JSON = %q", d["raw"])
			}
		}},
		{"form", "application/x-www-form-urlencoded", []byte("name=Ada+Lovelace&tag=a&tag=b%26c"), func(t *testing.T, d map[string]any) {
			if tags, _ := d["tags"].([]any); len(tags) != 2 || tags[1] != "b&c" {
				t.Errorf("trigger.form.tag = %v, want [a b&c]", d["tags"])
			}
			if d["raw"] != "name=Ada+Lovelace&tag=a&tag=b%26c" {
				t.Errorf("trigger.rawBody of a form = %q", d["raw"])
			}
		}},
		{"XML", "text/xml; charset=utf-8", []byte(`<?xml version="1.0"?><Response><Say>Hi &amp; bye</Say></Response>`), func(t *testing.T, d map[string]any) {
			if d["parsed"] != `<?xml version="1.0"?><Response><Say>Hi &amp; bye</Say></Response>` || d["contentType"] != "text/xml; charset=utf-8" {
				t.Errorf("trigger.body of XML = %v (%v)", d["parsed"], d["contentType"])
			}
		}},
	}
	for _, c := range cases {
		req, err := http.NewRequest("POST", tr.URL, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", k.Key)
		req.Header.Set("Content-Type", c.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ RunID string }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: webhook answered %d", c.name, resp.StatusCode)
		}
		if v := r.waitRun(t, "grp_dev", out.RunID); v.Status != "succeeded" {
			t.Fatalf("%s: Run %+v", c.name, v)
		}
		got := tg.last(t, "/forward", 1)
		if !bytes.Equal(got.body, c.body) || got.contentType != c.contentType {
			t.Errorf("%s: the step forwarded %d bytes (%q), want the %d bytes sent (%q)", c.name, len(got.body), got.contentType, len(c.body), c.contentType)
		}
		var described map[string]any
		if err := json.Unmarshal(tg.last(t, "/describe", 1).body, &described); err != nil {
			t.Fatal(err)
		}
		c.check(t, described)

		// The Run recorded the body exactly: its replay sends it again.
		var replay struct{ RunID string }
		r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/runs/"+out.RunID+"/replay", nil, &replay)
		if v := r.waitRun(t, "grp_dev", replay.RunID); v.Status != "succeeded" {
			t.Fatalf("%s: replay %+v", c.name, v)
		}
		if again := tg.last(t, "/forward", 2); !bytes.Equal(again.body, c.body) || again.contentType != c.contentType {
			t.Errorf("%s: the replay forwarded %d bytes, want the %d bytes first sent", c.name, len(again.body), len(c.body))
		}
		// The next case's calls come after the replay's.
		tg.mu.Lock()
		tg.calls = map[string][]rawCall{}
		tg.mu.Unlock()
	}
}

// keyedFlow makes an API key, a Flow of steps and an HTTP trigger that
// accepts the key, as a user would; it returns the key and the trigger.
func keyedFlow(t *testing.T, r *runner, name string, steps []any) (k struct{ ID, Key string }, tr struct{ URL string }) {
	t.Helper()
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/api-keys", map[string]any{"name": name}, &k)
	var f struct{ ID string }
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows", map[string]any{"name": name, "steps": steps}, &f)
	r.mustCall(t, 201, "POST", "/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &tr)
	return k, tr
}
