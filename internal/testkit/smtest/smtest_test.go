package smtest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"wiresk/internal/testkit/smtest"
)

// call sends a raw JSON 1.1 request for op with body, and returns the
// status, the Content-Type and the body of the answer.
func call(t *testing.T, srv *smtest.Server, op, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// wantError checks that an answer is the error errType with message msg.
func wantError(t *testing.T, status int, contentType, body string, wantStatus int, errType, msg string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status = %d, want %d (body %s)", status, wantStatus, body)
	}
	if want := "application/x-amz-json-1.1"; contentType != want {
		t.Errorf("Content-Type = %q, want %q", contentType, want)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if got["__type"] != errType || got["message"] != msg {
		t.Errorf("error = %s, want __type %q and message %q", body, errType, msg)
	}
}

func TestErrorShape(t *testing.T) {
	srv := smtest.NewServer(t)
	status, ct, body := call(t, srv, "GetSecretValue", `{"SecretId":"missing"}`)
	if want := `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`; body != want {
		t.Errorf("body = %s, want %s", body, want)
	}
	wantError(t, status, ct, body, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func TestRawLifecycle(t *testing.T) {
	srv := smtest.NewServer(t)
	value := []byte{0, 1, 2, 0xfe, 0xff}
	b64 := base64.StdEncoding.EncodeToString(value)

	// CreateSecret answers ARN, Name and VersionId.
	status, _, body := call(t, srv, "CreateSecret", `{"Name":"app/db","SecretBinary":"`+b64+`","ClientRequestToken":"11111111-2222-4333-8444-555555555555"}`)
	if status != http.StatusOK {
		t.Fatalf("CreateSecret status = %d, want 200 (body %s)", status, body)
	}
	var created struct{ ARN, Name, VersionId string }
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	arnRE := regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-[A-Za-z0-9]{6}$`)
	if !arnRE.MatchString(created.ARN) || created.Name != "app/db" || created.VersionId != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("CreateSecret = %s, want an ARN matching %s, Name app/db and the request token as VersionId", body, arnRE)
	}

	status, ct, body := call(t, srv, "CreateSecret", `{"Name":"app/db","SecretString":"x"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret app/db already exists.")

	// GetSecretValue by name and by ARN answers the value in base64.
	for _, id := range []string{"app/db", created.ARN} {
		status, _, body = call(t, srv, "GetSecretValue", `{"SecretId":"`+id+`"}`)
		var got struct {
			ARN, Name, VersionId string
			SecretBinary         []byte
			VersionStages        []string
			CreatedDate          float64
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusOK {
			t.Fatalf("GetSecretValue(%s) = %d %s, %v", id, status, body, err)
		}
		if string(got.SecretBinary) != string(value) || got.ARN != created.ARN || len(got.VersionStages) != 1 || got.VersionStages[0] != "AWSCURRENT" || got.CreatedDate <= 0 {
			t.Errorf("GetSecretValue(%s) = %s, want the value, the ARN, stage AWSCURRENT and a CreatedDate", id, body)
		}
	}

	// DeleteSecret refuses both ways of deleting and a window out of range.
	status, ct, body = call(t, srv, "DeleteSecret", `{"SecretId":"app/db","RecoveryWindowInDays":7,"ForceDeleteWithoutRecovery":true}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	status, ct, body = call(t, srv, "DeleteSecret", `{"SecretId":"app/db","RecoveryWindowInDays":6}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")

	status, _, body = call(t, srv, "DeleteSecret", `{"SecretId":"app/db","RecoveryWindowInDays":7}`)
	var deleted struct {
		ARN, Name    string
		DeletionDate float64
	}
	if err := json.Unmarshal([]byte(body), &deleted); err != nil || status != http.StatusOK || deleted.DeletionDate <= 0 {
		t.Fatalf("DeleteSecret = %d %s, %v; want 200 with a DeletionDate", status, body, err)
	}
	if exists, pending, days := srv.Secret("app/db"); !exists || !pending || days != 7 {
		t.Errorf("Secret = %v, %v, %d; want true, true, 7", exists, pending, days)
	}

	// A secret scheduled for deletion refuses reads, writes and re-creation.
	const marked = "You can't perform this operation on the secret because it was marked for deletion."
	status, ct, body = call(t, srv, "GetSecretValue", `{"SecretId":"app/db"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidRequestException", marked)
	status, ct, body = call(t, srv, "PutSecretValue", `{"SecretId":"app/db","SecretString":"y"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidRequestException", marked)
	status, ct, body = call(t, srv, "DeleteSecret", `{"SecretId":"app/db"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidRequestException", marked)
	status, ct, body = call(t, srv, "CreateSecret", `{"Name":"app/db","SecretString":"y"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")

	// DescribeSecret still answers, with the DeletedDate.
	status, _, body = call(t, srv, "DescribeSecret", `{"SecretId":"app/db"}`)
	if !strings.Contains(body, `"DeletedDate":`) || status != http.StatusOK {
		t.Errorf("DescribeSecret = %d %s, want 200 with a DeletedDate", status, body)
	}

	// RestoreSecret brings it back, value and all.
	if status, _, body = call(t, srv, "RestoreSecret", `{"SecretId":"app/db"}`); status != http.StatusOK {
		t.Fatalf("RestoreSecret = %d %s, want 200", status, body)
	}
	if status, _, body = call(t, srv, "GetSecretValue", `{"SecretId":"app/db"}`); status != http.StatusOK || !strings.Contains(body, b64) {
		t.Errorf("GetSecretValue after RestoreSecret = %d %s, want 200 with the value", status, body)
	}

	// Forcing deletes at once, and is not an error for a missing secret.
	for range 2 {
		if status, _, body = call(t, srv, "DeleteSecret", `{"SecretId":"app/db","ForceDeleteWithoutRecovery":true}`); status != http.StatusOK {
			t.Errorf("DeleteSecret(force) = %d %s, want 200", status, body)
		}
	}
	if exists, _, _ := srv.Secret("app/db"); exists {
		t.Error("Secret exists after a forced deletion, want not")
	}
}

func TestRawBadRequests(t *testing.T) {
	srv := smtest.NewServer(t)
	status, ct, body := call(t, srv, "CreateSecret", `{"Name":"bad name","SecretString":"x"}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidParameterException",
		"Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	status, ct, body = call(t, srv, "CreateSecret", `{"Name":"both","SecretString":"x","SecretBinary":"eA=="}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "InvalidParameterException",
		"You can't specify both a binary secret value and a string secret value in the same secret.")
	status, ct, body = call(t, srv, "ListSecrets", `{}`)
	wantError(t, status, ct, body, http.StatusBadRequest, "UnknownOperationException", "")

	// An unsigned request is refused.
	resp, err := http.Post(srv.URL()+"/", "application/x-amz-json-1.1", strings.NewReader(`{"SecretId":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusForbidden; got != want {
		t.Errorf("unsigned request status = %d, want %d", got, want)
	}
	if got, want := srv.Calls("CreateSecret"), 2; got != want {
		t.Errorf("Calls(CreateSecret) = %d, want %d", got, want)
	}
}

func TestSDKClientSeesTypedErrors(t *testing.T) {
	srv := smtest.NewServer(t)
	c := srv.Client()
	ctx := t.Context()
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "Secrets Manager can't find the specified secret." {
		t.Errorf("GetSecretValue(missing) = %v, want a *types.ResourceNotFoundException with the service's message", err)
	}

	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v2")})
	var exists *types.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Errorf("CreateSecret(existing) = %v, want a *types.ResourceExistsException", err)
	}

	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
	if err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(10)})
	if err != nil || del.DeletionDate == nil {
		t.Fatalf("DeleteSecret = %+v, %v; want a DeletionDate", del, err)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	var ir *types.InvalidRequestException
	if !errors.As(err, &ir) {
		t.Errorf("GetSecretValue(scheduled) = %v, want a *types.InvalidRequestException", err)
	}
	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || desc.DeletedDate == nil || len(desc.VersionIdsToStages[*put.VersionId]) == 0 {
		t.Errorf("DescribeSecret = %+v, %v; want a DeletedDate and the current version", desc, err)
	}
	if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || aws.ToString(got.SecretString) != "v2" || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) {
		t.Errorf("GetSecretValue = %+v, %v; want v2 at version %s", got, err, aws.ToString(put.VersionId))
	}
	prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "v1" {
		t.Errorf("GetSecretValue(AWSPREVIOUS) = %+v, %v; want v1", prev, err)
	}
}
