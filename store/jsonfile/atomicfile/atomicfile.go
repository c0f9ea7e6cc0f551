// Package atomicfile replaces a file so that a crash at any moment leaves
// either the old file or the whole new one, never a mix or a part.
package atomicfile

import (
	"bufio"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces the file at path with data, mode 0600.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
}

// Write atomically replaces the file at path (mode 0600) with what fill
// writes to w (whose errors are sticky, so fill may check only its last
// write): it writes path.tmp, fsyncs it with sync (nil
// means (*os.File).Sync; tests pass a failing one), renames it over path
// and fsyncs the directory so that the rename is durable too. On error the
// temporary file is removed and path is left as it was.
func Write(path string, fill func(*bufio.Writer) error, sync func(*os.File) error) (err error) {
	if sync == nil {
		sync = (*os.File).Sync
	}
	tmp := path + ".tmp"
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
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := sync(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that entries created, renamed or removed
// in it survive a crash.
func SyncDir(dir string) error {
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
