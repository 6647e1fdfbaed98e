package main

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// buildHost builds functions/<fn> for this machine as benchFunctions does.
func buildHost(t *testing.T, fn string) string {
	t.Helper()
	root, err := lambdaModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if err := lambdaBuild(root, bin, fn, runtime.GOOS, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestLambdaStartupReachesTheRuntimeAPI(t *testing.T) {
	bin := buildHost(t, "trigger")
	d, err := lambdaStartup(bin, lambdaEnv)
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("start-up: got %s, want a positive duration", d)
	}
}

func TestLambdaStartupReportsBadConfiguration(t *testing.T) {
	bin := buildHost(t, "trigger")
	noTable := func(api string) []string {
		return slices.DeleteFunc(lambdaEnv(api), func(kv string) bool { return strings.HasPrefix(kv, "WIRESK_TABLE=") })
	}
	_, err := lambdaStartup(bin, noTable)
	if err == nil || !strings.Contains(err.Error(), "WIRESK_TABLE is required") {
		t.Errorf("error: got %v, want the function's own message about WIRESK_TABLE", err)
	}
}
