package schedtest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"wiresk/internal/testkit/schedtest"
)

func input(name, expr string) *scheduler.CreateScheduleInput {
	return &scheduler.CreateScheduleInput{
		Name:               aws.String(name),
		ScheduleExpression: aws.String(expr),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target: &types.Target{
			Arn:     aws.String("arn:aws:sqs:us-east-1:123456789012:q"),
			RoleArn: aws.String("arn:aws:iam::123456789012:role/r"),
			Input:   aws.String(`{"a":1}`),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	srv := schedtest.NewServer(t)
	c := srv.Client()
	ctx := t.Context()
	if _, err := c.CreateSchedule(ctx, input("s1", "rate(1 hour)")); err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	_, err := c.CreateSchedule(ctx, input("s1", "rate(1 hour)"))
	if ce := (*types.ConflictException)(nil); !errors.As(err, &ce) {
		t.Errorf("CreateSchedule of an existing name: got %v, want ConflictException", err)
	}
	out, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("s1")})
	if err != nil {
		t.Fatalf("GetSchedule: %v", err)
	}
	if aws.ToString(out.GroupName) != schedtest.DefaultGroup || aws.ToString(out.ScheduleExpression) != "rate(1 hour)" ||
		out.State != types.ScheduleStateEnabled || out.CreationDate == nil || aws.ToString(out.Target.Input) != `{"a":1}` {
		t.Errorf("GetSchedule: got %+v", out)
	}
	if _, err := c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("s1")}); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	_, err = c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("s1")})
	if nf := (*types.ResourceNotFoundException)(nil); !errors.As(err, &nf) {
		t.Errorf("DeleteSchedule of a missing schedule: got %v, want ResourceNotFoundException", err)
	}
	_, err = c.UpdateSchedule(ctx, (*scheduler.UpdateScheduleInput)(input("s1", "rate(1 hour)")))
	if nf := (*types.ResourceNotFoundException)(nil); !errors.As(err, &nf) {
		t.Errorf("UpdateSchedule of a missing schedule: got %v, want ResourceNotFoundException", err)
	}
	in := input("s2", "rate(1 hour)")
	in.GroupName = aws.String("nope")
	_, err = c.CreateSchedule(ctx, in)
	if nf := (*types.ResourceNotFoundException)(nil); !errors.As(err, &nf) {
		t.Errorf("CreateSchedule in a missing group: got %v, want ResourceNotFoundException", err)
	}
}

func TestValidation(t *testing.T) {
	srv := schedtest.NewServer(t)
	c := srv.Client()
	for name, edit := range map[string]func(*scheduler.CreateScheduleInput){
		"bad name":       func(in *scheduler.CreateScheduleInput) { in.Name = aws.String("a:b") },
		"long name":      func(in *scheduler.CreateScheduleInput) { in.Name = aws.String(strings.Repeat("a", 65)) },
		"bad expression": func(in *scheduler.CreateScheduleInput) { in.ScheduleExpression = aws.String("every hour") },
		"bad zone":       func(in *scheduler.CreateScheduleInput) { in.ScheduleExpressionTimezone = aws.String("Mars/Base") },
		"flexible, no maximum": func(in *scheduler.CreateScheduleInput) {
			in.FlexibleTimeWindow = &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible}
		},
		"user role": func(in *scheduler.CreateScheduleInput) {
			in.Target.RoleArn = aws.String("arn:aws:iam::123456789012:user/u")
		},
		"retry range": func(in *scheduler.CreateScheduleInput) {
			in.Target.RetryPolicy = &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(186)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := input("s1", "cron(0 9 * * ? *)")
			edit(in)
			_, err := c.CreateSchedule(t.Context(), in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Errorf("got %v, want ValidationException", err)
			}
		})
	}
	if srv.Len() != 0 {
		t.Errorf("schedules: got %d, want none", srv.Len())
	}
}

// TestRequiredMembers sends, without the SDK (which checks them itself),
// bodies that lack a required member.
func TestRequiredMembers(t *testing.T) {
	srv := schedtest.NewServer(t)
	full := `{"ScheduleExpression":"rate(1 hour)","FlexibleTimeWindow":{"Mode":"OFF"},` +
		`"Target":{"Arn":"arn:aws:sqs:us-east-1:123456789012:q","RoleArn":"arn:aws:iam::123456789012:role/r"}}`
	for name, body := range map[string]string{
		"no expression": `{"FlexibleTimeWindow":{"Mode":"OFF"},"Target":{"Arn":"arn:aws:sqs:us-east-1:123456789012:q","RoleArn":"arn:aws:iam::123456789012:role/r"}}`,
		"no window":     `{"ScheduleExpression":"rate(1 hour)","Target":{"Arn":"arn:aws:sqs:us-east-1:123456789012:q","RoleArn":"arn:aws:iam::123456789012:role/r"}}`,
		"no target":     `{"ScheduleExpression":"rate(1 hour)","FlexibleTimeWindow":{"Mode":"OFF"}}`,
		"no role":       `{"ScheduleExpression":"rate(1 hour)","FlexibleTimeWindow":{"Mode":"OFF"},"Target":{"Arn":"arn:aws:sqs:us-east-1:123456789012:q"}}`,
		"no arn":        `{"ScheduleExpression":"rate(1 hour)","FlexibleTimeWindow":{"Mode":"OFF"},"Target":{"RoleArn":"arn:aws:iam::123456789012:role/r"}}`,
		"full":          full,
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/schedules/"+strings.ReplaceAll(name, " ", "-"), strings.NewReader(body))
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want, typ := http.StatusBadRequest, "ValidationException"
			if name == "full" {
				want, typ = http.StatusOK, ""
			}
			if resp.StatusCode != want || resp.Header.Get("x-amzn-ErrorType") != typ {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), want, typ)
			}
		})
	}
}

// TestWireErrors checks the error envelope without the SDK: status,
// x-amzn-ErrorType and {"Message": ...}, and that an unsigned request is
// refused.
func TestWireErrors(t *testing.T) {
	srv := schedtest.NewServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/schedules/s1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned: got %d, want 403", resp.StatusCode)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("x-amzn-ErrorType") != "ResourceNotFoundException" || body["Message"] == "" {
		t.Errorf("missing schedule: got %d %q %v, want 404 ResourceNotFoundException with a Message", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
	}
	srv.InjectError("GetSchedule", http.StatusInternalServerError, "InternalServerException", "boom")
	_, err = srv.Client().GetSchedule(t.Context(), &scheduler.GetScheduleInput{Name: aws.String("s1")})
	if ie := (*types.InternalServerException)(nil); !errors.As(err, &ie) || ie.ErrorMessage() != "boom" {
		t.Errorf("injected: got %v, want InternalServerException boom", err)
	}
}
