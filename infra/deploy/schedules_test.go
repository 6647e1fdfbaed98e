package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"wiresk/infra/deploy"
)

// scheduleActions are the EventBridge Scheduler actions of the management
// function: what the ebscheduler adapter calls (GetSchedule for operators
// and the SDK's waiters), on schedules only.
var scheduleActions = []string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"}

// groupSchedulesArn is every schedule of the stack's schedule group, and
// nothing else.
var groupSchedulesArn = deploy.Sub("arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*")

func TestScheduleGroup(t *testing.T) {
	want := map[string]any{
		"Type":       "AWS::Scheduler::ScheduleGroup",
		"Properties": map[string]any{"Name": deploy.Ref("AWS::StackName")},
	}
	if got := lookup(t, "Resources", "ScheduleGroup"); !jsonEqual(t, got, want) {
		t.Errorf("ScheduleGroup:\n got  %s\n want %s", show(got), show(want))
	}
	// The one group: every schedule trigger's schedule lives in it.
	for name, r := range lookup(t, "Resources").(map[string]any) {
		typ, _ := r.(map[string]any)["Type"].(string)
		if strings.HasPrefix(typ, "AWS::Scheduler::") && name != "ScheduleGroup" {
			t.Errorf("%s: a %s besides ScheduleGroup; the management API puts the schedules", name, typ)
		}
	}
}

func TestSchedulerRole(t *testing.T) {
	// Only EventBridge Scheduler may assume it, for this account's schedule
	// group (confused-deputy prevention).
	trust := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{"StringEquals": map[string]any{
				"aws:SourceAccount": deploy.Ref("AWS::AccountId"),
				"aws:SourceArn":     deploy.GetAtt("ScheduleGroup", "Arn"),
			}},
		}},
	}
	if got := lookup(t, "Resources", "SchedulerRole", "Properties", "AssumeRolePolicyDocument"); !jsonEqual(t, got, trust) {
		t.Errorf("SchedulerRole trust policy:\n got  %s\n want %s", show(got), show(trust))
	}
	// It sends to the run queue (the fires) and the dead-letter queue
	// (the fires it could not deliver), nothing else.
	policies := []any{map[string]any{
		"PolicyName": "SendScheduleFires",
		"PolicyDocument": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid": "SendScheduleFires", "Effect": "Allow",
				"Action":   []string{"sqs:SendMessage"},
				"Resource": []string{deploy.GetAtt("RunQueue", "Arn"), deploy.GetAtt("DeadLetterQueue", "Arn")},
			}},
		},
	}}
	if got := lookup(t, "Resources", "SchedulerRole", "Properties", "Policies"); !jsonEqual(t, got, policies) {
		t.Errorf("SchedulerRole policies:\n got  %s\n want %s", show(got), show(policies))
	}
	props := lookup(t, "Resources", "SchedulerRole", "Properties").(map[string]any)
	for p := range props {
		if !slices.Contains([]string{"Description", "AssumeRolePolicyDocument", "Policies"}, p) {
			t.Errorf("SchedulerRole has %s; its permissions must come from its Policies alone (no managed policies, no name)", p)
		}
	}
	// The queues are encrypted with SQS-managed keys: a KMS key would need
	// a grant the role does not have.
	for _, q := range []string{"RunQueue", "DeadLetterQueue"} {
		if _, ok := template(t).Lookup("Resources", q, "Properties", "KmsMasterKeyId"); ok {
			t.Errorf("%s has KmsMasterKeyId: the Scheduler role would need kms:GenerateDataKey on it", q)
		}
	}
	// The only IAM role of the template: the functions' are SAM's.
	for name, r := range lookup(t, "Resources").(map[string]any) {
		if typ, _ := r.(map[string]any)["Type"].(string); strings.HasPrefix(typ, "AWS::IAM::") && name != "SchedulerRole" {
			t.Errorf("%s: a %s besides SchedulerRole (add it to this test)", name, typ)
		}
	}
}

// TestScheduleTriggerPermissions: only the management function touches
// schedules or passes a role, the schedule actions reach the group's
// schedules only, and the role it passes is the Scheduler role only.
func TestScheduleTriggerPermissions(t *testing.T) {
	for name := range template(t).GetAllServerlessFunctionResources() {
		policies, _ := template(t).Lookup("Resources", name, "Properties", "Policies")
		for _, st := range statements(policies) {
			actions := strings.Join(stringList(st["Action"]), " ")
			for _, a := range stringList(st["Action"]) {
				if strings.Contains(a, "*") {
					t.Errorf("%s: action %s: want no wildcard", name, a)
				}
			}
			for _, r := range stringList(st["Resource"]) {
				if r == "*" || strings.HasSuffix(r, ":*") || strings.Contains(r, ":schedule/*") {
					t.Errorf("%s: statement %s on %s: want a resource of its own", name, show(st), r)
				}
			}
			touchesSchedules := strings.Contains(actions, "scheduler:")
			passesRole := strings.Contains(actions, "iam:")
			if (touchesSchedules || passesRole) && name != "ManageFunction" {
				t.Errorf("%s: %s; only ManageFunction manages schedules", name, show(st))
			}
			if touchesSchedules {
				if got := stringList(st["Action"]); !slices.Equal(got, scheduleActions) {
					t.Errorf("%s schedule actions: got %q, want %q", name, got, scheduleActions)
				}
				if got := stringList(st["Resource"]); !slices.Equal(got, []string{groupSchedulesArn}) {
					t.Errorf("%s schedule resources: got %q, want %s only", name, got, groupSchedulesArn)
				}
			}
			if passesRole {
				if got := stringList(st["Action"]); !slices.Equal(got, []string{"iam:PassRole"}) {
					t.Errorf("%s IAM actions: got %q, want iam:PassRole only", name, got)
				}
				if got := stringList(st["Resource"]); !slices.Equal(got, []string{deploy.GetAtt("SchedulerRole", "Arn")}) {
					t.Errorf("%s PassRole resources: got %q, want the Scheduler role only", name, got)
				}
				cond := map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}}
				if !jsonEqual(t, st["Condition"], cond) {
					t.Errorf("%s PassRole condition: got %s, want %s", name, show(st["Condition"]), show(cond))
				}
			}
		}
	}
	// The environment names the resources the permissions are about.
	env := lookup(t, "Resources", "ManageFunction", "Properties", "Environment", "Variables").(map[string]any)
	for k, want := range map[string]string{
		"WIRESK_SCHEDULE_GROUP":     deploy.Ref("ScheduleGroup"),
		"WIRESK_SCHEDULER_ROLE_ARN": deploy.GetAtt("SchedulerRole", "Arn"),
		"WIRESK_RUN_QUEUE_ARN":      deploy.GetAtt("RunQueue", "Arn"),
		"WIRESK_DEAD_LETTER_ARN":    deploy.GetAtt("DeadLetterQueue", "Arn"),
	} {
		if got := env[k]; got != want {
			t.Errorf("ManageFunction %s: got %v, want %s", k, got, want)
		}
	}
}

// statements returns the inline statements of a function's Policies (SAM
// policy templates such as DynamoDBCrudPolicy have none).
func statements(policies any) []map[string]any {
	var out []map[string]any
	list, _ := policies.([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		sts, _ := m["Statement"].([]any)
		for _, st := range sts {
			if st, ok := st.(map[string]any); ok {
				out = append(out, st)
			}
		}
	}
	return out
}

// stringList returns a policy member that is a string or a list of
// strings as a list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}
