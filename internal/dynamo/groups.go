package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wiresk/internal/group"
	"wiresk/internal/wiresk"
)

// CreateGroup stores g with owner as its first member, in one transaction.
// ErrConflict if g exists.
func (s *Store) CreateGroup(ctx context.Context, g group.Group, owner group.Member) error {
	what := "create group " + g.ID
	byGroup, byUser := toMemberItems(owner)
	items, err := s.items(
		func() (types.TransactWriteItem, error) { return s.put(toGroupItem(g), &notExists) },
		func() (types.TransactWriteItem, error) { return s.put(byGroup, nil) },
		func() (types.TransactWriteItem, error) { return s.put(byUser, nil) },
	)
	if err != nil {
		return failure(what, err)
	}
	return s.commit(ctx, what, items, func([]string) error { return fmt.Errorf("%s: %w", what, wiresk.ErrConflict) })
}

// GetGroup returns Group id, or an error wrapping ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, id string) (group.Group, error) {
	var it groupItem
	ok, err := s.get(ctx, groupPK(id), skGroup, &it)
	if err != nil {
		return group.Group{}, failure("get group "+id, err)
	}
	if !ok {
		return group.Group{}, fmt.Errorf("get group %s: %w", id, wiresk.ErrNotFound)
	}
	return it.group(), nil
}

// ListGroupsByUser returns the Groups userID belongs to, by Group id.
func (s *Store) ListGroupsByUser(ctx context.Context, userID string) ([]group.Group, error) {
	what := "list groups of user " + userID
	members, err := listOf(ctx, s, userPK(userID), userGroupSK(""), nil, func(it memberItem) (group.Member, error) { return it.member(), nil })
	if err != nil {
		return nil, failure(what, err)
	}
	keys := make([]itemID, len(members))
	for i, m := range members {
		keys[i] = itemID{groupPK(m.GroupID), skGroup}
	}
	found, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, failure(what, err)
	}
	out := make([]group.Group, 0, len(keys))
	for _, k := range keys {
		av, ok := found[k]
		if !ok {
			continue
		}
		var it groupItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, failure(what, err)
		}
		out = append(out, it.group())
	}
	return out, nil
}

// PutMember adds or updates a membership of an existing Group (both copies,
// in one transaction with a check that the Group exists).
func (s *Store) PutMember(ctx context.Context, m group.Member) error {
	what := "put member of group " + m.GroupID
	byGroup, byUser := toMemberItems(m)
	items, err := s.items(
		func() (types.TransactWriteItem, error) { return s.check(groupPK(m.GroupID), skGroup, exists) },
		func() (types.TransactWriteItem, error) { return s.put(byGroup, nil) },
		func() (types.TransactWriteItem, error) { return s.put(byUser, nil) },
	)
	if err != nil {
		return failure(what, err)
	}
	return s.commit(ctx, what, items, func([]string) error { return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound) })
}

// GetMember returns userID's membership of groupID, or ErrNotFound.
func (s *Store) GetMember(ctx context.Context, groupID, userID string) (group.Member, error) {
	var it memberItem
	ok, err := s.get(ctx, groupPK(groupID), memberSK(userID), &it)
	if err != nil {
		return group.Member{}, failure("get member of group "+groupID, err)
	}
	if !ok {
		return group.Member{}, fmt.Errorf("get member %s of group %s: %w", userID, groupID, wiresk.ErrNotFound)
	}
	return it.member(), nil
}

// ListMembers returns the members of groupID, by user id.
func (s *Store) ListMembers(ctx context.Context, groupID string) ([]group.Member, error) {
	out, err := listOf(ctx, s, groupPK(groupID), memberSK(""), nil, func(it memberItem) (group.Member, error) { return it.member(), nil })
	if err != nil {
		return nil, failure("list members of group "+groupID, err)
	}
	return out, nil
}

// DeleteMember removes a membership (both copies), or returns ErrNotFound.
func (s *Store) DeleteMember(ctx context.Context, groupID, userID string) error {
	what := fmt.Sprintf("delete member %s of group %s", userID, groupID)
	items, err := s.items(
		func() (types.TransactWriteItem, error) { return s.del(groupPK(groupID), memberSK(userID), &exists) },
		func() (types.TransactWriteItem, error) { return s.del(userPK(userID), userGroupSK(groupID), nil) },
	)
	if err != nil {
		return failure(what, err)
	}
	return s.commit(ctx, what, items, func([]string) error { return fmt.Errorf("%s: %w", what, wiresk.ErrNotFound) })
}
