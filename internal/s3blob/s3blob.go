// Package s3blob is the Amazon S3 adapter of the body store: each webhook
// body stored by reference (run.BodyRef) is one object of the stack's body
// bucket, under its key (bodies/<groupId>/<runId>/<sha256>). The bucket's
// lifecycle rule expires them (template.yaml); the adapter never deletes.
//
// The tests run the adapter against gofakes3 (an S3 protocol implementation
// in the test process) with path-style addressing, as NewFromConfig's
// PathStyle option gives; on AWS the SDK's default (virtual-hosted) style is
// used.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"

	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// API is the part of the S3 client the store calls.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ API = (*s3.Client)(nil)

// Store keeps bodies in one S3 bucket. It is safe for concurrent use.
//
// Errors: a missing object is an error wrapping wiresk.ErrNotFound; a key
// not of run.StoredBody's form is an invalid_request *wiresk.Error, refused
// before any call; a done context is ctx.Err(); any other failure (a missing
// bucket or a refused permission included: no redelivery can cure those,
// but neither is the object known to be gone) is an error naming the
// operation and the key, wrapping the SDK's. Errors never contain a body.
type Store struct {
	client API
	bucket string
}

// New returns the store of bucket through client. It makes no call to S3.
func New(client API, bucket string) *Store {
	return &Store{client: client, bucket: bucket}
}

// Options configures NewFromConfig.
type Options struct {
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// rather than in the host name: for emulators on a loopback address.
	PathStyle bool
}

// NewFromConfig returns the store of bucket with an S3 client made from
// cfg.
func NewFromConfig(cfg aws.Config, bucket string, o Options) *Store {
	return New(s3.NewFromConfig(cfg, func(so *s3.Options) { so.UsePathStyle = o.PathStyle }), bucket)
}

// Put stores body under key (replacing what was there) with one PutObject
// call; it returns once S3 has stored the object. The bucket's default
// encryption (SSE-S3) applies.
func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if !run.ValidBodyKey(key) {
		return errBadKey(key)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/octet-stream"),
	})
	if err != nil {
		return fail(ctx, "put body", key, err)
	}
	return nil
}

// Get returns the body stored under key with one GetObject call.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if !run.ValidBodyKey(key) {
		return nil, errBadKey(key)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, fail(ctx, "get body", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if out.ContentLength != nil && *out.ContentLength > 0 {
		buf.Grow(int(*out.ContentLength))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, fail(ctx, "get body", key, err)
	}
	return buf.Bytes(), nil
}

func errBadKey(key string) error {
	return wiresk.Errorf(wiresk.EInvalid, "%q is not a body key (bodies/<groupId>/<runId>/<sha256>)", key)
}

// fail translates an SDK error: NoSuchKey (or a 404 without a code, as a
// HEAD-like answer has) wraps wiresk.ErrNotFound.
func fail(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var nsk *types.NoSuchKey
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return fmt.Errorf("%s %s: %w (%w)", op, key, wiresk.ErrNotFound, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}
