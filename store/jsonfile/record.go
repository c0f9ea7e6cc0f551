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
	"os"
	"strconv"
)

// A journal line is the CRC-32C of the body as 8 hex digits, a space, the
// body and a newline. The body is one JSON object:
//
//	{"seq":7,"op":"put","id":"<id>","rec":{...full record...}}
//	{"seq":8,"op":"del","id":"<id>"}
//
// Records hold full state, never deltas, so replaying a record that a
// snapshot already contains is harmless. The newline tells a complete line
// from a torn one (it is the last byte written), the checksum tells an
// intact line from a damaged one, and seq, which goes up by one from each
// record to the next (across a rotation too), tells a missing record.
// Lines written before sequence numbers existed have no seq; they load as
// they are, unchecked, and may only come before sequenced ones.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalEntry is the decoded body of a journal line. Seq is 0 in a line
// without a sequence number.
type journalEntry struct {
	Seq uint64          `json:"seq"`
	Op  string          `json:"op"`
	ID  string          `json:"id"`
	Rec json.RawMessage `json:"rec"`
}

// appendRecord appends one journal line for op ("put" with the record rec,
// or "del" with rec nil) with sequence number seq (0: none). The checksum
// is written as a placeholder first and filled in at the end so that the
// body is built once, in place.
func appendRecord(dst []byte, seq uint64, op, id string, rec []byte) []byte {
	start := len(dst)
	dst = append(dst, "00000000 {"...)
	if seq > 0 {
		dst = append(dst, `"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"op":"`...)
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

// parseLine checks a complete line (with its newline) and returns its
// body; ok is false if the line is damaged.
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

// readJournal calls fn for each record of the journal at path, in order.
// prevSeq is the sequence number of the record before the file's first
// (the last of path.old when both are read), or 0 if unknown. It returns
// the length of the intact prefix (good), of the whole file (size), and
// the last sequence number read (prevSeq if none). A missing file is an
// empty journal. An error from fn stops the read and is returned.
//
// A crash can only cut the last line short: lines are only ever appended,
// and the newline is a line's last byte. So a last line without its
// newline is a torn tail (good < size), which the caller drops: it was
// never acknowledged. Anything else that is wrong is damage (a disk error,
// an edit) that may have cost acknowledged writes: a complete line whose
// checksum fails, wherever it is, or a sequence number that skips one.
// readJournal then returns a *damagedError and the caller leaves the file
// as it is.
func readJournal(path string, prevSeq uint64, fn func(journalEntry) error) (good, size int64, last uint64, err error) {
	last = prevSeq
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, last, nil
	}
	if err != nil {
		return 0, 0, last, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, last, err
	}
	size = st.Size()

	r := bufio.NewReaderSize(f, 1<<16)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A last line without its newline is torn; an empty one is
			// just the end of the file.
			return good, size, last, nil
		}
		if err != nil {
			return good, size, last, err
		}
		body, ok := parseLine(line)
		if !ok {
			return good, size, last, &damagedError{path: path, offset: good, what: "a complete record fails its checksum"}
		}
		var e journalEntry
		if err := json.Unmarshal(body, &e); err != nil {
			// The checksum matched, so this line is what was written:
			// not a crash artefact but a bug or a foreign file.
			return good, size, last, fmt.Errorf("%s at offset %d: %w", path, good, err)
		}
		switch {
		case e.Seq == 0 && last != 0:
			return good, size, last, &damagedError{path: path, offset: good,
				what: fmt.Sprintf("a record without a sequence number after record %d", last)}
		case e.Seq != 0 && last != 0 && e.Seq != last+1:
			return good, size, last, &damagedError{path: path, offset: good,
				what: fmt.Sprintf("record %d follows record %d: records are missing", e.Seq, last)}
		}
		if err := fn(e); err != nil {
			return good, size, last, fmt.Errorf("%s at offset %d: %w", path, good, err)
		}
		if e.Seq != 0 {
			last = e.Seq
		}
		good += int64(len(line))
	}
}

// damagedError is readJournal's error for a journal that is damaged rather
// than torn.
type damagedError struct {
	path   string
	offset int64 // of the first bad line
	what   string
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("%s is damaged at byte %d (%s); not truncating — "+
		"restore from backup or move the file aside", e.path, e.offset, e.what)
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
