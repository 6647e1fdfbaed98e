package run

import (
	"bytes"
	"unicode/utf8"
)

// MaxBodyDepth bounds how deeply arrays and objects may nest in a JSON
// body the product accepts (webhooks, Run Once samples, management
// requests). Real payloads stay far below it; a deeper one is refused with
// 400 body_too_deep before anything is enqueued or stored, so no record
// can be written that a JSON decoder (or DynamoDB, which allows 32 levels
// of nested attributes) cannot read back.
const MaxBodyDepth = 64

var openObject, openArray = []byte{'{'}, []byte{'['}

// TooDeep reports whether arrays and objects nest more than max levels in
// b, counting brackets outside JSON strings. It reads b once and allocates
// nothing, so the webhook path can afford it; b need not be valid JSON
// (a text body with brackets is counted the same way, which only matters
// past max levels).
func TooDeep(b []byte, max int) bool {
	// Nesting past max needs more than max opening brackets, and counting
	// them is vectorized: most bodies are done here.
	if bytes.Count(b, openObject)+bytes.Count(b, openArray) <= max {
		return false
	}
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > max {
				return true
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return false
}

// WebhookTooDeep reports whether a webhook body is refused for its
// nesting: TooDeep past MaxBodyDepth, for a body that is UTF-8 text. A
// binary body (not UTF-8) is kept and shown as base64, never parsed, so its
// bytes are not counted: a few MiB of random bytes holds brackets enough
// to look deeply nested. The UTF-8 check runs only on a body TooDeep
// refuses, so it costs nothing on the common path.
func WebhookTooDeep(b []byte) bool {
	return TooDeep(b, MaxBodyDepth) && utf8.Valid(b)
}
