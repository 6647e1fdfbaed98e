package step

import "context"

type triggerBodyKey struct{}

// triggerBody is the body of the request that started a Run, as received.
type triggerBody struct {
	body        []byte
	contentType string
}

// WithTriggerBody returns ctx carrying the body and Content-Type of the
// request that started the Run, which an HTTP step with forwardTriggerBody
// sends byte for byte.
func WithTriggerBody(ctx context.Context, body []byte, contentType string) context.Context {
	return context.WithValue(ctx, triggerBodyKey{}, triggerBody{body: body, contentType: contentType})
}

func triggerBodyFrom(ctx context.Context) (triggerBody, bool) {
	b, ok := ctx.Value(triggerBodyKey{}).(triggerBody)
	return b, ok
}
