// Package run provides Runs, the records of Flow executions, and Jobs, the
// queue messages that ask a worker to execute one.
package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"wiresk/internal/wiresk"
)

// Status is the state of a Run.
type Status string

// Run statuses. A Run is queued until a worker picks it up, and goes back to
// queued (with Error set) while a failed delivery waits to be retried.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	// Filtered: a filter step's condition was false, so the Run stopped
	// there, as planned; the steps after it did not run.
	Filtered Status = "filtered"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == Queued || s == Running || s.Final() }

// Final reports whether the Run has ended.
func (s Status) Final() bool { return s == Succeeded || s == Failed || s == Filtered }

// Mode says how a Run was started.
type Mode string

// Modes.
const (
	ModeWebhook Mode = "webhook"
	ModeRunOnce Mode = "run_once"
	ModeReplay  Mode = "replay"
	// ModeSchedule: a schedule trigger fired (Job.ScheduledAt says when).
	ModeSchedule Mode = "schedule"
	// ModeAppTrigger: an app trigger's poll found a new item, the
	// request's body.
	ModeAppTrigger Mode = "app_trigger"
	// ModeAppHook: an app's notification to an instant app trigger (its
	// Request and Body); the worker verifies it and polls. Never a Run.
	ModeAppHook Mode = "app_hook"
	// ModeUnsubscribe: a deleted instant trigger (its record is the Body)
	// whose subscription the worker deletes at the app. Never a Run.
	ModeUnsubscribe Mode = "unsubscribe"
)

// Request is the trigger request as the Flow sees it. Credentials the caller
// presented (Authorization, X-API-Key, Cookie) are never kept.
type Request struct {
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	// Body holds a JSON body that a JSON encoder writes back byte for byte
	// (compact, without the characters it escapes: <, >, &, U+2028, U+2029).
	Body json.RawMessage `json:"body,omitempty"`
	// BodyText holds any other UTF-8 body, JSON that Body would not keep
	// exactly (pretty-printed, say) included; BodyBase64 a binary one.
	BodyText   string `json:"bodyText,omitempty"`
	BodyBase64 []byte `json:"bodyBase64,omitempty"`
	// BodyTruncated says the body was too large to record whole: BodyText
	// holds its beginning, and the Run cannot be replayed.
	BodyTruncated bool `json:"bodyTruncated,omitempty"`
	// BodyRef names a body too large for a queue message, stored by
	// reference (StoredBody): Body, BodyText and BodyBase64 are then empty
	// in the Job and in the recorded Run, and the worker reads the bytes
	// from the body store.
	BodyRef *BodyRef `json:"bodyRef,omitempty"`
}

// BodyRef is a request body stored by reference: its key in the body store,
// its size in bytes and its SHA-256 (lower-case hex), which the worker
// checks the bytes it reads against.
type BodyRef struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// InlineBodyMax is the largest body a Job carries inline: base64 makes 160
// KiB about 214 KiB of JSON, which with the headers and query leaves the
// message under MaxJobBytes. A larger body is stored by reference.
const InlineBodyMax = 160 << 10

// MaxJobBytes is the largest Job message sent inline: SQS takes at most
// 256 KiB, message attributes included, and this leaves them room.
const MaxJobBytes = 240 << 10

// BodyKeyPrefix starts the key of every body stored by reference; the S3
// bucket's lifecycle rule expires objects under it.
const BodyKeyPrefix = "bodies/"

// StoredBody returns the reference of body as the Run runID of groupID
// stores it: the key is bodies/<groupId>/<runId>/<sha256>, so a delivery
// retried with the same Idempotency-Key (the same Run id) and the same
// bytes writes the same object again, and one with other bytes never
// overwrites the first.
func StoredBody(groupID, runID string, body []byte) BodyRef {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	return BodyRef{Key: BodyKeyPrefix + groupID + "/" + runID + "/" + h, Size: int64(len(body)), SHA256: h}
}

// ValidBodyKey reports whether key has the form StoredBody gives:
// bodies/ and three non-empty segments of ASCII letters, digits, '_' and
// '-'. The body stores refuse any other key, so that no key can name a
// file outside the local store's folder.
func ValidBodyKey(key string) bool {
	rest, ok := strings.CutPrefix(key, BodyKeyPrefix)
	if !ok || len(key) > 512 {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for _, c := range p {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Check reports whether body is the one ref names: an error says how it
// differs (size or digest).
func (ref BodyRef) Check(body []byte) error {
	if int64(len(body)) != ref.Size {
		return fmt.Errorf("the stored body %s has %d bytes, want %d", ref.Key, len(body), ref.Size)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != ref.SHA256 {
		return fmt.Errorf("the stored body %s does not match its SHA-256 %s", ref.Key, ref.SHA256)
	}
	return nil
}

// dropped lists the request headers that carry credentials.
var dropped = map[string]bool{"authorization": true, "x-api-key": true, "cookie": true, "proxy-authorization": true}

// CaptureRequest builds the Request of an incoming webhook, without its body:
// the body travels in the Job as raw bytes and is classified (SetBody) by
// the worker, off the webhook's hot path.
func CaptureRequest(method string, h http.Header, q url.Values) Request {
	r := Request{Method: method, Headers: make(map[string]string, len(h)), Query: make(map[string]string, len(q))}
	for k, v := range h {
		lk := strings.ToLower(k)
		if dropped[lk] {
			continue
		}
		r.Headers[lk] = strings.Join(v, ", ")
	}
	for k, v := range q {
		if len(v) > 0 {
			r.Query[k] = v[0]
		}
	}
	return r
}

// SetBody stores body in the field that keeps it byte for byte: the
// recorded Run replays, and templates read, the bytes that were received.
// BodyRef is left as it is.
func (r *Request) SetBody(body []byte) {
	r.Body, r.BodyText, r.BodyBase64 = nil, "", nil
	switch {
	case len(body) == 0:
	case json.Valid(body) && keptByEncoder(body):
		r.Body = json.RawMessage(body)
	case utf8.Valid(body):
		r.BodyText = string(body)
	default:
		r.BodyBase64 = body
	}
}

// RawBody returns the body as it was received.
func (r Request) RawBody() []byte {
	switch {
	case r.Body != nil:
		return r.Body
	case r.BodyText != "":
		return []byte(r.BodyText)
	}
	return r.BodyBase64
}

// keptByEncoder reports whether encoding/json writes the JSON text b back
// unchanged, as it does a json.RawMessage when the Run is stored.
func keptByEncoder(b []byte) bool {
	out, err := json.Marshal(json.RawMessage(b))
	return err == nil && bytes.Equal(out, b)
}

// Env returns the `trigger` value templates see:
//
//	body            the body parsed: JSON as its value, form fields as an
//	                object (a repeated field as a list), other text (XML
//	                included) as a string, binary as base64 text
//	rawBody         the body exactly as received when it is UTF-8 text,
//	                its base64 otherwise (rawBodyEncoding says which)
//	rawBodyEncoding "text" or "base64"
//	contentType     the Content-Type header as sent ("" without one)
//	form            the form fields of an application/x-www-form-urlencoded
//	                body (absent otherwise)
//	headers, query  the request's, header names lower-cased
//
// An HTTP step forwards the body byte for byte with forwardTriggerBody.
func (r Request) Env() map[string]any {
	var body any
	env := map[string]any{}
	ct := r.Headers["content-type"]
	switch {
	case r.Body != nil:
		_ = json.Unmarshal(r.Body, &body)
	case r.BodyText != "" && json.Valid([]byte(r.BodyText)):
		_ = json.Unmarshal([]byte(r.BodyText), &body)
	case r.BodyText != "" && strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		if form, err := url.ParseQuery(r.BodyText); err == nil {
			m := make(map[string]any, len(form))
			for k, v := range form {
				if len(v) == 1 {
					m[k] = v[0]
				} else {
					m[k] = v
				}
			}
			body = m
			env["form"] = m
		} else {
			body = r.BodyText
		}
	case r.BodyText != "":
		body = r.BodyText
	case r.BodyBase64 != nil:
		body = base64.StdEncoding.EncodeToString(r.BodyBase64)
	}
	raw, enc := r.RawBody(), "text"
	rawText := string(raw)
	if !utf8.Valid(raw) {
		rawText, enc = base64.StdEncoding.EncodeToString(raw), "base64"
	}
	headers := make(map[string]any, len(r.Headers))
	for k, v := range r.Headers {
		headers[k] = v
	}
	query := make(map[string]any, len(r.Query))
	for k, v := range r.Query {
		query[k] = v
	}
	env["body"], env["rawBody"], env["rawBodyEncoding"], env["contentType"] = body, rawText, enc, ct
	env["headers"], env["query"] = headers, query
	return env
}

// Job is the queue message that asks a worker to execute a Run. It carries
// everything the worker needs, so the webhook ingress writes nothing.
type Job struct {
	RunID     string `json:"runId"`
	GroupID   string `json:"groupId"`
	FlowID    string `json:"flowId"`
	TriggerID string `json:"triggerId,omitempty"`
	APIKeyID  string `json:"apiKeyId,omitempty"`
	Mode      Mode   `json:"mode"`
	ReplayOf  string `json:"replayOf,omitempty"`
	// Request holds the method, headers and query; Body the raw body
	// (base64 in the message), so that the ingress need not parse it. A
	// body over InlineBodyMax travels by reference instead
	// (Request.BodyRef), Body empty.
	Request    Request   `json:"request"`
	Body       []byte    `json:"body,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
	// ScheduledAt is the fire time of a schedule trigger's Job. Such a
	// Job may come without a RunID (EventBridge Scheduler sends a fixed
	// message): the worker gives it ScheduledID(TriggerID, ScheduledAt).
	ScheduledAt *time.Time `json:"scheduledAt,omitempty"`
}

// ScheduledID returns the Run id of a schedule trigger's fire at at: a
// fire delivered twice (a redelivered or duplicated message, two
// schedulers) maps to one Run.
func ScheduledID(triggerID string, at time.Time) string {
	return IdempotentID(triggerID, "schedule@"+at.UTC().Format(time.RFC3339Nano))
}

// ScheduledTimePlaceholder is what EventBridge Scheduler replaces, in a
// target's input, with the fire's scheduled time (RFC 3339, UTC).
const ScheduledTimePlaceholder = "<aws.scheduler.scheduled-time>"

// ScheduleJobInput returns the message a schedule trigger's fires send to
// the run queue on AWS: a Job in ModeSchedule whose scheduledAt is
// ScheduledTimePlaceholder, for EventBridge Scheduler to fill in.
func ScheduleJobInput(groupID, flowID, triggerID string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	// The placeholder must stay as written: encoding/json would write its
	// < and > as \u003c and \u003e, which EventBridge Scheduler leaves alone.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		GroupID     string `json:"groupId"`
		FlowID      string `json:"flowId"`
		TriggerID   string `json:"triggerId"`
		Mode        Mode   `json:"mode"`
		ScheduledAt string `json:"scheduledAt"`
	}{groupID, flowID, triggerID, ModeSchedule, ScheduledTimePlaceholder})
	return strings.TrimSuffix(b.String(), "\n")
}

// TriggerRequest returns the Request with its body, as the Run records it;
// a body stored by reference stays a reference (Request.BodyRef).
func (j Job) TriggerRequest() Request {
	r := j.Request
	if j.Body != nil {
		r.SetBody(j.Body)
	}
	return r
}

// StepStatus is the outcome of one step.
type StepStatus string

// Step outcomes.
const (
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	// StepRunning is recorded just before a step's request is sent: a
	// step found running by a later delivery was interrupted (the worker
	// stopped between the call and recording its outcome).
	StepRunning StepStatus = "running"
)

// StepResult records one step of a Run.
type StepResult struct {
	ID       string     `json:"id"`
	App      string     `json:"app"`
	Method   string     `json:"method"`
	Status   StepStatus `json:"status"`
	Input    any        `json:"input,omitempty"`
	Output   any        `json:"output,omitempty"`
	Error    string     `json:"error,omitempty"`
	Attempts int        `json:"attempts"`
	// Interrupted counts the attempts whose outcome was lost because the
	// worker stopped after sending the request and before recording the
	// answer: the target may have acted on them (see Idempotency-Key).
	Interrupted int       `json:"interrupted,omitempty"`
	DurationMs  int64     `json:"durationMs"`
	StartedAt   time.Time `json:"startedAt"`
}

// Run is one execution of a Flow.
type Run struct {
	ID          string       `json:"id"`
	GroupID     string       `json:"groupId"`
	FlowID      string       `json:"flowId"`
	FlowVersion int          `json:"flowVersion,omitempty"`
	TriggerID   string       `json:"triggerId,omitempty"`
	APIKeyID    string       `json:"apiKeyId,omitempty"`
	Mode        Mode         `json:"mode"`
	ReplayOf    string       `json:"replayOf,omitempty"`
	Status      Status       `json:"status"`
	Request     Request      `json:"request"`
	Steps       []StepResult `json:"steps"`
	Error       string       `json:"error,omitempty"`
	// Deliveries counts how many times the worker received the Run's Job.
	Deliveries int        `json:"deliveries"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	DurationMs int64      `json:"durationMs,omitempty"`
}

// Step returns the recorded result of step id, if any.
func (r *Run) Step(id string) (*StepResult, bool) {
	for i := range r.Steps {
		if r.Steps[i].ID == id {
			return &r.Steps[i], true
		}
	}
	return nil, false
}

// NewID returns a fresh Run id.
func NewID(at time.Time) string { return wiresk.NewIDAt("run", at) }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// IdempotentID returns the Run id of a delivery to trigger triggerID that
// carries Idempotency-Key key: the same inputs always give the same id, so a
// retried delivery maps to the same Run.
func IdempotentID(triggerID, key string) string {
	sum := sha256.Sum256([]byte(triggerID + "\x00" + key))
	return "run_i" + idEncoding.EncodeToString(sum[:16])
}

// Query selects Runs of a Group, newest first.
type Query struct {
	GroupID  string
	FlowID   string
	APIKeyID string
	Status   Status
	// Since and Until bound CreatedAt (Since inclusive, Until exclusive);
	// zero means unbounded.
	Since, Until time.Time
	// Cursor continues a previous page; Limit caps the page (default 50).
	Cursor string
	Limit  int
}

// Page is one page of Runs.
type Page struct {
	Runs       []Run  `json:"runs"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// Enqueuer is the run queue as its two producers see it: the webhook
// ingress and the management API (Run Once, replay) send Jobs with it.
// Send returns only once the message is durably accepted; an error means
// it was not enqueued.
type Enqueuer interface {
	Send(ctx context.Context, body []byte, attrs map[string]string) (string, error)
}
