package worker

import "strings"

// redacted replaces a secret wherever it appears in a recorded value.
const redacted = "[redacted]"

// redact returns v, a JSON-like value (map[string]any, []any, string, ...),
// with every occurrence of the secrets replaced by [redacted], in strings
// and in map keys alike. v is not modified; parts without a secret are
// shared.
func redact(v any, secrets []string) any {
	if len(secrets) == 0 || v == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return redactText(x, secrets)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[redactText(k, secrets)] = redact(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redact(e, secrets)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[redactText(k, secrets)] = redactText(e, secrets)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactText(e, secrets)
		}
		return out
	}
	return v
}

// redactText returns s with every secret replaced by [redacted].
func redactText(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}
