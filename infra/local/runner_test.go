package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wiresk-local-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wiresk-local")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the local runner:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runner is a local runner process.
type runner struct {
	cmd   *exec.Cmd
	URL   string
	Token string
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan struct{}
}

// Output returns what the runner printed so far.
func (r *runner) Output() string { r.mu.Lock(); defer r.mu.Unlock(); return r.out.String() }

var urlLine = regexp.MustCompile(`(?m)^(?:Wiresk is running at|wiresk listening on) (http://\S+)`)
var tokenLine = regexp.MustCompile(`(?m)^(?:export )?TOKEN=(\S+)`)

// startRunner starts the runner on a free port with dataDir and extra
// environment, and waits until /healthz answers.
func startRunner(t *testing.T, dataDir string, quiet bool, env ...string) *runner {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "WIRESK_ADDR=127.0.0.1:0", "WIRESK_DATA_DIR="+dataDir, "WIRESK_LOG_LEVEL=warn")
	if quiet {
		cmd.Env = append(cmd.Env, "WIRESK_QUIET=1")
	}
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	r := &runner{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
		}
		_ = cmd.Wait()
		close(r.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := r.Output()
		if m, tm := urlLine.FindStringSubmatch(out), tokenLine.FindStringSubmatch(out); m != nil && tm != nil {
			r.URL, r.Token = m[1], tm[1]
			if resp, err := http.Get(r.URL + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return r
				}
			}
		}
		select {
		case <-r.done:
			t.Fatalf("runner exited before it was ready:\n%s", r.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("runner not ready after 30 s:\n%s", r.Output())
	return nil
}

// Kill sends SIGKILL and waits for the process to end.
func (r *runner) Kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Stop sends SIGTERM and waits for a graceful exit.
func (r *runner) Stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("runner did not stop within 40 s")
	}
}

// call sends a management call and decodes the JSON answer into out.
func (r *runner) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 && (resp.StatusCode < 300 || isRaw(out)) {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func isRaw(out any) bool { _, ok := out.(*json.RawMessage); return ok }

// mustCall is call that fails the test unless the status is want.
func (r *runner) mustCall(t *testing.T, want int, method, path string, body any, out any) {
	t.Helper()
	var raw json.RawMessage
	if got := r.call(t, method, path, body, &raw); got != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, got, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

// hook posts a webhook and returns the status and runId.
func hook(url, key string, body string, headers ...string) (int, string, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct{ RunID string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.RunID, nil
}

type runView struct {
	ID         string
	Status     string
	Mode       string
	ReplayOf   string
	Error      string
	Deliveries int
	Request    struct{ Body json.RawMessage }
	Steps      []struct {
		ID          string
		Status      string
		Input       map[string]any
		Output      map[string]any
		Error       string
		Attempts    int
		Interrupted int
	}
}

// waitRun polls a Run until it has ended.
func (r *runner) waitRun(t *testing.T, group, id string) runView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var v runView
	for time.Now().Before(deadline) {
		v = runView{}
		if r.call(t, "GET", "/v1/groups/"+group+"/runs/"+id, nil, &v) == 200 && (v.Status == "succeeded" || v.Status == "failed" || v.Status == "filtered") {
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not end within 30 s: %+v", id, v)
	return v
}
