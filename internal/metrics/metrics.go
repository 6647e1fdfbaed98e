// Package metrics writes CloudWatch metrics in the Embedded Metric Format
// (EMF): one JSON line a value, with the "_aws" object that tells
// CloudWatch Logs which members are metrics and dimensions. On Lambda the
// lines go to stdout, which is the function's log group: CloudWatch Logs
// extracts the metrics, with no API call and no extra permission.
//
// The metrics are declared here (All), with their units and dimensions,
// so that the dashboard of template.yaml can be checked to chart only
// metrics the code emits. Dimensions have few values (an error code, an
// outcome, an app id); ids such as a Run's or a Group's go in the line as
// plain members (from the context's logctx attributes), searchable in Logs
// Insights but not dimensions.
//
// Use cases hold an *Emitter the way they hold a *slog.Logger; a nil
// *Emitter emits nothing.
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"wiresk/internal/logctx"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units of the metrics below.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// Metric is a metric the code emits: its name, unit and dimension keys
// (the same keys on every value of it).
type Metric struct {
	Name       string
	Unit       Unit
	Dimensions []string
}

// The dimension keys.
const (
	// Reason is a refused webhook's error code (invalid_api_key,
	// rate_limited, ...).
	Reason = "Reason"
	// Outcome is how a Run ended (its status: succeeded, failed,
	// filtered) or how a token refresh went (refreshed, refused, failed).
	Outcome = "Outcome"
	// App is a step's app (http, hubspot, ...).
	App = "App"
)

// The metrics.
var (
	// WebhooksAccepted counts the webhooks answered 202: their Job is on
	// the run queue.
	WebhooksAccepted = Metric{Name: "WebhooksAccepted", Unit: Count}
	// WebhooksRefused counts the webhooks answered with an error, by its
	// code.
	WebhooksRefused = Metric{Name: "WebhooksRefused", Unit: Count, Dimensions: []string{Reason}}
	// RunsFinished counts the Runs that ended, by their status.
	RunsFinished = Metric{Name: "RunsFinished", Unit: Count, Dimensions: []string{Outcome}}
	// StepDuration is how long a step that ran took (all its attempts of
	// one delivery), by its app.
	StepDuration = Metric{Name: "StepDuration", Unit: Milliseconds, Dimensions: []string{App}}
	// TokenRefreshes counts the OAuth token refreshes a Connection's token
	// source attempted: refreshed, refused (the provider refused the
	// refresh token for good: the Connection is broken) or failed (the
	// provider could not be reached, or the new token could not be stored).
	TokenRefreshes = Metric{Name: "TokenRefreshes", Unit: Count, Dimensions: []string{Outcome}}
	// DeadLetterSends counts the run queue's messages the worker failed on
	// their last delivery (the queue's maxReceiveCount): SQS moves them to
	// the dead-letter queue instead of delivering them again.
	DeadLetterSends = Metric{Name: "DeadLetterSends", Unit: Count}
)

// All returns every metric the code emits.
func All() []Metric {
	return []Metric{WebhooksAccepted, WebhooksRefused, RunsFinished, StepDuration, TokenRefreshes, DeadLetterSends}
}

// Emitter writes EMF lines to a writer.
type Emitter struct {
	namespace string
	now       func() time.Time
	mu        sync.Mutex
	w         io.Writer
}

// New returns an Emitter of the metrics of namespace (such as
// Wiresk/prod) that writes to w, one line at a time.
func New(namespace string, w io.Writer) *Emitter {
	return &Emitter{namespace: namespace, w: w, now: time.Now}
}

// Namespace returns the namespace of the metrics e writes.
func (e *Emitter) Namespace() string {
	if e == nil {
		return ""
	}
	return e.namespace
}

// Emit writes one value of m, with the values of m's dimensions in the
// order of m.Dimensions (a missing one is "none"), and the context's
// logctx attributes as plain members. A nil e does nothing.
func (e *Emitter) Emit(ctx context.Context, m Metric, value float64, dims ...string) {
	if e == nil {
		return
	}
	line := map[string]any{}
	for _, a := range logctx.Attrs(ctx) {
		line[a.Key] = a.Value.String()
	}
	for i, k := range m.Dimensions {
		v := "none"
		if i < len(dims) && dims[i] != "" {
			v = dims[i]
		}
		line[k] = v
	}
	line[m.Name] = value
	dimSets := [][]string{m.Dimensions}
	if m.Dimensions == nil {
		dimSets = [][]string{{}}
	}
	line["_aws"] = map[string]any{
		"Timestamp": e.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  e.namespace,
			"Dimensions": dimSets,
			"Metrics":    []any{map[string]any{"Name": m.Name, "Unit": m.Unit}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		// Only strings and a float64: it cannot fail but for NaN or ±Inf.
		b = fmt.Appendf(nil, `{"msg":"metric not written","metric":%q}`, m.Name)
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(b)
}

// Count emits 1 of m.
func (e *Emitter) Count(ctx context.Context, m Metric, dims ...string) { e.Emit(ctx, m, 1, dims...) }
