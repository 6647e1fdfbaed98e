package bolt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"wiresk/internal/queue"
	"wiresk/internal/wiresk"
)

// QueueOptions configures NewQueue.
type QueueOptions struct {
	// Name prefixes the names of the queue's buckets, so that several queues
	// can share one file. Default "queue".
	Name string
	// MaxReceives is how many times a message may be received without being
	// deleted: when it becomes visible again after that many receives it is
	// moved to the dead-letter list instead of being returned, as with SQS's
	// maxReceiveCount. Default 5.
	MaxReceives int
}

// Queue is a durable message queue in the bbolt file, with the semantics of
// an Amazon SQS standard queue with a redrive policy: received messages are
// hidden for a visibility timeout and come back unless deleted, and a message
// received MaxReceives times without being deleted goes to a dead-letter
// list. It is safe for concurrent use.
//
// Three buckets hold it: the messages by id, an index of the messages by the
// time they become visible (so that Receive reads only what it returns), and
// the dead letters by the time they died.
type Queue struct {
	db          *DB
	msgs        []byte // bucket: id → record
	index       []byte // bucket: visibleAt (8 bytes big-endian unix nanos) + id → empty
	dead        []byte // bucket: deadAt (8 bytes big-endian unix nanos) + id → reason + record
	maxReceives int

	// Long polling: a Receive that found nothing waits on notify, which is
	// closed (and replaced) when messages may have become visible. Senders
	// skip the lock when nobody waits.
	waiters atomic.Int64
	mu      sync.Mutex
	notify  chan struct{}
}

// NewQueue returns the queue named by opts in db, creating its buckets if
// needed.
func NewQueue(db *DB, opts QueueOptions) (*Queue, error) {
	if opts.Name == "" {
		opts.Name = "queue"
	}
	if opts.MaxReceives <= 0 {
		opts.MaxReceives = 5
	}
	q := &Queue{
		db:          db,
		msgs:        []byte(opts.Name + ".messages"),
		index:       []byte(opts.Name + ".visibility"),
		dead:        []byte(opts.Name + ".dead"),
		maxReceives: opts.MaxReceives,
		notify:      make(chan struct{}),
	}
	if err := db.ensureBuckets(string(q.msgs), string(q.index), string(q.dead)); err != nil {
		return nil, fmt.Errorf("create queue %s: %w", opts.Name, err)
	}
	return q, nil
}

// Send enqueues a message and returns its id once the message is committed
// to the file (and synced to disk unless the DB was opened with NoSync).
// Concurrent Sends share one transaction and one fsync.
func (q *Queue) Send(ctx context.Context, body []byte, attrs map[string]string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := wiresk.NewID("msg")
	now := time.Now().UnixNano()
	key := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(key, uint64(now))
	copy(key[8:], id)
	val := encodeMessage(now, attrs, body)
	err := q.db.commit(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(q.msgs).Put(key[8:], val); err != nil {
			return err
		}
		return tx.Bucket(q.index).Put(key, nil)
	})
	if err != nil {
		return "", fmt.Errorf("send message: %w", err)
	}
	q.wake()
	return id, nil
}

// Receive returns up to limit visible messages, oldest-visible first, and
// hides them for visibility; limit < 1 counts as 1. Each returned message
// has its ReceiveCount incremented and a fresh ReceiptHandle, which makes the
// handles of earlier receives stale. If no message is visible, Receive waits
// up to wait for one; it returns no messages and a nil error when the wait
// ends empty, and ctx.Err() if ctx is done first.
//
// A message that was already received MaxReceives times is moved to the
// dead-letter list when it becomes visible again, instead of being returned.
func (q *Queue) Receive(ctx context.Context, limit int, visibility, wait time.Duration) ([]queue.Message, error) {
	limit = max(limit, 1)
	visibility = max(visibility, 0)
	deadline := time.Now().Add(wait)
	q.waiters.Add(1)
	defer q.waiters.Add(-1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Take the channel before looking, so that a Send committed after
		// the look closes the channel we wait on.
		q.mu.Lock()
		ch := q.notify
		q.mu.Unlock()

		msgs, next, err := q.receiveOnce(limit, visibility)
		if err != nil {
			return nil, fmt.Errorf("receive messages: %w", err)
		}
		if len(msgs) > 0 {
			// The messages just hidden may become visible before what the
			// other waiters have set their timers for.
			q.wake()
			return msgs, nil
		}
		now := time.Now()
		d := deadline.Sub(now)
		if d <= 0 {
			return nil, nil
		}
		if next != 0 {
			d = min(d, time.Unix(0, next).Sub(now))
		}
		timer := time.NewTimer(max(d, 0))
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
		timer.Stop()
	}
}

// errNoChange rolls back a write transaction that found nothing to change, so
// that an empty poll costs no commit and no fsync.
var errNoChange = errors.New("nothing to change")

// receiveOnce takes up to limit visible messages, moving those received too
// often to the dead letters. If it takes none, next is the unix nanos at
// which the earliest hidden message becomes visible, or 0 if there is none.
func (q *Queue) receiveOnce(limit int, visibility time.Duration) (msgs []queue.Message, next int64, err error) {
	err = q.db.bolt.Update(func(tx *bbolt.Tx) error {
		msgs, next = nil, 0
		mb, ib, db := tx.Bucket(q.msgs), tx.Bucket(q.index), tx.Bucket(q.dead)
		now := time.Now().UnixNano()
		// Collect first, change after: writing to a bucket under an open
		// cursor would make the cursor see the new keys.
		var take, kill, orphans [][]byte
		c := ib.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) <= 8 {
				orphans = append(orphans, bytes.Clone(k))
				continue
			}
			if at := int64(binary.BigEndian.Uint64(k)); at > now {
				next = at
				break
			}
			v := mb.Get(k[8:])
			switch {
			case len(v) < msgHdrLen:
				orphans = append(orphans, bytes.Clone(k))
			case int(binary.BigEndian.Uint32(v[msgOffCount:])) >= q.maxReceives:
				kill = append(kill, bytes.Clone(k))
			default:
				take = append(take, bytes.Clone(k))
			}
			if len(take) == limit {
				break
			}
		}
		if len(take)+len(kill)+len(orphans) == 0 {
			return errNoChange
		}
		for _, k := range orphans {
			if err := ib.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range kill {
			id := k[8:]
			v := mb.Get(id)
			count := binary.BigEndian.Uint32(v[msgOffCount:])
			reason := fmt.Sprintf("received %d times without being deleted", count)
			dv := make([]byte, 0, binary.MaxVarintLen64+len(reason)+len(v))
			dv = binary.AppendUvarint(dv, uint64(len(reason)))
			dv = append(dv, reason...)
			dv = append(dv, v...)
			dk := make([]byte, 8+len(id))
			binary.BigEndian.PutUint64(dk, uint64(now))
			copy(dk[8:], id)
			if err := db.Put(dk, dv); err != nil {
				return err
			}
			if err := mb.Delete(id); err != nil {
				return err
			}
			if err := ib.Delete(k); err != nil {
				return err
			}
		}
		at := now + int64(visibility)
		for _, k := range take {
			id := k[8:]
			v := bytes.Clone(mb.Get(id))
			tok := newReceiptToken()
			binary.BigEndian.PutUint64(v[msgOffVisible:], uint64(at))
			binary.BigEndian.PutUint32(v[msgOffCount:], binary.BigEndian.Uint32(v[msgOffCount:])+1)
			copy(v[msgOffToken:], tok[:])
			m, err := decodeMessage(string(id), v)
			if err != nil {
				return fmt.Errorf("message %s: %w", id, err)
			}
			m.ReceiptHandle = string(id) + "." + hex.EncodeToString(tok[:])
			nk := make([]byte, len(k))
			binary.BigEndian.PutUint64(nk, uint64(at))
			copy(nk[8:], id)
			if err := ib.Delete(k); err != nil {
				return err
			}
			if err := ib.Put(nk, nil); err != nil {
				return err
			}
			if err := mb.Put(nk[8:], v); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	return msgs, next, err
}

// Delete removes the message received with receiptHandle for good. A stale
// or unknown handle, or one of a message already deleted, is refused with an
// error wrapping wiresk.ErrNotFound.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	return q.withReceived(ctx, "delete message", receiptHandle, func(mb, _ *bbolt.Bucket, id, _ []byte) error {
		return mb.Delete(id)
	})
}

// ChangeVisibility makes the message received with receiptHandle visible d
// from now; d <= 0 makes it visible at once. The handle stays valid. A stale
// or unknown handle is refused with an error wrapping wiresk.ErrNotFound.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	d = max(d, 0)
	err := q.withReceived(ctx, "change message visibility", receiptHandle, func(mb, ib *bbolt.Bucket, id, v []byte) error {
		at := time.Now().Add(d).UnixNano()
		v = bytes.Clone(v)
		binary.BigEndian.PutUint64(v[msgOffVisible:], uint64(at))
		if err := ib.Put(visibilityKey(at, id), nil); err != nil {
			return err
		}
		return mb.Put(id, v)
	})
	if err == nil {
		q.wake()
	}
	return err
}

// withReceived runs fn in one batch on the message that receiptHandle was
// received with, taken out of the visibility index first (fn puts it back
// if it keeps the message). A stale or unknown handle is refused with an
// error wrapping wiresk.ErrNotFound, and op names the operation in errors.
func (q *Queue) withReceived(ctx context.Context, op, receiptHandle string, fn func(mb, ib *bbolt.Bucket, id, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, tok, ok := parseReceiptHandle(receiptHandle)
	if !ok {
		return fmt.Errorf("%s: receipt handle %q: %w", op, receiptHandle, wiresk.ErrNotFound)
	}
	var found bool
	err := q.db.bolt.Batch(func(tx *bbolt.Tx) error {
		found = false // Batch may run this function twice.
		mb, ib := tx.Bucket(q.msgs), tx.Bucket(q.index)
		v := mb.Get(id)
		if len(v) < msgHdrLen || [8]byte(v[msgOffToken:msgOffToken+8]) != tok {
			return nil
		}
		found = true
		if err := ib.Delete(visibilityKey(int64(binary.BigEndian.Uint64(v[msgOffVisible:])), id)); err != nil {
			return err
		}
		return fn(mb, ib, id, v)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !found {
		return fmt.Errorf("%s: receipt handle %q is stale: %w", op, receiptHandle, wiresk.ErrNotFound)
	}
	return nil
}

// DeadLetters returns up to limit messages of the dead-letter list, those
// that died first first; limit < 1 counts as 1. It does not remove them.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]queue.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	var out []queue.DeadLetter
	err := q.db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(q.dead).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) <= 8 {
				continue
			}
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return fmt.Errorf("dead letter %s: corrupt record", k[8:])
			}
			m, err := decodeMessage(string(k[8:]), v[w+int(n):])
			if err != nil {
				return fmt.Errorf("dead letter %s: %w", k[8:], err)
			}
			out = append(out, queue.DeadLetter{
				Message: m,
				Reason:  string(v[w : w+int(n)]),
				DeadAt:  time.Unix(0, int64(binary.BigEndian.Uint64(k))),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// Redrive sends the dead letters ids back to the queue, each as a new
// message (a new id, a ReceiveCount of 0, visible at once) with the same
// body and attributes, and removes them from the dead-letter list. It looks
// at no more than limit dead letters, those that died first first (limit < 1
// counts as 1); an id it does not find there is reported in NotFound, not as
// an error. The sends and the removals are one transaction: a crash leaves
// either all of them done or none.
func (q *Queue) Redrive(ctx context.Context, ids []string, limit int) (queue.Redriven, error) {
	if err := ctx.Err(); err != nil {
		return queue.Redriven{}, err
	}
	limit = max(limit, 1)
	var res queue.Redriven
	err := q.db.bolt.Update(func(tx *bbolt.Tx) error {
		res = queue.Redriven{}
		mb, ib, db := tx.Bucket(q.msgs), tx.Bucket(q.index), tx.Bucket(q.dead)
		want := make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
		// Collect first, change after, as receiveOnce does.
		var keys [][]byte
		c := db.Cursor()
		scanned := 0
		for k, _ := c.First(); k != nil && scanned < limit && len(keys) < len(want); k, _ = c.Next() {
			if len(k) <= 8 {
				continue
			}
			scanned++
			if want[string(k[8:])] {
				keys = append(keys, bytes.Clone(k))
			}
		}
		now := time.Now().UnixNano()
		moved := make(map[string]bool, len(keys))
		for _, k := range keys {
			id, v := string(k[8:]), db.Get(k)
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return fmt.Errorf("dead letter %s: corrupt record", id)
			}
			m, err := decodeMessage(id, v[w+int(n):])
			if err != nil {
				return fmt.Errorf("dead letter %s: %w", id, err)
			}
			newID := wiresk.NewID("msg")
			if err := mb.Put([]byte(newID), encodeMessage(now, m.Attributes, m.Body)); err != nil {
				return err
			}
			if err := ib.Put(visibilityKey(now, []byte(newID)), nil); err != nil {
				return err
			}
			if err := db.Delete(k); err != nil {
				return err
			}
			res.Moved = append(res.Moved, queue.Moved{ID: id, NewID: newID})
			moved[id] = true
		}
		for _, id := range ids {
			if !moved[id] && !slices.Contains(res.NotFound, id) {
				res.NotFound = append(res.NotFound, id)
			}
		}
		return nil
	})
	if err != nil {
		return queue.Redriven{}, fmt.Errorf("redrive dead letters: %w", err)
	}
	if len(res.Moved) > 0 {
		q.wake()
	}
	return res, nil
}

// Stats counts the queue's messages. It reads the whole visibility index. A
// message due for the dead-letter list counts as visible until a Receive
// moves it, as in SQS.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	if err := ctx.Err(); err != nil {
		return queue.Stats{}, err
	}
	var s queue.Stats
	err := q.db.bolt.View(func(tx *bbolt.Tx) error {
		now := uint64(time.Now().UnixNano())
		c := tx.Bucket(q.index).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) >= 8 && binary.BigEndian.Uint64(k) > now {
				s.InFlight++
			} else {
				s.Visible++
			}
		}
		c = tx.Bucket(q.dead).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			s.Dead++
		}
		return nil
	})
	if err != nil {
		return queue.Stats{}, fmt.Errorf("queue stats: %w", err)
	}
	return s, nil
}

// wake wakes the Receives waiting for messages.
func (q *Queue) wake() {
	if q.waiters.Load() == 0 {
		return
	}
	q.mu.Lock()
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
}

// A record is a message as stored:
//
//	version    1 byte
//	sentAt     8 bytes, big-endian unix nanos
//	visibleAt  8 bytes, big-endian unix nanos
//	count      4 bytes, big-endian receive count
//	token      8 bytes, the random part of the current receipt handle (zero before the first receive)
//	attributes uvarint count, then uvarint-length-prefixed name and value of each
//	body       the rest
const (
	msgVersion    = 1
	msgOffSent    = 1
	msgOffVisible = 9
	msgOffCount   = 17
	msgOffToken   = 21
	msgHdrLen     = 29
)

// encodeMessage encodes a message never received, visible from sentAt.
func encodeMessage(sentAt int64, attrs map[string]string, body []byte) []byte {
	n := msgHdrLen + binary.MaxVarintLen32 + len(body)
	for k, v := range attrs {
		n += 2*binary.MaxVarintLen32 + len(k) + len(v)
	}
	b := make([]byte, msgHdrLen, n)
	b[0] = msgVersion
	binary.BigEndian.PutUint64(b[msgOffSent:], uint64(sentAt))
	binary.BigEndian.PutUint64(b[msgOffVisible:], uint64(sentAt))
	b = binary.AppendUvarint(b, uint64(len(attrs)))
	for k, v := range attrs {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return append(b, body...)
}

// errCorruptMessage reports a record that cannot be decoded.
var errCorruptMessage = errors.New("corrupt record")

// decodeMessage decodes a record into a Message without a receipt handle,
// copying everything out of b.
func decodeMessage(id string, b []byte) (queue.Message, error) {
	if len(b) < msgHdrLen || b[0] != msgVersion {
		return queue.Message{}, errCorruptMessage
	}
	m := queue.Message{
		ID:           id,
		SentAt:       time.Unix(0, int64(binary.BigEndian.Uint64(b[msgOffSent:]))),
		ReceiveCount: int(binary.BigEndian.Uint32(b[msgOffCount:])),
	}
	rest := b[msgHdrLen:]
	next := func() (string, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return "", false
		}
		s := string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
		return s, true
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return queue.Message{}, errCorruptMessage
	}
	rest = rest[w:]
	if n > 0 {
		m.Attributes = make(map[string]string, n)
		for range n {
			k, ok1 := next()
			v, ok2 := next()
			if !ok1 || !ok2 {
				return queue.Message{}, errCorruptMessage
			}
			m.Attributes[k] = v
		}
	}
	m.Body = bytes.Clone(rest)
	return m, nil
}

// visibilityKey returns the visibility-index key of message id visible at at.
func visibilityKey(at int64, id []byte) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(at))
	copy(k[8:], id)
	return k
}

// newReceiptToken returns the random, never zero, part of a receipt handle.
func newReceiptToken() [8]byte {
	var t [8]byte
	_, _ = rand.Read(t[:])
	if t == [8]byte{} {
		t[7] = 1
	}
	return t
}

// parseReceiptHandle splits a receipt handle "<id>.<16 hex digits>".
func parseReceiptHandle(h string) (id []byte, tok [8]byte, ok bool) {
	i := strings.LastIndexByte(h, '.')
	if i <= 0 || len(h)-i-1 != 2*len(tok) {
		return nil, tok, false
	}
	if _, err := hex.Decode(tok[:], []byte(h[i+1:])); err != nil || tok == [8]byte{} {
		return nil, tok, false
	}
	return []byte(h[:i]), tok, true
}
