package deploy_test

import (
	"testing"

	"wiresk/infra/deploy"
	"wiresk/internal/run"
)

// TestBodyBucket: the bucket of the webhook bodies stored by reference is
// encrypted, never public, reachable over TLS only, kept when the stack is
// deleted like the table, and expires what is under bodies/ (where the
// keys run.StoredBody gives are) with the Runs: after RunRetentionDays,
// never when it is 0.
func TestBodyBucket(t *testing.T) {
	for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if got := lookup(t, "Resources", "BodyBucket", policy); got != "Retain" {
			t.Errorf("BodyBucket %s: got %v, want Retain", policy, got)
		}
	}
	if got := lookup(t, "Resources", "BodyBucket", "Type"); got != "AWS::S3::Bucket" {
		t.Fatalf("BodyBucket Type: %v", got)
	}
	props := func(path ...any) any {
		return lookup(t, append([]any{"Resources", "BodyBucket", "Properties"}, path...)...)
	}
	wantSSE := []any{map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}
	if got := props("BucketEncryption", "ServerSideEncryptionConfiguration"); !jsonEqual(t, got, wantSSE) {
		t.Errorf("encryption: got %s, want SSE-S3", show(got))
	}
	wantBlock := map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
	if got := props("PublicAccessBlockConfiguration"); !jsonEqual(t, got, wantBlock) {
		t.Errorf("public access block: got %s, want %s", show(got), show(wantBlock))
	}
	if got := props("OwnershipControls", "Rules"); !jsonEqual(t, got, []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}) {
		t.Errorf("ownership: got %s, want ACLs disabled (BucketOwnerEnforced)", show(got))
	}
	wantRules := []any{map[string]any{
		"Id": "ExpireBodies", "Prefix": run.BodyKeyPrefix,
		"Status":           map[string]any{"Fn::If": []any{"KeepRunsForever", "Disabled", "Enabled"}},
		"ExpirationInDays": map[string]any{"Fn::If": []any{"KeepRunsForever", 1, deploy.Ref("RunRetentionDays")}},
	}}
	if got := props("LifecycleConfiguration", "Rules"); !jsonEqual(t, got, wantRules) {
		t.Errorf("lifecycle: got %s, want %s", show(got), show(wantRules))
	}
	wantCond := map[string]any{"Fn::Equals": []any{deploy.Ref("RunRetentionDays"), "0"}}
	if got := lookup(t, "Conditions", "KeepRunsForever"); !jsonEqual(t, got, wantCond) {
		t.Errorf("KeepRunsForever: got %s, want %s", show(got), show(wantCond))
	}
	// TLS only: every request over plain HTTP is denied, on the bucket and
	// its objects. The policy denies only.
	if got := lookup(t, "Resources", "BodyBucketPolicy", "Properties", "Bucket"); got != deploy.Ref("BodyBucket") {
		t.Errorf("BodyBucketPolicy Bucket: %v", got)
	}
	wantPolicy := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
		"Resource":  []any{deploy.GetAtt("BodyBucket", "Arn"), deploy.Sub("${BodyBucket.Arn}/*")},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}}}
	if got := lookup(t, "Resources", "BodyBucketPolicy", "Properties", "PolicyDocument"); !jsonEqual(t, got, wantPolicy) {
		t.Errorf("bucket policy: got %s, want %s", show(got), show(wantPolicy))
	}
}
