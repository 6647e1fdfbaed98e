package step

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// IdempotencyHeader is the header the HTTP step sends with the key of the
// step's execution, unless the step's own headers set it.
const IdempotencyHeader = "Idempotency-Key"

// IdempotencyKey returns the key of step stepID of Run runID: the same on
// every attempt and every delivery of that Run, different for every other
// Run (a replay is a new Run, so it gets new keys). It is the first 32 hex
// digits of SHA-256(runID + "/" + stepID), so it reveals neither id.
func IdempotencyKey(runID, stepID string) string {
	sum := sha256.Sum256([]byte(runID + "/" + stepID))
	return hex.EncodeToString(sum[:16])
}

type idempotencyKey struct{}

// WithIdempotencyKey returns ctx carrying key, which the HTTP step sends in
// the Idempotency-Key header of every request it makes with ctx, so that a
// target honouring it (Stripe, many APIs) acts on a step once however many
// times it is sent.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

func idempotencyKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}
