// Command bench measures the local runner's webhook ingress under load and
// prints it beside two references measured in the same run on the same
// machine: a bare net/http server answering 202 (the HTTP limit) and the
// storage's group-commit bound (durable enqueues in a loop, no HTTP).
//
//	go run ./infra/bench -duration 5s -conns 16,64
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wiresk/internal/bolt"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of each measurement")
	connsFlag := flag.String("conns", "16,64", "comma-separated concurrency levels")
	flag.Parse()
	var conns []int
	for _, c := range strings.Split(*connsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fail("bad -conns %q", *connsFlag)
		}
		conns = append(conns, n)
	}
	payload := []byte(`{"email":"a@b.c","p":"` + strings.Repeat("x", 1000) + `"}`) // 1 KiB

	bin := buildRunner()
	defer os.RemoveAll(filepath.Dir(bin))

	fmt.Printf("webhook ingress, 1 KiB JSON body, %s per measurement, GOMAXPROCS=%d\n\n", *duration, runtimeProcs())
	fmt.Printf("%-34s %6s %10s %9s %9s %8s\n", "what", "conns", "req/s", "p50", "p99", "vs ref")
	for _, c := range conns {
		commit := groupCommitBound(c, *duration, payload)
		fmt.Printf("%-34s %6d %10.0f %9s %9s %8s\n", "group-commit bound (no HTTP)", c, commit.rate, commit.p50, commit.p99, "")
		durable := measureRunner(bin, false, c, *duration, payload)
		fmt.Printf("%-34s %6d %10.0f %9s %9s %7.0f%%\n", "local runner, fsync (default)", c, durable.rate, durable.p50, durable.p99, 100*durable.rate/commit.rate)
		bare := bareHTTP(c, *duration, payload)
		fmt.Printf("%-34s %6d %10.0f %9s %9s %8s\n", "bare net/http answering 202", c, bare.rate, bare.p50, bare.p99, "")
		nosync := measureRunner(bin, true, c, *duration, payload)
		fmt.Printf("%-34s %6d %10.0f %9s %9s %7.0f%%\n", "local runner, -no-sync", c, nosync.rate, nosync.p50, nosync.p99, 100*nosync.rate/bare.rate)
		fmt.Printf("%-34s %6d %10s %9s %9s %7.0f%%\n\n", "local runner, fsync, vs bare", c, "", "", "", 100*durable.rate/bare.rate)
	}
	fmt.Println("targets (design §6, issue 13): fsync ≥ 80% of the group-commit bound; -no-sync ≥ 50% of bare net/http;")
	fmt.Println("fsync at 64 connections ≥ 40% of bare net/http.")
	fmt.Println()
	if err := benchFunctions(); err != nil {
		fail("lambda functions: %v", err)
	}
}

func runtimeProcs() int {
	n, _ := strconv.Atoi(os.Getenv("GOMAXPROCS"))
	if n > 0 {
		return n
	}
	out, _ := exec.Command("nproc").Output()
	n, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

type result struct {
	rate     float64
	p50, p99 time.Duration
}

// load runs conns goroutines calling do until d has passed.
func load(conns int, d time.Duration, do func() error) result {
	var wg sync.WaitGroup
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	start := time.Now()
	deadline := start.Add(d)
	for i := range conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := do(); err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "bench: request failed:", err)
					}
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	if len(all) == 0 {
		fail("no request succeeded")
	}
	if e := errs.Load(); e > 0 {
		fail("%d requests failed", e)
	}
	slices.Sort(all)
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2].Round(10 * time.Microsecond), p99: all[len(all)*99/100].Round(10 * time.Microsecond)}
}

// groupCommitBound is durable enqueues in a loop at the same concurrency.
func groupCommitBound(conns int, d time.Duration, payload []byte) result {
	dir, err := os.MkdirTemp("", "wiresk-bench-commit")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		fail("%v", err)
	}
	defer db.Close()
	q, err := bolt.NewQueue(db, bolt.QueueOptions{})
	if err != nil {
		fail("%v", err)
	}
	attrs := map[string]string{"runId": "run_x", "groupId": "grp_x"}
	ctx := context.Background()
	return load(conns, d, func() error {
		_, err := q.Send(ctx, payload, attrs)
		return err
	})
}

func client(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 30 * time.Second}
}

func post(c *http.Client, url, key string, payload []byte) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// bareHTTP is a net/http server that reads the body and answers 202.
func bareHTTP(conns int, d time.Duration, payload []byte) result {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"runId":"run_x"}`+"\n")
	}))
	defer srv.Close()
	c := client(conns)
	return load(conns, d, func() error { return post(c, srv.URL+"/v1/hooks/x", "", payload) })
}

func buildRunner() string {
	dir, err := os.MkdirTemp("", "wiresk-bench-bin")
	if err != nil {
		fail("%v", err)
	}
	bin := filepath.Join(dir, "wiresk-local")
	cmd := exec.Command("go", "build", "-o", bin, "./infra/local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fail("build the runner: %v", err)
	}
	return bin
}

var urlLine = regexp.MustCompile(`wiresk listening on (http://\S+)`)
var tokenLine = regexp.MustCompile(`TOKEN=(\S+)`)

// measureRunner starts the local runner (workers off, so that only the
// ingress is measured), sets up a key, Flow and trigger, and loads it.
func measureRunner(bin string, noSync bool, conns int, d time.Duration, payload []byte) result {
	dir, err := os.MkdirTemp("", "wiresk-bench-data")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WIRESK_ADDR=127.0.0.1:0", "WIRESK_DATA_DIR="+dir, "WIRESK_QUIET=1", "WIRESK_WORKERS=0", "WIRESK_LOG_LEVEL=warn", "WIRESK_GROUP_RUNS_PER_MINUTE=0")
	if noSync {
		cmd.Env = append(cmd.Env, "WIRESK_NO_SYNC=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail("start runner: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var base, token string
	for (base == "" || token == "") && sc.Scan() {
		if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
		if m := tokenLine.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if base == "" || token == "" {
		fail("runner did not start")
	}
	api := func(path string, in, outv any) {
		b, _ := json.Marshal(in)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail("%s: %v", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 201 {
			data, _ := io.ReadAll(resp.Body)
			fail("%s: %d %s", path, resp.StatusCode, data)
		}
		_ = json.NewDecoder(resp.Body).Decode(outv)
	}
	var k struct{ ID, Key string }
	api("/v1/groups/grp_dev/api-keys", map[string]any{"name": "bench"}, &k)
	var f struct{ ID string }
	api("/v1/groups/grp_dev/flows", map[string]any{"name": "bench", "steps": []any{map[string]any{"id": "s", "app": "http", "method": "request", "input": map[string]any{"url": base + "/dev/echo"}}}}, &f)
	var t struct{ URL string }
	api("/v1/groups/grp_dev/flows/"+f.ID+"/http-triggers", map[string]any{"apiKeyIds": []string{k.ID}}, &t)
	c := client(conns)
	return load(conns, d, func() error { return post(c, t.URL, k.Key, payload) })
}
