package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// lambdaFunctions are the folders under functions/, one Lambda function each.
var lambdaFunctions = []string{"trigger", "manage", "worker", "connections", "oauthcallback", "health"}

// lambdaMaxBootstrap is each bootstrap's size ceiling (design §6: no
// larger than they are): its size, in bytes, at the commit before the
// redesign of issue 10 (one composition root), built as make build does
// with go1.26.8 and that commit's go.mod. A bootstrap may shrink; one that
// grows past its ceiling fails make bench, and whoever grows it decides
// with the team whether the ceiling moves.
//
// Moved once, for issue 12 (schedule, app and instant triggers), to the
// sizes with them: manage links the EventBridge Scheduler client (about 650 KB)
// and every function the schedule, trigger and poll code (130 to 260 KB;
// expr's reflection keeps the methods of every type the App holds, so a
// function links the use cases of the others).
//
// Moved for issue 13, to the sizes with it: manage serves the OpenAPI
// document (internal/httpapi/openapi.json, about 97 KB, embedded as is) and
// the dead-job routes; trigger and manage link the Secrets Manager client
// (about 590 KB) for HTTP triggers' signing secrets, which trigger reads and
// manage writes; every function the log attributes and EMF metrics (65 to
// 130 KB). connections and oauthcallback shrank and keep their ceilings.
// trigger and worker link the S3 client for webhook bodies stored by
// reference, about 4.5 MB each (the linker keeps every S3 operation): to
// be won back with a small PUT/GET client on the SDK's v4 signer, which the
// binaries link already; until then the ceilings hold them where they are.
var lambdaMaxBootstrap = map[string]int64{
	"trigger":       20_578_466,
	"manage":        18_022_562,
	"worker":        21_692_578,
	"connections":   16_777_378,
	"oauthcallback": 16_908_450,
	"health":        15_728_802,
}

const (
	// lambdaStartRuns is how many start-ups are timed per function, after
	// one untimed warm-up.
	lambdaStartRuns = 10
	// lambdaStartTimeout bounds one start-up.
	lambdaStartTimeout = 10 * time.Second
)

// lambdaBuildFlags are the Makefile's build flags (make build,
// build-<LogicalId>).
var lambdaBuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// lambdaEnv is the environment each function starts with: what the template
// sets, with fake names, and static credentials and a region so that the AWS
// SDK's configuration loading reaches no network and no file.
func lambdaEnv(runtimeAPI string) []string {
	return []string{
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME=wiresk-bench",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"WIRESK_TABLE=wiresk-bench",
		"WIRESK_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/wiresk-bench",
		"WIRESK_MAX_RECEIVES=5",
		"WIRESK_DLQ_URL=https://sqs.us-east-1.amazonaws.com/123456789012/wiresk-bench-dlq",
		"WIRESK_METRICS_NAMESPACE=Wiresk/bench",
		"WIRESK_SECRET_PREFIX=wiresk/bench",
		"WIRESK_SCHEDULE_GROUP=wiresk-bench",
		"WIRESK_SCHEDULER_ROLE_ARN=arn:aws:iam::123456789012:role/wiresk-bench-scheduler",
		"WIRESK_RUN_QUEUE_ARN=arn:aws:sqs:us-east-1:123456789012:wiresk-bench",
		"WIRESK_LOG_LEVEL=warn",
		"WIRESK_GROUP_RUNS_PER_MINUTE=0",
	}
}

// benchFunctions builds each Lambda function for linux/arm64 as the Makefile
// does and reports its bootstrap's size against its ceiling
// (lambdaMaxBootstrap); then builds each for this machine and times it from
// process start to its first request for an invocation
// (GET /2018-06-01/runtime/invocation/next) on an in-process fake of the
// Lambda Runtime API: the start-up cost of a cold start, less the Lambda
// service's own part. It prints a table and fails if
// a bootstrap is over its ceiling or a function does not start.
func benchFunctions() error {
	root, err := lambdaModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "wiresk-bench-functions")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("Lambda functions: bootstrap size (linux/arm64, built as `make build`) and time from process start\n")
	fmt.Printf("to the first invocation request (%s/%s build, %d starts after a warm-up, fake Runtime API)\n\n", runtime.GOOS, runtime.GOARCH, lambdaStartRuns)
	fmt.Printf("%-13s %11s %10s %11s %7s %10s %10s %10s\n", "function", "arm64 bytes", "MiB", "ceiling", "size", "start p50", "start min", "start max")
	var errs []error
	for _, fn := range lambdaFunctions {
		arm := filepath.Join(dir, "arm64", fn, "bootstrap")
		if err := lambdaBuild(root, arm, fn, "linux", "arm64"); err != nil {
			return err
		}
		st, err := os.Stat(arm)
		if err != nil {
			return err
		}
		verdict, ceiling := "ok", lambdaMaxBootstrap[fn]
		if st.Size() > ceiling {
			verdict = "OVER"
			errs = append(errs, fmt.Errorf("functions/%s: bootstrap is %d bytes, over its %d-byte ceiling", fn, st.Size(), ceiling))
		}
		host := filepath.Join(dir, "host", fn, "bootstrap")
		if err := lambdaBuild(root, host, fn, runtime.GOOS, runtime.GOARCH); err != nil {
			return err
		}
		var starts []time.Duration
		for i := range lambdaStartRuns + 1 {
			d, err := lambdaStartup(host, lambdaEnv)
			if err != nil {
				return fmt.Errorf("functions/%s: %w", fn, err)
			}
			if i > 0 {
				starts = append(starts, d)
			}
		}
		slices.Sort(starts)
		fmt.Printf("%-13s %11d %10.2f %11d %7s %10s %10s %10s\n", fn, st.Size(), float64(st.Size())/(1<<20), ceiling, verdict,
			starts[len(starts)/2].Round(10*time.Microsecond), starts[0].Round(10*time.Microsecond), starts[len(starts)-1].Round(10*time.Microsecond))
	}
	fmt.Println()
	return errors.Join(errs...)
}

// lambdaModuleRoot returns the folder of the main module's go.mod.
func lambdaModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the wiresk module")
	}
	return filepath.Dir(gomod), nil
}

// lambdaBuild builds functions/<fn> of the module at root for goos/goarch
// into out.
func lambdaBuild(root, out, fn, goos, goarch string) error {
	args := append([]string{"build"}, lambdaBuildFlags...)
	args = append(args, "-o", out, "./functions/"+fn)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build functions/%s for %s/%s: %w", fn, goos, goarch, err)
	}
	return nil
}

// lambdaStartup starts bin, with the environment env returns for the
// address of a fake Runtime API, and returns how long it took to ask for its
// first invocation. The process is killed then.
func lambdaStartup(bin string, env func(runtimeAPI string) []string) (time.Duration, error) {
	api := newFakeRuntimeAPI()
	defer api.close()
	cmd := exec.Command(bin)
	cmd.Env = env(strings.TrimPrefix(api.srv.URL, "http://"))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case at := <-api.next:
		return at.Sub(start), nil
	case msg := <-api.initError:
		return 0, fmt.Errorf("init error reported to the Runtime API: %s", msg)
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited before asking for an invocation (%v): %s", err, strings.TrimSpace(stderr.String()))
	case <-time.After(lambdaStartTimeout):
		return 0, fmt.Errorf("did not ask for an invocation within %s", lambdaStartTimeout)
	}
}

// fakeRuntimeAPI is the part of the Lambda Runtime API a function uses until
// its first invocation: it notes when GET /2018-06-01/runtime/invocation/next
// first arrives and holds that request (no invocation comes), and takes
// init errors.
type fakeRuntimeAPI struct {
	srv       *httptest.Server
	next      chan time.Time
	initError chan string
	stop      chan struct{}
	once      sync.Once
}

func newFakeRuntimeAPI() *fakeRuntimeAPI {
	a := &fakeRuntimeAPI{next: make(chan time.Time, 1), initError: make(chan string, 1), stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.next <- time.Now():
		default:
		}
		select {
		case <-r.Context().Done():
		case <-a.stop:
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		select {
		case a.initError <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	a.srv = httptest.NewServer(mux)
	return a
}

func (a *fakeRuntimeAPI) close() {
	a.once.Do(func() {
		close(a.stop)
		a.srv.Close()
	})
}
