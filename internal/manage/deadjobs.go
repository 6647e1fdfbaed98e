package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wiresk/internal/auth"
	"wiresk/internal/group"
	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// DeadLetterQueue is the run queue's dead-letter queue as DeadJobs uses it
// (the bolt queue locally, SQS on AWS). Errors: any error means the queue
// could not be read or changed; Redrive's result then lists what it moved
// before the error.
type DeadLetterQueue interface {
	// DeadLetters returns up to limit dead letters without removing them.
	DeadLetters(ctx context.Context, limit int) ([]queue.DeadLetter, error)
	// Redrive sends the dead letters ids, among the first limit it looks
	// at, back to the run queue with the same body and attributes, then
	// removes them from the dead letters; the ids it does not find are
	// in NotFound, not an error.
	Redrive(ctx context.Context, ids []string, limit int) (queue.Redriven, error)
}

// DeadJobStore is what DeadJobs reads and writes of the store port: the
// Runs dead jobs name, reopened when they are redriven. Errors: a missing
// Run wraps wiresk.ErrNotFound.
type DeadJobStore interface {
	GetRun(ctx context.Context, groupID, id string) (run.Run, error)
	UpdateRun(ctx context.Context, r run.Run) error
}

// MaxDeadScan is the most dead letters, of all Groups, that one list or
// redrive call looks at. SQS can only be read by receiving, ten messages a
// call, and what a call has received stays hidden from other readers until
// it returns, so the cap keeps a call within API Gateway's 30 seconds; the
// answer says when it was reached (Truncated), and a Group's dead jobs past
// it are reached by redriving or waiting out the ones before them.
const MaxDeadScan = 500

// MaxRedriveIDs is the most ids one redrive call may name.
const MaxRedriveIDs = 100

// DeadJobs are the use cases of the run queue's dead letters: list a
// Group's dead jobs with the reason each died, and send some or all back to
// the run queue. Group admins only. A dead job belongs to the Group its
// message's groupId attribute names, and to the Group its Job names (the
// one the worker would run it in); a message whose two disagree belongs to
// neither, and one with neither to no Group, so it is never listed.
type DeadJobs struct {
	Store  DeadJobStore
	Access Access
	// Queue is the dead-letter queue; nil: none is configured, and every
	// call answers unavailable.
	Queue  DeadLetterQueue
	Logger *slog.Logger
}

// DeadJob is one dead job of a Group, as listed. The message body is never
// shown (a webhook's body may hold anything, secrets included): only its
// size and the request's content type.
type DeadJob struct {
	// ID is the message id, which Redrive takes.
	ID        string   `json:"id"`
	RunID     string   `json:"runId,omitempty"`
	FlowID    string   `json:"flowId,omitempty"`
	TriggerID string   `json:"triggerId,omitempty"`
	Mode      run.Mode `json:"mode,omitempty"`
	// ReceiveCount is the queue's count of deliveries (on SQS it goes on
	// counting in the dead-letter queue, listings included).
	ReceiveCount int `json:"receiveCount"`
	// DeadAt is when the message was moved to the dead letters (locally),
	// or when it was read (SQS keeps no time for the move).
	DeadAt time.Time `json:"deadAt"`
	// Reason is why it died: the queue's reason, then what the Run
	// recorded ("no Run was recorded" when there is none).
	Reason string `json:"reason"`
	// RunStatus is the status of the Run of that id, if one was recorded.
	// A redrive reopens a failed Run; one that succeeded or was filtered is
	// not run again (the worker drops its job): replay it instead.
	RunStatus run.Status `json:"runStatus,omitempty"`
	// Body is the size and content type of the job's request body.
	Body DeadJobBody `json:"body"`
	// MessageBytes is the size of the whole queue message.
	MessageBytes int `json:"messageBytes"`
}

// DeadJobBody describes a dead job's request body without showing it.
type DeadJobBody struct {
	Bytes       int    `json:"bytes"`
	ContentType string `json:"contentType,omitempty"`
}

// DeadJobList is a Group's dead jobs.
type DeadJobList struct {
	DeadJobs []DeadJob `json:"deadJobs"`
	// Scanned is how many dead letters, of all Groups, were looked at;
	// ScanLimit the most one call looks at (MaxDeadScan); Truncated is
	// true when the scan stopped there, so more may exist.
	Scanned   int  `json:"scanned"`
	ScanLimit int  `json:"scanLimit"`
	Truncated bool `json:"truncated"`
}

// RedriveInput names the dead jobs to redrive: some IDs, or All of the
// Group's (among those one call looks at).
type RedriveInput struct {
	IDs []string `json:"ids"`
	All bool     `json:"all"`
}

// RedrivenJob is a dead job sent back to the run queue.
type RedrivenJob struct {
	ID string `json:"id"`
	// NewID is the id of the message now in the run queue.
	NewID string `json:"newId"`
	RunID string `json:"runId,omitempty"`
}

// RedriveResult is what a redrive did.
type RedriveResult struct {
	Redriven []RedrivenJob `json:"redriven"`
	// NotFound are the ids asked for that are not dead jobs of the Group
	// among those looked at (another Group's, unknown, already redriven).
	NotFound  []string `json:"notFound"`
	Scanned   int      `json:"scanned"`
	ScanLimit int      `json:"scanLimit"`
	Truncated bool     `json:"truncated"`
}

// List returns the Group's dead jobs, those looked at (see MaxDeadScan),
// each with its reason.
func (s *DeadJobs) List(ctx context.Context, who auth.Identity, groupID string) (DeadJobList, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return DeadJobList{}, err
	}
	mine, scanned, err := s.scan(ctx, groupID)
	if err != nil {
		return DeadJobList{}, err
	}
	out := DeadJobList{DeadJobs: make([]DeadJob, 0, len(mine)), Scanned: scanned, ScanLimit: MaxDeadScan, Truncated: scanned >= MaxDeadScan}
	for _, d := range mine {
		j, err := s.view(ctx, groupID, d)
		if err != nil {
			return DeadJobList{}, err
		}
		out.DeadJobs = append(out.DeadJobs, j)
	}
	return out, nil
}

// Redrive sends the Group's dead jobs in.IDs, or all of them (among those
// looked at), back to the run queue. An id that is not a dead job of the
// Group is reported in NotFound and never redriven.
func (s *DeadJobs) Redrive(ctx context.Context, who auth.Identity, groupID string, in RedriveInput) (RedriveResult, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return RedriveResult{}, err
	}
	switch {
	case in.All && len(in.IDs) > 0:
		return RedriveResult{}, wiresk.FieldError("ids", `give either "ids" or "all": true, not both`)
	case !in.All && len(in.IDs) == 0:
		return RedriveResult{}, wiresk.FieldError("ids", `is required: the ids of the dead jobs to redrive, or "all": true`)
	case len(in.IDs) > MaxRedriveIDs:
		return RedriveResult{}, wiresk.FieldError("ids", "at most %d ids at a time", MaxRedriveIDs)
	}
	for i, id := range in.IDs {
		if id == "" || len(id) > 200 {
			return RedriveResult{}, wiresk.FieldError(fmt.Sprintf("ids[%d]", i), "must be a dead job's id, 1 to 200 characters")
		}
	}
	mine, scanned, err := s.scan(ctx, groupID)
	if err != nil {
		return RedriveResult{}, err
	}
	out := RedriveResult{Redriven: []RedrivenJob{}, NotFound: []string{}, Scanned: scanned, ScanLimit: MaxDeadScan, Truncated: scanned >= MaxDeadScan}
	runOf := make(map[string]string, len(mine))
	for _, d := range mine {
		job, _ := decodeJob(d.Body)
		runOf[d.ID] = job.RunID
	}
	var chosen []string
	seen := map[string]bool{}
	if in.All {
		for _, d := range mine {
			chosen = append(chosen, d.ID)
		}
	}
	for _, id := range in.IDs {
		switch _, ok := runOf[id]; {
		case seen[id]:
		case ok:
			chosen = append(chosen, id)
		default:
			out.NotFound = append(out.NotFound, id)
		}
		seen[id] = true
	}
	if len(chosen) == 0 {
		return out, nil
	}
	// A job dies on its last delivery, whose failure ended its Run: the
	// worker would drop a redriven Job of an ended Run. So a failed Run is
	// reopened first (queued, its steps kept: the worker goes on after the
	// last step that succeeded), and put back as it was if its job was not
	// moved.
	reopened := s.reopen(ctx, groupID, chosen, runOf)
	res, err := s.Queue.Redrive(ctx, chosen, MaxDeadScan)
	moved := make(map[string]bool, len(res.Moved))
	for _, m := range res.Moved {
		moved[m.ID] = true
	}
	for id, r := range reopened {
		if !moved[id] {
			if uerr := s.Store.UpdateRun(context.WithoutCancel(ctx), r); uerr != nil {
				s.logger().ErrorContext(ctx, "put back a reopened Run", "groupId", groupID, "runId", r.ID, "err", uerr)
			}
		}
	}
	for _, m := range res.Moved {
		out.Redriven = append(out.Redriven, RedrivenJob{ID: m.ID, NewID: m.NewID, RunID: runOf[m.ID]})
	}
	if err != nil {
		s.logger().ErrorContext(ctx, "redrive dead letters", "groupId", groupID, "redriven", len(res.Moved), "err", err)
		return RedriveResult{}, wiresk.Errorf(wiresk.EUnavailable, "the dead-letter queue is unavailable: %d of the %d jobs were redriven before it failed; list the dead jobs again, then retry", len(res.Moved), len(chosen))
	}
	out.NotFound = append(out.NotFound, res.NotFound...)
	return out, nil
}

// reopen sets each failed Run of the chosen dead jobs back to queued, and
// returns those Runs as they were, by dead job id. A Run that cannot be
// read or written is left as it is (its redriven job is then dropped by the
// worker, as before), and logged.
func (s *DeadJobs) reopen(ctx context.Context, groupID string, chosen []string, runOf map[string]string) map[string]run.Run {
	was := map[string]run.Run{}
	for _, id := range chosen {
		runID := runOf[id]
		if runID == "" {
			continue
		}
		r, err := s.Store.GetRun(ctx, groupID, runID)
		if err != nil || r.Status != run.Failed {
			continue
		}
		old := r
		r.Status, r.FinishedAt, r.DurationMs = run.Queued, nil, 0
		r.Error = "redriven from the dead-letter queue; it had failed: " + old.Error
		if err := s.Store.UpdateRun(ctx, r); err != nil {
			s.logger().ErrorContext(ctx, "reopen a redriven Run", "groupId", groupID, "runId", runID, "err", err)
			continue
		}
		was[id] = old
	}
	return was
}

// scan reads up to MaxDeadScan dead letters and returns the Group's, and
// how many it read.
func (s *DeadJobs) scan(ctx context.Context, groupID string) ([]queue.DeadLetter, int, error) {
	if s.Queue == nil {
		return nil, 0, wiresk.Errorf(wiresk.EUnavailable, "no dead-letter queue is configured for this API")
	}
	dead, err := s.Queue.DeadLetters(ctx, MaxDeadScan)
	if err != nil {
		s.logger().ErrorContext(ctx, "list dead letters", "groupId", groupID, "err", err)
		return nil, 0, wiresk.Errorf(wiresk.EUnavailable, "the dead-letter queue is unavailable; retry later")
	}
	var mine []queue.DeadLetter
	for _, d := range dead {
		if belongs(d, groupID) {
			mine = append(mine, d)
		}
	}
	return mine, len(dead), nil
}

// belongs reports whether dead letter d is a job of Group groupID: its
// groupId attribute, if it has one, and its Job's groupId, if it decodes,
// both name the Group (EventBridge Scheduler's fires carry no attribute).
func belongs(d queue.DeadLetter, groupID string) bool {
	attr, hasAttr := d.Attributes["groupId"]
	if hasAttr && attr != groupID {
		return false
	}
	job, ok := decodeJob(d.Body)
	if ok && job.GroupID != groupID {
		return false
	}
	return hasAttr || ok
}

// decodeJob decodes a dead letter's body as a Job; ok is false when it is
// not one (not JSON, or no groupId), as the worker would find.
func decodeJob(body []byte) (job run.Job, ok bool) {
	if err := json.Unmarshal(body, &job); err != nil || job.GroupID == "" {
		return run.Job{}, false
	}
	if job.Mode == run.ModeSchedule && job.RunID == "" && job.ScheduledAt != nil {
		job.RunID = run.ScheduledID(job.TriggerID, *job.ScheduledAt)
	}
	return job, true
}

// view describes dead letter d of groupID, with the Run of its id.
func (s *DeadJobs) view(ctx context.Context, groupID string, d queue.DeadLetter) (DeadJob, error) {
	j := DeadJob{ID: d.ID, ReceiveCount: d.ReceiveCount, DeadAt: d.DeadAt.UTC(), MessageBytes: len(d.Body), RunID: d.Attributes["runId"]}
	job, ok := decodeJob(d.Body)
	if !ok {
		j.Reason = d.Reason + "; the message is not a Job the worker can read"
		return j, nil
	}
	if job.RunID != "" {
		j.RunID = job.RunID
	}
	j.FlowID, j.TriggerID, j.Mode = job.FlowID, job.TriggerID, job.Mode
	j.Body = DeadJobBody{Bytes: len(job.Body), ContentType: job.Request.Headers["content-type"]}
	if j.RunID == "" {
		j.Reason = d.Reason + "; no Run was recorded"
		return j, nil
	}
	r, err := s.Store.GetRun(ctx, groupID, j.RunID)
	switch {
	case errors.Is(err, wiresk.ErrNotFound):
		j.Reason = d.Reason + "; no Run was recorded"
		return j, nil
	case err != nil:
		return DeadJob{}, fmt.Errorf("dead job %s: read run %s: %w", d.ID, j.RunID, err)
	}
	j.RunStatus = r.Status
	j.Reason = fmt.Sprintf("%s; the Run is %s", d.Reason, r.Status)
	if r.Error != "" {
		j.Reason += ": " + r.Error
	} else if !r.Status.Final() {
		j.Reason += ", with no error recorded (the worker stopped during a delivery)"
	}
	if r.Status == run.Succeeded || r.Status == run.Filtered {
		j.Reason += "; it has ended, so a redrive does not run it again: replay the Run instead"
	}
	return j, nil
}

func (s *DeadJobs) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
