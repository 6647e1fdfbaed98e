package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wiresk/internal/ebscheduler"
	"wiresk/internal/run"
	"wiresk/internal/testkit/schedtest"
)

// call turns the sample into method path with body, as API Gateway would
// pass it (route key and path parameters of pattern).
func call(t *testing.T, h handler, method, pattern, path string, params map[string]string, body any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := readEvent(t, "manage-list-flows.json")
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
	ev.RouteKey, ev.RequestContext.RouteKey = method+" "+pattern, method+" "+pattern
	ev.PathParameters = params
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		ev.Body = string(b)
		ev.Headers["content-type"] = "application/json"
	}
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestScheduleTriggersPutTheirEventBridgeSchedules drives the function as
// deployed: the management API over the EventBridge Scheduler adapter,
// against the protocol double. A trigger's schedule sends the run queue a
// schedule Job; disabling it disables the schedule; deleting its Flow
// deletes it; a schedule the service refuses leaves no trigger behind.
func TestScheduleTriggersPutTheirEventBridgeSchedules(t *testing.T) {
	srv := schedtest.NewServer(t)
	srv.AddGroup("wiresk-dev")
	const queueARN = "arn:aws:sqs:eu-west-1:123456789012:wiresk-dev-runs"
	sch, err := ebscheduler.New(srv.Client(), ebscheduler.Config{Group: "wiresk-dev", QueueARN: queueARN,
		RoleARN: "arn:aws:iam::123456789012:role/wiresk-dev-scheduler", DeadLetterARN: "arn:aws:sqs:eu-west-1:123456789012:wiresk-dev-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	store, q := newStore(t)
	h := newHandler(config{GroupsClaim: "groups", RunOnceWait: time.Second}, deps{Store: store, Queue: q, Scheduler: sch})
	base := "/v1/groups/" + groupID + "/flows/" + flowID + "/schedule-triggers"
	params := map[string]string{"g": groupID, "f": flowID}

	resp := call(t, h, "POST", "/v1/groups/{g}/flows/{f}/schedule-triggers", base, params,
		map[string]any{"expression": "cron(0 9 ? * MON-FRI *)", "timezone": "Europe/Paris"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var tr struct{ ID string }
	_ = json.Unmarshal([]byte(resp.Body), &tr)
	s, ok := srv.Schedule("wiresk-dev", tr.ID)
	if !ok {
		t.Fatalf("no EventBridge schedule %s after the trigger was made", tr.ID)
	}
	if s.ScheduleExpression != "cron(0 9 ? * MON-FRI *)" || s.ScheduleExpressionTimezone != "Europe/Paris" || s.State != "ENABLED" || s.Target.Arn != queueARN {
		t.Fatalf("schedule = %+v", s)
	}
	// What a fire sends, once EventBridge Scheduler fills in the time.
	var j run.Job
	if err := json.Unmarshal([]byte(strings.Replace(s.Target.Input, run.ScheduledTimePlaceholder, "2026-12-04T08:00:00Z", 1)), &j); err != nil ||
		j.Mode != run.ModeSchedule || j.TriggerID != tr.ID || j.GroupID != groupID || j.FlowID != flowID || j.ScheduledAt == nil {
		t.Fatalf("the schedule's input %q is not the trigger's schedule Job (%v)", s.Target.Input, err)
	}

	resp = call(t, h, "PATCH", "/v1/groups/{g}/flows/{f}/schedule-triggers/{t}", base+"/"+tr.ID,
		map[string]string{"g": groupID, "f": flowID, "t": tr.ID}, map[string]any{"enabled": false})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", resp.StatusCode, resp.Body)
	}
	if s, _ := srv.Schedule("wiresk-dev", tr.ID); s.State != "DISABLED" {
		t.Fatalf("after disabling the trigger its schedule is %s, want DISABLED", s.State)
	}

	// A schedule the service refuses: 400, and no trigger kept.
	srv.InjectError("CreateSchedule", http.StatusBadRequest, "ValidationException", "Invalid Schedule Expression cron(0 9 ? * MON-FRI *).")
	srv.InjectError("UpdateSchedule", http.StatusNotFound, "ResourceNotFoundException", "Schedule not found.")
	resp = call(t, h, "POST", "/v1/groups/{g}/flows/{f}/schedule-triggers", base, params, map[string]any{"expression": "cron(0 9 ? * MON-FRI *)"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, "validation_failed") {
		t.Fatalf("a refused schedule: %d %s, want 400 validation_failed", resp.StatusCode, resp.Body)
	}
	if all, _ := store.AllSchedules(context.Background()); len(all) != 1 {
		t.Fatalf("the store has %d triggers after the refusal, want the first one only", len(all))
	}

	resp = call(t, h, "DELETE", "/v1/groups/{g}/flows/{f}", "/v1/groups/"+groupID+"/flows/"+flowID, params, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete flow: %d %s", resp.StatusCode, resp.Body)
	}
	if _, ok := srv.Schedule("wiresk-dev", tr.ID); ok || srv.Len() != 0 {
		t.Fatalf("the Flow is gone but %d schedules remain", srv.Len())
	}
}
