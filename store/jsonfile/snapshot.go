package jsonfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"simpleapi/store/jsonfile/atomicfile"
)

// The snapshot file is the old service's shape: one JSON object keyed by
// id, in insertion order. It is read when a table opens and rewritten
// whole by compaction (see compaction.go).

// loadSnapshot reads the snapshot file, if there is one, and returns
// whether there was a non-empty one and how many records it dropped (see
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
		// An empty file holds no records. Report it as absent, so that it
		// is rewritten as an empty object: an empty users file is taken
		// for a lost one once the directory was used (see checkUsersFile).
		return false, 0, nil
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

// writeSnapshot atomically replaces the snapshot file with vals: one
// record per line, in order, so the file stays readable and diffable.
func (t *table[T]) writeSnapshot(vals []*T) error {
	return atomicfile.Write(t.path, func(w *bufio.Writer) error {
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
		_, err := w.WriteString("\n}\n")
		return err
	}, t.sync)
}
