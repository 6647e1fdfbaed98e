package manage

import (
	"context"
	"fmt"
	"time"

	"wiresk/internal/apikey"
	"wiresk/internal/auth"
	"wiresk/internal/flow"
	"wiresk/internal/group"
	"wiresk/internal/run"
	"wiresk/internal/trigger"
	"wiresk/internal/wiresk"
)

// KeyStore is what the API-key use cases need of the store port: the keys,
// and the triggers and Runs that name them. Errors: a missing record wraps
// wiresk.ErrNotFound; a lost race wraps wiresk.ErrConflict.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, k apikey.Key) error
	GetAPIKey(ctx context.Context, groupID, id string) (apikey.Key, error)
	ListAPIKeys(ctx context.Context, groupID string) ([]apikey.Key, error)
	UpdateAPIKey(ctx context.Context, k apikey.Key) error
	RotateAPIKey(ctx context.Context, old, replacement apikey.Key) error
	GetFlow(ctx context.Context, groupID, id string) (flow.Flow, error)
	ListTriggers(ctx context.Context, groupID, flowID string) ([]trigger.HTTPTrigger, error)
	UpdateTrigger(ctx context.Context, t trigger.HTTPTrigger) error
	ListRuns(ctx context.Context, q run.Query) (run.Page, error)
}

// Keys are the use cases of a Group's API keys.
type Keys struct {
	Store  KeyStore
	Access Access
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// KeyView is an API key as the API shows it.
type KeyView struct {
	apikey.Key
	Status string `json:"status"`
}

func view(k apikey.Key, now time.Time) KeyView { return KeyView{Key: k, Status: k.Status(now)} }

// NewKey is a key just created: the only time its plaintext is shown.
type NewKey struct {
	KeyView
	Plaintext string `json:"key"`
}

// KeyInput is what a new API key is made of: a name, and optionally an
// expiry and a cap on the Runs its webhooks start a minute.
type KeyInput struct {
	Name          string     `json:"name"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	RunsPerMinute int        `json:"runsPerMinute"`
}

// KeyPatch changes an API key's name or cap: only the fields given.
type KeyPatch struct {
	Name          *string `json:"name"`
	RunsPerMinute *int    `json:"runsPerMinute"`
}

func checkKeyName(name string) error {
	if name == "" || len(name) > 200 {
		return wiresk.FieldError("name", "is required, at most 200 characters")
	}
	return nil
}

func checkRunsPerMinute(n int) error {
	if n < 0 || n > apikey.MaxRunsPerMinute {
		return wiresk.FieldError("runsPerMinute", "must be from 0 (only the Group's cap) to %d", apikey.MaxRunsPerMinute)
	}
	return nil
}

// CreateAPIKey creates a key for the Group (admins).
func (s *Keys) CreateAPIKey(ctx context.Context, who auth.Identity, groupID string, in KeyInput) (NewKey, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return NewKey{}, err
	}
	name, expiresAt := in.Name, in.ExpiresAt
	if err := checkKeyName(name); err != nil {
		return NewKey{}, err
	}
	if err := checkRunsPerMinute(in.RunsPerMinute); err != nil {
		return NewKey{}, err
	}
	now := now(s.Now)
	if expiresAt != nil && !expiresAt.After(now) {
		return NewKey{}, wiresk.FieldError("expiresAt", "must be in the future")
	}
	plain, hash, err := apikey.Generate()
	if err != nil {
		return NewKey{}, err
	}
	k := apikey.Key{ID: wiresk.NewIDAt("key", now), GroupID: groupID, Name: name, Hint: apikey.HintOf(plain), Hash: hash, CreatedAt: now, CreatedBy: who.UserID, ExpiresAt: expiresAt, RunsPerMinute: in.RunsPerMinute}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return NewKey{}, err
	}
	return NewKey{KeyView: view(k, now), Plaintext: plain}, nil
}

// ListAPIKeys lists the Group's keys.
func (s *Keys) ListAPIKeys(ctx context.Context, who auth.Identity, groupID string) ([]KeyView, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return nil, err
	}
	ks, err := s.Store.ListAPIKeys(ctx, groupID)
	if err != nil {
		return nil, err
	}
	now := now(s.Now)
	out := make([]KeyView, len(ks))
	for i, k := range ks {
		out[i] = view(k, now)
	}
	return out, nil
}

// FlowRef names a Flow.
type FlowRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	TriggerID string `json:"triggerId"`
}

// DayCount is a per-day count.
type DayCount struct {
	Day   string `json:"day"`
	Calls int    `json:"calls"`
}

// KeyDetail is one key with the Flows whose triggers accept it and its use.
type KeyDetail struct {
	KeyView
	Flows      []FlowRef  `json:"flows"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	Usage      []DayCount `json:"usage"`
}

// UsageDays is how many days of use GetAPIKey reports.
const UsageDays = 30

// GetAPIKey returns a key with the Flows that accept it and its use over the
// last UsageDays days (counted from the Runs its webhooks started).
func (s *Keys) GetAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string) (KeyDetail, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleMember); err != nil {
		return KeyDetail{}, err
	}
	k, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return KeyDetail{}, notFound(err, "api key", keyID)
	}
	now := now(s.Now)
	d := KeyDetail{KeyView: view(k, now), Flows: []FlowRef{}, Usage: []DayCount{}}
	trs, err := s.Store.ListTriggers(ctx, groupID, "")
	if err != nil {
		return KeyDetail{}, err
	}
	for _, t := range trs {
		if !trigger.RouteOf(t, true).Accepts(keyID) {
			continue
		}
		f, err := s.Store.GetFlow(ctx, groupID, t.FlowID)
		if err != nil {
			continue
		}
		d.Flows = append(d.Flows, FlowRef{ID: f.ID, Name: f.Name, TriggerID: t.ID})
	}
	counts := map[string]int{}
	err = eachRun(ctx, s.Store, run.Query{GroupID: groupID, APIKeyID: keyID, Since: startOfDay(now).AddDate(0, 0, -(UsageDays - 1))}, func(r run.Run) {
		if d.LastUsedAt == nil {
			at := r.CreatedAt
			d.LastUsedAt = &at
		}
		counts[r.CreatedAt.UTC().Format(time.DateOnly)]++
	})
	if err != nil {
		return KeyDetail{}, err
	}
	for _, day := range days(now, UsageDays) {
		if n := counts[day]; n > 0 {
			d.Usage = append(d.Usage, DayCount{Day: day, Calls: n})
		}
	}
	if d.LastUsedAt == nil {
		// Older than the usage window: look for the newest Run at all.
		p, err := s.Store.ListRuns(ctx, run.Query{GroupID: groupID, APIKeyID: keyID, Limit: 1})
		if err != nil {
			return KeyDetail{}, err
		}
		if len(p.Runs) > 0 {
			at := p.Runs[0].CreatedAt
			d.LastUsedAt = &at
		}
	}
	return d, nil
}

// RotateAPIKey replaces a key with a new one. During grace (0 for none) the
// old key keeps working; then it expires.
func (s *Keys) RotateAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string, grace time.Duration) (NewKey, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return NewKey{}, err
	}
	if grace < 0 || grace > 30*24*time.Hour {
		return NewKey{}, wiresk.FieldError("gracePeriodSeconds", "must be between 0 and 30 days")
	}
	old, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return NewKey{}, notFound(err, "api key", keyID)
	}
	now := now(s.Now)
	if st := old.Status(now); st != "active" || old.RotatedTo != "" {
		return NewKey{}, wiresk.Errorf(wiresk.EConflict, "api key %q is %s and cannot be rotated", keyID, map[bool]string{true: "already rotated", false: st}[old.RotatedTo != ""])
	}
	plain, hash, err := apikey.Generate()
	if err != nil {
		return NewKey{}, err
	}
	repl := apikey.Key{ID: wiresk.NewIDAt("key", now), GroupID: groupID, Name: old.Name, Hint: apikey.HintOf(plain), Hash: hash,
		CreatedAt: now, CreatedBy: who.UserID, ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID, RunsPerMinute: old.RunsPerMinute}
	end := now.Add(grace)
	old.RotatedTo, old.ExpiresAt = repl.ID, &end
	if err := s.Store.RotateAPIKey(ctx, old, repl); err != nil {
		return NewKey{}, err
	}
	// Triggers that accepted the old key accept the new one too.
	trs, err := s.Store.ListTriggers(ctx, groupID, "")
	if err != nil {
		return NewKey{}, err
	}
	for _, t := range trs {
		if trigger.RouteOf(t, true).Accepts(old.ID) {
			t.APIKeyIDs = append(t.APIKeyIDs, repl.ID)
			if err := s.Store.UpdateTrigger(ctx, t); err != nil {
				return NewKey{}, fmt.Errorf("add rotated key to trigger %s: %w", t.ID, err)
			}
		}
	}
	return NewKey{KeyView: view(repl, now), Plaintext: plain}, nil
}

// UpdateAPIKey renames a key or changes its cap (admins); a new cap counts
// from the key's next webhook.
func (s *Keys) UpdateAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string, in KeyPatch) (KeyView, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return KeyView{}, err
	}
	k, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return KeyView{}, notFound(err, "api key", keyID)
	}
	if in.Name != nil {
		if err := checkKeyName(*in.Name); err != nil {
			return KeyView{}, err
		}
		k.Name = *in.Name
	}
	if in.RunsPerMinute != nil {
		if err := checkRunsPerMinute(*in.RunsPerMinute); err != nil {
			return KeyView{}, err
		}
		k.RunsPerMinute = *in.RunsPerMinute
	}
	if err := s.Store.UpdateAPIKey(ctx, k); err != nil {
		return KeyView{}, notFound(err, "api key", keyID)
	}
	return view(k, now(s.Now)), nil
}

// RevokeAPIKey revokes a key at once.
func (s *Keys) RevokeAPIKey(ctx context.Context, who auth.Identity, groupID, keyID string) (KeyView, error) {
	if _, err := s.Access.Authorize(ctx, who, groupID, group.RoleAdmin); err != nil {
		return KeyView{}, err
	}
	k, err := s.Store.GetAPIKey(ctx, groupID, keyID)
	if err != nil {
		return KeyView{}, notFound(err, "api key", keyID)
	}
	now := now(s.Now)
	if k.RevokedAt == nil {
		k.RevokedAt = &now
		if err := s.Store.UpdateAPIKey(ctx, k); err != nil {
			return KeyView{}, err
		}
	}
	return view(k, now), nil
}
