package sqsqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// deadLetterRetention is how long the dead-letter queue keeps a message:
// the most SQS allows, 14 days, so that people have time to look.
const deadLetterRetention = 14 * 24 * time.Hour

// CreateQueues creates the standard queue name and its dead-letter queue
// name+"-dlq", for tests and local setups (in AWS the SAM template creates
// them), and returns their URLs. The queue's redrive policy moves a message
// to the dead-letter queue once it has been received maxReceives times
// without being deleted (1 to 1000); visibility is its default visibility
// timeout (0 to 12 hours, in whole seconds rounded up); its
// ReceiveMessageWaitTimeSeconds is 0, so that Receive short-polls when asked
// not to wait. The dead-letter queue keeps messages 14 days.
//
// Creating queues that exist with the same attributes returns their URLs;
// SQS refuses, with an error, to create a queue that exists with other
// attributes (goaws returns it unchanged). Errors are SQS's, wrapped with
// the name of the queue.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, maxReceives int, visibility time.Duration) (queueURL, dlqURL string, err error) {
	if maxReceives < 1 || maxReceives > 1000 {
		return "", "", fmt.Errorf("create queue %s: maxReceives %d is not between 1 and 1000", name, maxReceives)
	}
	if visibility < 0 || visibility > maxVisibility {
		return "", "", fmt.Errorf("create queue %s: visibility %v is not between 0 and %v", name, visibility, maxVisibility)
	}
	dlqName := name + "-dlq"
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: &dlqName,
		Attributes: map[string]string{
			string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(deadLetterRetention / time.Second)),
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", dlqName, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: read its ARN: %w", dlqName, err)
	}
	arn := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", "", fmt.Errorf("create queue %s: SQS returned no ARN", dlqName)
	}
	// maxReceiveCount as a string, as in SQS's documentation; goaws takes
	// both forms.
	policy, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": arn,
		"maxReceiveCount":     strconv.Itoa(maxReceives),
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: &name,
		Attributes: map[string]string{
			string(types.QueueAttributeNameVisibilityTimeout):             strconv.Itoa(int(seconds(visibility))),
			string(types.QueueAttributeNameReceiveMessageWaitTimeSeconds): "0",
			string(types.QueueAttributeNameRedrivePolicy):                 string(policy),
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}
