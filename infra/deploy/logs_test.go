package deploy_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"wiresk/infra/deploy"
)

// cloudWatchRetentions are the retentions, in days, CloudWatch Logs
// accepts for a log group (PutRetentionPolicy, RetentionInDays).
var cloudWatchRetentions = []string{"1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"}

// checkLogGroup checks that name is a log group of the template kept
// LogRetentionDays and kept when the stack is deleted.
func checkLogGroup(t *testing.T, name, of string) {
	t.Helper()
	r, ok := template(t).Lookup("Resources", name)
	if !ok {
		t.Errorf("%s: log group %s is not a resource of the template", of, name)
		return
	}
	res := r.(map[string]any)
	if got, want := res["Type"], "AWS::Logs::LogGroup"; got != want {
		t.Errorf("%s: %s is a %v, want %s", of, name, got, want)
	}
	if got, want := lookup(t, "Resources", name, "Properties", "RetentionInDays"), deploy.Ref("LogRetentionDays"); got != want {
		t.Errorf("%s: %s RetentionInDays is %v, want %s (without it CloudWatch keeps logs forever)", of, name, got, want)
	}
	// CloudFormation names it: a kept group of a fixed name would make a
	// stack of the same name fail to create it again.
	if _, ok := template(t).Lookup("Resources", name, "Properties", "LogGroupName"); ok {
		t.Errorf("%s: %s has a LogGroupName; a kept group of that name would block deploying the stack again", of, name)
	}
	for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if got := res[policy]; got != "Retain" {
			t.Errorf("%s: %s %s is %v, want Retain (its retention still empties it)", of, name, policy, got)
		}
	}
}

// TestFunctionLogGroups: each function writes its JSON logs to a log group
// of its own, which keeps them LogRetentionDays.
func TestFunctionLogGroups(t *testing.T) {
	tmpl := template(t)
	p := tmpl.Parameters["LogRetentionDays"]
	var allowed []string
	for _, v := range p.AllowedValues {
		s, _ := v.(string)
		allowed = append(allowed, s)
	}
	if !slices.Equal(allowed, cloudWatchRetentions) {
		t.Errorf("LogRetentionDays AllowedValues: got %q, want CloudWatch Logs' %q", allowed, cloudWatchRetentions)
	}
	if def, _ := p.Default.(string); !slices.Contains(cloudWatchRetentions, def) {
		t.Errorf("LogRetentionDays default %v is not a retention CloudWatch Logs accepts", p.Default)
	}
	if p.Type != "Number" {
		t.Errorf("LogRetentionDays Type: got %s, want Number", p.Type)
	}
	if _, ok := tmpl.Lookup("Globals", "Function", "LoggingConfig"); ok {
		t.Errorf("Globals.Function has a LoggingConfig; each function names its own log group")
	}
	seen := map[string]string{}
	for name := range tmpl.GetAllServerlessFunctionResources() {
		cfg, ok := tmpl.Lookup("Resources", name, "Properties", "LoggingConfig")
		if !ok {
			t.Errorf("%s has no LoggingConfig: Lambda would log to a group it makes itself, kept forever", name)
			continue
		}
		m, _ := cfg.(map[string]any)
		// JSON: the function's slog lines are JSON already and stay as
		// written; Lambda's own lines (START, END, REPORT) become JSON too.
		if got, want := m["LogFormat"], "JSON"; got != want {
			t.Errorf("%s LoggingConfig.LogFormat: got %v, want %v", name, got, want)
		}
		ref, _ := m["LogGroup"].(string)
		group, ok := strings.CutPrefix(ref, "Ref(")
		group = strings.TrimSuffix(group, ")")
		if !ok || group == "" {
			t.Errorf("%s LoggingConfig.LogGroup: got %v, want a Ref of a log group of the template", name, m["LogGroup"])
			continue
		}
		if other, dup := seen[group]; dup {
			t.Errorf("%s and %s both log to %s; each function has its own", other, name, group)
		}
		seen[group] = name
		checkLogGroup(t, group, name)
		for k := range m {
			if k != "LogFormat" && k != "LogGroup" {
				t.Errorf("%s LoggingConfig.%s: unexpected (add it to this test)", name, k)
			}
		}
	}
}

// accessLogFormat is the HTTP API's access log line: one JSON object, of
// API Gateway's $context variables for HTTP APIs.
var accessLogFormat = map[string]string{
	"requestId":        "$context.requestId",
	"ip":               "$context.identity.sourceIp",
	"requestTime":      "$context.requestTime",
	"httpMethod":       "$context.httpMethod",
	"routeKey":         "$context.routeKey",
	"status":           "$context.status",
	"responseLength":   "$context.responseLength",
	"integrationError": "$context.integrationErrorMessage",
	"latency":          "$context.responseLatency",
}

// TestHttpApiAccessLogs: the API's stage logs one JSON line a request to
// a log group kept LogRetentionDays, and no secret: no header
// (Authorization, X-API-Key), no query string, no path (a webhook's holds
// its routing key, an app notification's its token).
func TestHttpApiAccessLogs(t *testing.T) {
	settings, ok := lookup(t, "Resources", "HttpApi", "Properties").(map[string]any)["AccessLogSettings"].(map[string]any)
	if !ok {
		t.Fatalf("HttpApi has no AccessLogSettings")
	}
	if got, want := settings["DestinationArn"], deploy.GetAtt("HttpApiAccessLogGroup", "Arn"); got != want {
		t.Errorf("AccessLogSettings.DestinationArn: got %v, want %s", got, want)
	}
	checkLogGroup(t, "HttpApiAccessLogGroup", "HttpApi access logs")
	format, _ := settings["Format"].(string)
	var got map[string]string
	if err := json.Unmarshal([]byte(format), &got); err != nil {
		t.Fatalf("AccessLogSettings.Format is not one JSON object of strings: %v\n%s", err, format)
	}
	if !maps.Equal(got, accessLogFormat) {
		t.Errorf("AccessLogSettings.Format:\n got  %s\n want %s", show(got), show(accessLogFormat))
	}
	lower := strings.ToLower(format)
	for _, secret := range []string{"header", "querystring", "$context.path", "authorization", "authorizer", "useragent", "$input", "$request"} {
		if strings.Contains(lower, secret) {
			t.Errorf("AccessLogSettings.Format logs %q: no header, query string, path or claim may be logged", secret)
		}
	}
	for k := range settings {
		if k != "DestinationArn" && k != "Format" {
			t.Errorf("AccessLogSettings.%s: unexpected (add it to this test)", k)
		}
	}
}

// TestHttpApiThrottling: every route of the stage is throttled by default,
// from two bounded parameters, within what API Gateway lets an account
// have (10,000 requests a second, bursts of 5,000).
func TestHttpApiThrottling(t *testing.T) {
	tmpl := template(t)
	want := map[string]any{
		"ThrottlingRateLimit":  deploy.Ref("ApiThrottlingRateLimit"),
		"ThrottlingBurstLimit": deploy.Ref("ApiThrottlingBurstLimit"),
	}
	got, ok := tmpl.Lookup("Resources", "HttpApi", "Properties", "DefaultRouteSettings")
	if !ok || !jsonEqual(t, got, want) {
		t.Errorf("HttpApi DefaultRouteSettings: got %s, want %s", show(got), show(want))
	}
	for param, accountMax := range map[string]int{"ApiThrottlingRateLimit": 10000, "ApiThrottlingBurstLimit": 5000} {
		p, ok := tmpl.Parameters[param]
		if !ok {
			t.Errorf("parameter %s: missing", param)
			continue
		}
		if p.Type != "Number" || p.MinValue == nil || p.MaxValue == nil {
			t.Errorf("%s: Type %s, MinValue %v, MaxValue %v; want a Number with both bounds", param, p.Type, p.MinValue, p.MaxValue)
			continue
		}
		lo, hi, def := bound(t, p.MinValue), bound(t, p.MaxValue), bound(t, p.Default)
		if lo < 1 {
			t.Errorf("%s MinValue %d: a limit under 1 refuses every request", param, lo)
		}
		if hi > accountMax {
			t.Errorf("%s MaxValue %d: over the account's %d, which API Gateway does not exceed", param, hi, accountMax)
		}
		if def < lo || def > hi {
			t.Errorf("%s default %d is outside [%d, %d]", param, def, lo, hi)
		}
	}
	rate, burst := bound(t, tmpl.Parameters["ApiThrottlingRateLimit"].Default), bound(t, tmpl.Parameters["ApiThrottlingBurstLimit"].Default)
	if burst < rate {
		t.Errorf("default burst %d is under the default rate %d: a second's worth of requests at once would be throttled", burst, rate)
	}
}
