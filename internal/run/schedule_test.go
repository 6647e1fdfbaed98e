package run_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"wiresk/internal/run"
)

func TestScheduleJobInputKeepsThePlaceholderLiteral(t *testing.T) {
	in := run.ScheduleJobInput("grp_a", "flw_1", "trg_1")
	if !strings.Contains(in, `"scheduledAt":"<aws.scheduler.scheduled-time>"`) {
		t.Fatalf("input %s does not hold the placeholder as EventBridge Scheduler looks for it", in)
	}
	// What the worker gets once EventBridge Scheduler filled it in.
	var j run.Job
	if err := json.Unmarshal([]byte(strings.Replace(in, run.ScheduledTimePlaceholder, "2026-12-04T08:00:00Z", 1)), &j); err != nil {
		t.Fatal(err)
	}
	if j.Mode != run.ModeSchedule || j.TriggerID != "trg_1" || j.GroupID != "grp_a" || j.FlowID != "flw_1" || j.ScheduledAt == nil ||
		!j.ScheduledAt.Equal(time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("decoded job = %+v", j)
	}
}
