package s3blob

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
)

// CreateBucket creates bucket, for tests and local setups (in AWS the SAM
// template creates it, with its encryption, public access block and
// lifecycle rule). A bucket that exists and that the caller may use is no
// error: S3 answers BucketAlreadyOwnedByYou, gofakes3 BucketAlreadyExists
// (which S3 answers for another account's bucket), so an existing bucket is
// confirmed with HeadBucket. Errors are S3's, wrapped with the bucket's name.
func CreateBucket(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	var api smithy.APIError
	switch {
	case err == nil, errors.As(err, &owned), errors.As(err, &api) && api.ErrorCode() == "BucketAlreadyOwnedByYou":
		return nil
	case errors.As(err, &exists), errors.As(err, &api) && api.ErrorCode() == "BucketAlreadyExists":
		if _, herr := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); herr != nil {
			return fmt.Errorf("create bucket %s: it exists and cannot be used: %w", bucket, herr)
		}
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}
