// Package smtest is a test double of the AWS Secrets Manager wire protocol.
// It is NOT an emulator of Secrets Manager: it is a small httptest server,
// owned by this project, that answers the JSON 1.1 protocol (POST /,
// X-Amz-Target: secretsmanager.<Operation>, Content-Type:
// application/x-amz-json-1.1) well enough for the real aws-sdk-go-v2 client
// to run against it in tests, with the response fields and error shapes of
// the Secrets Manager API reference.
//
// It covers these operations, and only these:
//
//   - CreateSecret (Name, SecretBinary or SecretString, ClientRequestToken),
//   - GetSecretValue (SecretId, VersionId, VersionStage),
//   - PutSecretValue (SecretId, SecretBinary or SecretString, ClientRequestToken),
//   - DeleteSecret (SecretId, RecoveryWindowInDays, ForceDeleteWithoutRecovery),
//   - RestoreSecret (SecretId),
//   - DescribeSecret (SecretId).
//
// Errors have the wire shape of the real service: HTTP 400 and a body such as
// {"__type":"ResourceNotFoundException","message":"Secrets Manager can't find
// the specified secret."}. It answers ResourceNotFoundException for a missing
// secret, ResourceExistsException for CreateSecret of an existing name,
// InvalidRequestException for an operation on a secret scheduled for
// deletion (DescribeSecret and RestoreSecret excepted),
// InvalidParameterException and ValidationException for bad parameters,
// UnknownOperationException for any other operation, and
// MissingAuthenticationToken (403) for an unsigned request.
//
// What it does not do: it checks that a request carries a SigV4
// Authorization header but never verifies the signature; it ignores tags,
// KMS keys, descriptions, replication, rotation and resource policies; a
// SecretId is a name or a full ARN (never a partial ARN); and a secret
// scheduled for deletion stays scheduled until it is restored or
// force-deleted, as no clock ends its recovery window.
package smtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Region and Account are the region and the account ID of the ARNs the
// server returns; Client uses Region.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// The staging labels of the current and the previous version of a secret.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// The error messages of the real service.
const (
	msgNotFound        = "Secrets Manager can't find the specified secret."
	msgMarkedDeleted   = "You can't perform this operation on the secret because it was marked for deletion."
	msgCreateScheduled = "You can't create this secret because a secret with this name is already scheduled for deletion."
	msgBothValues      = "You can't specify both a binary secret value and a string secret value in the same secret."
	msgNoValue         = "You must provide either SecretString or SecretBinary."
	msgForceAndWindow  = "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
	msgWindowRange     = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
	msgBadName         = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
)

// maxBody bounds a request body; the largest valid request (a 64 KiB value,
// base64-encoded, plus the other members) is far below it.
const maxBody = 1 << 20

// maxValue is the largest SecretBinary or SecretString the service accepts.
const maxValue = 65536

// nameRE matches the names CreateSecret accepts.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]{1,512}$`)

// Server is the test double. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string]*secret // by name
	calls    map[string]int
	requests map[string][]json.RawMessage
	injected map[string][]canned
	now      func() time.Time
}

// secret is one stored secret.
type secret struct {
	name, arn    string
	created      time.Time
	changed      time.Time
	deleted      time.Time // zero unless scheduled for deletion
	recoveryDays int
	versions     map[string]*version // by version ID
}

// version is one version of a secret.
type version struct {
	id      string
	binary  []byte
	str     *string
	created time.Time
	stages  []string
}

// canned is an injected response.
type canned struct {
	status int
	body   string
}

// NewServer starts a server with no secrets and closes it when tb ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		secrets:  make(map[string]*secret),
		calls:    make(map[string]int),
		requests: make(map[string][]json.RawMessage),
		injected: make(map[string][]canned),
		now:      time.Now,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL of the server, http://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// Client returns a real Secrets Manager client of aws-sdk-go-v2 that sends
// its requests to the server: static credentials, region Region,
// BaseEndpoint the server's URL, and the server's HTTP client.
func (s *Server) Client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSMTEST", "smtest-secret-access-key", ""),
		BaseEndpoint: aws.String(s.srv.URL),
		HTTPClient:   s.srv.Client(),
	})
}

// Calls returns how many requests for the operation op (such as
// "GetSecretValue") the server has received, injected responses included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Requests returns the JSON bodies of the requests for the operation op, in
// the order received. They contain secret values as sent.
func (s *Server) Requests(op string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.requests[op]...)
}

// Secret reports whether a secret named name exists (active or scheduled for
// deletion), whether it is scheduled for deletion, and if so its recovery
// window in days.
func (s *Server) Secret(name string) (exists, pendingDeletion bool, recoveryDays int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return false, false, 0
	}
	if sec.deleted.IsZero() {
		return true, false, 0
	}
	return true, true, sec.recoveryDays
}

// Inject makes the server answer the next request for the operation op with
// status and body (sent as application/x-amz-json-1.1) instead of handling
// it. Injected responses queue up in order, and do not change the stored
// secrets.
func (s *Server) Inject(op string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected[op] = append(s.injected[op], canned{status: status, body: body})
}

// apiError is an error answer of the protocol.
type apiError struct {
	status int
	typ    string
	msg    string
}

// errorBody is the JSON body of an error.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// notFound is the error of an operation on a missing secret.
func notFound() *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", msgNotFound}
}

// markedDeleted is the error of an operation on a secret scheduled for
// deletion.
func markedDeleted() *apiError {
	return &apiError{http.StatusBadRequest, "InvalidRequestException", msgMarkedDeleted}
}

// invalidParameter is the error of a parameter value the service refuses.
func invalidParameter(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", msg}
}

// validation is the error of a member that breaks a modelled constraint.
func validation(member, constraint string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException",
		fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: %s", member, constraint)}
}

// serveHTTP checks the protocol envelope, then dispatches on the target.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &apiError{http.StatusNotFound, "UnknownOperationException", ""})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, &apiError{http.StatusForbidden, "MissingAuthenticationToken",
			"The request must contain either a valid (registered) AWS access key ID or X.509 certificate."})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	if !ok {
		writeError(w, &apiError{http.StatusBadRequest, "UnknownOperationException", ""})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException",
			fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.1", ct)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, &apiError{http.StatusRequestEntityTooLarge, "SerializationException", "request body too large"})
		return
	}

	status, payload := s.handle(op, body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(status)
	_, _ = w.Write(payload)
}

// handle records a request for op and answers it: with an injected
// response if one is queued, else by acting on the stored secrets. It
// returns the status and the JSON body of the answer.
func (s *Server) handle(op string, body []byte) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	s.requests[op] = append(s.requests[op], json.RawMessage(body))
	if q := s.injected[op]; len(q) > 0 {
		s.injected[op] = q[1:]
		return q[0].status, []byte(q[0].body)
	}

	var out any
	var aerr *apiError
	switch op {
	case "CreateSecret":
		var in createSecretInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.createSecret(&in)
		}
	case "GetSecretValue":
		var in getSecretValueInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.getSecretValue(&in)
		}
	case "PutSecretValue":
		var in putSecretValueInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.putSecretValue(&in)
		}
	case "DeleteSecret":
		var in deleteSecretInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.deleteSecret(&in)
		}
	case "RestoreSecret":
		var in secretIDInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.restoreSecret(&in)
		}
	case "DescribeSecret":
		var in secretIDInput
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.describeSecret(&in)
		}
	default:
		aerr = &apiError{http.StatusBadRequest, "UnknownOperationException", ""}
	}
	if aerr != nil {
		return aerr.status, encode(errorBody{Type: aerr.typ, Message: aerr.msg})
	}
	return http.StatusOK, encode(out)
}

// decode unmarshals a request body, refusing malformed JSON as the service
// does.
func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected."}
	}
	return nil
}

// writeError writes the error e of the protocol envelope.
func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(e.status)
	_, _ = w.Write(encode(errorBody{Type: e.typ, Message: e.msg}))
}

// encode marshals a response body; the response types always marshal.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("smtest: cannot encode response: " + err.Error())
	}
	return b
}

// epoch is a timestamp as the JSON protocols send it: seconds since the
// epoch, with milliseconds as a fraction.
type epoch time.Time

// MarshalJSON implements json.Marshaler.
func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

func epochPtr(t time.Time) *epoch {
	e := epoch(t)
	return &e
}

// The request and response shapes, with the member names of the API.

type createSecretInput struct {
	Name               string
	ClientRequestToken string
	SecretBinary       []byte
	SecretString       *string
}

type createSecretOutput struct {
	ARN       string
	Name      string
	VersionId string `json:",omitempty"`
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

type getSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	SecretBinary  []byte  `json:",omitempty"`
	SecretString  *string `json:",omitempty"`
	VersionStages []string
	CreatedDate   epoch
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken string
	SecretBinary       []byte
	SecretString       *string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

type deleteSecretInput struct {
	SecretId                   string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type deleteSecretOutput struct {
	ARN          string `json:",omitempty"`
	Name         string
	DeletionDate epoch
}

type secretIDInput struct {
	SecretId string
}

type restoreSecretOutput struct {
	ARN  string
	Name string
}

type describeSecretOutput struct {
	ARN                string
	Name               string
	CreatedDate        epoch
	LastChangedDate    epoch
	DeletedDate        *epoch `json:",omitempty"`
	VersionIdsToStages map[string][]string
}

// lookup finds a secret by name or full ARN. The caller holds s.mu.
func (s *Server) lookup(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	if strings.HasPrefix(id, "arn:") {
		for _, sec := range s.secrets {
			if sec.arn == id {
				return sec
			}
		}
	}
	return nil
}

// checkValue validates the value members of CreateSecret and PutSecretValue.
// required says whether a value must be present.
func checkValue(binary []byte, str *string, required bool) *apiError {
	switch {
	case binary != nil && str != nil:
		return invalidParameter(msgBothValues)
	case binary == nil && str == nil:
		if required {
			return invalidParameter(msgNoValue)
		}
	case binary != nil && (len(binary) < 1 || len(binary) > maxValue):
		return validation("secretBinary", "Member must have length between 1 and 65536")
	case str != nil && (len(*str) < 1 || len(*str) > maxValue):
		return validation("secretString", "Member must have length between 1 and 65536")
	}
	return nil
}

func (s *Server) createSecret(in *createSecretInput) (any, *apiError) {
	if !nameRE.MatchString(in.Name) {
		return nil, invalidParameter(msgBadName)
	}
	if aerr := checkValue(in.SecretBinary, in.SecretString, false); aerr != nil {
		return nil, aerr
	}
	if sec, ok := s.secrets[in.Name]; ok {
		if !sec.deleted.IsZero() {
			return nil, &apiError{http.StatusBadRequest, "InvalidRequestException", msgCreateScheduled}
		}
		return nil, &apiError{http.StatusBadRequest, "ResourceExistsException",
			fmt.Sprintf("The operation failed because the secret %s already exists.", in.Name)}
	}
	now := s.now()
	sec := &secret{
		name:     in.Name,
		arn:      fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, in.Name, randomSuffix()),
		created:  now,
		changed:  now,
		versions: make(map[string]*version),
	}
	s.secrets[in.Name] = sec
	out := createSecretOutput{ARN: sec.arn, Name: sec.name}
	if in.SecretBinary != nil || in.SecretString != nil {
		out.VersionId = sec.addVersion(in.ClientRequestToken, in.SecretBinary, in.SecretString, now).id
	}
	return out, nil
}

func (s *Server) getSecretValue(in *getSecretValueInput) (any, *apiError) {
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	if !sec.deleted.IsZero() {
		return nil, markedDeleted()
	}
	var v *version
	switch {
	case in.VersionId != "":
		v = sec.versions[in.VersionId]
		if v == nil {
			return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException",
				"Secrets Manager can't find the specified secret value for VersionId: " + in.VersionId}
		}
		if in.VersionStage != "" && !hasStage(v, in.VersionStage) {
			return nil, invalidParameter("You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = stageCurrent
		}
		v = sec.byStage(stage)
		if v == nil {
			return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException",
				"Secrets Manager can't find the specified secret value for staging label: " + stage}
		}
	}
	return getSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionId:     v.id,
		SecretBinary:  v.binary,
		SecretString:  v.str,
		VersionStages: append([]string(nil), v.stages...),
		CreatedDate:   epoch(v.created),
	}, nil
}

func (s *Server) putSecretValue(in *putSecretValueInput) (any, *apiError) {
	if aerr := checkValue(in.SecretBinary, in.SecretString, true); aerr != nil {
		return nil, aerr
	}
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	if !sec.deleted.IsZero() {
		return nil, markedDeleted()
	}
	if old, ok := sec.versions[in.ClientRequestToken]; ok && in.ClientRequestToken != "" {
		// An idempotent retry returns the version; a different value under
		// the same token is refused, as the service does.
		if bytes.Equal(old.binary, in.SecretBinary) && equalStr(old.str, in.SecretString) {
			return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: old.id, VersionStages: append([]string(nil), old.stages...)}, nil
		}
		return nil, &apiError{http.StatusBadRequest, "ResourceExistsException",
			"You can't modify an existing version, you can only create a new version."}
	}
	now := s.now()
	v := sec.addVersion(in.ClientRequestToken, in.SecretBinary, in.SecretString, now)
	sec.changed = now
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, VersionStages: append([]string(nil), v.stages...)}, nil
}

func (s *Server) deleteSecret(in *deleteSecretInput) (any, *apiError) {
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if force && in.RecoveryWindowInDays != nil {
		return nil, invalidParameter(msgForceAndWindow)
	}
	days := 30
	if in.RecoveryWindowInDays != nil {
		if *in.RecoveryWindowInDays < 7 || *in.RecoveryWindowInDays > 30 {
			return nil, invalidParameter(msgWindowRange)
		}
		days = int(*in.RecoveryWindowInDays)
	}
	now := s.now()
	sec := s.lookup(in.SecretId)
	if sec == nil {
		if force {
			// Forcing the deletion of a missing secret is not an error.
			return deleteSecretOutput{Name: in.SecretId, DeletionDate: epoch(now)}, nil
		}
		return nil, notFound()
	}
	if force {
		delete(s.secrets, sec.name)
		return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(now)}, nil
	}
	if !sec.deleted.IsZero() {
		return nil, markedDeleted()
	}
	sec.deleted = now
	sec.recoveryDays = days
	sec.changed = now
	return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: epoch(now.AddDate(0, 0, days))}, nil
}

func (s *Server) restoreSecret(in *secretIDInput) (any, *apiError) {
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	if !sec.deleted.IsZero() {
		sec.deleted = time.Time{}
		sec.recoveryDays = 0
		sec.changed = s.now()
	}
	return restoreSecretOutput{ARN: sec.arn, Name: sec.name}, nil
}

func (s *Server) describeSecret(in *secretIDInput) (any, *apiError) {
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	out := describeSecretOutput{
		ARN:                sec.arn,
		Name:               sec.name,
		CreatedDate:        epoch(sec.created),
		LastChangedDate:    epoch(sec.changed),
		VersionIdsToStages: make(map[string][]string, len(sec.versions)),
	}
	if !sec.deleted.IsZero() {
		out.DeletedDate = epochPtr(sec.deleted)
	}
	for id, v := range sec.versions {
		out.VersionIdsToStages[id] = append([]string(nil), v.stages...)
	}
	return out, nil
}

// addVersion adds a version labelled AWSCURRENT, moves AWSPREVIOUS to the
// version that was current, and drops versions left without a label, as
// the service deprecates them.
func (sec *secret) addVersion(token string, binary []byte, str *string, now time.Time) *version {
	if token == "" {
		token = newUUID()
	}
	prev := sec.byStage(stageCurrent)
	for id, v := range sec.versions {
		if v != prev {
			v.stages = removeStage(v.stages, stagePrevious)
			if len(v.stages) == 0 {
				delete(sec.versions, id)
			}
		}
	}
	if prev != nil {
		prev.stages = append(removeStage(prev.stages, stageCurrent), stagePrevious)
	}
	v := &version{id: token, binary: binary, str: str, created: now, stages: []string{stageCurrent}}
	sec.versions[token] = v
	return v
}

// byStage returns the version with the staging label stage, or nil.
func (sec *secret) byStage(stage string) *version {
	for _, v := range sec.versions {
		if hasStage(v, stage) {
			return v
		}
	}
	return nil
}

func hasStage(v *version, stage string) bool {
	for _, s := range v.stages {
		if s == stage {
			return true
		}
	}
	return false
}

func removeStage(stages []string, stage string) []string {
	out := stages[:0]
	for _, s := range stages {
		if s != stage {
			out = append(out, s)
		}
	}
	return out
}

func equalStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// newUUID returns a random version-4 UUID, the form of version and request
// IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// randomSuffix returns the six random characters the service appends to the
// name in a secret's ARN.
func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
