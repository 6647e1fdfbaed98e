package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/apikey"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// CreateAPIKey stores a new key (both copies, in one transaction).
// ErrConflict if its id or hash is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	what := "create api key " + k.ID
	byGroup, byHash := toKeyItems(k)
	items, err := s.items(
		func() (types.TransactWriteItem, error) { return s.put(byGroup, &notExists) },
		func() (types.TransactWriteItem, error) { return s.put(byHash, &notExists) },
	)
	if err != nil {
		return failure(what, err)
	}
	return s.commit(ctx, what, items, func([]string) error { return fmt.Errorf("%s: %w", what, wiresk.ErrConflict) })
}

// getKey reads the Group's copy of key id.
func (s *Store) getKey(ctx context.Context, groupID, id string) (apikey.Key, bool, error) {
	var it keyItem
	ok, err := s.get(ctx, groupPK(groupID), keySK(id), &it)
	if err != nil || !ok {
		return apikey.Key{}, false, err
	}
	return it.key(), true, nil
}

// GetAPIKey returns key id of groupID, or ErrNotFound.
func (s *Store) GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error) {
	k, ok, err := s.getKey(ctx, groupID, id)
	if err != nil {
		return apikey.Key{}, failure("get api key "+id, err)
	}
	if !ok {
		return apikey.Key{}, fmt.Errorf("get api key %s: %w", id, wiresk.ErrNotFound)
	}
	return k, nil
}

// ListAPIKeys returns the keys of groupID, by id.
func (s *Store) ListAPIKeys(ctx context.Context, groupID string) ([]apikey.Key, error) {
	out, err := listOf(ctx, s, groupPK(groupID), keySK(""), nil, func(it keyItem) (apikey.Key, error) { return it.key(), nil })
	if err != nil {
		return nil, failure("list api keys of group "+groupID, err)
	}
	return out, nil
}

// sameKey is the condition that the stored copy is the one of key k with
// hash h: an update never moves a copy to another key.
func sameKey(k apikey.Key, h apikey.Hash) expression.ConditionBuilder {
	return exists.
		And(expression.Name("id").Equal(expression.Value(k.ID))).
		And(expression.Name("groupId").Equal(expression.Value(k.GroupID))).
		And(expression.Name("hash").Equal(expression.Value(string(h))))
}

// UpdateAPIKey replaces an existing key's record (both copies, in one
// transaction); its hash cannot change.
func (s *Store) UpdateAPIKey(ctx context.Context, k apikey.Key) error {
	what := "update api key " + k.ID
	return s.retry(ctx, what, func() error {
		prev, ok, err := s.getKey(ctx, k.GroupID, k.ID)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		k.Hash = prev.Hash
		cond := sameKey(k, prev.Hash)
		byGroup, byHash := toKeyItems(k)
		items, err := s.items(
			func() (types.TransactWriteItem, error) { return s.put(byGroup, &cond) },
			func() (types.TransactWriteItem, error) { return s.put(byHash, &cond) },
		)
		if err != nil {
			return failure(what, err)
		}
		// A failed condition means the key changed under us: read again.
		return s.try(ctx, what, items, func([]string) error { return errRetry })
	})
}

// RotateAPIKey stores the updated old key and its replacement (four items)
// in one transaction. ErrNotFound if old does not exist; ErrConflict if it
// was already rotated or revoked, or the replacement's id or hash is taken.
func (s *Store) RotateAPIKey(ctx context.Context, old, replacement apikey.Key) error {
	what := "rotate api key " + old.ID
	return s.retry(ctx, what, func() error {
		prev, ok, err := s.getKey(ctx, old.GroupID, old.ID)
		if err != nil {
			return failure(what, err)
		}
		if !ok {
			return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound)
		}
		if prev.RotatedTo != "" || prev.RevokedAt != nil {
			return fmt.Errorf("%s: already rotated or revoked: %w", what, wiresk.ErrConflict)
		}
		old.Hash = prev.Hash
		if replacement.ID == old.ID || replacement.Hash == old.Hash {
			return fmt.Errorf("%s: the replacement has the old key's id or hash: %w", what, wiresk.ErrConflict)
		}
		// The old key must still be neither rotated nor revoked when the
		// transaction commits, so that two rotations cannot both win.
		cond := sameKey(old, prev.Hash).
			And(expression.AttributeNotExists(expression.Name("rotatedTo"))).
			And(expression.AttributeNotExists(expression.Name("revokedAt")))
		oldByGroup, oldByHash := toKeyItems(old)
		newByGroup, newByHash := toKeyItems(replacement)
		items, err := s.items(
			func() (types.TransactWriteItem, error) { return s.put(oldByGroup, &cond) },
			func() (types.TransactWriteItem, error) { return s.put(oldByHash, &cond) },
			func() (types.TransactWriteItem, error) { return s.put(newByGroup, &notExists) },
			func() (types.TransactWriteItem, error) { return s.put(newByHash, &notExists) },
		)
		if err != nil {
			return failure(what, err)
		}
		return s.try(ctx, what, items, func(codes []string) error {
			if failed(codes, 2) || failed(codes, 3) {
				return fmt.Errorf("%s: the replacement's id or hash is taken: %w", what, wiresk.ErrConflict)
			}
			return errRetry // the old key changed: read it again
		})
	})
}

// Lookup reads the API key with the given hash and the route of routingKey,
// what the webhook ingress needs, with ONE strongly consistent BatchGetItem
// (another only for keys DynamoDB leaves unprocessed, which happens only
// under throttling). A nil result means that record does not exist; err is
// for failures only.
func (s *Store) Lookup(ctx context.Context, keyHash apikey.Hash, routingKey string) (*apikey.Key, *trigger.Route, error) {
	keyID := itemID{keyHashPK(keyHash), skKeyByHash}
	routeID := itemID{routePK(routingKey), skRoute}
	var ids []itemID
	// No such key is stored; DynamoDB would refuse to look it up.
	if len(keyHash) > 0 && len(keyHash) <= maxKeyLen {
		ids = append(ids, keyID)
	}
	if len(routingKey) <= maxKeyLen {
		ids = append(ids, routeID)
	}
	found, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, nil, failure("look up api key and route", err)
	}
	var k *apikey.Key
	if av, ok := found[keyID]; ok {
		var it keyItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, nil, failure("look up api key", err)
		}
		stored := it.key()
		k = &stored
	}
	var r *trigger.Route
	if av, ok := found[routeID]; ok {
		var it routeItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, nil, failure("look up route", err)
		}
		route, err := it.route()
		if err != nil {
			return nil, nil, failure("look up route", err)
		}
		r = &route
	}
	return k, r, nil
}
