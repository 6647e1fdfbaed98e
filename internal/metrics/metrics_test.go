package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wiresk/internal/logctx"
	"wiresk/internal/metrics"
)

// units are the units the EMF specification allows.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// value is what CloudWatch Logs would extract from an EMF line.
type value struct {
	namespace, name, unit string
	dims                  map[string]string
	v                     float64
	at                    time.Time
}

// checkEMF decodes line as CloudWatch Logs does and fails t where it breaks
// the Embedded Metric Format specification: a JSON object whose "_aws"
// holds a Timestamp in milliseconds and CloudWatchMetrics directives
// (Namespace, Dimensions: sets of at most 30 keys naming string members of
// the root, Metrics: at most 100 of {Name, Unit}, each Name a numeric root
// member), with no member the specification does not define.
func checkEMF(t *testing.T, line string) []value {
	t.Helper()
	var root map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &root); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, line)
	}
	var aws struct {
		Timestamp         *float64
		CloudWatchMetrics []json.RawMessage
	}
	if err := strictJSON(root["_aws"], &aws); err != nil || aws.Timestamp == nil || aws.CloudWatchMetrics == nil {
		t.Fatalf("_aws: want {Timestamp, CloudWatchMetrics}, got %s (%v)", root["_aws"], err)
	}
	if *aws.Timestamp != math.Trunc(*aws.Timestamp) || *aws.Timestamp < 1e12 {
		t.Errorf("_aws.Timestamp %v: want whole milliseconds since the epoch", *aws.Timestamp)
	}
	var out []value
	for _, raw := range aws.CloudWatchMetrics {
		var d struct {
			Namespace  *string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
		if err := strictJSON(raw, &d); err != nil || d.Namespace == nil || d.Dimensions == nil || d.Metrics == nil {
			t.Fatalf("metric directive: want {Namespace, Dimensions, Metrics}, got %s (%v)", raw, err)
		}
		if *d.Namespace == "" || len(*d.Namespace) > 1024 {
			t.Errorf("Namespace %q: want 1 to 1024 characters", *d.Namespace)
		}
		if len(d.Metrics) > 100 {
			t.Errorf("%d metrics in a directive, at most 100", len(d.Metrics))
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				t.Errorf("dimension set %v: more than 30 keys", set)
			}
			dims := map[string]string{}
			for _, k := range set {
				var s string
				if err := json.Unmarshal(root[k], &s); err != nil {
					t.Errorf("dimension %q: want a string member of the root, got %s", k, root[k])
				}
				if s == "" || len(s) > 1024 {
					t.Errorf("dimension %q=%q: want 1 to 1024 characters", k, s)
				}
				dims[k] = s
			}
			for _, m := range d.Metrics {
				if m.Name == "" || len(m.Name) > 1024 {
					t.Errorf("metric name %q: want 1 to 1024 characters", m.Name)
				}
				if !slices.Contains(units, m.Unit) {
					t.Errorf("metric %s: unit %q is not one EMF allows", m.Name, m.Unit)
				}
				var v float64
				if err := json.Unmarshal(root[m.Name], &v); err != nil {
					t.Errorf("metric %s: want a number member of the root, got %s", m.Name, root[m.Name])
				}
				out = append(out, value{namespace: *d.Namespace, name: m.Name, unit: m.Unit, dims: dims, v: v, at: time.UnixMilli(int64(*aws.Timestamp))})
			}
		}
	}
	return out
}

// strictJSON decodes raw into v, refusing members v does not have.
func strictJSON(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func lines(t *testing.T, b *bytes.Buffer) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(b)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestEveryMetricIsValidEMF(t *testing.T) {
	var buf bytes.Buffer
	e := metrics.New("Wiresk/test", &buf)
	ctx := logctx.IDs(context.Background(), logctx.RequestID, "req-1", logctx.RunID, "run_1", logctx.GroupID, "grp_1")
	for _, m := range metrics.All() {
		dims := make([]string, len(m.Dimensions))
		for i := range dims {
			dims[i] = "v" + fmt.Sprint(i)
		}
		e.Emit(ctx, m, 42, dims...)
	}
	got := lines(t, &buf)
	if len(got) != len(metrics.All()) {
		t.Fatalf("%d lines for %d metrics:\n%s", len(got), len(metrics.All()), strings.Join(got, "\n"))
	}
	for i, m := range metrics.All() {
		vs := checkEMF(t, got[i])
		if len(vs) != 1 {
			t.Fatalf("%s: %d values extracted, want 1: %s", m.Name, len(vs), got[i])
		}
		v := vs[0]
		if v.namespace != "Wiresk/test" || v.name != m.Name || v.unit != string(m.Unit) || v.v != 42 || len(v.dims) != len(m.Dimensions) {
			t.Errorf("%s: extracted %+v, want 42 %s in Wiresk/test with dimensions %v", m.Name, v, m.Unit, m.Dimensions)
		}
		if time.Since(v.at) > time.Minute || time.Until(v.at) > time.Second {
			t.Errorf("%s: timestamp %v, want now", m.Name, v.at)
		}
		// The context's ids are in the line, not dimensions.
		var root map[string]any
		_ = json.Unmarshal([]byte(got[i]), &root)
		if root["requestId"] != "req-1" || root["runId"] != "run_1" || root["groupId"] != "grp_1" {
			t.Errorf("%s: the context's ids are missing from %s", m.Name, got[i])
		}
		for k := range v.dims {
			if k == "runId" || k == "groupId" || k == "requestId" {
				t.Errorf("%s: id %s is a dimension", m.Name, k)
			}
		}
	}
}

func TestDimensionValues(t *testing.T) {
	var buf bytes.Buffer
	e := metrics.New("Wiresk/test", &buf)
	e.Count(context.Background(), metrics.WebhooksRefused, "invalid_api_key")
	e.Count(context.Background(), metrics.RunsFinished) // a missing value
	got := lines(t, &buf)
	if v := checkEMF(t, got[0]); v[0].dims["Reason"] != "invalid_api_key" || v[0].v != 1 {
		t.Errorf("refused webhook: got %+v, want 1 with Reason=invalid_api_key", v[0])
	}
	if v := checkEMF(t, got[1]); v[0].dims["Outcome"] != "none" {
		t.Errorf("missing dimension value: got %+v, want Outcome=none", v[0])
	}
}

func TestNilEmitterEmitsNothing(t *testing.T) {
	var e *metrics.Emitter
	e.Count(context.Background(), metrics.WebhooksAccepted) // must not panic
	if e.Namespace() != "" {
		t.Errorf("nil emitter namespace %q", e.Namespace())
	}
}

// TestLinesAreWholeUnderConcurrency: the worker emits from concurrent
// records; each line must reach the log whole.
func TestLinesAreWholeUnderConcurrency(t *testing.T) {
	var buf bytes.Buffer
	e := metrics.New("Wiresk/test", &buf)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { e.Emit(context.Background(), metrics.StepDuration, float64(i), "http") })
	}
	wg.Wait()
	got := lines(t, &buf)
	if len(got) != 50 {
		t.Fatalf("%d lines, want 50", len(got))
	}
	for _, l := range got {
		checkEMF(t, l)
	}
}

func TestMetricNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range metrics.All() {
		if seen[m.Name] {
			t.Errorf("metric %s declared twice", m.Name)
		}
		seen[m.Name] = true
	}
}
