package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"wiresk/internal/backoff"
)

// Defaults of Engine.
const (
	DefaultMaxAttempts      = 3
	DefaultBaseDelay        = 500 * time.Millisecond
	DefaultMaxDelay         = 30 * time.Second
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// Engine sends requests through the guarded client and retries them. The
// zero value is ready to use with the defaults; an Engine must not be
// copied or changed once in use, and is safe for concurrent use.
type Engine struct {
	// Client sends the requests. When nil, a client from NewClient(Guard)
	// is used. A Client that is set must enforce the SSRF guard and the
	// redirect policy itself: build it with NewClient.
	Client *http.Client
	// Guard decides where requests may go when Client is nil; nil is the
	// default guard.
	Guard *Guard
	// MaxAttempts caps the tries of a request, retries included (default
	// 3).
	MaxAttempts int
	// BaseDelay is the backoff before the first retry, doubled for every
	// further one, of which a random half is taken off (default 500ms).
	BaseDelay time.Duration
	// MaxDelay caps the backoff and the honoured Retry-After (default
	// 30s).
	MaxDelay time.Duration
	// Timeout bounds each try, reading the response included (default
	// 30s).
	Timeout time.Duration
	// MaxResponseBytes caps the response body kept (default 1 MiB); a
	// larger one is cut and marked TooLarge.
	MaxResponseBytes int64
	// Sleep waits d between tries, or less when ctx ends first, returning
	// ctx.Err() then; nil is backoff.Sleep. Tests set it to see the waits
	// asked for without waiting.
	Sleep func(ctx context.Context, d time.Duration) error

	once   sync.Once
	client *http.Client
}

// Request is a request ready to be sent any number of times.
type Request struct {
	Method string
	URL    *url.URL
	Header http.Header
	// Body is sent as it is; nil for none.
	Body []byte
	// Pinned says the request carries a credential: its redirects stay on
	// its host (the same scheme, host and port, or the upgrade from http to
	// https), so that the credential reaches no other host.
	Pinned bool
	// RetryAfterHeader names the response header that says how long to
	// wait before a retry; "" is Retry-After.
	RetryAfterHeader string
	// StopBeforeDeadline gives up at once, rather than waiting in vain,
	// when the wait before a retry would outlast the context's deadline.
	StopBeforeDeadline bool
	// Secrets are the texts scrubbed out of the messages of the errors
	// the Engine makes.
	Secrets []string
}

// Where names the request in messages: method and URL without user info,
// query or fragment, which may hold credentials.
func (r *Request) Where() string { return Where(r.Method, r.URL) }

// Where names a request in messages: method and URL without user info,
// query or fragment, which may hold credentials.
func Where(method string, u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return method + " " + v.String()
}

// Response is an answer, read whole up to the Engine's MaxResponseBytes.
type Response struct {
	Status int
	Header http.Header
	// Body is the start of the body, at most Limit bytes.
	Body []byte
	// Limit is the cap on Body.
	Limit int64
	// TooLarge says the body was longer than Limit and was cut.
	TooLarge bool
	// ReadErr is the error that stopped reading the body, if any.
	ReadErr error
}

// Verdict is a caller's judgement of an answer.
type Verdict struct {
	// Err is the failure the answer means; nil for success.
	Err error
	// Retry says another try may succeed.
	Retry bool
	// HonourRetryAfter says to wait what the answer's Retry-After header
	// asks for (capped at MaxDelay) rather than the backoff, as for 429
	// and 503.
	HonourRetryAfter bool
	// Wait is, with HonourRetryAfter, the wait when the answer has no
	// Retry-After header: what the app documents instead (Airtable: 30
	// seconds after a rate limit). Capped at MaxDelay; 0 is the backoff.
	Wait time.Duration
}

// Judge classifies an answer.
type Judge func(*Response) Verdict

// Retryable reports whether an answer of status is worth another try:
// 408, 429 and 5xx except 508, which is a Wiresk webhook refusing a loop.
func Retryable(status int) bool {
	switch {
	case status == http.StatusLoopDetected:
		return false
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// Do sends req until judge accepts an answer, judge or the Engine finds a
// failure that retrying cannot help, the attempts run out or ctx ends,
// waiting between tries with an exponential backoff with jitter, or as a
// Retry-After asks (or, without one, the judge's Verdict.Wait), capped at
// MaxDelay. It returns the last answer (nil when none came), the
// tries made, and the error: judge's, an *Error when no answer came, or an
// *Interrupted when ctx ended or the wait would outlast its deadline.
func (e *Engine) Do(ctx context.Context, req *Request, judge Judge) (last *Response, attempts int, err error) {
	client := e.httpClient()
	policy := backoff.Policy{Base: positive(e.BaseDelay, DefaultBaseDelay), Max: positive(e.MaxDelay, DefaultMaxDelay)}
	maxAttempts := positive(e.MaxAttempts, DefaultMaxAttempts)
	sleep := e.Sleep
	if sleep == nil {
		sleep = backoff.Sleep
	}
	if req.Pinned {
		ctx = context.WithValue(ctx, pinKey{}, true)
	}
	for attempt := 1; ; attempt++ {
		resp, v := e.try(ctx, client, req, judge)
		if resp != nil {
			last = resp
		}
		if v.Err == nil {
			return last, attempt, nil
		}
		if ctx.Err() != nil {
			return last, attempt, &Interrupted{Last: v.Err, Stage: Cancelled, Cause: context.Cause(ctx), err: ctx.Err()}
		}
		if !v.Retry || attempt >= maxAttempts {
			return last, attempt, v.Err
		}
		wait := policy.Delay(attempt)
		if v.HonourRetryAfter && resp != nil {
			name := req.RetryAfterHeader
			if name == "" {
				name = "Retry-After"
			}
			if d := RetryAfter(resp.Header.Get(name), time.Now()); d >= 0 {
				wait = min(d, policy.Max)
			} else if v.Wait > 0 {
				wait = min(v.Wait, policy.Max)
			}
		}
		if deadline, ok := ctx.Deadline(); ok && req.StopBeforeDeadline && time.Until(deadline) < wait {
			return last, attempt, &Interrupted{Last: v.Err, Stage: NotRetried, Wait: wait}
		}
		if sleep(ctx, wait) != nil {
			return last, attempt, &Interrupted{Last: v.Err, Stage: Waiting, Cause: context.Cause(ctx), err: ctx.Err()}
		}
	}
}

// httpClient returns the client to use.
func (e *Engine) httpClient() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	e.once.Do(func() { e.client = NewClient(e.Guard) })
	return e.client
}

// try sends r once, within the Timeout, and judges the answer.
func (e *Engine) try(ctx context.Context, client *http.Client, r *Request, judge Judge) (*Response, Verdict) {
	ctx, cancel := context.WithTimeout(ctx, positive(e.Timeout, DefaultTimeout))
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL.String(), body)
	if err != nil {
		return nil, Verdict{Err: r.fail(true, "cannot build the request", err)}
	}
	req.Header = r.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		perm, why := transportCause(err)
		return nil, Verdict{Err: r.fail(perm, why, err), Retry: !perm}
	}
	defer resp.Body.Close()
	limit := positive(e.MaxResponseBytes, DefaultMaxResponseBytes)
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Limit: limit, ReadErr: readErr}
	if int64(len(data)) > limit {
		out.Body, out.TooLarge = data[:limit], true
	}
	return out, judge(out)
}

// transportCause says whether an error of http.Client.Do is permanent (a
// destination the guard refuses, a redirect the policy refuses) and what
// to say of it: without the *url.Error around it, which repeats the URL,
// query included.
func transportCause(err error) (permanent bool, why string) {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return true, refused.Error()
	}
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		return true, redirect.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return false, ue.Err.Error()
	}
	return false, err.Error()
}

// fail returns the *Error of a try of r that brought no answer. It keeps
// the cause without the *url.Error around it, which repeats the URL, query
// included.
func (r *Request) fail(permanent bool, why string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Permanent: permanent, Message: Scrub(r.Where()+": "+why, r.Secrets...), err: err}
}

// Error is the failure of a try that brought no answer: the request could
// not be built, the guard refused its destination, a redirect was refused,
// the network failed or the try timed out. Its Message names the request
// by method and URL without query, and holds none of its Secrets.
type Error struct {
	// Permanent is true when retrying cannot help: a refused destination
	// or redirect, a request that cannot be built.
	Permanent bool
	// Message describes the failure.
	Message string

	err error
}

// Error returns the Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause: a *RefusedError, a *RedirectError, a network
// or context error.
func (e *Error) Unwrap() error { return e.err }

// Stage says when an Interrupted request stopped.
type Stage int

// Stages of an Interrupted.
const (
	// Cancelled: the context ended during a try.
	Cancelled Stage = iota
	// Waiting: the context ended while waiting to retry.
	Waiting
	// NotRetried: the wait before the next try would outlast the
	// context's deadline (Request.StopBeforeDeadline).
	NotRetried
)

// Interrupted is the error of a request that stopped before its tries ran
// out: see Stage.
type Interrupted struct {
	// Last is the failure of the last try.
	Last error
	// Stage says when the request stopped.
	Stage Stage
	// Cause is context.Cause of the context that ended; nil for NotRetried.
	Cause error
	// Wait is the wait that would have outlasted the deadline, for
	// NotRetried.
	Wait time.Duration

	err error // ctx.Err()
}

// Error describes the interruption after the Last failure.
func (e *Interrupted) Error() string { return e.Describe(e.Last.Error()) }

// Describe returns msg, the description of the last failure, followed by
// how the request stopped.
func (e *Interrupted) Describe(msg string) string {
	switch e.Stage {
	case Waiting:
		return fmt.Sprintf("%s; gave up waiting to retry: %v", msg, e.Cause)
	case NotRetried:
		return fmt.Sprintf("%s; not retried: the wait of %v would outlast the deadline", msg, e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s; cancelled: %v", msg, e.Cause)
}

// Unwrap returns the context's error (context.Canceled or
// context.DeadlineExceeded), if it ended, and the Last failure.
func (e *Interrupted) Unwrap() []error {
	if e.err == nil {
		return []error{e.Last}
	}
	return []error{e.err, e.Last}
}

// RetryAfter returns the delay a Retry-After header asks for, in seconds
// or as an HTTP date (relative to now), and -1 when there is none or it
// cannot be read.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return -1
		}
		if secs > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// MinSecretLen is the length from which a secret is scrubbed out of
// messages: shorter texts would scrub ordinary words, and are no secret
// worth the name.
const MinSecretLen = 4

// Redacted replaces a secret in a scrubbed message.
const Redacted = "[redacted]"

// Scrub replaces each of secrets (of MinSecretLen bytes or more) in s with
// Redacted.
func Scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= MinSecretLen {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	return s
}

// positive returns v, or def when v is not positive.
func positive[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
