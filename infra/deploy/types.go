package deploy

import (
	"encoding/json"
	"fmt"
)

// The types of this file hold the parts of a template that the checks read
// typed; Template.Raw holds all of it. Their field names follow
// CloudFormation's and SAM's property names; values given by an intrinsic
// function hold its placeholder (Ref, GetAtt, Sub).

// Transform is a template's Transform: one macro or a list.
type Transform struct {
	// String is the macro, when Transform is one string.
	String *string
	// StringArray are the macros, when Transform is a list.
	StringArray *[]string
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Transform) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		t.String = &s
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("Transform: want a string or a list of strings")
	}
	t.StringArray = &l
	return nil
}

// Parameter is a template parameter.
type Parameter struct {
	Type          string
	Default       any
	Description   string
	AllowedValues []any
	// MinValue and MaxValue bound a Number; AllowedPattern is the regular
	// expression a String must match (CloudFormation refuses the deploy
	// otherwise).
	MinValue       any
	MaxValue       any
	AllowedPattern string
}

// Output is a template output.
type Output struct {
	Value       any
	Description string
	Export      any
}

// Policy is a DeletionPolicy or an UpdateReplacePolicy: Delete, Retain or
// Snapshot.
type Policy string

// Attributes are the attributes of a resource beside its properties.
type Attributes struct {
	AWSCloudFormationMetadata            map[string]any `json:"Metadata"`
	AWSCloudFormationDeletionPolicy      Policy         `json:"DeletionPolicy"`
	AWSCloudFormationUpdateReplacePolicy Policy         `json:"UpdateReplacePolicy"`
	AWSCloudFormationCondition           string         `json:"Condition"`
}

func (a *Attributes) attributes() *Attributes { return a }

// GlobalFunction is Globals.Function: what every function of the template
// has unless it says otherwise.
type GlobalFunction struct {
	Runtime       *string
	Handler       *string
	Timeout       *int
	MemorySize    *int
	Architectures []string
	Tracing       *string
}

// Function is an AWS::Serverless::Function.
type Function struct {
	Attributes `json:"-"`
	CodeUri    *CodeURI
	Runtime    *string
	Handler    *string
	Timeout    *int
	MemorySize *int
	Events     map[string]FunctionEvent
}

// CodeURI is a function's CodeUri: a path or an S3 location.
type CodeURI struct {
	// String is the path, when CodeUri is a string.
	String *string
	// S3Location is the location, when CodeUri is an object.
	S3Location map[string]any
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *CodeURI) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		c.String = &s
		return nil
	}
	return json.Unmarshal(b, &c.S3Location)
}

// FunctionEvent is an event source of a function.
type FunctionEvent struct {
	Type       string
	Properties EventProperties
}

// EventProperties are an event's properties; the field of the event's Type
// is set, for the types the template uses.
type EventProperties struct {
	HttpApiEvent  *HttpApiEvent
	ScheduleEvent *ScheduleEvent
	SQSEvent      *SQSEvent
}

// UnmarshalJSON implements json.Unmarshaler: it decodes the Properties by
// the event's Type.
func (e *FunctionEvent) UnmarshalJSON(b []byte) error {
	var ev struct {
		Type       string
		Properties json.RawMessage
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return err
	}
	e.Type = ev.Type
	var props any
	switch ev.Type {
	case "HttpApi":
		e.Properties.HttpApiEvent = &HttpApiEvent{}
		props = e.Properties.HttpApiEvent
	case "Schedule":
		e.Properties.ScheduleEvent = &ScheduleEvent{}
		props = e.Properties.ScheduleEvent
	case "SQS":
		e.Properties.SQSEvent = &SQSEvent{}
		props = e.Properties.SQSEvent
	default:
		return nil
	}
	if len(ev.Properties) == 0 {
		return nil
	}
	if err := json.Unmarshal(ev.Properties, props); err != nil {
		return fmt.Errorf("%s event: %w", ev.Type, err)
	}
	return nil
}

// HttpApiEvent is a function's HttpApi event: a route of an HTTP API.
type HttpApiEvent struct {
	ApiId  *string
	Method *string
	Path   *string
	Auth   *HttpApiEventAuth
}

// HttpApiEventAuth is an HttpApi event's Auth.
type HttpApiEventAuth struct {
	Authorizer          *string
	AuthorizationScopes []string
}

// ScheduleEvent is a function's Schedule event (an EventBridge rule).
type ScheduleEvent struct {
	Schedule    string
	Description *string
	Enabled     *bool
}

// SQSEvent is a function's SQS event source.
type SQSEvent struct {
	Queue     string
	BatchSize *int
}

// HttpApi is an AWS::Serverless::HttpApi.
type HttpApi struct {
	Attributes `json:"-"`
	Auth       *HttpApiAuth
	StageName  *string
}

// HttpApiAuth is an HTTP API's Auth.
type HttpApiAuth struct {
	DefaultAuthorizer *string
	Authorizers       map[string]any
}

// Queue is an AWS::SQS::Queue.
type Queue struct {
	Attributes             `json:"-"`
	RedrivePolicy          any
	VisibilityTimeout      *int
	MessageRetentionPeriod *int
	MaximumMessageSize     *int
	SqsManagedSseEnabled   *bool
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	Attributes                       `json:"-"`
	BillingMode                      *string
	KeySchema                        []KeySchema
	AttributeDefinitions             []AttributeDefinition
	GlobalSecondaryIndexes           []GlobalSecondaryIndex
	TimeToLiveSpecification          *TimeToLiveSpecification
	PointInTimeRecoverySpecification *PointInTimeRecoverySpecification
	SSESpecification                 *SSESpecification
}

// KeySchema is one key of a table or an index.
type KeySchema struct {
	AttributeName string
	KeyType       string
}

// AttributeDefinition declares a key attribute's type.
type AttributeDefinition struct {
	AttributeName string
	AttributeType string
}

// GlobalSecondaryIndex is a table's global secondary index.
type GlobalSecondaryIndex struct {
	IndexName  string
	KeySchema  []KeySchema
	Projection Projection
}

// Projection is what an index copies of each item.
type Projection struct {
	ProjectionType   *string
	NonKeyAttributes []string
}

// TimeToLiveSpecification is a table's TTL.
type TimeToLiveSpecification struct {
	AttributeName *string
	Enabled       bool
}

// PointInTimeRecoverySpecification is a table's point-in-time recovery.
type PointInTimeRecoverySpecification struct {
	PointInTimeRecoveryEnabled *bool
}

// SSESpecification is a table's encryption at rest.
type SSESpecification struct {
	SSEEnabled bool
}

// Alarm is an AWS::CloudWatch::Alarm.
type Alarm struct {
	Attributes `json:"-"`
	Namespace  *string
	MetricName *string
	Dimensions []Dimension
	// Threshold is a number, or the placeholder of a Ref to a parameter.
	Threshold          any
	ComparisonOperator string
	// AlarmActions are the actions' ARNs, or an intrinsic function.
	AlarmActions any
}

// Dimension is a metric dimension of an alarm.
type Dimension struct {
	Name  string
	Value string
}

// Resource types the typed structs hold.
const (
	serverlessFunction = "AWS::Serverless::Function"
	serverlessHttpApi  = "AWS::Serverless::HttpApi"
	sqsQueue           = "AWS::SQS::Queue"
	dynamoDBTable      = "AWS::DynamoDB::Table"
	cloudWatchAlarm    = "AWS::CloudWatch::Alarm"
)

// decodeResource decodes a resource of a type above; for other types it
// returns nil.
func decodeResource(res map[string]any) (any, error) {
	switch res["Type"] {
	case serverlessFunction:
		return decode[Function](res)
	case serverlessHttpApi:
		return decode[HttpApi](res)
	case sqsQueue:
		return decode[Queue](res)
	case dynamoDBTable:
		return decode[Table](res)
	case cloudWatchAlarm:
		return decode[Alarm](res)
	}
	return nil, nil
}

func decode[T any, P interface {
	*T
	attributes() *Attributes
}](res map[string]any) (*T, error) {
	v := P(new(T))
	if props, ok := res["Properties"]; ok {
		if err := remarshal(props, v); err != nil {
			return nil, fmt.Errorf("%v properties: %w", res["Type"], err)
		}
	}
	if err := remarshal(res, v.attributes()); err != nil {
		return nil, fmt.Errorf("%v attributes: %w", res["Type"], err)
	}
	return v, nil
}

// resource returns the typed resource name of type typ.
func resource[T any](t *Template, name, typ string) (*T, error) {
	r, ok := t.resources[name].(*T)
	if !ok {
		return nil, fmt.Errorf("resource %q of type %s not found", name, typ)
	}
	return r, nil
}

// GetServerlessGlobalFunction returns Globals.Function.
func (t *Template) GetServerlessGlobalFunction() (*GlobalFunction, error) {
	v, ok := t.Lookup("Globals", "Function")
	if !ok {
		return nil, fmt.Errorf("the template has no Globals.Function")
	}
	g := &GlobalFunction{}
	if err := remarshal(v, g); err != nil {
		return nil, fmt.Errorf("Globals.Function: %w", err)
	}
	return g, nil
}

// GetAllServerlessFunctionResources returns the template's functions by
// name.
func (t *Template) GetAllServerlessFunctionResources() map[string]*Function {
	out := map[string]*Function{}
	for name, r := range t.resources {
		if f, ok := r.(*Function); ok {
			out[name] = f
		}
	}
	return out
}

// GetServerlessFunctionWithName returns the function name.
func (t *Template) GetServerlessFunctionWithName(name string) (*Function, error) {
	return resource[Function](t, name, serverlessFunction)
}

// GetServerlessHttpApiWithName returns the HTTP API name.
func (t *Template) GetServerlessHttpApiWithName(name string) (*HttpApi, error) {
	return resource[HttpApi](t, name, serverlessHttpApi)
}

// GetSQSQueueWithName returns the queue name.
func (t *Template) GetSQSQueueWithName(name string) (*Queue, error) {
	return resource[Queue](t, name, sqsQueue)
}

// GetDynamoDBTableWithName returns the table name.
func (t *Template) GetDynamoDBTableWithName(name string) (*Table, error) {
	return resource[Table](t, name, dynamoDBTable)
}

// GetCloudWatchAlarmWithName returns the alarm name.
func (t *Template) GetCloudWatchAlarmWithName(name string) (*Alarm, error) {
	return resource[Alarm](t, name, cloudWatchAlarm)
}
