package step

import "context"

// HopHeader is the header every HTTP step request carries with its hop
// count: 1 for a step of a Run started from outside, n+1 for a step of a
// Run whose webhook came with hop count n. A Wiresk webhook refuses a
// request past run.MaxHops, so a Flow that calls its own webhook (or a
// ring of Flows) stops instead of multiplying Runs.
const HopHeader = "Wiresk-Hop"

type hopKey struct{}

// WithHop returns ctx carrying hop, which the HTTP step sends in the
// Wiresk-Hop header of every request it makes with ctx.
func WithHop(ctx context.Context, hop int) context.Context {
	return context.WithValue(ctx, hopKey{}, hop)
}

func hopFrom(ctx context.Context) int {
	h, _ := ctx.Value(hopKey{}).(int)
	return h
}
