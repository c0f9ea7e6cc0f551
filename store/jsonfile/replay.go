package jsonfile

import (
	"encoding/json"
	"errors"
	"fmt"
)

// replay applies the journal at path (see readJournal; prevSeq is the
// sequence number of the record before its first) and returns how many
// records it held and the last sequence number. A torn tail (what a crash
// in the middle of a write leaves) is dropped with a warning, and cut off
// the file when truncate is set so that new records are not appended
// after it. Damage fails the load and leaves the file alone.
func (t *table[T]) replay(path string, prevSeq uint64, truncate bool) (int, uint64, error) {
	n := 0
	good, size, last, err := readJournal(path, prevSeq, func(e journalEntry) error {
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
		return 0, 0, err
	}
	if good < size {
		t.log.Warn("dropping torn tail of journal (an incomplete last line, left by a crash during a write that was never acknowledged)",
			"file", path, "offset", good, "bytes", size-good)
		if truncate {
			if err := truncateFile(path, good); err != nil {
				return 0, 0, err
			}
		}
	}
	return n, last, nil
}
