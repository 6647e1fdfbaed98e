package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"wiresk/internal/queue"
	"wiresk/internal/run"
	"wiresk/internal/sqsqueue"
	"wiresk/internal/testkit/emulator"
)

// asOwner is call with the Group's stored owner as the caller.
func asOwner(t *testing.T, h handler, method, pattern, path string, body any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return call(t, withSub(h, owner), method, pattern, path, map[string]string{"g": groupID}, body)
}

// withSub makes every event h gets come from user sub.
func withSub(h handler, sub string) handler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ev.RequestContext.Authorizer.JWT.Claims["sub"] = sub
		return h(ctx, ev)
	}
}

// TestDeadJobsOnSQS drives the function as deployed, over SQS (goaws): a
// job dead-lettered by the run queue's redrive policy is listed with its
// reason, read with calls on the dead-letter queue only, and redriven back
// to the run queue as it was sent. A member of the Group (the sample's
// caller, by its groups claim) may do neither.
func TestDeadJobsOnSQS(t *testing.T) {
	ctx := t.Context()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(emulator.GoAWS(t)),
		Credentials: credentials.NewStaticCredentialsProvider("wiresk", "wiresk", "")}, sqsqueue.AvoidRequestBodyRace)
	url, dlqURL, err := sqsqueue.CreateQueues(ctx, client, "manage-dead-jobs", 1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := sqsqueue.New(client, url, dlqURL).WithMaxReceives(1)
	store, _ := newStore(t)
	h := newHandler(config{GroupsClaim: "groups", RunOnceWait: time.Second, MaxReceives: 1}, deps{Store: store, Queue: q, DeadLetters: q})

	job, err := json.Marshal(run.Job{RunID: "run_dead", GroupID: groupID, FlowID: flowID, TriggerID: "trg_sample", Mode: run.ModeWebhook,
		Request: run.Request{Method: "POST", Headers: map[string]string{"content-type": "application/json"}}, Body: []byte(`{"card":"4242"}`)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Send(ctx, job, map[string]string{"runId": "run_dead", "groupId": groupID})
	if err != nil {
		t.Fatal(err)
	}
	var dead []queue.DeadLetter
	for deadline := time.Now().Add(15 * time.Second); len(dead) == 0 && time.Now().Before(deadline); {
		if _, err := q.Receive(ctx, 1, time.Second, time.Second); err != nil {
			t.Fatal(err)
		}
		if dead, err = q.DeadLetters(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dead))
	}

	resp := call(t, h, "GET", "/v1/groups/{g}/dead-jobs", "/v1/groups/"+groupID+"/dead-jobs", map[string]string{"g": groupID}, nil)
	if resp.StatusCode != 403 || !strings.Contains(resp.Body, `"forbidden"`) {
		t.Errorf("a member lists: %d %s, want 403 forbidden", resp.StatusCode, resp.Body)
	}
	resp = asOwner(t, h, "GET", "/v1/groups/{g}/dead-jobs", "/v1/groups/"+groupID+"/dead-jobs", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	if strings.Contains(resp.Body, "4242") {
		t.Errorf("the listing shows the job's body: %s", resp.Body)
	}
	var list struct {
		DeadJobs []struct{ ID, RunID, Reason string }
	}
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.DeadJobs) != 1 || list.DeadJobs[0].ID != id || list.DeadJobs[0].RunID != "run_dead" ||
		list.DeadJobs[0].Reason != "moved by the redrive policy after 1 receive; no Run was recorded" {
		t.Fatalf("dead jobs = %s, want %s of run_dead, moved after 1 receive, no Run recorded", resp.Body, id)
	}

	resp = call(t, h, "POST", "/v1/groups/{g}/dead-jobs/redrive", "/v1/groups/"+groupID+"/dead-jobs/redrive", map[string]string{"g": groupID}, map[string]any{"all": true})
	if resp.StatusCode != 403 {
		t.Errorf("a member redrives: %d %s, want 403", resp.StatusCode, resp.Body)
	}
	resp = asOwner(t, h, "POST", "/v1/groups/{g}/dead-jobs/redrive", "/v1/groups/"+groupID+"/dead-jobs/redrive", map[string]any{"ids": []string{id, "nope"}})
	if resp.StatusCode != 200 {
		t.Fatalf("redrive: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	var res struct {
		Redriven []struct{ ID, NewID string }
		NotFound []string
	}
	if err := json.Unmarshal([]byte(resp.Body), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Redriven) != 1 || res.Redriven[0].ID != id || len(res.NotFound) != 1 || res.NotFound[0] != "nope" {
		t.Fatalf("redrive = %s, want %s redriven, nope not found", resp.Body, id)
	}
	msgs, err := q.Receive(ctx, 10, time.Minute, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != res.Redriven[0].NewID || string(msgs[0].Body) != string(job) || msgs[0].Attributes["groupId"] != groupID {
		t.Fatalf("run queue after the redrive = %+v, want the job as it was sent", msgs)
	}
	if left, err := q.DeadLetters(ctx, 10); err != nil || len(left) != 0 {
		t.Errorf("dead letters after the redrive = %d, %v; want none", len(left), err)
	}
}
