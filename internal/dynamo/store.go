package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/backoff"
)

// Options configures a Store.
type Options struct {
	// RunRetention is how long Runs are kept: each Run's items get a ttl
	// attribute of CreatedAt + RunRetention (epoch seconds), after which
	// DynamoDB deletes them, usually within a few days. Until then an
	// expired Run can still be read. Zero keeps Runs forever.
	RunRetention time.Duration
}

// Store is the DynamoDB adapter of the store port: every record in one
// table whose layout the package documentation describes. It is safe for
// concurrent use.
type Store struct {
	db    API
	table string
	opts  Options
}

// API is the part of the DynamoDB client the store uses: *dynamodb.Client
// implements it, and a test may wrap it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// New returns the Store of table, which must exist with the schema
// CreateTable creates, accessed through client.
func New(client API, table string, opts Options) *Store {
	return &Store{db: client, table: table, opts: opts}
}

// maxAttempts bounds the attempts of a write that keeps losing races with
// concurrent writes (a transaction conflict, or a guard attribute that
// changed between the read and the write).
const maxAttempts = 8

// maxTransactItems is DynamoDB's limit of actions in one TransactWriteItems.
const maxTransactItems = 100

// maxKeyLen bounds the ids and routing keys this store looks up: DynamoDB
// refuses a partition key over 2048 bytes, and no real one comes close.
const maxKeyLen = 1024

// raceBackoff spaces the attempts of an operation that lost a race: 10ms,
// 20ms, 40ms… up to 400ms, of which up to half is taken off: about a
// second in all.
var raceBackoff = backoff.Policy{Base: 10 * time.Millisecond, Max: 400 * time.Millisecond}

// errRetry is returned inside a retried operation to ask for another
// attempt.
var errRetry = errors.New("retry")

// retry runs op until it returns something other than errRetry, at most
// maxAttempts times, waiting a little (with jitter) between attempts. When
// every attempt asked for a retry, it returns a failure naming what.
func (s *Store) retry(ctx context.Context, what string, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if !errors.Is(err, errRetry) {
			return err
		}
		if attempt == maxAttempts {
			break
		}
		if err := backoff.Sleep(ctx, raceBackoff.Delay(attempt)); err != nil {
			return fmt.Errorf("dynamo: %s: %w", what, err)
		}
	}
	return fmt.Errorf("dynamo: %s: still losing races with concurrent writes after %d attempts", what, maxAttempts)
}

// cancellation returns the reason codes (one per action, "None" for those
// that were fine) of a cancelled transaction, or nil if err is something
// else.
func cancellation(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
		if codes[i] == "" {
			codes[i] = "None"
		}
	}
	if len(codes) == 0 {
		codes = []string{"Unknown"}
	}
	return codes
}

// Transaction cancellation reason codes.
const (
	reasonConditionFailed = "ConditionalCheckFailed"
	reasonConflict        = "TransactionConflict"
	reasonThrottled       = "ThrottlingError"
)

// failed reports whether action i of a cancelled transaction failed its
// condition.
func failed(codes []string, i int) bool { return i < len(codes) && codes[i] == reasonConditionFailed }

// conflicted reports whether a transaction was cancelled, or a single-item
// write refused, because a concurrent transaction held one of its items (or,
// for a transaction, because DynamoDB throttled it, which the SDK does not
// retry): worth another attempt.
func conflicted(err error, codes []string) bool {
	var tce *types.TransactionConflictException
	if errors.As(err, &tce) {
		return true
	}
	return slices.Contains(codes, reasonConflict) || slices.Contains(codes, reasonThrottled)
}

// conditionFailed reports whether a single-item write failed its condition.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// failure wraps an error of the store itself (not a broken invariant) with
// what was being done.
func failure(what string, err error) error {
	return fmt.Errorf("dynamo: %s: %w", what, err)
}

// transact runs one TransactWriteItems. The SDK adds a client request token,
// so its own retries of the same call are idempotent.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	if len(items) > maxTransactItems {
		return fmt.Errorf("%d changes, over DynamoDB's limit of %d in one transaction", len(items), maxTransactItems)
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// items builds the actions of a transaction, stopping at the first error.
func (s *Store) items(build ...func() (types.TransactWriteItem, error)) ([]types.TransactWriteItem, error) {
	out := make([]types.TransactWriteItem, 0, len(build))
	for _, b := range build {
		it, err := b()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// commit runs the transaction items, again when a concurrent transaction
// got in its way. When DynamoDB cancels it because a condition failed,
// verdict, given the reason codes, returns the error to report (errRetry to
// try again).
func (s *Store) commit(ctx context.Context, what string, items []types.TransactWriteItem, verdict func(codes []string) error) error {
	return s.retry(ctx, what, func() error { return s.try(ctx, what, items, verdict) })
}

// try runs the transaction items once. It returns nil when it committed,
// verdict(codes) when a condition failed, errRetry when a concurrent
// transaction got in its way, and a failure otherwise.
func (s *Store) try(ctx context.Context, what string, items []types.TransactWriteItem, verdict func(codes []string) error) error {
	err := s.transact(ctx, items)
	if err == nil {
		return nil
	}
	codes := cancellation(err)
	if slices.Contains(codes, reasonConditionFailed) {
		return verdict(codes)
	}
	if conflicted(err, codes) {
		return errRetry
	}
	return failure(what, err)
}

// put returns a transactional Put of item, guarded by cond if not nil.
func (s *Store) put(item any, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	p := &types.Put{TableName: aws.String(s.table), Item: av}
	if cond != nil {
		e, err := expression.NewBuilder().WithCondition(*cond).Build()
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	return types.TransactWriteItem{Put: p}, nil
}

// del returns a transactional Delete of the item pk/sk, guarded by cond if
// not nil.
func (s *Store) del(pk, sk string, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	d := &types.Delete{TableName: aws.String(s.table), Key: key(pk, sk)}
	if cond != nil {
		e, err := expression.NewBuilder().WithCondition(*cond).Build()
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		d.ConditionExpression, d.ExpressionAttributeNames, d.ExpressionAttributeValues = e.Condition(), e.Names(), e.Values()
	}
	return types.TransactWriteItem{Delete: d}, nil
}

// check returns a transactional ConditionCheck of the item pk/sk.
func (s *Store) check(pk, sk string, cond expression.ConditionBuilder) (types.TransactWriteItem, error) {
	e, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String(s.table), Key: key(pk, sk),
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()}}, nil
}

// update returns a transactional Update of the item pk/sk.
func (s *Store) update(pk, sk string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (types.TransactWriteItem, error) {
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{TableName: aws.String(s.table), Key: key(pk, sk),
		UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()}}, nil
}

// Conditions used throughout.
var (
	exists    = expression.AttributeExists(expression.Name(attrPK))
	notExists = expression.AttributeNotExists(expression.Name(attrPK))
)

// get reads one item with a strongly consistent GetItem into v and reports
// whether it exists.
func (s *Store) get(ctx context.Context, pk, sk string, v any) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, err
	}
	if out.Item == nil {
		return false, nil
	}
	return true, attributevalue.UnmarshalMap(out.Item, v)
}

// itemID identifies an item in the result of batchGet.
type itemID struct{ pk, sk string }

// batchGet reads the items keys address with strongly consistent
// BatchGetItem calls, one per 100 keys, and returns those that exist. Keys
// DynamoDB leaves unprocessed (it does so only under throttling) are asked
// for again after a pause.
func (s *Store) batchGet(ctx context.Context, keys []itemID) (map[itemID]map[string]types.AttributeValue, error) {
	found := make(map[itemID]map[string]types.AttributeValue, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), 100)
		chunk := make([]map[string]types.AttributeValue, n)
		for i, k := range keys[:n] {
			chunk[i] = key(k.pk, k.sk)
		}
		keys = keys[n:]
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(min(10<<attempt, 1000)) * time.Millisecond):
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, err
			}
			for _, item := range out.Responses[s.table] {
				pk, _ := item[attrPK].(*types.AttributeValueMemberS)
				sk, _ := item[attrSK].(*types.AttributeValueMemberS)
				if pk != nil && sk != nil {
					found[itemID{pk.Value, sk.Value}] = item
				}
			}
			pending = out.UnprocessedKeys
		}
	}
	return found, nil
}

// query runs a strongly consistent Query of the table (all its pages) and
// returns the items.
func (s *Store) query(ctx context.Context, kc expression.KeyConditionBuilder, filter *expression.ConditionBuilder) ([]map[string]types.AttributeValue, error) {
	b := expression.NewBuilder().WithKeyCondition(kc)
	if filter != nil {
		b = b.WithFilter(*filter)
	}
	e, err := b.Build()
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: e.KeyCondition(), FilterExpression: e.Filter(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	})
	var items []map[string]types.AttributeValue
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// queryPrefix returns the items of partition pk whose sort key starts with
// prefix, filtered by filter if not nil.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string, filter *expression.ConditionBuilder) ([]map[string]types.AttributeValue, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefix))
	return s.query(ctx, kc, filter)
}

// listOf queries like queryPrefix and decodes the items into T with conv.
func listOf[I, T any](ctx context.Context, s *Store, pk, prefix string, filter *expression.ConditionBuilder, conv func(I) (T, error)) ([]T, error) {
	items, err := s.queryPrefix(ctx, pk, prefix, filter)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, av := range items {
		var it I
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, err
		}
		t, err := conv(it)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// typeIs is a filter on the type attribute.
func typeIs(t string) *expression.ConditionBuilder {
	c := expression.Name(attrType).Equal(expression.Value(t))
	return &c
}

// queryGSI1 returns every item of GSI1 that kc selects (all pages, in
// index order), each converted by conv. GSI1 is eventually consistent.
func queryGSI1[I, T any](ctx context.Context, s *Store, kc expression.KeyConditionBuilder, conv func(I) (T, error)) ([]T, error) {
	e, err := expression.NewBuilder().WithKeyCondition(kc).Build()
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(indexGSI1),
		KeyConditionExpression: e.KeyCondition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	})
	out := []T{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, av := range page.Items {
			var it I
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, err
			}
			v, err := conv(it)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}
