package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"wiresk/internal/run"
	"wiresk/internal/s3blob"
	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/testkit/emulator"
	"wiresk/internal/wiresk"
)

// client returns the real SDK client for the S3 emulator at endpoint.
func client(endpoint string) *s3.Client {
	return s3.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("wiresk", "wiresk", ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

var buckets atomic.Int64

// open returns a store on a fresh bucket of one S3 emulator per test.
func open(t *testing.T) *s3blob.Store {
	c := client(emulator.S3(t))
	bucket := "wiresk-bodies-" + string(rune('a'+buckets.Add(1)%26))
	if err := s3blob.CreateBucket(t.Context(), c, bucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	// Twice: creating the bucket again is no error.
	if err := s3blob.CreateBucket(t.Context(), c, bucket); err != nil {
		t.Fatalf("create the bucket again: %v", err)
	}
	return s3blob.New(c, bucket)
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Store { return open(t) })
}

// TestMissingBucketIsNotNotFound: a bucket that does not exist (a stack
// misconfigured) is a failure to retry, never "this body is gone", which
// would fail the Run for good.
func TestMissingBucketIsNotNotFound(t *testing.T) {
	s := s3blob.New(client(emulator.S3(t)), "no-such-bucket")
	key := run.StoredBody("grp_x", "run_x", []byte("x")).Key
	if err := s.Put(t.Context(), key, []byte("x")); err == nil {
		t.Fatal("Put to a missing bucket succeeded")
	}
	_, err := s.Get(t.Context(), key)
	if err == nil || errors.Is(err, wiresk.ErrNotFound) {
		t.Fatalf("Get from a missing bucket: %v, want an error that is not not_found", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key", err)
	}
}

// TestNoCallForAMalformedKey: the key is checked before any request.
func TestNoCallForAMalformedKey(t *testing.T) {
	s := s3blob.New(nil, "bucket") // a call would panic on the nil client
	if err := s.Put(context.Background(), "bodies/../x/y", []byte("x")); wiresk.ErrorCode(err) != wiresk.EInvalid {
		t.Fatalf("Put: %v", err)
	}
}

// TestObjectIsStoredAsSent: what the SDK sends is the object, read back by
// another client (no chunk framing or trailer left in it).
func TestObjectIsStoredAsSent(t *testing.T) {
	endpoint := emulator.S3(t)
	c := client(endpoint)
	if err := s3blob.CreateBucket(t.Context(), c, "bodies"); err != nil {
		t.Fatal(err)
	}
	body := blobtest.Random(7, 1<<20+3)
	ref := run.StoredBody("grp_x", "run_x", body)
	if err := s3blob.New(c, "bodies").Put(t.Context(), ref.Key, body); err != nil {
		t.Fatal(err)
	}
	out, err := client(endpoint).GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("bodies"), Key: &ref.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), body) || out.ContentLength == nil || *out.ContentLength != int64(len(body)) {
		t.Fatalf("object has %d bytes (Content-Length %v), want the %d sent", got.Len(), out.ContentLength, len(body))
	}
}
