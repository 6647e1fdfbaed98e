package dynamo_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/logging"

	"wiresk/internal/dynamo"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// sdkLog records what the SDK logs through a client's Logger.
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, args...))
}

func (l *sdkLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// headerCounter is an HTTP client that counts the DynamoDB responses
// without an X-Amz-Crc32 header.
type headerCounter struct {
	next      dynamodb.HTTPClient
	responses atomic.Int64
	without   atomic.Int64
}

func (c *headerCounter) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if err == nil {
		c.responses.Add(1)
		if resp.Header.Get("X-Amz-Crc32") == "" {
			c.without.Add(1)
		}
	}
	return resp, err
}

// TestNoChecksumWarningsUnderLoad runs concurrent store calls that DynamoDB
// Local partly refuses (a Group or Run created twice): its refusals carry no
// X-Amz-Crc32 header, on which the SDK's own check logged a warning per
// response.
func TestNoChecksumWarningsUnderLoad(t *testing.T) {
	log := &sdkLog{}
	counter := &headerCounter{next: http.DefaultClient}
	client := newClient(func(o *dynamodb.Options) {
		o.Logger = log
		counter.next = o.HTTPClient
		o.HTTPClient = counter
	})
	s := dynamo.New(client, newTable(t, client), dynamo.Options{})
	ctx := t.Context()

	const workers, rounds = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				g := fmt.Sprintf("grp_%d", i)
				err := s.CreateGroup(ctx, group.Group{ID: g, Name: g, CreatedAt: t0}, group.Member{GroupID: g, UserID: "u1", Role: group.RoleOwner, AddedAt: t0})
				if err != nil && !errors.Is(err, wiresk.ErrConflict) {
					errs <- fmt.Errorf("worker %d: CreateGroup %s: %w", w, g, err)
				}
				if _, err := s.CreateRun(ctx, newRun(g, "run_1", "flw_1", "", t0, run.Queued)); err != nil {
					errs <- fmt.Errorf("worker %d: CreateRun in %s: %w", w, g, err)
				}
				if _, err := s.GetRun(ctx, g, "run_1"); err != nil {
					errs <- fmt.Errorf("worker %d: GetRun in %s: %w", w, g, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The load must have met the responses the SDK mis-checked, or the
	// test proves nothing.
	if got, min := counter.without.Load(), int64(workers*rounds); got < min {
		t.Fatalf("%d of %d responses had no X-Amz-Crc32 header, want at least %d (the refused creations)", got, counter.responses.Load(), min)
	}
	var warnings []string
	for _, l := range log.Lines() {
		if strings.HasPrefix(l, string(logging.Warn)) {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) > 0 {
		t.Fatalf("the SDK logged %d warnings over %d responses, want none; first: %s", len(warnings), counter.responses.Load(), warnings[0])
	}
}

// TestResponseChecksum checks what ValidateResponseChecksum does with each
// kind of X-Amz-Crc32 header, against a server that answers ListTables.
func TestResponseChecksum(t *testing.T) {
	const body = `{"TableNames":["wiresk"]}`
	sum := strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10)
	cases := []struct {
		name, header string
		wantWarning  string // a fragment of the one warning logged; "" for none
		wantErr      bool
	}{
		{name: "matching", header: sum},
		{name: "absent", header: ""},
		{name: "mismatched", header: "12345", wantWarning: "its X-Amz-Crc32 header says 12345"},
		{name: "not a number", header: "abc", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				if c.header != "" {
					w.Header().Set("X-Amz-Crc32", c.header)
				}
				fmt.Fprint(w, body)
			}))
			defer srv.Close()
			log := &sdkLog{}
			client := dynamodb.New(dynamodb.Options{
				Region:       "us-east-1",
				Credentials:  credentials.NewStaticCredentialsProvider("wiresk", "wiresk", ""),
				BaseEndpoint: aws.String(srv.URL),
				Logger:       log,
			}, dynamo.ValidateResponseChecksum)

			out, err := client.ListTables(t.Context(), &dynamodb.ListTablesInput{})
			if c.wantErr {
				if err == nil {
					t.Fatalf("ListTables with X-Amz-Crc32 %q: err = nil, want an error", c.header)
				}
				return
			}
			if err != nil {
				t.Fatalf("ListTables: %v", err)
			}
			if got := out.TableNames; len(got) != 1 || got[0] != "wiresk" {
				t.Errorf("TableNames = %v, want [wiresk]", got)
			}
			lines := log.Lines()
			switch {
			case c.wantWarning == "" && len(lines) != 0:
				t.Errorf("logged %q, want nothing", lines)
			case c.wantWarning != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], string(logging.Warn)) || !strings.Contains(lines[0], c.wantWarning)):
				t.Errorf("logged %q, want one warning with %q", lines, c.wantWarning)
			}
		})
	}
}
