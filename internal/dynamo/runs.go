package dynamo

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/run"
	"wiresk/internal/wiresk"
)

// CreateRun stores r unless a Run with its id exists in its Group; created
// says which. This is what makes Job redelivery idempotent. A Run with an
// API key is written in one transaction with its entry in the listing by
// key; any other with one conditional PutItem.
func (s *Store) CreateRun(ctx context.Context, r run.Run) (created bool, err error) {
	what := "create run " + r.ID
	it, err := s.toRunItem(r)
	if err != nil {
		return false, failure(what, err)
	}
	if r.APIKeyID == "" {
		err = s.retry(ctx, what, func() error {
			err := s.putOne(ctx, it, &notExists)
			switch {
			case err == nil:
				created = true
				return nil
			case conditionFailed(err):
				return nil
			case conflicted(err, nil):
				return errRetry
			}
			return failure(what, err)
		})
		return created, err
	}
	items, err := s.items(
		func() (types.TransactWriteItem, error) { return s.put(it, &notExists) },
		func() (types.TransactWriteItem, error) { return s.put(s.toRunAPIKeyItem(r), nil) },
	)
	if err != nil {
		return false, failure(what, err)
	}
	taken := false
	err = s.commit(ctx, what, items, func(codes []string) error {
		if failed(codes, 0) {
			taken = true
			return nil
		}
		return errRetry
	})
	return err == nil && !taken, err
}

// GetRun returns Run id of groupID, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, groupID, id string) (run.Run, error) {
	var it runItem
	ok, err := s.get(ctx, runPK(groupID, id), skRun, &it)
	if err != nil {
		return run.Run{}, failure("get run "+id, err)
	}
	if !ok {
		return run.Run{}, fmt.Errorf("get run %s: %w", id, wiresk.ErrNotFound)
	}
	r, err := it.run()
	if err != nil {
		return run.Run{}, failure("get run "+id, err)
	}
	return r, nil
}

// UpdateRun replaces an existing Run; its CreatedAt (and so its place in
// the listings and its ttl) cannot change. One conditional PutItem when r
// carries the stored CreatedAt, as the worker's Runs do.
func (s *Store) UpdateRun(ctx context.Context, r run.Run) error {
	what := "update run " + r.ID
	return s.retry(ctx, what, func() error {
		it, err := s.toRunItem(r)
		if err != nil {
			return failure(what, err)
		}
		cond := exists.And(expression.Name("createdAt").Equal(expression.Value(it.CreatedAt)))
		err = s.putOne(ctx, it, &cond)
		switch {
		case err == nil:
			return nil
		case conflicted(err, nil):
			return errRetry
		case !conditionFailed(err):
			return failure(what, err)
		}
		// Missing, or r has another CreatedAt than the stored one.
		var old runItem
		ok, err := s.get(ctx, runPK(r.GroupID, r.ID), skRun, &old)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		r.CreatedAt = old.CreatedAt
		return errRetry
	})
}

// Limits of a page of Runs.
const (
	defaultRunLimit = 50
	maxRunLimit     = 1000
)

// cursorPrefix starts every cursor this store issues (before base64url).
const cursorPrefix = "dynamo.runs.v1|"

// errBadCursor is returned for a cursor this store did not issue.
var errBadCursor = wiresk.Errorf(wiresk.EInvalid, "the cursor is not valid")

// encodeCursor returns the cursor that continues after the Run at pos.
func encodeCursor(pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + pos))
}

// decodeCursor returns the position a cursor continues after.
func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", errBadCursor
	}
	pos, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok || len(pos) < len(posLayout)+2 || pos[len(posLayout)] != '#' {
		return "", errBadCursor
	}
	if _, err := time.Parse(posLayout, pos[:len(posLayout)]); err != nil {
		return "", errBadCursor
	}
	return pos, nil
}

// runSource is where ListRuns reads a query's Runs from: an index
// partition, newest first, with the filters the key cannot express.
type runSource struct {
	index, pkAttr, skAttr, pk string
	filter                    *expression.ConditionBuilder
	// byKey: the partition holds run_apikey entries, not Runs; the Runs are
	// read by id, and status is filtered here.
	byKey  bool
	status run.Status
}

// sourceOf picks the index of q: the Flow's Runs when q names a Flow, the
// API key's when it names only a key, else the Group's.
func sourceOf(q run.Query) runSource {
	var conds []expression.ConditionBuilder
	eq := func(attr, v string) {
		if v != "" {
			conds = append(conds, expression.Name(attr).Equal(expression.Value(v)))
		}
	}
	var src runSource
	switch {
	case q.FlowID != "":
		src = runSource{index: indexGSI2, pkAttr: attrGSI2PK, skAttr: attrGSI2SK, pk: runsByFlowPK(q.GroupID, q.FlowID)}
		eq("apiKeyId", q.APIKeyID)
		eq("status", string(q.Status))
	case q.APIKeyID != "":
		src = runSource{index: indexGSI2, pkAttr: attrGSI2PK, skAttr: attrGSI2SK, pk: runsByKeyPK(q.GroupID, q.APIKeyID), byKey: true, status: q.Status}
	default:
		src = runSource{index: indexGSI1, pkAttr: attrGSI1PK, skAttr: attrGSI1SK, pk: runsPK(q.GroupID)}
		eq("status", string(q.Status))
	}
	if len(conds) > 0 {
		c := conds[0]
		for _, more := range conds[1:] {
			c = c.And(more)
		}
		src.filter = &c
	}
	return src
}

// ListRuns returns a page of the Runs q selects, newest first: one query of
// an index (see the package documentation), repeated while filters leave
// the page short and the range is not exhausted. Runs written a moment ago
// may be missing (index reads are eventually consistent). A Limit of zero
// or less means 50; over 1000 means 1000.
func (s *Store) ListRuns(ctx context.Context, q run.Query) (run.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultRunLimit
	}
	limit = min(limit, maxRunLimit)
	// upper is the exclusive upper bound of the positions to list.
	upper := ""
	if !q.Until.IsZero() {
		upper = timePos(q.Until)
	}
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor)
		if err != nil {
			return run.Page{}, err
		}
		if upper == "" || pos < upper {
			upper = pos
		}
	}
	lower := ""
	if !q.Since.IsZero() {
		lower = timePos(q.Since)
	}
	page := run.Page{Runs: []run.Run{}}
	if lower != "" && upper != "" && lower >= upper {
		return page, nil
	}

	src := sourceOf(q)
	kc := expression.Key(src.pkAttr).Equal(expression.Value(src.pk))
	sk := expression.Key(src.skAttr)
	switch {
	case lower != "" && upper != "":
		// BETWEEN includes upper; only the cursor's own Run can sit there.
		kc = kc.And(sk.Between(expression.Value(lower), expression.Value(upper)))
	case lower != "":
		kc = kc.And(sk.GreaterThanEqual(expression.Value(lower)))
	case upper != "":
		kc = kc.And(sk.LessThan(expression.Value(upper)))
	}
	b := expression.NewBuilder().WithKeyCondition(kc)
	if src.filter != nil {
		b = b.WithFilter(*src.filter)
	}
	e, err := b.Build()
	if err != nil {
		return run.Page{}, failure("list runs", err)
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(src.index), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: e.KeyCondition(), FilterExpression: e.Filter(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	}

	// One Run more than the page holds says whether there is a next page.
	want := limit + 1
	var runs []run.Run
	for {
		need := want - len(runs)
		n := need + 1 // the cursor's own Run may come first
		if src.filter != nil || src.byKey && src.status != "" {
			n = max(2*need, 100) // filters drop an unknown share
		}
		in.Limit = aws.Int32(int32(min(n, maxRunLimit+2)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return run.Page{}, failure("list runs", err)
		}
		got, err := s.runsOf(ctx, src, out.Items)
		if err != nil {
			return run.Page{}, failure("list runs", err)
		}
		for _, r := range got {
			if upper != "" && runPos(r.CreatedAt, r.ID) >= upper {
				continue
			}
			runs = append(runs, r)
			if len(runs) == want {
				break
			}
		}
		if len(runs) == want || out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(runs) > limit {
		runs = runs[:limit]
		last := runs[limit-1]
		page.NextCursor = encodeCursor(runPos(last.CreatedAt, last.ID))
	}
	page.Runs = append(page.Runs, runs...)
	return page, nil
}

// runsOf returns the Runs of one page of src's partition, in order.
func (s *Store) runsOf(ctx context.Context, src runSource, items []map[string]types.AttributeValue) ([]run.Run, error) {
	if !src.byKey {
		out := make([]run.Run, 0, len(items))
		for _, av := range items {
			var it runItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, err
			}
			r, err := it.run()
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	ids := make([]itemID, 0, len(items))
	for _, av := range items {
		var it runAPIKeyItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, err
		}
		ids = append(ids, itemID{runPK(it.GroupID, it.RunID), skRun})
	}
	found, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]run.Run, 0, len(ids))
	for _, id := range ids {
		av, ok := found[id]
		if !ok {
			continue // expired and deleted between the two reads
		}
		var it runItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, err
		}
		if src.status != "" && it.Status != string(src.status) {
			continue
		}
		r, err := it.run()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
