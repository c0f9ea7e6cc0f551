package jsonfile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"simpleapi/store/jsonfile/atomicfile"
)

// journal is the append-only log of one table, written with group commit:
// writers hand it encoded records in the order they applied them in memory
// and get a sequence number; one flusher goroutine writes everything that
// has accumulated, fsyncs once for the whole batch, and then wakes every
// writer whose record is now durable. Many concurrent writers therefore
// share one fsync instead of queueing for one each.
type journal struct {
	path    string
	sync    func(*os.File) error
	log     *slog.Logger
	observe func(time.Duration) // Options.ObserveWrite; may be nil
	base    uint64              // on-disk sequence number of the record before the first added here

	mu        sync.Mutex
	work      sync.Cond // the flusher waits here for records, a rotation or close
	progress  sync.Cond // writers wait here for durable (or rotations) to advance
	buf       []byte    // encoded lines not yet taken by the flusher
	spare     []byte    // the flusher's previous buffer, reused to save allocations
	queued    uint64    // sequence number of the last line added to buf
	durable   uint64    // sequence number of the last line known to be on disk
	rotate    bool      // a rotation is due once buf[:rotateOff] is on disk
	rotateOff int
	rotations uint64 // rotations completed
	err       error  // first failure; sticky: see fail
	closing   bool
	done      chan struct{} // closed when the flusher has exited

	f *os.File // used only by the flusher goroutine while it runs
}

// openJournal opens (creating if needed) the journal at path for appending
// and starts its flusher. lastSeq is the sequence number of the last
// record on disk (see readJournal); the records added go on from it.
// observe, if not nil, receives the duration of each batch written and
// synced.
func openJournal(path string, lastSeq uint64, sync func(*os.File) error, log *slog.Logger, observe func(time.Duration)) (*journal, error) {
	f, err := createJournalFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	j := &journal{path: path, base: lastSeq, sync: sync, log: log, observe: observe, f: f, done: make(chan struct{})}
	j.work.L = &j.mu
	j.progress.L = &j.mu
	go j.run()
	return j, nil
}

// add queues one record (see appendRecord), numbered on from the last on
// disk, and returns its place in this process's queue, to be passed to
// wait. Callers add records in the order they applied the
// changes in memory, which is the order they reach the disk.
func (j *journal) add(op, id string, rec []byte) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.closing {
		return 0, errClosed
	}
	j.queued++
	j.buf = appendRecord(j.buf, j.base+j.queued, op, id, rec)
	j.work.Signal()
	return j.queued, nil
}

// wait blocks until the line with sequence number seq is on disk.
func (j *journal) wait(seq uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.durable < seq && j.err == nil {
		j.progress.Wait()
	}
	if j.durable >= seq {
		return nil
	}
	return j.err
}

// requestRotation asks the flusher to move the current file aside to
// path.old, once every line queued so far is on disk, and to start a fresh
// file for the lines queued after this call. Pass the result to
// waitRotation.
func (j *journal) requestRotation() (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.rotate {
		return 0, errors.New("journal rotation already pending")
	}
	j.rotate, j.rotateOff = true, len(j.buf)
	j.work.Signal()
	return j.rotations + 1, nil
}

// waitRotation blocks until rotation number n has completed.
func (j *journal) waitRotation(n uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.rotations < n && j.err == nil {
		j.progress.Wait()
	}
	if j.rotations >= n {
		return nil
	}
	return j.err
}

// fail marks the journal failed (if it is not already) and wakes every
// waiter, whose writes are then not acknowledged.
//
// The failure is sticky until a restart. After a failed fsync the file's
// contents are unknown (the kernel may have dropped the dirty pages), and
// the table applied each write in memory before queueing its record, so
// the in-memory state may include writes that were never acknowledged and
// may not be on disk. Readers keep seeing that state until the process
// restarts and reloads the files; to keep it from growing or being built
// on, the table then refuses every write, and Ping (readiness) fails.
func (j *journal) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.setErr(err)
}

func (j *journal) setErr(err error) {
	if j.err == nil {
		j.err = err
		j.log.Error("storage failed; refusing further writes", "file", j.path, "err", err)
	}
	j.progress.Broadcast()
}

// failed returns the error that failed the journal, or nil.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// close writes and syncs whatever is queued, stops the flusher and closes
// the file. It returns the journal's failure, if any.
func (j *journal) close() error {
	j.mu.Lock()
	j.closing = true
	j.work.Signal()
	j.mu.Unlock()
	<-j.done
	err := j.f.Close()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	return err
}

// run is the flusher goroutine.
func (j *journal) run() {
	defer close(j.done)
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for len(j.buf) == 0 && !j.rotate && !j.closing {
			j.work.Wait()
		}
		if len(j.buf) == 0 && !j.rotate {
			return // closing, and everything is written
		}
		buf, seq := j.buf, j.queued
		rotate, off := j.rotate, j.rotateOff
		j.buf, j.rotate = j.spare[:0], false
		failed := j.err != nil
		j.mu.Unlock()

		var err error
		if !failed { // after a failure nothing more is written
			start := time.Now()
			err = j.flush(buf, rotate, off)
			if err == nil && len(buf) > 0 && j.observe != nil {
				j.observe(time.Since(start))
			}
		}

		j.mu.Lock()
		j.spare = buf
		if err != nil {
			j.setErr(fmt.Errorf("write %s: %w", j.path, err))
		}
		if j.err == nil {
			j.durable = seq
			if rotate {
				j.rotations++
			}
		}
		j.progress.Broadcast()
	}
}

// flush writes buf and fsyncs it, rotating the file after the first off
// bytes when rotate is set.
func (j *journal) flush(buf []byte, rotate bool, off int) error {
	if rotate {
		if err := j.write(buf[:off]); err != nil {
			return err
		}
		if err := j.rotateFile(); err != nil {
			return err
		}
		buf = buf[off:]
	}
	return j.write(buf)
}

func (j *journal) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := j.f.Write(b); err != nil {
		return err
	}
	if err := j.sync(j.f); err != nil {
		return err
	}
	return j.checkLinked()
}

// errUnlinked is the failure of a journal whose file has been deleted, as
// with the whole data directory: its records would be lost at the next
// start.
var errUnlinked = errors.New("the journal file is no longer in the data directory (deleted)")

// checkLinked fails if the journal file has no name left, so that a write
// is acknowledged only if the next start can read it. One fstat per batch,
// next to an fsync, and no allocation.
func (j *journal) checkLinked() error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(j.f.Fd()), &st); err != nil {
		return err
	}
	if st.Nlink == 0 {
		return errUnlinked
	}
	return nil
}

// rotateFile renames the (fully synced) journal to path.old and opens a
// fresh one. Both names are durable before it returns.
func (j *journal) rotateFile() error {
	if err := os.Rename(j.path, j.path+".old"); err != nil {
		return err
	}
	f, err := createJournalFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	old := j.f
	j.f = f
	return old.Close()
}

// createJournalFile opens a journal file with flag and makes its directory
// entry durable before any record written to it is acknowledged.
func createJournalFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// errClosed is returned for writes to a closed table.
var errClosed = errors.New("store closed")
