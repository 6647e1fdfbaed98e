package signature

import (
	"sort"
	"time"
)

// The presets are functions, not variables, so that no caller can change
// another's Scheme (Content is a slice).

// GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>. The
// legacy SHA-1 X-Hub-Signature is not accepted, as GitHub recommends.
func GitHub() Scheme {
	return Scheme{
		Name:      "github",
		Algorithm: SHA256,
		Header:    "X-Hub-Signature-256",
		Encoding:  Hex,
		Prefix:    "sha256=",
		Content:   []Part{Body()},
	}
}

// Stripe: Stripe-Signature: t=<seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>[,v1=…][,v0=…]. Any v1 may match (Stripe sends one per
// active secret while a secret is rolled); v0 entries are ignored. Tolerance
// 5 minutes, Stripe's default.
func Stripe() Scheme {
	return Scheme{
		Name:      "stripe",
		Algorithm: SHA256,
		Header:    "Stripe-Signature",
		Encoding:  Hex,
		List:      &List{Separator: ",", Assign: "=", SignatureKey: "v1", TimestampKey: "t"},
		Content:   []Part{Timestamp(), Literal("."), Body()},
		Tolerance: 5 * time.Minute,
	}
}

// Shopify: X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(client secret, body)).
func Shopify() Scheme {
	return Scheme{
		Name:      "shopify",
		Algorithm: SHA256,
		Header:    "X-Shopify-Hmac-Sha256",
		Encoding:  Base64,
		Content:   []Part{Body()},
	}
}

// HubSpotV3: X-HubSpot-Signature-v3: base64(HMAC-SHA256(client secret,
// method + URL + body + timestamp)), the timestamp in milliseconds in
// X-HubSpot-Request-Timestamp, refused beyond 5 minutes as HubSpot's SDKs do.
// The URL is tried as given and with the escapes HubSpot's documentation
// lists decoded.
func HubSpotV3() Scheme {
	return Scheme{
		Name:            "hubspot-v3",
		Algorithm:       SHA256,
		Header:          "X-HubSpot-Signature-v3",
		Encoding:        Base64,
		Content:         []Part{Method(), URL(), Body(), Timestamp()},
		TimestampHeader: "X-HubSpot-Request-Timestamp",
		TimestampUnit:   time.Millisecond,
		Tolerance:       5 * time.Minute,
		URLVariants:     URLHubSpotDecoded,
	}
}

// HubSpotV2: X-HubSpot-Signature: hex(SHA-256(client secret + method + URL +
// body)), a plain digest, not an HMAC, and without a timestamp (so replays
// cannot be refused); X-HubSpot-Signature-Version says "v2". Prefer v3.
func HubSpotV2() Scheme {
	return Scheme{
		Name:      "hubspot-v2",
		Algorithm: SHA256,
		Keying:    SecretPrefix,
		Header:    "X-HubSpot-Signature",
		Encoding:  Hex,
		Content:   []Part{Method(), URL(), Body()},
	}
}

// HubSpotV1: X-HubSpot-Signature: hex(SHA-256(client secret + body)), a plain
// digest without a timestamp; X-HubSpot-Signature-Version says "v1". Prefer
// v3.
func HubSpotV1() Scheme {
	return Scheme{
		Name:      "hubspot-v1",
		Algorithm: SHA256,
		Keying:    SecretPrefix,
		Header:    "X-HubSpot-Signature",
		Encoding:  Hex,
		Content:   []Part{Body()},
	}
}

// SlackV0: X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
// "v0:<ts>:<body>")>, the timestamp in seconds in X-Slack-Request-Timestamp,
// refused beyond 5 minutes either way as Slack's SDKs do.
func SlackV0() Scheme {
	return Scheme{
		Name:            "slack-v0",
		Algorithm:       SHA256,
		Header:          "X-Slack-Signature",
		Encoding:        Hex,
		Prefix:          "v0=",
		Content:         []Part{Literal("v0:"), Timestamp(), Literal(":"), Body()},
		TimestampHeader: "X-Slack-Request-Timestamp",
		Tolerance:       5 * time.Minute,
	}
}

// Twilio: X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + sorted form
// parameters)). When the URL has a bodySHA256 query parameter (JSON bodies),
// the URL alone is signed and the parameter must be the hex SHA-256 of the
// body. As twilio-python does, the URL is tried as given and with its
// default port added or removed. Twilio sends no timestamp.
func Twilio() Scheme {
	return Scheme{
		Name:          "twilio",
		Algorithm:     SHA1,
		Header:        "X-Twilio-Signature",
		Encoding:      Base64,
		Content:       []Part{URL(), Form()},
		BodyHashParam: "bodySHA256",
		URLVariants:   URLPort,
	}
}

var presets = map[string]func() Scheme{
	"github":     GitHub,
	"stripe":     Stripe,
	"shopify":    Shopify,
	"hubspot-v3": HubSpotV3,
	"hubspot-v2": HubSpotV2,
	"hubspot-v1": HubSpotV1,
	"slack-v0":   SlackV0,
	"twilio":     Twilio,
}

// Preset returns the preset of that name (one of Presets, lower case), and
// whether there is one.
func Preset(name string) (Scheme, bool) {
	f, ok := presets[name]
	if !ok {
		return Scheme{}, false
	}
	return f(), true
}

// Presets returns the names of the presets, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
