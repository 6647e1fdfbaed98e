package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goawsRegion is the region of the goaws server's queue ARNs. Clients must
// sign for some region; us-east-1 matches the one the tests configure.
const goawsRegion = "us-east-1"

// goawsAccount is the account id in the goaws server's queue URLs and ARNs.
const goawsAccount = "000000000000"

// goawsReady bounds the wait for a starting goaws to accept connections.
const goawsReady = 30 * time.Second

// GoAWS starts goaws (an Amazon SQS-compatible server speaking the SDK's
// JSON protocol, pinned at v0.5.4) on a free port for the test, stops it when
// the test ends, and returns its endpoint URL, such as
// "http://127.0.0.1:4711", for an SQS client's BaseEndpoint. Each call starts
// a separate server with no queues; its region is us-east-1 and its account
// id 000000000000.
//
// The binary is $WIRESK_GOAWS_BIN, else .cache/bin/goaws under the module
// root; if it is missing, or goaws does not start, the test fails with
// instructions (`make emulators`). goaws's own command listens on 0.0.0.0
// with no option to bind elsewhere: `make emulators` builds it from
// internal/testkit/emulator/goaws, which runs the same server on 127.0.0.1, and the
// test fails if it listens on any other address (an older build of goaws's
// own command does).
func GoAWS(tb testing.TB) string {
	tb.Helper()
	endpoint, stop := startGoAWS(tb)
	tb.Cleanup(stop)
	return endpoint
}

// StartGoAWS is GoAWS for a TestMain that shares one goaws process among the
// tests of a package: it returns the endpoint URL and a stop function, which
// kills the process and removes its temporary files and must be called once
// the tests are done. Its error says what is missing or why goaws did not
// start, with the same instructions as GoAWS.
func StartGoAWS() (endpoint string, stop func(), err error) {
	tb := &goawsTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(goawsFatal); !ok {
				panic(r)
			}
			tb.cleanup()
			endpoint, stop, err = "", nil, errors.New(tb.failure)
		}
	}()
	endpoint, stopServer := startGoAWS(tb)
	return endpoint, func() {
		stopServer()
		tb.cleanup()
	}, nil
}

// startGoAWS starts a goaws server and returns its endpoint and the function
// that stops it. It fails tb if goaws cannot be started.
func startGoAWS(tb testing.TB) (endpoint string, stop func()) {
	tb.Helper()
	bin := locate(tb, "WIRESK_GOAWS_BIN", "bin/goaws")
	unlock := lockPorts(tb)
	defer unlock()
	port := freePort(tb)
	dir, err := os.MkdirTemp("", "wiresk-goaws-")
	if err != nil {
		tb.Fatalf("create the goaws directory: %v", err)
	}
	removeDir := func() { os.RemoveAll(dir) }
	config := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(config, goawsConfig(port), 0o600); err != nil {
		removeDir()
		tb.Fatalf("write the goaws config: %v", err)
	}

	// The environment name is goaws's only positional argument; without
	// -config it would search the working directory for a goaws.yaml.
	cmd := exec.Command(bin, "-config", config, "-loglevel", "warn", "Local")
	cmd.Dir = dir
	logs := &goawsLogs{}
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		removeDir()
		tb.Fatalf("start goaws %s: %v (run `make emulators` to install it)", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop = sync.OnceFunc(func() {
		cmd.Process.Kill()
		<-exited
		removeDir()
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ok := false
	defer func() {
		if !ok { // waitTCP failed tb.
			stop()
		}
	}()
	waitTCP(tb, cmd.Process.Pid, addr, goawsReady, exited, logs.String)
	unlock()
	requireLoopbackOnly(tb, "goaws ("+bin+")", port,
		"it is a build of goaws's own command; run `make emulators` to build the loopback one from internal/testkit/emulator/goaws")
	ok = true
	return "http://" + addr, stop
}

// goawsConfig returns the goaws configuration of a server listening on port,
// with no queues or topics. The queue URLs it makes are
// http://us-east-1.localhost:PORT/000000000000/NAME; the SQS client sends
// its requests to its endpoint whatever the host of a queue URL, and goaws
// finds queues by the last segment of the URL.
func goawsConfig(port int) []byte {
	return fmt.Appendf(nil, `Local:
  Host: localhost
  Port: "%d"
  Region: %s
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
  RandomLatency:
    Min: 0
    Max: 0
`, port, goawsRegion, goawsAccount)
}

// goawsLogs collects a goaws process's output, for the failure message of a
// server that did not start.
type goawsLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *goawsLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *goawsLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// goawsTB lets StartGoAWS, which runs outside any test, use the helpers that
// take a testing.TB: Fatalf records the failure and unwinds with a
// goawsFatal panic, which StartGoAWS recovers into its error. The helpers
// call only Helper, Fatalf and Cleanup; any other method panics.
type goawsTB struct {
	testing.TB
	failure  string
	cleanups []func()
}

// goawsFatal is the panic value of goawsTB.Fatalf.
type goawsFatal struct{}

func (*goawsTB) Helper() {}

func (t *goawsTB) Fatalf(format string, args ...any) {
	t.failure = fmt.Sprintf(format, args...)
	panic(goawsFatal{})
}

func (t *goawsTB) Fatal(args ...any) {
	t.failure = fmt.Sprint(args...)
	panic(goawsFatal{})
}

func (t *goawsTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// cleanup runs the functions given to Cleanup, last first.
func (t *goawsTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
