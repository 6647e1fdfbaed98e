package oauth

import (
	"context"
	"sync"
	"time"
)

// MemoryLeaser is an in-memory Leaser for unit tests only: leases live in
// one process. The concurrency tests use a bbolt-backed lease instead.
type MemoryLeaser struct {
	mu     sync.Mutex
	leases map[string]memoryLease
}

type memoryLease struct {
	holder string
	until  time.Time
}

// AcquireLease takes name for holder unless another holder has it.
func (l *MemoryLeaser) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leases == nil {
		l.leases = map[string]memoryLease{}
	}
	now := time.Now()
	if cur, ok := l.leases[name]; ok && cur.holder != holder && now.Before(cur.until) {
		return false, nil
	}
	l.leases[name] = memoryLease{holder: holder, until: now.Add(ttl)}
	return true, nil
}

// ReleaseLease gives up holder's lease name.
func (l *MemoryLeaser) ReleaseLease(_ context.Context, name, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.leases[name]; ok && cur.holder == holder {
		delete(l.leases, name)
	}
	return nil
}
