// Package worker provides the worker use case: execute the Run a Job asks
// for, step by step, recording each step, idempotently under at-least-once
// delivery. Handle is the SQS event handler used both by the Lambda function
// and by the local runner's queue pump.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/connection"
	"wiresk/internal/flow"
	"wiresk/internal/logctx"
	"wiresk/internal/metrics"
	"wiresk/internal/run"
	"wiresk/internal/step"
	"wiresk/internal/template"
	"wiresk/internal/wiresk"
)

// Store is what the worker needs of the store port. Errors: a missing
// record wraps wiresk.ErrNotFound.
type Store interface {
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	CreateRun(ctx context.Context, r run.Run) (created bool, err error)
	GetRun(ctx context.Context, groupID, id string) (run.Run, error)
	UpdateRun(ctx context.Context, r run.Run) error
	// GetConnection reads a Connection a step uses (wraps ErrNotFound).
	GetConnection(ctx context.Context, groupID, id string) (connection.Connection, error)
	// AcquireLease takes the lease name for holder for ttl (or renews it
	// when holder has it), reporting false when another holder has it
	// unexpired; ReleaseLease frees it if holder holds it (ErrNotFound
	// otherwise). The worker leases each Run it executes, so that one
	// delivery at a time runs its steps.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Steps validates and executes step kinds.
type Steps interface {
	flow.Kinds
	// Execute runs one step with its rendered input. attempts counts the
	// tries made, retries of transient failures included; err is the final
	// failure.
	Execute(ctx context.Context, app, method string, input map[string]any) (output any, attempts int, err error)
}

// Connections authenticates steps with the Connections they name.
type Connections interface {
	// Bind returns what a step needs to call its app with the
	// Connection: config, credential and the host-pinned Authenticator of
	// the generic HTTP step. An error with code conflict or not_found
	// means the Connection cannot be used until someone acts (the Run
	// fails at once); any other error is temporary. secrets are the
	// credential's texts: the worker redacts them from everything it
	// records or passes to later steps.
	Bind(ctx context.Context, groupID, connectionID string) (conn step.Connection, secrets []string, err error)
	// Rejected is told that the app answered 401 to a step sent with the
	// Connection's credential; it re-tests the Connection (marking it
	// broken if the app refuses the credential) and returns its status.
	Rejected(ctx context.Context, groupID, connectionID string) (connection.Status, error)
}

// Bodies reads the webhook bodies the ingress stored by reference
// (run.BodyRef). Get returns the body stored under key: an error wrapping
// wiresk.ErrNotFound when there is none (expired, or never stored), an
// invalid_request *wiresk.Error for a malformed key, and any other error
// for a failure worth retrying.
type Bodies interface {
	Get(ctx context.Context, key string) ([]byte, error)
}

// Worker executes Jobs.
type Worker struct {
	Store Store
	Steps Steps
	// Bodies holds the bodies of Jobs that carry a reference instead
	// (Request.BodyRef); without it such Jobs fail.
	Bodies Bodies
	// Connections authenticates steps that name a Connection; without it
	// such steps fail.
	Connections Connections
	// Schedules admits the fires of schedule triggers; without it they
	// are dropped (and logged).
	Schedules Schedules
	// Polls runs app triggers' polls; without it their fires are dropped.
	Polls Polls
	// MaxReceives is the queue's maxReceiveCount: on that delivery a
	// failure is final and the Run is marked failed (the message then goes
	// to the dead-letter queue). Default 5.
	MaxReceives int
	// Lease is how long a delivery holds the Run it executes before
	// another may take it over, renewed before a step once half of it has
	// passed (default
	// DefaultLease). In Lambda it is the time left until the invocation's
	// deadline, when that is known. Keep it no longer than the queue's
	// visibility timeout, so that a delivery that crashed is taken over
	// when its message comes back.
	Lease  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics counts the Runs that end, the steps' durations and the
	// messages failed on their last delivery; nil: none.
	Metrics *metrics.Emitter
}

// DefaultLease is the default Worker.Lease: the worker function's timeout.
const DefaultLease = 2 * time.Minute

// ErrRunClaimed is returned by Execute when another delivery is running the
// Run: this one comes back later (its message is redelivered) rather than
// run a step a second time.
var ErrRunClaimed = errors.New("another delivery is running this Run; retry later")

// runLeaseName is the name of the lease that gives a Run one owner.
func runLeaseName(groupID, runID string) string { return "run/" + groupID + "/" + runID }

// lease returns how long to hold a Run from now.
func (w *Worker) lease(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		// The delivery cannot outlive its deadline: a few seconds more
		// cover the last write.
		return time.Until(dl) + 5*time.Second
	}
	if w.Lease > 0 {
		return w.Lease
	}
	return DefaultLease
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

func (w *Worker) maxReceives() int {
	if w.MaxReceives <= 0 {
		return 5
	}
	return w.MaxReceives
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// Handle processes an SQS batch, its records concurrently, and reports the
// records that failed so that only those are redelivered.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var mu sync.Mutex
	var resp events.SQSEventResponse
	var wg sync.WaitGroup
	for _, rec := range ev.Records {
		wg.Go(func() {
			if err := w.handleRecord(ctx, rec); err != nil {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return resp, nil
}

func (w *Worker) handleRecord(ctx context.Context, rec events.SQSMessage) (err error) {
	ctx = logctx.IDs(ctx, logctx.MessageID, rec.MessageId)
	n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if n < 1 {
		n = 1
	}
	defer func() {
		// Failed on its last delivery (whatever the failure: a crash
		// included), the message goes to the dead-letter queue.
		if err != nil && n >= w.maxReceives() {
			w.logger().ErrorContext(ctx, "job failed on its last delivery; SQS moves it to the dead-letter queue", "receiveCount", n)
			w.Metrics.Count(ctx, metrics.DeadLetterSends)
		}
	}()
	defer func() {
		// No job may take the process down: a panic fails this record
		// only, so it is redelivered and, if it keeps failing, dead-lettered.
		if p := recover(); p != nil {
			w.logger().ErrorContext(ctx, "job panicked", "messageId", rec.MessageId, "panic", fmt.Sprint(p))
			err = fmt.Errorf("message %s: the worker panicked", rec.MessageId)
		}
	}()
	var job run.Job
	if err := json.Unmarshal([]byte(rec.Body), &job); err != nil || job.RunID == "" && job.Mode != run.ModeSchedule && job.Mode != run.ModeAppHook && job.Mode != run.ModeUnsubscribe || job.GroupID == "" || job.FlowID == "" {
		// A message that is not a Job can never succeed: let it reach the
		// dead-letter queue for a human to look at.
		w.logger().ErrorContext(ctx, "message is not a job", "messageId", rec.MessageId, "err", err)
		return fmt.Errorf("message %s is not a job", rec.MessageId)
	}
	if job.Mode == run.ModeSchedule && job.RunID == "" && job.ScheduledAt != nil {
		job.RunID = run.ScheduledID(job.TriggerID, *job.ScheduledAt)
	}
	err = w.Execute(ctx, job, n)
	if err != nil {
		w.logger().WarnContext(jobContext(ctx, job), "run failed", "receiveCount", n, "err", err)
	}
	return err
}

// Execute runs job on its receiveCount-th delivery. A nil error means the
// Job is done (succeeded, or failed for good) and its message can be
// deleted; an error means it should be redelivered. Steps that already
// succeeded on an earlier delivery are not run again.
func (w *Worker) Execute(ctx context.Context, job run.Job, receiveCount int) error {
	ctx = jobContext(ctx, job)
	switch job.Mode {
	case run.ModeUnsubscribe:
		return w.unsubscribe(ctx, job)
	case run.ModeAppHook:
		if ok, err := w.notified(ctx, &job); !ok || err != nil {
			return err
		}
	}
	if job.Mode == run.ModeSchedule {
		if ok, err := w.admitFire(ctx, &job); !ok || err != nil {
			return err
		}
	}
	ctx = jobContext(ctx, job) // the Run id of a fire is known now
	now := w.now()
	trigger := job.TriggerRequest()
	r := run.Run{ID: job.RunID, GroupID: job.GroupID, FlowID: job.FlowID, TriggerID: job.TriggerID, APIKeyID: job.APIKeyID,
		Mode: job.Mode, ReplayOf: job.ReplayOf, Status: run.Running, Request: trigger, Steps: []run.StepResult{},
		Deliveries: receiveCount, CreatedAt: job.ReceivedAt, StartedAt: &now}
	f, ferr := w.Store.GetFlow(ctx, job.GroupID, job.FlowID)
	if ferr != nil && !errors.Is(ferr, wiresk.ErrNotFound) {
		return fmt.Errorf("get flow: %w", ferr)
	}
	created, err := w.Store.CreateRun(ctx, fit(r))
	if err != nil {
		return fmt.Errorf("create run: %w", err)
	}
	// One delivery at a time: a duplicate message (SQS delivers at least
	// once; an Idempotency-Key retry is a second message for the same Run)
	// that finds the Run held backs off instead of running its steps again.
	// The lease is taken before the Run is read, so what is read is what
	// the last holder wrote.
	holder, leaseName := wiresk.NewIDAt("dlv", now), runLeaseName(job.GroupID, job.RunID)
	leaseFor, leasedAt := w.lease(ctx), w.now()
	ok, err := w.Store.AcquireLease(ctx, leaseName, holder, leaseFor)
	if err != nil {
		return fmt.Errorf("lease run: %w", err)
	}
	if !ok {
		return ErrRunClaimed
	}
	defer func() {
		if err := w.Store.ReleaseLease(context.WithoutCancel(ctx), leaseName, holder); err != nil && !errors.Is(err, wiresk.ErrNotFound) {
			w.logger().WarnContext(ctx, "release run lease", "runId", job.RunID, "err", err)
		}
	}()
	if !created {
		if r, err = w.Store.GetRun(ctx, job.GroupID, job.RunID); err != nil {
			return fmt.Errorf("get run: %w", err)
		}
		if r.Status.Final() {
			return nil // a redelivery of a Job that has already ended
		}
		r.Status, r.Deliveries = run.Running, max(r.Deliveries+1, receiveCount)
	}
	r.FlowVersion = f.Version
	if ferr != nil {
		return w.finish(ctx, &r, fmt.Errorf("flow %s no longer exists", job.FlowID))
	}
	compiled, err := flow.Compile(f, w.Steps)
	if err != nil {
		return w.finish(ctx, &r, fmt.Errorf("flow %s is not valid: %w", f.ID, err))
	}
	// A body stored by reference is read on every delivery: the Run
	// records the reference, and the steps see the bytes.
	if ref := trigger.BodyRef; ref != nil {
		body, permanent, err := w.body(ctx, *ref)
		switch {
		case err != nil && (permanent || receiveCount >= w.maxReceives()):
			ferr := w.finish(ctx, &r, err)
			if permanent {
				return ferr
			}
			return errors.Join(ferr, err)
		case err != nil:
			r.Status, r.Error = run.Queued, fmt.Sprintf("delivery %d of %d: %s; will retry", receiveCount, w.maxReceives(), err)
			if uerr := w.Store.UpdateRun(ctx, fit(r)); uerr != nil {
				return fmt.Errorf("update run: %w", uerr)
			}
			return err
		}
		trigger.SetBody(body)
	}
	if !created {
		if err := w.Store.UpdateRun(ctx, fit(r)); err != nil {
			return fmt.Errorf("update run: %w", err)
		}
	}

	// The steps see the whole request, whatever the record could keep.
	env := map[string]any{"trigger": trigger.Env()}
	hop, _ := trigger.Hop()
	outputs := map[string]any{}
	env["steps"] = outputs
	// The templates of the Run's steps share one budget, so a Flow cannot
	// multiply by its steps what one render may use.
	budget := template.NewRunBudget(0)
	// save writes the Run, renewing its lease first when past half its
	// time (renewed only then: one write fewer per step on the hot path).
	save := func() error {
		if w.now().Sub(leasedAt) > leaseFor/2 {
			leaseFor, leasedAt = w.lease(ctx), w.now()
			if ok, err := w.Store.AcquireLease(ctx, leaseName, holder, leaseFor); err != nil || !ok {
				// Held too long: another delivery may have taken the Run over.
				return errors.Join(ErrRunClaimed, err)
			}
		}
		if err := w.Store.UpdateRun(ctx, fit(r)); err != nil {
			return fmt.Errorf("update run: %w", err)
		}
		return nil
	}
	for _, cs := range compiled.Steps {
		prev, done := r.Step(cs.Step.ID)
		if done && (prev.Status == run.StepSucceeded || prev.Status == run.StepSkipped) {
			outputs[cs.Step.ID] = map[string]any{"output": prev.Output}
			continue
		}
		// A loop runs its inner step, with the inner step's Connection; the
		// progress it recorded (its output while running) is kept whatever
		// happens before it goes on.
		connStep, isLoop := cs.Step, step.IsLoop(cs.Step.App, cs.Step.Method)
		var loopIn step.LoopInput
		var progress any
		if isLoop {
			in, err := step.ParseLoop(cs.Step.Input)
			if err != nil {
				res := run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, Status: run.StepFailed, Error: wiresk.ErrorField(err) + ": " + wiresk.ErrorMessage(err), StartedAt: w.now()}
				if done {
					*prev = res
				} else {
					r.Steps = append(r.Steps, res)
				}
				return w.finish(ctx, &r, fmt.Errorf("step %q: %s", cs.Step.ID, res.Error))
			}
			loopIn, connStep = in, in.Step
			connStep.ID = cs.Step.ID
			if done {
				progress = prev.Output
			}
		}
		if err := w.checkConnection(ctx, job.GroupID, connStep); err != nil {
			// A broken Connection fails the Run at once: redelivering
			// cannot help until someone reconnects it.
			res := run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, Status: run.StepFailed, Error: err.Error(), Output: progress, StartedAt: w.now()}
			if done {
				res.Attempts = prev.Attempts
				*prev = res
			} else {
				r.Steps = append(r.Steps, res)
			}
			return w.finish(ctx, &r, fmt.Errorf("step %q: %w", cs.Step.ID, err))
		}
		stepCtx, secrets, err := w.authenticate(ctx, job.GroupID, connStep)
		if err != nil {
			res := run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, Status: run.StepFailed, Error: err.Error(), Output: progress, StartedAt: w.now()}
			if done {
				res.Attempts = prev.Attempts
				*prev = res
			} else {
				r.Steps = append(r.Steps, res)
			}
			if code := wiresk.ErrorCode(err); code == wiresk.EConflict || code == wiresk.ENotFound {
				return w.finish(ctx, &r, fmt.Errorf("step %q: %w", cs.Step.ID, err))
			}
			r.Status, r.Error = run.Queued, fmt.Sprintf("delivery %d of %d: step %q: %s; will retry", receiveCount, w.maxReceives(), cs.Step.ID, err)
			if receiveCount >= w.maxReceives() {
				return errors.Join(w.finish(ctx, &r, fmt.Errorf("step %q: %w", cs.Step.ID, err)), err)
			}
			if uerr := w.Store.UpdateRun(ctx, fit(r)); uerr != nil {
				return fmt.Errorf("update run: %w", uerr)
			}
			return err
		}
		// The attempt is recorded before the call: a crash between the call
		// and the checkpoint below then shows on the next delivery as an
		// interrupted attempt, never as a silent duplicate.
		base, interrupted := 0, 0
		if done {
			base, interrupted = prev.Attempts, prev.Interrupted
			if prev.Status == run.StepRunning {
				interrupted++
			}
		}
		pending := run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, Status: run.StepRunning,
			Output: progress, Attempts: base + 1, Interrupted: interrupted, StartedAt: w.now()}
		idx := len(r.Steps)
		if done {
			idx = slices.IndexFunc(r.Steps, func(s run.StepResult) bool { return s.ID == cs.Step.ID })
			r.Steps[idx] = pending
		} else {
			r.Steps = append(r.Steps, pending)
		}
		if err := save(); err != nil {
			return err
		}
		// One hop more than the request that started this Run, so that a
		// Flow calling its own webhook is stopped at run.MaxHops.
		stepCtx = step.WithHop(stepCtx, hop+1)
		stepCtx = step.WithTriggerBody(stepCtx, trigger.RawBody(), trigger.Headers["content-type"])
		var res run.StepResult
		var o outcome
		if isLoop {
			var recordedInput any
			checkpoint := func(cp run.StepResult) error {
				// The input is the same at every item: redacted and
				// measured once. The items' outputs are redacted as they
				// come, and the progress is already cut to size.
				if recordedInput == nil {
					recordedInput = recordable(redact(cp.Input, secrets))
				}
				cp.Input, cp.Error = recordedInput, redactText(cp.Error, secrets)
				cp.Attempts += base
				cp.Interrupted = interrupted
				r.Steps[idx] = cp
				return save()
			}
			lr := loopRun{runID: job.RunID, in: loopIn, secrets: secrets, checkpoint: checkpoint}
			var err error
			if res, o, err = w.runLoop(stepCtx, cs, lr, &run.StepResult{Output: progress}, env, budget); err != nil {
				// Stopped between items: the last checkpoint stands, and the
				// redelivery resumes there.
				return err
			}
		} else {
			// The same key on every attempt and delivery of this step, so a
			// target that honours Idempotency-Key acts on it once.
			stepCtx = step.WithIdempotencyKey(stepCtx, step.IdempotencyKey(job.RunID, cs.Step.ID))
			res, o = w.runStep(stepCtx, cs, env, budget)
		}
		if res.Status == run.StepFailed && o.unauthorized && connStep.ConnectionID != "" && w.Connections != nil {
			// The app refused the credential: find out now whether the
			// Connection is broken, so that its other Flows fail fast and
			// its owner is told to reconnect.
			st, err := w.Connections.Rejected(ctx, job.GroupID, connStep.ConnectionID)
			switch {
			case err != nil:
				w.logger().WarnContext(ctx, "re-test of a rejected connection", "connectionId", connStep.ConnectionID, "err", err)
			case st == connection.StatusBroken:
				res.Error += fmt.Sprintf("; the app refuses connection %s's credential, so it is now broken: reconnect it", connStep.ConnectionID)
				o.permanent = true
			}
		}
		if res.Status != run.StepSkipped {
			w.Metrics.Emit(ctx, metrics.StepDuration, float64(res.DurationMs), cs.Step.App)
		}
		// An app may echo the credential it was sent: no recorded value,
		// error or later step ever sees it.
		res.Input, res.Output, res.Error = redact(res.Input, secrets), redact(res.Output, secrets), redactText(res.Error, secrets)
		full := res.Output
		res.Input, res.Output = recordable(res.Input), recordableOutput(res)
		res.Attempts += base
		res.Interrupted = interrupted
		r.Steps[idx] = res
		if res.Status == run.StepFailed {
			stepErr := fmt.Errorf("step %q failed: %s", cs.Step.ID, res.Error)
			if job.Mode == run.ModeRunOnce || o.permanent || receiveCount >= w.maxReceives() {
				if err := w.finish(ctx, &r, stepErr); err != nil {
					return err
				}
				if job.Mode == run.ModeRunOnce || o.permanent {
					// A test run reports its failure at once; a failure
					// that retrying cannot help (a 4xx, a refused host, a
					// loop) is the Run's outcome, not a message to retry.
					return nil
				}
				return stepErr
			}
			r.Status, r.Error = run.Queued, fmt.Sprintf("delivery %d of %d: %s; will retry", receiveCount, w.maxReceives(), stepErr)
			if err := w.Store.UpdateRun(ctx, fit(r)); err != nil {
				return fmt.Errorf("update run: %w", err)
			}
			return stepErr
		}
		outputs[cs.Step.ID] = map[string]any{"output": full}
		if o.filtered {
			// A filter said no: the Run ends here, as planned.
			return w.finish(ctx, &r, errFiltered)
		}
		if err := w.Store.UpdateRun(ctx, fit(r)); err != nil {
			return fmt.Errorf("update run: %w", err)
		}
	}
	return w.finish(ctx, &r, nil)
}

// jobContext returns ctx carrying the ids of job's Run for the log lines.
func jobContext(ctx context.Context, job run.Job) context.Context {
	return logctx.IDs(ctx, logctx.RunID, job.RunID, logctx.GroupID, job.GroupID, logctx.FlowID, job.FlowID, logctx.TriggerID, job.TriggerID)
}

// body reads the body ref names and checks its size and SHA-256. A body
// that is gone, malformed or not the one sent is a permanent failure (no
// redelivery brings it back); any other error is worth retrying.
func (w *Worker) body(ctx context.Context, ref run.BodyRef) (body []byte, permanent bool, err error) {
	if w.Bodies == nil {
		return nil, false, fmt.Errorf("the request body (%d bytes) is stored by reference, and this worker has no body store (WIRESK_BODY_BUCKET)", ref.Size)
	}
	body, err = w.Bodies.Get(ctx, ref.Key)
	switch {
	case errors.Is(err, wiresk.ErrNotFound):
		return nil, true, fmt.Errorf("the request body (%d bytes, sha256 %s) is no longer in the body store: stored bodies expire with the Runs' retention, after which a Run cannot run or be replayed", ref.Size, ref.SHA256)
	case wiresk.ErrorCode(err) == wiresk.EInvalid:
		return nil, true, fmt.Errorf("the request body's reference is not valid: %s", wiresk.ErrorMessage(err))
	case err != nil:
		return nil, false, fmt.Errorf("read the request body from the body store: %w", err)
	}
	if err := ref.Check(body); err != nil {
		return nil, true, fmt.Errorf("the request body in the body store is not the one received: %w", err)
	}
	return body, false, nil
}

// authenticate returns ctx carrying the credential of the step's
// Connection, if it names one, and the credential's secret texts.
func (w *Worker) authenticate(ctx context.Context, groupID string, s flow.Step) (context.Context, []string, error) {
	if s.ConnectionID == "" {
		return ctx, nil, nil
	}
	if w.Connections == nil {
		return ctx, nil, wiresk.Errorf(wiresk.EConflict, "this worker is not set up to use Connections")
	}
	conn, secrets, err := w.Connections.Bind(ctx, groupID, s.ConnectionID)
	if err != nil {
		return ctx, nil, err
	}
	return step.WithConnection(ctx, conn), secrets, nil
}

// checkConnection refuses a step whose Connection is missing or not active,
// with an error that names the Connection and says what to do.
func (w *Worker) checkConnection(ctx context.Context, groupID string, s flow.Step) error {
	if s.ConnectionID == "" {
		return nil
	}
	c, err := w.Store.GetConnection(ctx, groupID, s.ConnectionID)
	if errors.Is(err, wiresk.ErrNotFound) {
		return fmt.Errorf("connection %s no longer exists; edit the step to use another Connection", s.ConnectionID)
	}
	if err != nil {
		return err
	}
	switch c.Status {
	case connection.StatusActive:
		return nil
	case connection.StatusBroken:
		return fmt.Errorf("connection %q (%s) is broken: %s; reconnect it", c.Name, c.ID, c.StatusReason)
	default:
		return fmt.Errorf("connection %q (%s) is %s; reconnect it", c.Name, c.ID, c.Status)
	}
}

// outcome is what runStep says of a step beside its result.
type outcome struct {
	// permanent: the step failed and retrying cannot help; its request was
	// refused for good (step.IsPermanent), or its input or condition
	// cannot be rendered from this Run's data (unless the process was
	// short of render memory, which passes).
	permanent bool
	// filtered: a filter step stopped the Run.
	filtered bool
	// unauthorized: the app refused the step's credential (a 401, or an
	// expired token inside a 200 answer).
	unauthorized bool
}

// gate evaluates the step's if. goOn is false when the step is skipped or
// its condition failed; res then says which, and o how to go on.
func gate(cs flow.CompiledStep, env map[string]any, budget *template.Budget, res *run.StepResult) (goOn bool, o outcome) {
	if cs.If == nil {
		return true, outcome{}
	}
	ok, err := cs.If.EvalIn(budget, env)
	if err != nil {
		res.Status, res.Error = run.StepFailed, "if: "+err.Error()
		return false, outcome{permanent: wiresk.ErrorCode(err) != wiresk.EUnavailable}
	}
	if !ok {
		res.Status = run.StepSkipped
		return false, outcome{}
	}
	return true, outcome{}
}

// runStep returns the step's result and outcome; res is named so that the
// deferred duration lands in what the caller gets.
func (w *Worker) runStep(ctx context.Context, cs flow.CompiledStep, env map[string]any, budget *template.Budget) (res run.StepResult, o outcome) {
	start := w.now()
	res = run.StepResult{ID: cs.Step.ID, App: cs.Step.App, Method: cs.Step.Method, StartedAt: start}
	defer func() { res.DurationMs = w.now().Sub(start).Milliseconds() }()
	if goOn, o := gate(cs, env, budget, &res); !goOn {
		return res, o
	}
	rendered, err := cs.Input.RenderIn(budget, env)
	if err != nil {
		res.Status, res.Error = run.StepFailed, "input: "+err.Error()
		return res, outcome{permanent: wiresk.ErrorCode(err) != wiresk.EUnavailable}
	}
	input, _ := rendered.(map[string]any)
	res.Input = input
	out, attempts, err := w.Steps.Execute(ctx, cs.Step.App, cs.Step.Method, input)
	res.Attempts = attempts
	if errors.Is(err, step.ErrFiltered) {
		res.Status, res.Output = run.StepSucceeded, out
		return res, outcome{filtered: true}
	}
	if err != nil {
		res.Status, res.Error = run.StepFailed, err.Error()
		o := outcome{permanent: step.IsPermanent(err)}
		var se *step.Error
		if errors.As(err, &se) {
			o.unauthorized = se.Unauthorized || se.Status == http.StatusUnauthorized
		}
		return res, o
	}
	res.Status, res.Output = run.StepSucceeded, out
	return res, outcome{}
}

// MaxRecorded caps the JSON size of a step's input and output as recorded
// in the Run: a DynamoDB item holds at most 400 KB. A larger value is
// recorded as {"truncated": true, "bytes": n, "preview": "..."}; later steps
// of the same delivery still see the whole value.
const MaxRecorded = 64 << 10

// MaxRunBytes bounds the JSON size of a Run as recorded: a DynamoDB item
// holds at most 400 KB, keys and index attributes included.
const MaxRunBytes = 300 << 10

// fit returns r as it can be recorded: when it is over MaxRunBytes, the
// largest step inputs and outputs are replaced by previews, and if that is
// not enough the request body is cut to a preview and marked
// bodyTruncated (such a Run cannot be replayed). A body stored by reference
// is not in the record: its reference (Request.BodyRef) always is.
func fit(r run.Run) run.Run {
	size := jsonSize(r)
	if size <= MaxRunBytes {
		return r
	}
	r.Steps = slices.Clone(r.Steps)
	for size > MaxRunBytes {
		i, input, n := largestStepValue(r.Steps)
		if n <= previewBytes*2 {
			break
		}
		switch m, loop := r.Steps[i].Output.(map[string]any); {
		case input:
			r.Steps[i].Input = preview(r.Steps[i].Input)
		case loop && step.IsLoop(r.Steps[i].App, r.Steps[i].Method):
			// A loop's count and progress stay whole: a redelivery
			// resumes from its progress.
			r.Steps[i].Output = shrinkLoop(m)
		default:
			r.Steps[i].Output = preview(r.Steps[i].Output)
		}
		smaller := jsonSize(r)
		if smaller >= size {
			break // nothing more to cut from the step values
		}
		size = smaller
	}
	if size > MaxRunBytes && len(r.Request.RawBody()) > 0 {
		raw := r.Request.RawBody()
		cut := raw[:min(len(raw), 16<<10)]
		for !utf8.Valid(cut) {
			cut = cut[:len(cut)-1]
		}
		r.Request.Body, r.Request.BodyBase64 = nil, nil
		r.Request.BodyText, r.Request.BodyTruncated = string(cut), true
	}
	return r
}

const previewBytes = 1024

func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// largestStepValue finds the step input or output with the most JSON.
func largestStepValue(steps []run.StepResult) (index int, input bool, size int) {
	for i, st := range steps {
		if n := jsonSize(st.Input); n > size {
			index, input, size = i, true, n
		}
		if n := jsonSize(st.Output); n > size {
			index, input, size = i, false, n
		}
	}
	return index, input, size
}

// preview is the recorded form of a value too large to keep.
func preview(v any) any {
	b, _ := json.Marshal(v)
	p := b[:min(len(b), previewBytes)]
	for !utf8.Valid(p) {
		p = p[:len(p)-1]
	}
	return map[string]any{"truncated": true, "bytes": len(b), "preview": string(p)}
}

// recordable returns v, or its truncated form when it is over MaxRecorded.
func recordable(v any) any {
	if v == nil {
		return nil
	}
	if jsonSize(v) <= MaxRecorded {
		return v
	}
	return preview(v)
}

// errFiltered is the cause of a Run a filter step stopped.
var errFiltered = errors.New("filtered")

// finish records the end of a Run: succeeded when cause is nil, filtered
// for errFiltered, failed with cause otherwise. It returns nil when the Job should not be retried.
func (w *Worker) finish(ctx context.Context, r *run.Run, cause error) error {
	end := w.now()
	r.FinishedAt = &end
	if r.StartedAt != nil {
		r.DurationMs = end.Sub(*r.StartedAt).Milliseconds()
	}
	switch {
	case cause == nil:
		r.Status, r.Error = run.Succeeded, ""
	case cause == errFiltered:
		r.Status, r.Error = run.Filtered, ""
	default:
		r.Status, r.Error = run.Failed, cause.Error()
	}
	if err := w.Store.UpdateRun(ctx, fit(*r)); err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	w.Metrics.Count(ctx, metrics.RunsFinished, string(r.Status))
	return nil
}
