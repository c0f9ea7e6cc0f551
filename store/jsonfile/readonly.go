package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"simpleapi/store"
)

// ReadUsers loads the users of the data directory dir without locking it
// or writing anything, so it works while a server holds dir: the snapshot,
// then the journals written since, as Open would replay them (a torn last
// line, a write still in flight, is left out).
//
// A server may compact while this reads (fold the journal into a new
// snapshot and start an empty journal), which could make the files read
// disagree; the read is retried when the snapshot changed under it.
func ReadUsers(dir string) ([]store.User, error) {
	path := filepath.Join(dir, usersFile)
	for range 5 {
		before, err := snapshotIdentity(path)
		if err != nil {
			return nil, err
		}
		users, err := readUsersOnce(path)
		if err != nil {
			return nil, err
		}
		after, err := snapshotIdentity(path)
		if err != nil {
			return nil, err
		}
		if before == after {
			return users, nil
		}
	}
	return nil, fmt.Errorf("%s: the file kept changing while being read; try again", path)
}

// fileIdentity tells two versions of a file apart: a compaction replaces
// the snapshot by renaming a new file over it.
type fileIdentity struct {
	ino     uint64
	size    int64
	modTime int64
}

func snapshotIdentity(path string) (fileIdentity, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileIdentity{}, nil
	}
	if err != nil {
		return fileIdentity{}, err
	}
	id := fileIdentity{size: fi.Size(), modTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
	}
	return id, nil
}

func readUsersOnce(path string) ([]store.User, error) {
	t := &table[store.User]{
		path:  path,
		codec: userCodec,
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		nodes: make(map[string]*node[store.User]),
	}
	if _, _, err := t.loadSnapshot(); err != nil {
		return nil, err
	}
	jpath := path + ".journal"
	for _, p := range []string{jpath + ".old", jpath} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if _, err := t.replay(p, false); err != nil {
			return nil, err
		}
	}
	var users []store.User
	t.all(func(u *store.User) bool {
		users = append(users, copyUser(u))
		return true
	})
	return users, nil
}
