package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"wiresk/internal/testkit/blobtest"
	"wiresk/internal/testkit/emulator"
)

// TestFiveMiBBinaryBodyRoundTrips: a 5 MiB random binary webhook body,
// stored by reference in the data directory, reaches a step byte for
// byte (forwardTriggerBody), and so does its replay; the runner's other
// raw bodies (rawBodies) on the same runner.
func TestFiveMiBBinaryBodyRoundTrips(t *testing.T) {
	dir := t.TempDir()
	r := startRunner(t, dir, true)
	key := bigBody(t, r)
	if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil || st.Size() != 5<<20 {
		t.Fatalf("the body in the data directory: %v", err)
	}
	if n := countFiles(t, filepath.Join(dir, "bodies")); n != 1 {
		t.Errorf("the data directory's bodies/ holds %d files, want the one body", n)
	}
	rawBodies(t, r)
}

// TestFiveMiBBinaryBodyRoundTripsOnEmulators does the same on DynamoDB
// Local, goaws and the S3 emulator (the body in its bucket, none in the
// data directory).
func TestFiveMiBBinaryBodyRoundTripsOnEmulators(t *testing.T) {
	dir := t.TempDir()
	s3URL := emulator.S3(t)
	env := append(emulatorsWithEmbeddedVault(t), "WIRESK_BODY_BUCKET=wiresk-bodies", "AWS_ENDPOINT_URL_S3="+s3URL)
	r := startRunner(t, dir, true, env...)
	key := bigBody(t, r)
	client := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("wiresk", "wiresk", "")},
		func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(s3URL), true })
	out, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("wiresk-bodies"), Key: &key})
	if err != nil || out.ContentLength == nil || *out.ContentLength != 5<<20 {
		t.Fatalf("the body in the bucket: %+v, %v", out, err)
	}
	if n := countFiles(t, filepath.Join(dir, "bodies")); n != 0 {
		t.Errorf("the data directory holds %d bodies, want none (they are in S3)", n)
	}
	rawBodies(t, r)
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// bigBody sends the 5 MiB body and checks what the step received, the Run
// as the API shows it, and the replay; it returns the body's key.
func bigBody(t *testing.T, r *runner) string {
	tg := newRawTarget(t)
	k, tr := keyedFlow(t, r, "Relay a file", []any{
		map[string]any{"id": "forward", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/forward", "forwardTriggerBody": true}},
		map[string]any{"id": "size", "app": "http", "method": "request", "input": map[string]any{
			"method": "POST", "url": tg.URL + "/size", "body": map[string]any{"base64Length": "{{ len(trigger.rawBody) }}", "encoding": "{{ trigger.rawBodyEncoding }}"}}},
	})

	body := blobtest.Random(2026, 5<<20)
	sum := sha256.Sum256(body)
	req, err := http.NewRequest("POST", tr.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", k.Key)
	req.Header.Set("Content-Type", "application/zip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ RunID string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("5 MiB webhook answered %d", resp.StatusCode)
	}
	if v := r.waitRun(t, "grp_dev", out.RunID); v.Status != "succeeded" {
		t.Fatalf("Run %+v", v)
	}
	got := tg.last(t, "/forward", 1)
	if !bytes.Equal(got.body, body) || got.contentType != "application/zip" {
		t.Fatalf("the step forwarded %d bytes (%s), want the %d bytes sent (application/zip)", len(got.body), got.contentType, len(body))
	}
	var size struct {
		Base64Length float64
		Encoding     string
	}
	if err := json.Unmarshal(tg.last(t, "/size", 1).body, &size); err != nil || size.Encoding != "base64" || size.Base64Length != float64((len(body)+2)/3*4) {
		t.Errorf("templates saw %+v (%v), want the whole body as base64", size, err)
	}

	// The Run shows the reference: size and SHA-256, not the bytes.
	var view struct {
		Request struct {
			BodyBase64 []byte
			BodyRef    *struct {
				Key    string
				Size   int64
				SHA256 string
			}
			BodyTruncated bool
		}
	}
	r.mustCall(t, 200, "GET", "/v1/groups/grp_dev/runs/"+out.RunID, nil, &view)
	ref := view.Request.BodyRef
	if ref == nil || ref.Size != int64(len(body)) || ref.SHA256 != hex.EncodeToString(sum[:]) || view.Request.BodyBase64 != nil || view.Request.BodyTruncated {
		t.Fatalf("GET run request: %+v", view.Request)
	}

	var replay struct{ RunID string }
	r.mustCall(t, 202, "POST", "/v1/groups/grp_dev/runs/"+out.RunID+"/replay", nil, &replay)
	if v := r.waitRun(t, "grp_dev", replay.RunID); v.Status != "succeeded" {
		t.Fatalf("replay %+v", v)
	}
	if again := tg.last(t, "/forward", 2); !bytes.Equal(again.body, body) {
		t.Errorf("the replay forwarded %d bytes, want the %d bytes first sent", len(again.body), len(body))
	}
	return ref.Key
}
