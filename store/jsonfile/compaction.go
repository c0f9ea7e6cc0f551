package jsonfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"simpleapi/store/jsonfile/atomicfile"
)

// Compaction folds a table's journal into a new snapshot, in the
// background: when the journal outgrows the data (maybeCompact), when the
// table has been quiet for a while (quietLoop), when it opens after an
// interrupted compaction, and at close.

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
	if err := atomicfile.SyncDir(filepath.Dir(t.path)); err != nil {
		return err
	}
	t.mu.Lock()
	t.haveOld = false
	t.compactions++
	t.mu.Unlock()
	return nil
}

// startQuietLoop starts the quiet compaction, unless it is disabled. A
// journal left by a crash (or a Close that could not compact) is folded
// into the snapshot too once the table has been quiet.
func (t *table[T]) startQuietLoop() {
	if t.quietAfter <= 0 {
		return
	}
	t.quietKick = make(chan struct{}, 1)
	t.quietStop = make(chan struct{})
	t.quietDone = make(chan struct{})
	go t.quietLoop()
	if t.jrecs > 0 {
		t.mu.Lock()
		t.noteWrite()
		t.mu.Unlock()
	}
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
