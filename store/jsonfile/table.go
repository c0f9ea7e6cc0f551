package jsonfile

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"simpleapi/store"
)

// codec tells a table how its values look on disk. Values are pointers to
// immutable T: a change replaces the pointer, so a copied slice of them is
// a consistent snapshot that can be written out without holding the lock.
type codec[T any] struct {
	id     func(*T) string
	encode func(*T) ([]byte, error) // the value's JSON object
	// decode builds a value from its JSON object, which unmarshal reads
	// into a JSON-tagged record struct: a json.Decoder's Decode for the
	// snapshot, so each record is parsed once, in place. An error wrapping
	// errDropRecord asks for the record to be left out: allowed in the
	// snapshot only (see dropWarning).
	decode func(unmarshal func(any) error) (*T, error)
	// dropWarning is the warning logged, once with the count, when the
	// snapshot held records that decode asked to drop. A load that drops
	// any rewrites the snapshot at once, so they leave the disk.
	dropWarning string
}

// errDropRecord is wrapped by a codec's decode error for a snapshot record
// that is to be left out on load, such as a session written by the old
// service.
var errDropRecord = errors.New("record to drop on load")

// node holds one id's current value; v is nil once the id is deleted.
type node[T any] struct{ v *T }

// table is a durable map from id to value that remembers insertion order.
//
// On disk it is a snapshot file (a JSON object keyed by id, in insertion
// order) plus a journal of the changes made since (path.journal, and
// path.journal.old while a compaction is under way). Loading reads the
// snapshot and replays the journals over it.
//
// The stores built on a table guard their own indexes with t.mu, so that an
// invariant check, the change and its journal record happen under one lock:
// they call put and remove with t.mu held for writing, then release it and
// call commit to wait for the change to be durable.
type table[T any] struct {
	path         string
	codec        codec[T]
	log          *slog.Logger
	sync         func(*os.File) error
	compactAfter int
	quietAfter   time.Duration // Options.QuietCompactAfter; <= 0: no quiet compaction

	mu         sync.RWMutex
	nodes      map[string]*node[T]
	order      []*node[T] // insertion order; deleted nodes linger until pruned
	dead       int        // deleted nodes still in order
	jrecs      int        // records in the current journal file
	haveOld    bool       // path.journal.old may exist: compaction must not rotate again
	compacting bool
	closed     bool
	j          *journal
	bg         sync.WaitGroup // background compaction

	// Quiet compaction (see quietLoop). lastWrite and quietArmed are
	// guarded by mu; the channels are nil when it is disabled.
	lastWrite  time.Time     // when the latest put or remove was applied
	quietArmed bool          // quietLoop is timing a quiet period
	quietKick  chan struct{} // arms quietLoop; buffered, one slot
	quietStop  chan struct{} // closed by close
	quietDone  chan struct{} // closed when quietLoop has returned

	// For tests, guarded by mu: compactions completed, and quiet
	// compactions started.
	compactions      int
	quietCompactions int
}

// openTable loads the table stored at path (creating it if absent) and
// readies it for writes.
func openTable[T any](path string, c codec[T], opts Options) (*table[T], error) {
	t := &table[T]{
		path:         path,
		codec:        c,
		log:          opts.Logger,
		sync:         opts.syncFile,
		compactAfter: opts.CompactAfter,
		quietAfter:   opts.QuietCompactAfter,
		nodes:        make(map[string]*node[T]),
	}
	// A leftover temporary snapshot is an interrupted compaction's; the
	// files it was to replace are still complete.
	if err := os.Remove(path + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	haveSnap, dropped, err := t.loadSnapshot()
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		t.log.Warn(c.dropWarning, "file", path, "records", dropped)
	}
	jpath := path + ".journal"
	var lastSeq uint64
	if _, err := os.Stat(jpath + ".old"); err == nil {
		t.haveOld = true
		if _, lastSeq, err = t.replay(jpath+".old", 0, false); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if t.jrecs, lastSeq, err = t.replay(jpath, lastSeq, true); err != nil {
		return nil, err
	}
	// A new table gets its (empty) snapshot before its journal, so that a
	// directory with a journal always has a snapshot too.
	if !haveSnap && !t.haveOld && t.jrecs == 0 {
		if err := t.writeSnapshot(nil); err != nil {
			return nil, err
		}
		haveSnap = true
	}
	if t.j, err = openJournal(jpath, lastSeq, t.sync, t.log, opts.ObserveWrite); err != nil {
		return nil, err
	}
	// Finish an interrupted compaction (the old journal must be folded into
	// a snapshot before the next rotation would overwrite it), write the
	// snapshot of a journal found without one, and rewrite one that held
	// records dropped on load so they leave the disk.
	if t.haveOld || !haveSnap || dropped > 0 {
		if err := t.compact(); err != nil {
			t.j.close()
			return nil, err
		}
	}
	t.startQuietLoop()
	return t, nil
}

// apply stores v under id in memory.
func (t *table[T]) apply(id string, v *T) {
	if n, ok := t.nodes[id]; ok {
		n.v = v
		return
	}
	n := &node[T]{v: v}
	t.nodes[id] = n
	t.order = append(t.order, n)
}

// drop removes id from memory, if present.
func (t *table[T]) drop(id string) {
	n, ok := t.nodes[id]
	if !ok {
		return
	}
	delete(t.nodes, id)
	n.v = nil
	t.dead++
	// Prune deleted nodes once they are the majority, which keeps the
	// cost amortised O(1) per delete.
	if t.dead > 64 && t.dead > len(t.order)/2 {
		live := make([]*node[T], 0, len(t.nodes))
		for _, n := range t.order {
			if n.v != nil {
				live = append(live, n)
			}
		}
		t.order, t.dead = live, 0
	}
}

// get returns the value stored under id, or nil. The caller holds t.mu.
func (t *table[T]) get(id string) *T {
	if n, ok := t.nodes[id]; ok {
		return n.v
	}
	return nil
}

// len returns the number of values. The caller holds t.mu.
func (t *table[T]) len() int { return len(t.nodes) }

// all calls fn for each value in insertion order until fn returns false.
// The caller holds t.mu.
func (t *table[T]) all(fn func(*T) bool) {
	for _, n := range t.order {
		if n.v != nil && !fn(n.v) {
			return
		}
	}
}

// writable returns the error a write gets when the table cannot take one:
// closed, or failed. Once a journal write or fsync has failed, every write
// is refused and ping fails until a restart: put applies a change in memory
// before it is durable, so after a failed fsync memory may hold a write
// that was never acknowledged and may not be on disk (see journal.fail).
// The caller holds t.mu.
func (t *table[T]) writable() error {
	if t.closed {
		return store.Errorf(store.EUNAVAILABLE, "store closed")
	}
	if t.j.failed() != nil {
		return unavailable()
	}
	return nil
}

// put stores v (replacing the value with the same id) and queues its
// journal record. The caller holds t.mu for writing and, after releasing
// it, passes the returned sequence number to commit.
func (t *table[T]) put(v *T) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	rec, err := t.codec.encode(v)
	if err != nil {
		return 0, store.Errorf(store.EINTERNAL, "encode record: %v", err)
	}
	id := t.codec.id(v)
	seq, err := t.j.add("put", id, rec)
	if err != nil {
		return 0, unavailable()
	}
	t.apply(id, v)
	t.jrecs++
	t.maybeCompact()
	t.noteWrite()
	return seq, nil
}

// remove deletes id and queues its journal record; see put.
func (t *table[T]) remove(id string) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	seq, err := t.j.add("del", id, nil)
	if err != nil {
		return 0, unavailable()
	}
	t.drop(id)
	t.jrecs++
	t.maybeCompact()
	t.noteWrite()
	return seq, nil
}

// commit waits until the record with sequence number seq (and so every
// record queued before it) is durable. seq 0 means nothing was written.
// The caller must not hold t.mu.
func (t *table[T]) commit(seq uint64) error {
	if seq == 0 {
		return nil
	}
	if err := t.j.wait(seq); err != nil {
		return unavailable()
	}
	return nil
}

// ping reports whether the table accepts writes.
func (t *table[T]) ping() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.writable()
}

// close stops writes and the quiet compaction, lets a running compaction
// finish, compacts what the journal holds so the next start reads just the
// snapshot, and closes the journal.
func (t *table[T]) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	if t.quietStop != nil {
		close(t.quietStop)
		<-t.quietDone
	}
	t.bg.Wait()

	var err error
	t.mu.RLock()
	dirty := t.jrecs > 0 || t.haveOld
	t.mu.RUnlock()
	if dirty && t.j.failed() == nil {
		err = t.compact()
	}
	if cerr := t.j.close(); err == nil {
		err = cerr
	}
	return err
}

// unavailable is the error for writes (and Ping) once storage has failed;
// see writable. The cause was logged when it happened.
func unavailable() error {
	return store.Errorf(store.EUNAVAILABLE, "storage unavailable")
}
