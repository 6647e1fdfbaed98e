package sqsqueue

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// AvoidRequestBodyRace is an option of sqs.New and sqs.NewFromConfig that
// works around a race between smithy-go (v1.28) and net/http which makes an
// operation fail after SQS has carried it out, so that the SDK retries it:
// a SendMessage is then stored twice, and the messages of a ReceiveMessage
// are hidden for their visibility timeout and received again later.
//
// The SDK closes a request's body as soon as the response arrives; net/http,
// once it has sent the body, reads it once more to check that nothing is
// left, through the body's WriteTo method, which on a closed body returns
// io.EOF. When the response arrives before that read, as it can when the
// server answers within microseconds, net/http takes the EOF for a failed
// write and closes the connection under the response, whose read fails with
// "use of closed network connection" if the response was not read whole
// yet. Against goaws on loopback about one ReceiveMessage of ten messages in
// two hundred fails so; in AWS, where responses take milliseconds, it should
// be rare. The option hides WriteTo from request bodies, so that the check
// reads through Read, which on a closed body reports a clean end.
//
// It wraps the client's HTTPClient, so it must come after any option that
// sets HTTPClient.
func AvoidRequestBodyRace(o *sqs.Options) {
	next := o.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	o.HTTPClient = bodyRaceClient{next: next}
}

// bodyRaceClient is the HTTP client of AvoidRequestBodyRace.
type bodyRaceClient struct {
	next sqs.HTTPClient
}

// Do sends r with its body, if any, stripped of its WriteTo method.
func (c bodyRaceClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readOnlyBody{r.Body}
	}
	return c.next.Do(r)
}

// readOnlyBody exposes only the Read and Close methods of a request body.
type readOnlyBody struct {
	io.ReadCloser
}

// NewFromConfig returns the Queue on queueURL (and deadLetterURL, "" for
// none) with an SQS client made from awsCfg, with AvoidRequestBodyRace:
// what a Lambda function's main builds.
func NewFromConfig(awsCfg aws.Config, queueURL, deadLetterURL string) *Queue {
	return New(sqs.NewFromConfig(awsCfg, AvoidRequestBodyRace), queueURL, deadLetterURL)
}
