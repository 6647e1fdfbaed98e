package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"wiresk/internal/signature"
	"wiresk/internal/wiresk"
)

// Auth says what authenticates an HTTP trigger's webhooks.
type Auth string

// The ways a trigger authenticates its webhooks.
const (
	// AuthAPIKey (the default): one of the trigger's API keys, in X-API-Key
	// or Authorization: Bearer.
	AuthAPIKey Auth = "api_key"
	// AuthSignature: the sender's signature alone, for senders that cannot
	// set a header of their own (GitHub, Stripe, Slack, ...). A key sent
	// anyway is ignored.
	AuthSignature Auth = "signature"
	// AuthAPIKeyAndSignature: both.
	AuthAPIKeyAndSignature Auth = "api_key_and_signature"
)

// NeedsKey reports whether a must be given an API key.
func (a Auth) NeedsKey() bool { return a != AuthSignature }

// NeedsSignature reports whether a must be given a valid signature.
func (a Auth) NeedsSignature() bool {
	return a == AuthSignature || a == AuthAPIKeyAndSignature
}

// Valid reports whether a is one of the modes ("" counts as AuthAPIKey).
func (a Auth) Valid() bool {
	return a == "" || a == AuthAPIKey || a == AuthSignature || a == AuthAPIKeyAndSignature
}

// The verification handshakes a trigger can answer by itself, without
// starting a Run.
const (
	// ChallengeSlack answers Slack's url_verification POST (after the
	// trigger's authentication) with its challenge.
	ChallengeSlack = "slack"
	// ChallengeMeta answers Meta's (Facebook, Instagram, WhatsApp) GET
	// ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=… with the
	// challenge when the verify token is the trigger's.
	ChallengeMeta = "meta"
)

// Challenges lists the handshakes a trigger can answer.
var Challenges = []string{ChallengeSlack, ChallengeMeta}

// RotationOverlap is how long a trigger's previous signing secret is still
// accepted after a new one is set, so that a sender can be switched over
// without losing deliveries (unless the previous one is dropped at once).
const RotationOverlap = 24 * time.Hour

// Verification is how a trigger checks its senders' signatures: a preset or
// a scheme described by hand. The secrets are in the vault
// (SigningSecretName), never in this record.
type Verification struct {
	// Preset is one of SignaturePresets.
	Preset string `json:"preset,omitempty"`
	// Custom describes the scheme when Preset is empty.
	Custom *CustomScheme `json:"custom,omitempty"`
	// SecretVersion counts the changes of the trigger's vault secret; the
	// ingress caches the secret by it, so a change is seen at once.
	SecretVersion int       `json:"secretVersion"`
	SecretSetAt   time.Time `json:"secretSetAt"`
	// PreviousSecretExpiresAt is when the previous secret stops being
	// accepted; nil when there is none.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
}

// CustomScheme is an HMAC signature described by hand.
type CustomScheme struct {
	// Algorithm: sha1, sha256 or sha512.
	Algorithm string `json:"algorithm"`
	// Header carries the signature.
	Header string `json:"header"`
	// Encoding of the signature: hex or base64.
	Encoding string `json:"encoding"`
	// Prefix is what the header value starts with: "sha256=".
	Prefix string `json:"prefix,omitempty"`
	// Content is the signed content: literal text and the placeholders
	// {body} (the raw body), {timestamp}, {method}, {url}, {form} (the form
	// parameters, sorted) and {header:Name}; "{body}" when empty.
	Content string `json:"content,omitempty"`
	// TimestampHeader carries the timestamp (in seconds) that {timestamp}
	// signs; required with {timestamp}.
	TimestampHeader string `json:"timestampHeader,omitempty"`
	// ToleranceSeconds is how far the timestamp may be from now (300 when 0).
	ToleranceSeconds int `json:"toleranceSeconds,omitempty"`
}

// metaPreset is Meta's X-Hub-Signature-256, which is GitHub's scheme.
const metaPreset = "meta"

// SignaturePresets lists the preset names a trigger accepts: the signature
// package's, and "meta" (Meta's X-Hub-Signature-256, GitHub's scheme).
func SignaturePresets() []string {
	return append(signature.Presets(), metaPreset)
}

// Scheme returns the signature scheme v describes, or a validation error
// naming the field (under "signature.").
func (v Verification) Scheme() (signature.Scheme, error) {
	switch {
	case v.Preset != "" && v.Custom != nil:
		return signature.Scheme{}, wiresk.FieldError("signature", "give either a preset or a custom scheme, not both")
	case v.Preset == metaPreset:
		s := signature.GitHub()
		s.Name = metaPreset
		return s, nil
	case v.Preset != "":
		s, ok := signature.Preset(v.Preset)
		if !ok {
			return signature.Scheme{}, wiresk.FieldError("signature.preset", "unknown preset %q; the presets are %s", v.Preset, strings.Join(SignaturePresets(), ", "))
		}
		return s, nil
	case v.Custom != nil:
		return v.Custom.scheme()
	}
	return signature.Scheme{}, wiresk.FieldError("signature", "needs a preset or a custom scheme")
}

// maxCustomField caps each text field of a custom scheme.
const maxCustomField = 256

func (c CustomScheme) scheme() (signature.Scheme, error) {
	for name, v := range map[string]string{"algorithm": c.Algorithm, "header": c.Header, "encoding": c.Encoding, "prefix": c.Prefix, "content": c.Content, "timestampHeader": c.TimestampHeader} {
		if len(v) > maxCustomField {
			return signature.Scheme{}, wiresk.FieldError("signature.custom."+name, "is longer than %d characters", maxCustomField)
		}
	}
	if c.ToleranceSeconds < 0 || c.ToleranceSeconds > 86400 {
		return signature.Scheme{}, wiresk.FieldError("signature.custom.toleranceSeconds", "must be from 0 (300) to 86400")
	}
	content := c.Content
	if content == "" {
		content = "{body}"
	}
	parts, err := parseContent(content)
	if err != nil {
		return signature.Scheme{}, err
	}
	s := signature.Scheme{
		Name: "custom", Algorithm: signature.Algorithm(c.Algorithm), Header: c.Header,
		Encoding: signature.Encoding(c.Encoding), Prefix: c.Prefix, Content: parts,
		TimestampHeader: c.TimestampHeader, Tolerance: time.Duration(c.ToleranceSeconds) * time.Second,
	}
	if err := s.Validate(); err != nil {
		var e *wiresk.Error
		if errors.As(err, &e) && e.Field != "" {
			return signature.Scheme{}, wiresk.FieldError("signature.custom."+e.Field, "%s", e.Message)
		}
		return signature.Scheme{}, err
	}
	return s, nil
}

// parseContent reads a custom scheme's content template.
func parseContent(s string) ([]signature.Part, error) {
	var parts []signature.Part
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			parts = append(parts, signature.Literal(s))
			break
		}
		if i > 0 {
			parts = append(parts, signature.Literal(s[:i]))
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, wiresk.FieldError("signature.custom.content", "a { is not closed")
		}
		name := s[i+1 : i+j]
		switch {
		case name == "body":
			parts = append(parts, signature.Body())
		case name == "timestamp":
			parts = append(parts, signature.Timestamp())
		case name == "method":
			parts = append(parts, signature.Method())
		case name == "url":
			parts = append(parts, signature.URL())
		case name == "form":
			parts = append(parts, signature.Form())
		case strings.HasPrefix(name, "header:") && len(name) > len("header:"):
			parts = append(parts, signature.Header(name[len("header:"):]))
		default:
			return nil, wiresk.FieldError("signature.custom.content", "unknown placeholder {%s}: use {body}, {timestamp}, {method}, {url}, {form} or {header:Name}", name)
		}
		s = s[i+j+1:]
	}
	return parts, nil
}

// SigningSecretName is the vault name of a trigger's signing secrets and
// verify token.
func SigningSecretName(triggerID string) string { return "signing/" + triggerID }

// SigningSecrets is the vault value of SigningSecretName.
type SigningSecrets struct {
	// Version is the Verification's SecretVersion this value was written
	// with.
	Version  int    `json:"version"`
	Current  string `json:"current,omitempty"`
	Previous string `json:"previous,omitempty"`
	// VerifyToken is what Meta's handshake must present (ChallengeMeta).
	VerifyToken string `json:"verifyToken,omitempty"`
}

// Accepted returns the secrets a signature may be made with at now: the
// current one, and the previous one until v's PreviousSecretExpiresAt.
func (s SigningSecrets) Accepted(v *Verification, now time.Time) [][]byte {
	var out [][]byte
	if s.Current != "" {
		out = append(out, []byte(s.Current))
	}
	if s.Previous != "" && v != nil && v.PreviousSecretExpiresAt != nil && now.Before(*v.PreviousSecretExpiresAt) {
		out = append(out, []byte(s.Previous))
	}
	return out
}

// DecodeSigningSecrets reads a vault value of SigningSecretName.
func DecodeSigningSecrets(b []byte) (SigningSecrets, error) {
	var s SigningSecrets
	if err := json.Unmarshal(b, &s); err != nil {
		return SigningSecrets{}, fmt.Errorf("decode signing secrets: %w", err)
	}
	return s, nil
}

// ValidChallenge reports whether c is "" or one of Challenges.
func ValidChallenge(c string) bool { return c == "" || slices.Contains(Challenges, c) }

// maxSlackChallenge bounds the url_verification body SlackChallenge reads.
const maxSlackChallenge = 4 << 10

// SlackChallenge returns the challenge of Slack's url_verification request
// ({"type":"url_verification","challenge":"…"}), and whether body is one.
func SlackChallenge(body []byte) (string, bool) {
	if len(body) > maxSlackChallenge {
		return "", false
	}
	var v struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if json.Unmarshal(body, &v) != nil || v.Type != "url_verification" || v.Challenge == "" {
		return "", false
	}
	return v.Challenge, true
}
