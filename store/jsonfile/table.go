package jsonfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
	if _, err := os.Stat(jpath + ".old"); err == nil {
		t.haveOld = true
		if _, err := t.replay(jpath+".old", false); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if t.jrecs, err = t.replay(jpath, true); err != nil {
		return nil, err
	}
	if t.j, err = openJournal(jpath, t.sync, t.log, opts.ObserveWrite); err != nil {
		return nil, err
	}
	// Finish an interrupted compaction (the old journal must be folded into
	// a snapshot before the next rotation would overwrite it), write a
	// snapshot for a new table so the file exists from the start, and
	// rewrite one that held records dropped on load so they leave the disk.
	if t.haveOld || !haveSnap || dropped > 0 {
		if err := t.compact(); err != nil {
			t.j.close()
			return nil, err
		}
	}
	if t.quietAfter > 0 {
		t.quietKick = make(chan struct{}, 1)
		t.quietStop = make(chan struct{})
		t.quietDone = make(chan struct{})
		go t.quietLoop()
		// A journal left by a crash (or a Close that could not compact) is
		// folded into the snapshot too once the table has been quiet.
		if t.jrecs > 0 {
			t.mu.Lock()
			t.noteWrite()
			t.mu.Unlock()
		}
	}
	return t, nil
}

// loadSnapshot reads the snapshot file, if there is one, and returns
// whether there was one and how many records it dropped (see
// errDropRecord). It decodes the object token by token rather than into a
// map so that the file's order is kept.
func (t *table[T]) loadSnapshot() (exists bool, dropped int, err error) {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer f.Close()

	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return true, 0, nil // an empty file holds no records
	}
	if err != nil {
		return false, 0, fmt.Errorf("%s: %w", t.path, err)
	}
	if tok != json.Delim('{') {
		return false, 0, fmt.Errorf("%s: not a JSON object", t.path)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, 0, fmt.Errorf("%s: %w", t.path, err)
		}
		key, _ := tok.(string) // object keys are always strings
		v, err := t.codec.decode(dec.Decode)
		if errors.Is(err, errDropRecord) {
			dropped++ // its value is consumed: go on with the next key
			continue
		}
		if err != nil {
			return false, 0, fmt.Errorf("%s: record %q: %w", t.path, key, err)
		}
		if id := t.codec.id(v); id != key {
			return false, 0, fmt.Errorf("%s: record %q has id %q", t.path, key, id)
		}
		t.apply(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return false, 0, fmt.Errorf("%s: %w", t.path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return false, 0, fmt.Errorf("%s: unexpected data after the JSON object", t.path)
	}
	return true, dropped, nil
}

// replay applies the journal at path and returns how many records it
// held. A torn or corrupt tail (what a crash in the middle of a write
// leaves) is dropped with a warning, and cut off the file when truncate is
// set so that new records are not appended after garbage. A bad line with
// intact lines after it is damage, not a torn tail: replay fails and
// leaves the file alone (see readJournal).
func (t *table[T]) replay(path string, truncate bool) (int, error) {
	n := 0
	good, size, err := readJournal(path, func(e journalEntry) error {
		switch e.Op {
		case "put":
			v, err := t.codec.decode(func(r any) error { return json.Unmarshal(e.Rec, r) })
			if errors.Is(err, errDropRecord) {
				// This service never journals such a record.
				return fmt.Errorf("%w, which only a snapshot may hold", err)
			}
			if err != nil {
				return err
			}
			if id := t.codec.id(v); id != e.ID {
				return fmt.Errorf("record %q has id %q", e.ID, id)
			}
			t.apply(e.ID, v)
		case "del":
			t.drop(e.ID)
		default:
			return fmt.Errorf("unknown operation %q", e.Op)
		}
		n++
		return nil
	})
	if err != nil {
		return 0, err
	}
	if good < size {
		t.log.Warn("dropping torn tail of journal (left by a crash during a write that was never acknowledged)",
			"file", path, "offset", good, "bytes", size-good)
		if truncate {
			if err := truncateFile(path, good); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
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

// maybeCompact starts a background compaction once the journal holds more
// records than the live set (and at least compactAfter), so replay time and
// disk use stay proportional to the data. The caller holds t.mu for writing.
func (t *table[T]) maybeCompact() {
	if t.compacting || t.closed || t.jrecs <= max(t.compactAfter, len(t.nodes)) {
		return
	}
	t.startCompaction()
}

// startCompaction runs compact in the background. The caller holds t.mu
// for writing and has checked that no compaction is running and the table
// is not closed.
func (t *table[T]) startCompaction() {
	t.compacting = true
	t.bg.Add(1)
	go func() {
		defer t.bg.Done()
		if err := t.compact(); err != nil {
			// The data directory cannot be written: stop taking writes
			// rather than let the journal grow without bound.
			t.j.fail(fmt.Errorf("compact %s: %w", t.path, err))
		}
		t.mu.Lock()
		t.compacting = false
		t.mu.Unlock()
	}()
}

// compact writes a fresh snapshot and drops the journal records it makes
// redundant.
//
// Under the lock it queues a journal rotation (every record queued before
// it goes to path.journal.old, every later one to a fresh path.journal)
// and copies the value pointers, which is cheap. Outside the lock it waits
// for the rotation, writes the copy to a temporary file, fsyncs it, renames
// it over the snapshot and only then removes path.journal.old. A crash at
// any step leaves either the previous snapshot with both journals, or the
// new snapshot with journals whose records it may already reflect; since
// records hold full state, replaying one the snapshot already reflects
// changes nothing, so the load is right either way.
//
// If path.journal.old is still there (an earlier compaction was cut
// short), it does not rotate, since that would overwrite it: it writes the
// current state, which includes both journals, and then removes the old
// one.
func (t *table[T]) compact() error {
	t.mu.Lock()
	rotate := !t.haveOld
	var rotation uint64
	if rotate {
		var err error
		if rotation, err = t.j.requestRotation(); err != nil {
			t.mu.Unlock()
			return err
		}
		t.haveOld = true
		t.jrecs = 0
	}
	vals := make([]*T, 0, len(t.nodes))
	t.all(func(v *T) bool {
		vals = append(vals, v)
		return true
	})
	t.mu.Unlock()

	if rotate {
		if err := t.j.waitRotation(rotation); err != nil {
			return err
		}
	}
	if err := t.writeSnapshot(vals); err != nil {
		return err
	}
	if err := os.Remove(t.path + ".journal.old"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := syncDir(filepath.Dir(t.path)); err != nil {
		return err
	}
	t.mu.Lock()
	t.haveOld = false
	t.compactions++
	t.mu.Unlock()
	return nil
}

// noteWrite records that a write was just applied and arms the quiet
// compaction if it is not armed already. It costs a clock read, and a
// channel send for the first write after a quiet period. The caller holds
// t.mu for writing.
func (t *table[T]) noteWrite() {
	if t.quietKick == nil {
		return
	}
	t.lastWrite = time.Now()
	if !t.quietArmed {
		t.quietArmed = true
		select {
		case t.quietKick <- struct{}{}:
		default: // cannot happen: quietArmed was false, so the slot is empty
		}
	}
}

// quietLoop keeps the snapshot current while writes are few: once the
// table has had no write for quietAfter and its journal holds records, it
// starts a compaction, so that the snapshot file holds the data without
// waiting for the journal to reach the size that triggers one (see
// maybeCompact) or for close. A burst of writes is followed by one quiet
// compaction; a steady stream of writes never lets the table be quiet.
//
// Writers only note the time of their write (noteWrite); the first write
// after a quiet period wakes this goroutine, which then sleeps on a timer
// until quietAfter has passed since the latest write. While the table is
// idle it waits on its channels with no timer running. close stops it.
func (t *table[T]) quietLoop() {
	defer close(t.quietDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-t.quietKick:
		case <-t.quietStop:
			return
		}
		for wait := t.quietAfter; wait > 0; wait = t.quietCheck() {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-t.quietStop:
				timer.Stop()
				return
			}
		}
	}
}

// quietCheck is called when quietLoop's timer fires. If the table has had
// no write for quietAfter, it disarms the loop, starts a compaction if the
// journal holds records, and returns 0; otherwise it returns how much
// longer to wait.
func (t *table[T]) quietCheck() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0 // close compacts; quietLoop is about to be stopped
	}
	if since := time.Since(t.lastWrite); since < t.quietAfter {
		return t.quietAfter - since
	}
	if t.compacting {
		// A size-triggered compaction is running; records written after
		// its rotation are not in the snapshot it writes. Look again once
		// it has had time to finish.
		return t.quietAfter
	}
	t.quietArmed = false
	// After a storage failure nothing is written; the next start reloads
	// the files.
	if t.jrecs > 0 && t.j.failed() == nil {
		t.quietCompactions++
		t.startCompaction()
	}
	return 0
}

// writeSnapshot atomically replaces the snapshot file with vals: one
// record per line, in order, so the file stays readable and diffable.
func (t *table[T]) writeSnapshot(vals []*T) (err error) {
	tmp := t.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
		w.Write(appendJSONString(nil, t.codec.id(v)))
		w.WriteString(": ")
		rec, err := t.codec.encode(v)
		if err != nil {
			return err
		}
		w.Write(rec)
	}
	w.WriteString("\n}\n")
	if err := w.Flush(); err != nil { // reports any earlier write error too
		return err
	}
	if err := t.sync(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(t.path))
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
