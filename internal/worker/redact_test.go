package worker

import (
	"encoding/json"
	"strings"
	"testing"

	"wiresk/internal/appcall"
)

func TestRedactRemovesEveryFormOfTheCredential(t *testing.T) {
	basic := appcall.Credential{Kind: appcall.CredentialBasic, Username: "ada", Password: "p@ss word"}
	key := appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "sk_live_123"}
	tests := []struct {
		name   string
		cred   appcall.Credential
		value  any
		absent []string
	}{
		{"echoed header", key, map[string]any{"headers": map[string]any{"X-Api-Key": []any{"sk_live_123"}}}, []string{"sk_live_123"}},
		{"in a map key", key, map[string]any{"sk_live_123": true}, []string{"sk_live_123"}},
		{"inside text", key, "bad key 'sk_live_123' given", []string{"sk_live_123"}},
		{"query escaped", appcall.Credential{Kind: appcall.CredentialAPIKey, Token: "a b&c"}, []any{"url?key=a+b%26c"}, []string{"a+b%26c", "a b&c"}},
		{"basic header", basic, map[string]any{"authorization": "Basic YWRhOnBAc3Mgd29yZA=="}, []string{"YWRhOnBAc3Mgd29yZA=="}},
		{"basic password", basic, []any{map[string]any{"pw": "p@ss word"}}, []string{"p@ss word"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(redact(tt.value, tt.cred.Secrets()))
			for _, s := range tt.absent {
				if strings.Contains(string(got), s) {
					t.Errorf("redact(%v) = %s, still holds %q", tt.value, got, s)
				}
			}
			if !strings.Contains(string(got), redacted) {
				t.Errorf("redact(%v) = %s, want %s in its place", tt.value, got, redacted)
			}
		})
	}
	in := map[string]any{"ok": "plain"}
	if got := redact(in, key.Secrets()); got.(map[string]any)["ok"] != "plain" {
		t.Errorf("redact changed a value without the secret: %v", got)
	}
}
