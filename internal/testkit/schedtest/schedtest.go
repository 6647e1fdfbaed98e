// Package schedtest is a test double of the Amazon EventBridge Scheduler
// wire protocol. It is NOT an emulator of EventBridge Scheduler: it is a
// small httptest server, owned by this project, that answers the REST-JSON
// protocol of the schedule operations well enough for the real
// aws-sdk-go-v2 client to run against it in tests, with the request and
// response members of the Scheduler API reference:
//
//   - CreateSchedule: POST /schedules/{Name}
//   - UpdateSchedule: PUT /schedules/{Name}
//   - DeleteSchedule: DELETE /schedules/{Name}?groupName=..&clientToken=..
//   - GetSchedule: GET /schedules/{Name}?groupName=..
//
// The body of CreateSchedule and UpdateSchedule carries GroupName (absent:
// the group "default"), ScheduleExpression, ScheduleExpressionTimezone,
// FlexibleTimeWindow, State, Description, ActionAfterCompletion and Target
// (Arn, RoleArn, Input, RetryPolicy, DeadLetterConfig). The server keeps the
// schedules in memory, so that a test can read back what was stored
// (Schedule), and knows the groups "default" and those AddGroup adds.
//
// Errors have the wire shape of the real service: the status of the error
// (400 ValidationException, 404 ResourceNotFoundException, 409
// ConflictException, 500 InternalServerException, ...), the header
// x-amzn-ErrorType naming it and a JSON body {"Message": "..."}. It answers
// ValidationException for a member that breaks the API reference's
// constraints: the Name and GroupName pattern [0-9a-zA-Z-_.]+ and length
// (1 to 64), a missing ScheduleExpression, FlexibleTimeWindow or Target, a
// FlexibleTimeWindow Mode other than OFF or FLEXIBLE (FLEXIBLE needing
// MaximumWindowInMinutes 1 to 1440), a Target without Arn or RoleArn, a
// RoleArn that is not an IAM role ARN, a RetryPolicy out of its ranges
// (MaximumEventAgeInSeconds 60 to 86400, MaximumRetryAttempts 0 to 185), a
// Description over 512 characters, an unknown State or
// ActionAfterCompletion, a time zone Go does not know, and an expression
// that is not rate(...), cron(...) or at(...). ResourceNotFoundException
// answers an operation on a missing schedule or group, ConflictException a
// CreateSchedule of an existing name, and MissingAuthenticationTokenException
// (403) an unsigned request.
//
// What it does not do: it checks that a request carries a SigV4
// Authorization header but never verifies the signature; its error messages
// are in the service's style, not verbatim; it checks an expression's
// shape only (rate(, cron( or at( up to a closing parenthesis), not its
// fields; it never fires a schedule, and ignores ClientToken, StartDate,
// EndDate, KmsKeyArn and the other target parameters (ECS, Kinesis, ...).
package schedtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // time zones do not depend on the machine's database

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
)

// Region and Account are the region and the account ID of the ARNs the
// server returns; Client uses Region.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// DefaultGroup is the schedule group of a request that names none; it
// always exists, as in the service.
const DefaultGroup = "default"

// maxBody bounds a request body.
const maxBody = 1 << 20

// The patterns of the API reference.
var (
	nameRE    = regexp.MustCompile(`^[0-9a-zA-Z\-_.]{1,64}$`)
	roleARNRE = regexp.MustCompile(`^arn:aws(-[a-z]+)?:iam::\d{12}:role/[\w+=,.@/-]+$`)
	sqsARNRE  = regexp.MustCompile(`^arn:aws(-[a-z]+)?:sqs:[a-z0-9\-]+:\d{12}:[a-zA-Z0-9\-_]+$`)
)

// Server is the test double. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	groups    map[string]bool
	schedules map[key]*Schedule
	calls     map[string]int
	injected  map[string][]*apiError
	now       func() time.Time
}

// key locates a schedule: its group and its name.
type key struct{ group, name string }

// Schedule is a stored schedule, with the members of GetSchedule's
// answer.
type Schedule struct {
	Arn                        string
	Name                       string
	GroupName                  string
	ScheduleExpression         string
	ScheduleExpressionTimezone string `json:",omitempty"`
	Description                string `json:",omitempty"`
	State                      string
	ActionAfterCompletion      string `json:",omitempty"`
	FlexibleTimeWindow         FlexibleTimeWindow
	Target                     Target
	CreationDate               time.Time
	LastModificationDate       time.Time
}

// getScheduleOutput is the answer of GetSchedule.
type getScheduleOutput struct {
	Arn                        string
	Name                       string
	GroupName                  string
	ScheduleExpression         string
	ScheduleExpressionTimezone string `json:",omitempty"`
	Description                string `json:",omitempty"`
	State                      string
	ActionAfterCompletion      string `json:",omitempty"`
	FlexibleTimeWindow         FlexibleTimeWindow
	Target                     Target
	CreationDate               epoch
	LastModificationDate       epoch
}

// FlexibleTimeWindow is the member of the same name.
type FlexibleTimeWindow struct {
	Mode                   string
	MaximumWindowInMinutes *int `json:",omitempty"`
}

// Target is the member of the same name, for the targets the server
// knows (any ARN, with the universal target's members).
type Target struct {
	Arn              string
	RoleArn          string
	Input            string            `json:",omitempty"`
	RetryPolicy      *RetryPolicy      `json:",omitempty"`
	DeadLetterConfig *DeadLetterConfig `json:",omitempty"`
}

// RetryPolicy is the member of the same name.
type RetryPolicy struct {
	MaximumEventAgeInSeconds *int `json:",omitempty"`
	MaximumRetryAttempts     *int `json:",omitempty"`
}

// DeadLetterConfig is the member of the same name.
type DeadLetterConfig struct {
	Arn string `json:",omitempty"`
}

// NewServer starts a server with the group "default" and no schedules, and
// closes it when tb ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		groups:    map[string]bool{DefaultGroup: true},
		schedules: make(map[key]*Schedule),
		calls:     make(map[string]int),
		injected:  make(map[string][]*apiError),
		now:       time.Now,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL of the server, http://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// Client returns a real EventBridge Scheduler client of aws-sdk-go-v2 that
// sends its requests to the server: static credentials, region Region,
// BaseEndpoint the server's URL, the server's HTTP client, and no retries
// (so that an injected error is seen once).
func (s *Server) Client() *scheduler.Client {
	return scheduler.New(scheduler.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSCHEDTEST", "schedtest-secret-access-key", ""),
		BaseEndpoint: aws.String(s.srv.URL),
		HTTPClient:   s.srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

// AddGroup adds the schedule group name.
func (s *Server) AddGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[name] = true
}

// Schedule returns the stored schedule name of group, and whether it
// exists.
func (s *Server) Schedule(group, name string) (Schedule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[key{group, name}]
	if !ok {
		return Schedule{}, false
	}
	out := *sc
	return out, true
}

// Len returns the number of stored schedules, all groups included.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.schedules)
}

// Calls returns how many requests for the operation op (such as
// "CreateSchedule") the server has received, injected answers included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// InjectError makes the server answer the next request for the operation
// op with the error typ (such as "InternalServerException") of status and
// message, instead of handling it. Injected answers queue up in order, and
// do not change the stored schedules.
func (s *Server) InjectError(op string, status int, typ, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected[op] = append(s.injected[op], &apiError{status, typ, message})
}

// apiError is an error answer of the protocol.
type apiError struct {
	status int
	typ    string
	msg    string
}

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

// constraint is the ValidationException of a member that breaks a
// modelled constraint, worded as the service words it.
func constraint(value, member, rule string) *apiError {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

// serveHTTP checks the protocol envelope, then dispatches on the method.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"})
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/schedules/")
	if !ok || name == "" || strings.Contains(name, "/") {
		writeError(w, &apiError{http.StatusNotFound, "UnknownOperationException", "Unknown operation " + r.Method + " " + r.URL.Path})
		return
	}
	var op string
	switch r.Method {
	case http.MethodPost:
		op = "CreateSchedule"
	case http.MethodPut:
		op = "UpdateSchedule"
	case http.MethodDelete:
		op = "DeleteSchedule"
	case http.MethodGet:
		op = "GetSchedule"
	default:
		writeError(w, &apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "Unknown operation " + r.Method + " " + r.URL.Path})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, &apiError{http.StatusRequestEntityTooLarge, "SerializationException", "request body too large"})
		return
	}
	status, out, aerr := s.handle(op, name, r.URL.Query().Get("groupName"), r.Header.Get("Content-Type"), body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, status, out)
}

// handle records a request for op on the schedule name and answers it:
// with an injected error if one is queued, else by acting on the stored
// schedules.
func (s *Server) handle(op, name, queryGroup, contentType string, body []byte) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if q := s.injected[op]; len(q) > 0 {
		s.injected[op] = q[1:]
		return 0, nil, q[0]
	}
	if !nameRE.MatchString(name) {
		return 0, nil, constraint(name, "name", "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ and have length between 1 and 64")
	}
	switch op {
	case "CreateSchedule", "UpdateSchedule":
		if !strings.HasPrefix(contentType, "application/json") {
			return 0, nil, &apiError{http.StatusUnsupportedMediaType, "SerializationException", fmt.Sprintf("Content-Type %q is not application/json", contentType)}
		}
		var in scheduleInput
		if err := json.Unmarshal(body, &in); err != nil {
			return 0, nil, &apiError{http.StatusBadRequest, "SerializationException", "Malformed request body"}
		}
		if op == "CreateSchedule" {
			return s.create(name, &in)
		}
		return s.update(name, &in)
	case "DeleteSchedule":
		return s.delete(name, queryGroup)
	default:
		return s.get(name, queryGroup)
	}
}

// scheduleInput is the body of CreateSchedule and UpdateSchedule.
type scheduleInput struct {
	GroupName                  *string
	ScheduleExpression         *string
	ScheduleExpressionTimezone *string
	Description                *string
	State                      *string
	ActionAfterCompletion      *string
	FlexibleTimeWindow         *FlexibleTimeWindow
	Target                     *Target
	ClientToken                *string
	StartDate                  *float64
	EndDate                    *float64
	KmsKeyArn                  *string
}

// group returns the group a request names, "default" when none, or the
// error of a bad or missing one.
func (s *Server) group(g *string) (string, *apiError) {
	if g == nil {
		return DefaultGroup, nil
	}
	if !nameRE.MatchString(*g) {
		return "", constraint(*g, "groupName", "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+ and have length between 1 and 64")
	}
	if !s.groups[*g] {
		return "", notFound("Schedule group %s does not exist.", *g)
	}
	return *g, nil
}

// check validates the members of a CreateSchedule or UpdateSchedule.
func check(in *scheduleInput) *apiError {
	switch {
	case in.ScheduleExpression == nil:
		return validation("ScheduleExpression is required.")
	case in.FlexibleTimeWindow == nil:
		return validation("FlexibleTimeWindow is required.")
	case in.Target == nil:
		return validation("Target is required.")
	}
	expr := *in.ScheduleExpression
	if len(expr) < 1 || len(expr) > 256 {
		return constraint(expr, "scheduleExpression", "Member must have length between 1 and 256")
	}
	if !expressionShape(expr) {
		return validation("Invalid Schedule Expression %s.", expr)
	}
	if z := in.ScheduleExpressionTimezone; z != nil {
		if len(*z) < 1 || len(*z) > 50 {
			return constraint(*z, "scheduleExpressionTimezone", "Member must have length between 1 and 50")
		}
		if _, err := time.LoadLocation(*z); err != nil || *z == "Local" {
			return validation("Invalid timezone %s.", *z)
		}
	}
	if d := in.Description; d != nil && len([]rune(*d)) > 512 {
		return constraint("...", "description", "Member must have length less than or equal to 512")
	}
	if st := in.State; st != nil && *st != "ENABLED" && *st != "DISABLED" {
		return constraint(*st, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
	}
	if a := in.ActionAfterCompletion; a != nil && *a != "NONE" && *a != "DELETE" {
		return constraint(*a, "actionAfterCompletion", "Member must satisfy enum value set: [NONE, DELETE]")
	}
	switch w := in.FlexibleTimeWindow; w.Mode {
	case "OFF":
		if w.MaximumWindowInMinutes != nil {
			return validation("MaximumWindowInMinutes must not be provided when FlexibleTimeWindow mode is OFF.")
		}
	case "FLEXIBLE":
		if w.MaximumWindowInMinutes == nil || *w.MaximumWindowInMinutes < 1 || *w.MaximumWindowInMinutes > 1440 {
			return validation("MaximumWindowInMinutes must be between 1 and 1440 when FlexibleTimeWindow mode is FLEXIBLE.")
		}
	default:
		return constraint(w.Mode, "flexibleTimeWindow.mode", "Member must satisfy enum value set: [OFF, FLEXIBLE]")
	}
	return checkTarget(in.Target)
}

// checkTarget validates the Target member.
func checkTarget(t *Target) *apiError {
	switch {
	case t.Arn == "" || len(t.Arn) > 1600:
		return constraint(t.Arn, "target.arn", "Member must have length between 1 and 1600")
	case !strings.HasPrefix(t.Arn, "arn:"):
		return validation("Invalid target ARN %s.", t.Arn)
	case t.RoleArn == "" || len(t.RoleArn) > 1600:
		return constraint(t.RoleArn, "target.roleArn", "Member must have length between 1 and 1600")
	case !roleARNRE.MatchString(t.RoleArn):
		return constraint(t.RoleArn, "target.roleArn", "Member must satisfy regular expression pattern: ^arn:aws(-[a-z]+)?:iam::\\d{12}:role\\/[\\w+=,.@\\/-]+$")
	}
	if p := t.RetryPolicy; p != nil {
		if a := p.MaximumEventAgeInSeconds; a != nil && (*a < 60 || *a > 86400) {
			return constraint(fmt.Sprint(*a), "target.retryPolicy.maximumEventAgeInSeconds", "Member must have value between 60 and 86400")
		}
		if n := p.MaximumRetryAttempts; n != nil && (*n < 0 || *n > 185) {
			return constraint(fmt.Sprint(*n), "target.retryPolicy.maximumRetryAttempts", "Member must have value between 0 and 185")
		}
	}
	if d := t.DeadLetterConfig; d != nil && d.Arn != "" && !sqsARNRE.MatchString(d.Arn) {
		return constraint(d.Arn, "target.deadLetterConfig.arn", "Member must satisfy regular expression pattern: ^arn:aws(-[a-z]+)?:sqs:[a-z0-9\\-]+:\\d{12}:[a-zA-Z0-9\\-_]+$")
	}
	return nil
}

// expressionShape reports whether expr looks like rate(...), cron(...) or
// at(...): the shape only, not the fields.
func expressionShape(expr string) bool {
	for _, p := range []string{"rate(", "cron(", "at("} {
		if body, ok := strings.CutPrefix(expr, p); ok {
			body, ok = strings.CutSuffix(body, ")")
			return ok && strings.TrimSpace(body) != "" && !strings.ContainsAny(body, "()")
		}
	}
	return false
}

// store builds the stored schedule of in, keeping created as its creation
// date.
func (s *Server) store(group, name string, in *scheduleInput, created time.Time) *Schedule {
	now := s.now()
	if created.IsZero() {
		created = now
	}
	sc := &Schedule{
		Arn:                   fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/%s/%s", Region, Account, group, name),
		Name:                  name,
		GroupName:             group,
		ScheduleExpression:    *in.ScheduleExpression,
		State:                 "ENABLED",
		ActionAfterCompletion: "NONE",
		FlexibleTimeWindow:    *in.FlexibleTimeWindow,
		Target:                *in.Target,
		CreationDate:          created,
		LastModificationDate:  now,
	}
	if in.ScheduleExpressionTimezone != nil {
		sc.ScheduleExpressionTimezone = *in.ScheduleExpressionTimezone
	}
	if in.Description != nil {
		sc.Description = *in.Description
	}
	if in.State != nil {
		sc.State = *in.State
	}
	if in.ActionAfterCompletion != nil {
		sc.ActionAfterCompletion = *in.ActionAfterCompletion
	}
	s.schedules[key{group, name}] = sc
	return sc
}

// arnOutput is the answer of CreateSchedule and UpdateSchedule.
type arnOutput struct {
	ScheduleArn string
}

func (s *Server) create(name string, in *scheduleInput) (int, any, *apiError) {
	if aerr := check(in); aerr != nil {
		return 0, nil, aerr
	}
	group, aerr := s.group(in.GroupName)
	if aerr != nil {
		return 0, nil, aerr
	}
	if _, ok := s.schedules[key{group, name}]; ok {
		return 0, nil, &apiError{http.StatusConflict, "ConflictException", fmt.Sprintf("Schedule %s already exists.", name)}
	}
	sc := s.store(group, name, in, time.Time{})
	return http.StatusOK, arnOutput{ScheduleArn: sc.Arn}, nil
}

func (s *Server) update(name string, in *scheduleInput) (int, any, *apiError) {
	if aerr := check(in); aerr != nil {
		return 0, nil, aerr
	}
	group, aerr := s.group(in.GroupName)
	if aerr != nil {
		return 0, nil, aerr
	}
	old, ok := s.schedules[key{group, name}]
	if !ok {
		return 0, nil, notFound("Schedule %s does not exist.", name)
	}
	sc := s.store(group, name, in, old.CreationDate)
	return http.StatusOK, arnOutput{ScheduleArn: sc.Arn}, nil
}

func (s *Server) delete(name, queryGroup string) (int, any, *apiError) {
	group, aerr := s.group(optional(queryGroup))
	if aerr != nil {
		return 0, nil, aerr
	}
	if _, ok := s.schedules[key{group, name}]; !ok {
		return 0, nil, notFound("Schedule %s does not exist.", name)
	}
	delete(s.schedules, key{group, name})
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) get(name, queryGroup string) (int, any, *apiError) {
	group, aerr := s.group(optional(queryGroup))
	if aerr != nil {
		return 0, nil, aerr
	}
	sc, ok := s.schedules[key{group, name}]
	if !ok {
		return 0, nil, notFound("Schedule %s does not exist.", name)
	}
	return http.StatusOK, getScheduleOutput{
		Arn: sc.Arn, Name: sc.Name, GroupName: sc.GroupName,
		ScheduleExpression: sc.ScheduleExpression, ScheduleExpressionTimezone: sc.ScheduleExpressionTimezone,
		Description: sc.Description, State: sc.State, ActionAfterCompletion: sc.ActionAfterCompletion,
		FlexibleTimeWindow: sc.FlexibleTimeWindow, Target: sc.Target,
		CreationDate: epoch(sc.CreationDate), LastModificationDate: epoch(sc.LastModificationDate),
	}, nil
}

// optional returns nil for an absent query parameter.
func optional(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// errorBody is the JSON body of an error.
type errorBody struct {
	Message string
}

// writeError writes the error e as the service does.
func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("x-amzn-ErrorType", e.typ)
	writeJSON(w, e.status, errorBody{Message: e.msg})
}

// writeJSON writes a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("schedtest: cannot encode response: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("schedtest-%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// epoch is a timestamp as REST-JSON bodies carry it: seconds since the
// epoch, with milliseconds as a fraction.
type epoch time.Time

// MarshalJSON implements json.Marshaler.
func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}
