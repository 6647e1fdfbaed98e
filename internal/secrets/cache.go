package secrets

import (
	"container/list"
	"sync"
	"time"
)

// cache holds recently read or written values by secret name, each for ttl,
// at most size of them, the oldest going first. A nil *cache is a disabled
// cache: it never holds anything. It is safe for concurrent use.
//
// A value read from Secrets Manager may be older than a write that ends
// while the read is in flight, and of two concurrent writes of one name the
// one that ends last in the cache may not be the one that landed last. To
// never cache such a stale value, every write bumps gen, and a value is
// cached only if no write ended since its call began: fill and store take
// the generation read before the call.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	gen     uint64
	entries map[string]*list.Element // of *entry
	order   *list.List               // of *entry, oldest first
}

// entry is one cached value.
type entry struct {
	name    string
	value   []byte
	expires time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, entries: make(map[string]*list.Element), order: list.New()}
}

// get returns a copy of the value of name if it is cached and fresh.
func (c *cache) get(name string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[name]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, name)
		return nil, false
	}
	return clone(e.value), true
}

// generation returns the current write generation, to pass to store.
func (c *cache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill caches a copy of value, just read as name, if no write ended since
// gen was taken.
func (c *cache) fill(name string, value []byte, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.add(name, value)
	}
}

// store caches a copy of value, just written as name, if no other write
// ended since gen was taken, and otherwise drops name. It counts as a write.
func (c *cache) store(name string, value []byte, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	stale := gen != c.gen
	c.gen++
	if stale {
		c.remove(name)
		return
	}
	c.add(name, value)
}

// add caches a copy of value as name, replacing any entry of name and
// evicting the oldest entries beyond the bound. The caller holds c.mu.
func (c *cache) add(name string, value []byte) {
	c.remove(name)
	for c.order.Len() >= c.size {
		c.remove(c.order.Front().Value.(*entry).name)
	}
	e := &entry{name: name, value: clone(value), expires: c.now().Add(c.ttl)}
	c.entries[name] = c.order.PushBack(e)
}

// drop removes name from the cache and counts as a write.
func (c *cache) drop(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.remove(name)
}

// remove deletes the entry of name, if any. The caller holds c.mu.
func (c *cache) remove(name string) {
	if el, ok := c.entries[name]; ok {
		c.order.Remove(el)
		delete(c.entries, name)
	}
}

func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
