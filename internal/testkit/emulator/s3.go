package emulator

import (
	"net"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 starts gofakes3 (an Amazon S3 protocol implementation, pinned at
// v1.2.0 in go.mod) in the test process, its objects in memory, on a free
// port of 127.0.0.1, stops it when the test ends, and returns its endpoint
// URL, such as "http://127.0.0.1:4711", for an S3 client's BaseEndpoint with
// path-style addressing (s3.Options.UsePathStyle). Each call starts a
// separate server with no buckets; it takes any credentials and region. A
// server that cannot listen on loopback alone fails the test.
func S3(tb testing.TB) string {
	tb.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("S3 emulator: listen on 127.0.0.1: %v", err)
	}
	srv := httptest.NewUnstartedServer(faker.Server())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	tb.Cleanup(srv.Close)
	requireLoopbackOnly(tb, "the S3 emulator", l.Addr().(*net.TCPAddr).Port, "it is started on 127.0.0.1 by emulator.S3")
	return "http://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
