package jsonfile

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A journal line is the CRC-32C of the body as 8 hex digits, a space, the
// body and a newline. The body is one JSON object:
//
//	{"op":"put","id":"<id>","rec":{...full record...}}
//	{"op":"del","id":"<id>"}
//
// Records hold full state, never deltas, so replaying a record that a
// snapshot already contains is harmless. The checksum and the newline let
// a load tell a complete line from a torn or garbage tail.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalEntry is the decoded body of a journal line.
type journalEntry struct {
	Op  string          `json:"op"`
	ID  string          `json:"id"`
	Rec json.RawMessage `json:"rec"`
}

// appendLine appends one journal line for op ("put" with the record rec,
// or "del" with rec nil). The checksum is written as a placeholder first
// and filled in at the end so that the body is built once, in place.
func appendLine(dst []byte, op, id string, rec []byte) []byte {
	start := len(dst)
	dst = append(dst, "00000000 "...)
	dst = append(dst, `{"op":"`...)
	dst = append(dst, op...)
	dst = append(dst, `","id":`...)
	dst = appendJSONString(dst, id)
	if rec != nil {
		dst = append(dst, `,"rec":`...)
		dst = append(dst, rec...)
	}
	dst = append(dst, '}')
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(dst[start+9:], crcTable))
	hex.Encode(dst[start:start+8], sum[:])
	return append(dst, '\n')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// parseLine checks a line (with its newline) and returns its body; ok is
// false for a torn or corrupt line.
func parseLine(line []byte) (body []byte, ok bool) {
	if len(line) < 10 || line[8] != ' ' || line[len(line)-1] != '\n' {
		return nil, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, false
	}
	body = line[9 : len(line)-1]
	return body, crc32.Checksum(body, crcTable) == binary.BigEndian.Uint32(sum[:])
}

// readJournal calls fn for each intact record of the journal at path, in
// order. It stops at the first torn or corrupt line and returns the length
// of the intact prefix (good) and of the whole file (size); good < size
// means a tail should be dropped. A missing file is an empty journal. An
// error from fn stops the read and is returned.
//
// Only the tail can be torn by a crash: lines are only ever appended, so
// nothing is written after a line that a crash cut short. A bad line
// followed by an intact one is therefore damage in the middle of the file
// (a disk error, an edit), and dropping everything after it would lose
// acknowledged writes: readJournal returns a *damagedError instead, and the
// file is left as it is.
func readJournal(path string, fn func(journalEntry) error) (good, size int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()

	r := bufio.NewReaderSize(f, 1<<16)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A last line without its newline is torn; an empty one is
			// just the end of the file.
			return good, size, nil
		}
		if err != nil {
			return good, size, err
		}
		body, ok := parseLine(line)
		if !ok {
			intact, err := intactLineIn(r)
			if err != nil {
				return good, size, err
			}
			if intact {
				return good, size, &damagedError{path: path, offset: good}
			}
			return good, size, nil
		}
		var e journalEntry
		if err := json.Unmarshal(body, &e); err != nil {
			// The checksum matched, so this line is what was written:
			// not a crash artefact but a bug or a foreign file.
			return good, size, fmt.Errorf("%s at offset %d: %w", path, good, err)
		}
		if err := fn(e); err != nil {
			return good, size, fmt.Errorf("%s at offset %d: %w", path, good, err)
		}
		good += int64(len(line))
	}
}

// intactLineIn reports whether what is left of r holds a complete line
// with a valid checksum.
func intactLineIn(r *bufio.Reader) (bool, error) {
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return false, nil // a last line without its newline is not intact
		}
		if err != nil {
			return false, err
		}
		if _, ok := parseLine(line); ok {
			return true, nil
		}
	}
}

// damagedError is readJournal's error for a journal with a bad line
// followed by intact ones.
type damagedError struct {
	path   string
	offset int64 // of the first bad line
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("%s is damaged at byte %d with intact records after it; not truncating — "+
		"restore from backup or move the file aside", e.path, e.offset)
}

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
// and starts its flusher. observe, if not nil, receives the duration of
// each batch written and synced.
func openJournal(path string, sync func(*os.File) error, log *slog.Logger, observe func(time.Duration)) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// Make sure the file's directory entry is durable before any record
	// written to it is acknowledged.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	j := &journal{path: path, sync: sync, log: log, observe: observe, f: f, done: make(chan struct{})}
	j.work.L = &j.mu
	j.progress.L = &j.mu
	go j.run()
	return j, nil
}

// add queues one record (see appendLine) and returns its sequence number,
// to be passed to wait. Callers add records in the order they applied the
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
	j.buf = appendLine(j.buf, op, id, rec)
	j.queued++
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
	return j.sync(j.f)
}

// rotateFile renames the (fully synced) journal to path.old and opens a
// fresh one. Both names are durable before it returns.
func (j *journal) rotateFile() error {
	if err := os.Rename(j.path, j.path+".old"); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		f.Close()
		return err
	}
	old := j.f
	j.f = f
	return old.Close()
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// truncateFile cuts the file at path to size and syncs it.
func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errClosed is returned for writes to a closed table.
var errClosed = errors.New("store closed")
