// Package signature verifies the HMAC signatures webhook senders put on their
// requests (GitHub, Stripe, Shopify, HubSpot, Slack, Twilio, or a Scheme
// described by hand).
//
// A Scheme says which header carries the signature, how it is encoded, which
// hash signs it and over what content: a template of parts (the raw body, a
// timestamp, the method, the full URL, the sorted form parameters, a header,
// literal text). Scheme.Verify checks a Request against one or more secrets
// (several during a rotation) at a given time, and answers nil or a
// *wiresk.Error with code wiresk.EUnauthenticated whose message starts with
// "signature <reason>:"; Reason gives the reason back: "missing",
// "malformed", "stale" or "mismatch". No message ever holds a secret, the
// received signature or the expected one.
//
// Where the providers leave a choice, the package decides as their own SDKs
// (stripe-go, octokit/webhooks, slack-sdk, twilio-python, hubspot-api-*) do:
//
//   - The MAC is checked first and the timestamp second (as stripe-go does), so
//     "stale" is only ever said of a request that the secret did sign: a late
//     delivery or a replay, never a forgery. A timestamp too far in the future
//     is refused as "stale" too (as slack-sdk does, and unlike Stripe's SDKs,
//     which only refuse old ones).
//   - A Scheme with a timestamp must sign it (a Timestamp part) and has a
//     tolerance; zero means DefaultTolerance, five minutes, the window of
//     Stripe, Slack and HubSpot.
//   - Signatures are compared as bytes after decoding, with hmac.Equal. Hex is
//     accepted in either case; base64 is standard base64 with padding. A value
//     that does not decode, or decodes to the wrong length, is "malformed".
//   - In a list header (Stripe's t=…,v1=…,v1=…) an entry that does not decode is
//     skipped, entries of other schemes (v0) are ignored, and the request is
//     valid when any entry matches any secret; a header with no usable entry
//     is "malformed".
//   - Empty secrets are ignored; Verify with no non-empty secret fails closed
//     with wiresk.EInternal, since that is the receiver's misconfiguration, not
//     the sender's fault.
//   - Header names are matched case-insensitively, so a Header built from API
//     Gateway's lower-cased map works too; of a repeated header the first
//     value counts.
//   - Request.URL is the URL the sender addressed (scheme, public host, path
//     and raw query as sent), not the internal one: the caller reconstructs it.
package signature

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"

	"wiresk/internal/wiresk"
)

// DefaultTolerance is the timestamp window of a Scheme whose Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// Algorithm is the hash function of a signature.
type Algorithm string

// The algorithms.
const (
	SHA1   Algorithm = "sha1"
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
)

func (a Algorithm) new() func() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return nil
}

// Encoding is how the signature's bytes are written in the header.
type Encoding string

// The encodings.
const (
	Hex    Encoding = "hex"    // either case
	Base64 Encoding = "base64" // standard alphabet, padded
)

// Keying is how the secret enters the signature.
type Keying string

// The keyings.
const (
	// HMAC (also the zero value): HMAC(secret, content).
	HMAC Keying = "hmac"
	// SecretPrefix: hash(secret + content), a plain digest. Only HubSpot's
	// legacy v1 and v2 signatures use it; it is weaker than an HMAC (length
	// extension), so use it for nothing else.
	SecretPrefix Keying = "secret-prefix"
)

// PartKind is the kind of one part of the signed content.
type PartKind string

// The part kinds.
const (
	PartLiteral   PartKind = "literal"   // Part.Value itself
	PartBody      PartKind = "body"      // the raw body bytes
	PartTimestamp PartKind = "timestamp" // the timestamp as sent (digits)
	PartMethod    PartKind = "method"    // the request method as sent
	PartURL       PartKind = "url"       // the full URL (see URLVariants)
	PartForm      PartKind = "form"      // the body's form parameters, sorted (Twilio)
	PartHeader    PartKind = "header"    // the value of the header named Part.Value
)

// Part is one part of the signed content.
type Part struct {
	Kind  PartKind
	Value string // the text of a literal; the name of a header
}

// Literal is the text s itself.
func Literal(s string) Part { return Part{Kind: PartLiteral, Value: s} }

// Body is the raw body.
func Body() Part { return Part{Kind: PartBody} }

// Timestamp is the timestamp as sent.
func Timestamp() Part { return Part{Kind: PartTimestamp} }

// Method is the request method.
func Method() Part { return Part{Kind: PartMethod} }

// URL is the full request URL.
func URL() Part { return Part{Kind: PartURL} }

// Form is the body's form parameters as Twilio signs them: for each name in
// sorted order, each of its distinct values in sorted order, name then value,
// with no separators.
func Form() Part { return Part{Kind: PartForm} }

// Header is the value of the named request header; a request without it is
// "missing".
func Header(name string) Part { return Part{Kind: PartHeader, Value: name} }

// List describes a header that holds a list of key=value entries, some of them
// signatures, as Stripe's "t=1492774577,v1=5257a8…,v0=6ffbb5…".
type List struct {
	Separator    string // between entries: ","
	Assign       string // between a key and its value (at its first occurrence): "="
	SignatureKey string // the key of the signatures to check: "v1"
	TimestampKey string // the key of the timestamp, or "" when the list has none: "t"
}

// URLVariants are the forms of the URL a Scheme also accepts, besides the URL
// as given, for senders whose idea of the URL may differ from the receiver's.
type URLVariants uint8

// The variants.
const (
	// URLPort: the URL with its default port added when it has none, or with
	// its port removed when it has one (as twilio-python's validate does).
	URLPort URLVariants = 1 << iota
	// URLHubSpotDecoded: the URL with the escapes HubSpot's v3 documentation
	// lists (%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B) decoded.
	URLHubSpotDecoded
)

// Scheme describes a signature. The zero values of Keying, TimestampUnit and
// Tolerance mean HMAC, seconds and DefaultTolerance.
type Scheme struct {
	// Name names the scheme in nothing but diagnostics: "github".
	Name      string
	Algorithm Algorithm
	Keying    Keying
	// Header carries the signature.
	Header   string
	Encoding Encoding
	// Prefix is what the header value starts with before the encoded
	// signature: "sha256=" (GitHub), "v0=" (Slack). Not with a List.
	Prefix string
	// List, when set, says that Header holds a list of entries (Stripe).
	List *List
	// Content is the signed content, part after part.
	Content []Part
	// TimestampHeader carries the timestamp, unless the List has it.
	TimestampHeader string
	// TimestampUnit is time.Second (the zero value) or time.Millisecond.
	TimestampUnit time.Duration
	// Tolerance is how far the timestamp may be from now, either way.
	Tolerance time.Duration
	// BodyHashParam, when the URL has this query parameter, means the body is
	// not form parameters: the parameter is the lowercase hex SHA-256 of the
	// body, which must match, and Form parts sign nothing (Twilio's
	// "bodySHA256" for JSON bodies).
	BodyHashParam string
	URLVariants   URLVariants
}

// Request is what Verify reads of an HTTP request.
type Request struct {
	Method string
	URL    string // the full URL the sender addressed
	Header http.Header
	Body   []byte
}

// The reasons of a verification failure, as Reason answers them.
const (
	ReasonMissing   = "missing"   // no signature header, or no header the content needs
	ReasonMalformed = "malformed" // a header that cannot be read
	ReasonStale     = "stale"     // a valid signature on a timestamp outside the tolerance
	ReasonMismatch  = "mismatch"  // no secret signed this request
)

const msgPrefix = "signature "

func fail(reason, format string, args ...any) *wiresk.Error {
	return wiresk.Errorf(wiresk.EUnauthenticated, msgPrefix+reason+": "+format, args...)
}

// Reason returns the reason of a failure Verify answered: ReasonMissing,
// ReasonMalformed, ReasonStale or ReasonMismatch; "" for nil or any other
// error.
func Reason(err error) string {
	var e *wiresk.Error
	if !errors.As(err, &e) || e.Code != wiresk.EUnauthenticated {
		return ""
	}
	rest, ok := strings.CutPrefix(e.Message, msgPrefix)
	if !ok {
		return ""
	}
	r, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	switch r {
	case ReasonMissing, ReasonMalformed, ReasonStale, ReasonMismatch:
		return r
	}
	return ""
}

// Validate reports what is wrong with the Scheme, as a wiresk.EValidation
// error naming the field, or nil.
func (s Scheme) Validate() error {
	if s.Algorithm.new() == nil {
		return wiresk.FieldError("algorithm", "must be sha1, sha256 or sha512")
	}
	if s.Keying != "" && s.Keying != HMAC && s.Keying != SecretPrefix {
		return wiresk.FieldError("keying", "must be hmac or secret-prefix")
	}
	if strings.TrimSpace(s.Header) == "" {
		return wiresk.FieldError("header", "is required")
	}
	if s.Encoding != Hex && s.Encoding != Base64 {
		return wiresk.FieldError("encoding", "must be hex or base64")
	}
	if s.List != nil {
		if s.Prefix != "" {
			return wiresk.FieldError("prefix", "cannot be used with a list")
		}
		if s.List.Separator == "" || s.List.Assign == "" || s.List.SignatureKey == "" {
			return wiresk.FieldError("list", "needs a separator, an assign and a signature key")
		}
		if s.List.TimestampKey != "" && s.TimestampHeader != "" {
			return wiresk.FieldError("timestampHeader", "cannot be used with a list timestamp")
		}
	}
	if len(s.Content) == 0 {
		return wiresk.FieldError("content", "is required")
	}
	signsTimestamp := false
	for _, p := range s.Content {
		switch p.Kind {
		case PartTimestamp:
			signsTimestamp = true
		case PartHeader:
			if strings.TrimSpace(p.Value) == "" {
				return wiresk.FieldError("content", "a header part needs a header name")
			}
		case PartLiteral, PartBody, PartMethod, PartURL, PartForm:
		default:
			return wiresk.FieldError("content", "unknown part kind %q", p.Kind)
		}
	}
	if signsTimestamp != s.hasTimestamp() {
		return wiresk.FieldError("content", "a timestamp must be both sent and signed")
	}
	if s.TimestampUnit != 0 && s.TimestampUnit != time.Second && s.TimestampUnit != time.Millisecond {
		return wiresk.FieldError("timestampUnit", "must be seconds or milliseconds")
	}
	if s.Tolerance < 0 {
		return wiresk.FieldError("tolerance", "cannot be negative")
	}
	if s.URLVariants&^(URLPort|URLHubSpotDecoded) != 0 {
		return wiresk.FieldError("urlVariants", "unknown variant")
	}
	return nil
}

func (s Scheme) hasTimestamp() bool {
	return s.TimestampHeader != "" || (s.List != nil && s.List.TimestampKey != "")
}

func (s Scheme) tolerance() time.Duration {
	if s.Tolerance == 0 {
		return DefaultTolerance
	}
	return s.Tolerance
}

// Verify checks that one of secrets signed req, and for a Scheme with a
// timestamp that it is within the tolerance of now. It answers nil, or a
// *wiresk.Error with code wiresk.EUnauthenticated (see Reason), or, for an
// invalid Scheme or no secret, one with code wiresk.EInternal.
func (s Scheme) Verify(req Request, secrets [][]byte, now time.Time) error {
	if err := s.Validate(); err != nil {
		return wiresk.Errorf(wiresk.EInternal, "signature: invalid scheme %q: %v", s.Name, err)
	}
	keys := make([][]byte, 0, len(secrets))
	for _, k := range secrets {
		if len(k) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return wiresk.Errorf(wiresk.EInternal, "signature: no secret configured for scheme %q", s.Name)
	}
	newHash := s.Algorithm.new()
	size := newHash().Size()

	raw, ok := headerValue(req.Header, s.Header)
	if !ok {
		return fail(ReasonMissing, "no %s header", s.Header)
	}
	var sigs [][]byte
	var ts string
	if s.List != nil {
		var err *wiresk.Error
		sigs, ts, err = s.parseList(raw, size)
		if err != nil {
			return err
		}
	} else {
		v, ok := strings.CutPrefix(raw, s.Prefix)
		if !ok {
			return fail(ReasonMalformed, "%s header does not start with %q", s.Header, s.Prefix)
		}
		sig, ok := decode(s.Encoding, v, size)
		if !ok {
			return fail(ReasonMalformed, "%s header is not a %s %s signature", s.Header, s.Encoding, s.Algorithm)
		}
		sigs = [][]byte{sig}
	}
	if s.TimestampHeader != "" {
		if ts, ok = headerValue(req.Header, s.TimestampHeader); !ok {
			return fail(ReasonMissing, "no %s header", s.TimestampHeader)
		}
	}
	var sent time.Time
	if s.hasTimestamp() {
		if sent, ok = s.parseTimestamp(ts); !ok {
			return fail(ReasonMalformed, "the timestamp of %s is not a %s Unix time", s.Header, s.unitName())
		}
	}

	// The content around the URL is the same for every URL variant.
	form := true
	if s.BodyHashParam != "" {
		if u, err := url.Parse(req.URL); err == nil {
			if _, has := u.Query()[s.BodyHashParam]; has {
				form = false
			}
		}
	}
	var formText []byte
	for _, p := range s.Content {
		if p.Kind == PartForm && form {
			vals, err := url.ParseQuery(string(req.Body))
			if err != nil {
				return fail(ReasonMalformed, "the body is not form parameters")
			}
			formText = sortedForm(vals)
			break
		}
	}
	headers := map[string]string{}
	for _, p := range s.Content {
		if p.Kind == PartHeader {
			v, ok := headerValue(req.Header, p.Value)
			if !ok {
				return fail(ReasonMissing, "no %s header", p.Value)
			}
			headers[p.Value] = v
		}
	}

	matched := false
	for _, u := range s.urls(req.URL) {
		for _, key := range keys {
			var mac hash.Hash
			if s.Keying == SecretPrefix {
				mac = newHash()
				mac.Write(key)
			} else {
				mac = hmac.New(newHash, key)
			}
			for _, p := range s.Content {
				switch p.Kind {
				case PartLiteral:
					mac.Write([]byte(p.Value))
				case PartBody:
					mac.Write(req.Body)
				case PartTimestamp:
					mac.Write([]byte(ts))
				case PartMethod:
					mac.Write([]byte(req.Method))
				case PartURL:
					mac.Write([]byte(u))
				case PartForm:
					mac.Write(formText)
				case PartHeader:
					mac.Write([]byte(headers[p.Value]))
				}
			}
			sum := mac.Sum(nil)
			for _, sig := range sigs {
				// No early exit: every candidate is compared.
				if hmac.Equal(sum, sig) {
					matched = true
				}
			}
		}
	}
	if matched && !form {
		matched = s.bodyHashMatches(req)
	}
	if !matched {
		return fail(ReasonMismatch, "%s does not match the request", s.Header)
	}
	if s.hasTimestamp() {
		if d := now.Sub(sent); d > s.tolerance() || d < -s.tolerance() {
			return fail(ReasonStale, "the timestamp is more than %v from now", s.tolerance())
		}
	}
	return nil
}

func (s Scheme) unitName() string {
	if s.TimestampUnit == time.Millisecond {
		return "millisecond"
	}
	return "second"
}

// parseTimestamp reads 1 to 18 ASCII digits (no sign, no spaces) as a Unix
// time in the Scheme's unit.
func (s Scheme) parseTimestamp(ts string) (time.Time, bool) {
	if len(ts) == 0 || len(ts) > 18 {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(ts); i++ {
		c := ts[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if s.TimestampUnit == time.Millisecond {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

func (s Scheme) parseList(raw string, size int) ([][]byte, string, *wiresk.Error) {
	var sigs [][]byte
	ts, hasTS := "", false
	for _, entry := range strings.Split(raw, s.List.Separator) {
		k, v, ok := strings.Cut(strings.TrimSpace(entry), s.List.Assign)
		if !ok {
			return nil, "", fail(ReasonMalformed, "%s header has an entry without %q", s.Header, s.List.Assign)
		}
		switch {
		case k == s.List.SignatureKey:
			if sig, ok := decode(s.Encoding, v, size); ok {
				sigs = append(sigs, sig)
			}
		case s.List.TimestampKey != "" && k == s.List.TimestampKey:
			if hasTS {
				return nil, "", fail(ReasonMalformed, "%s header has two timestamps", s.Header)
			}
			ts, hasTS = v, true
		}
	}
	if len(sigs) == 0 {
		return nil, "", fail(ReasonMalformed, "%s header has no %s %s signature", s.Header, s.List.SignatureKey, s.Encoding)
	}
	if s.List.TimestampKey != "" && !hasTS {
		return nil, "", fail(ReasonMalformed, "%s header has no timestamp", s.Header)
	}
	return sigs, ts, nil
}

func (s Scheme) bodyHashMatches(req Request) bool {
	u, err := url.Parse(req.URL)
	if err != nil {
		return false
	}
	want, err := hex.DecodeString(u.Query().Get(s.BodyHashParam))
	if err != nil {
		return false
	}
	got := sha256.Sum256(req.Body)
	return hmac.Equal(got[:], want)
}

func decode(enc Encoding, v string, size int) ([]byte, bool) {
	var b []byte
	var err error
	switch enc {
	case Hex:
		b, err = hex.DecodeString(v)
	case Base64:
		b, err = base64.StdEncoding.Strict().DecodeString(v)
	}
	if err != nil || len(b) != size {
		return nil, false
	}
	return b, true
}

// headerValue is the first value of the named header, found whatever the
// case of the map's keys, with surrounding spaces trimmed; ok is false when
// the header is absent or blank.
func headerValue(h http.Header, name string) (string, bool) {
	vs := h[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		for k, v := range h {
			if strings.EqualFold(k, name) && len(v) > 0 {
				vs = v
				break
			}
		}
	}
	if len(vs) == 0 {
		return "", false
	}
	v := strings.TrimSpace(vs[0])
	return v, v != ""
}

// sortedForm writes Twilio's form text: names sorted, each name's distinct
// values sorted, name+value each (twilio-python's compute_signature).
func sortedForm(vals url.Values) []byte {
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		vs := append([]string(nil), vals[n]...)
		sort.Strings(vs)
		for i, v := range vs {
			if i > 0 && vs[i-1] == v {
				continue
			}
			b.WriteString(n)
			b.WriteString(v)
		}
	}
	return []byte(b.String())
}

var hubSpotDecoder = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

// urls is the URL as given, then the variants the Scheme accepts, without
// duplicates.
func (s Scheme) urls(raw string) []string {
	out := []string{raw}
	add := func(u string) {
		for _, o := range out {
			if o == u {
				return
			}
		}
		out = append(out, u)
	}
	if s.URLVariants&URLPort != 0 {
		if u, ok := togglePort(raw); ok {
			add(u)
		}
	}
	if s.URLVariants&URLHubSpotDecoded != 0 {
		add(hubSpotDecoder.Replace(raw))
	}
	return out
}

// togglePort adds the default port of an http or https URL without one, or
// removes the port of one with a port, leaving the rest of the text as it is.
func togglePort(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	def := map[string]string{"http": "80", "https": "443"}[scheme]
	if def == "" {
		return "", false
	}
	start := len(u.Scheme) + len("://")
	if len(raw) < start || !strings.EqualFold(raw[:start], u.Scheme+"://") {
		return "", false
	}
	rest := raw[start:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	hostport := authority
	if port := u.Port(); port != "" {
		hostport = strings.TrimSuffix(authority, ":"+port)
	} else {
		hostport = authority + ":" + def
	}
	return raw[:start] + userinfo + hostport + rest[end:], true
}
