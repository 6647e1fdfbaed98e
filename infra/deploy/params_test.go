package deploy_test

import (
	"regexp"
	"strconv"
	"testing"

	"wiresk/internal/app"
	"wiresk/internal/egress"
)

// workerEnv is a worker's environment with key set to value.
func workerEnv(key, value string) func(string) string {
	env := map[string]string{"WIRESK_TABLE": "t", "WIRESK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
		"WIRESK_SECRET_PREFIX": "wiresk/dev", "WIRESK_MAX_RECEIVES": "5", key: value}
	return func(k string) string { return env[k] }
}

func bound(t *testing.T, v any) int {
	t.Helper()
	s, _ := v.(string)
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bound %v is not a number", v)
	}
	return n
}

// TestNumberParametersAreBoundedAsTheCodeReadsThem: a value the template
// lets through is one the worker accepts at start, and the one past
// either bound is one it refuses, so that no deploy succeeds only for
// every job to fail (RunRetentionDays=4000 used to).
func TestNumberParametersAreBoundedAsTheCodeReadsThem(t *testing.T) {
	tmpl := template(t)
	for param, env := range map[string]string{"RunRetentionDays": "WIRESK_RUN_RETENTION_DAYS", "MaxReceives": "WIRESK_MAX_RECEIVES"} {
		p := tmpl.Parameters[param]
		if p.MinValue == nil || p.MaxValue == nil {
			t.Errorf("%s: no MinValue/MaxValue", param)
			continue
		}
		lo, hi := bound(t, p.MinValue), bound(t, p.MaxValue)
		for _, c := range []struct {
			v  int
			ok bool
		}{{lo, true}, {hi, true}, {lo - 1, false}, {hi + 1, false}} {
			_, err := app.Load(app.Worker, workerEnv(env, strconv.Itoa(c.v)))
			if got := err == nil; got != c.ok {
				t.Errorf("%s=%d: the worker starts %v (%v), want %v: the template's bounds [%d, %d] and the code disagree", param, c.v, got, err, c.ok, lo, hi)
			}
		}
	}
	// The SQS event source takes a maximum concurrency of 2 to 1000.
	p := tmpl.Parameters["WorkerMaxConcurrency"]
	if bound(t, p.MinValue) != 2 || bound(t, p.MaxValue) != 1000 {
		t.Errorf("WorkerMaxConcurrency bounds = [%v, %v], want [2, 1000]", p.MinValue, p.MaxValue)
	}
}

// TestHttpAllowCidrsPatternIsWhatTheCodeAccepts: the values the template's
// pattern lets through are those the functions' SSRF guard reads, and
// those it refuses, the guard refuses too.
func TestHttpAllowCidrsPatternIsWhatTheCodeAccepts(t *testing.T) {
	p := template(t).Parameters["HttpAllowCidrs"]
	re, err := regexp.Compile(p.AllowedPattern)
	if err != nil || p.AllowedPattern == "" {
		t.Fatalf("AllowedPattern %q: %v", p.AllowedPattern, err)
	}
	for _, v := range []string{
		"", "10.1.0.0/16", "10.1.0.0/16,192.168.1.5", "10.1.0.0/16, 172.16.0.0/12", "fd00::/8", "10.0.0.1,fd00:1::5/128",
		"0.0.0.0/0", "127.0.0.1/32", "::1",
		"not-a-cidr", "10.1.0.0/33", "300.1.1.1", "10.1.0/16", "010.1.0.0/16", "10.1.0.0/16;10.2.0.0/16", "http://10.0.0.1",
		"10.1.0.0 /16",
	} {
		_, guardErr := egress.NewGuard(v)
		if matched, accepted := re.MatchString(v), guardErr == nil; matched != accepted {
			t.Errorf("HttpAllowCidrs=%q: the pattern matches %v, the guard accepts %v (%v)", v, matched, accepted, guardErr)
		}
	}
	// Stricter than the guard, on purpose: empty items the guard skips.
	for _, v := range []string{"10.1.0.0/16,", ",10.1.0.0/16"} {
		if re.MatchString(v) {
			t.Errorf("HttpAllowCidrs=%q: the pattern lets an empty item through", v)
		}
	}
}
