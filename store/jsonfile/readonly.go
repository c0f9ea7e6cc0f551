package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"simpleapi/store"
)

// ReadUsers loads the users of the data directory dir without locking it
// or writing anything, so it works while a server holds dir: the snapshot,
// then the journals written since, as Open would replay them (a torn last
// line, a write still in flight, is left out).
//
// A server may compact while this reads: rotate the journal, rename a new
// snapshot over the old one, remove the rotated journal. Files read across
// such a step could disagree, so the read is retried unless every one of
// the three paths names the same file (inode) after the read as before.
// The files found before are held open meanwhile, so that their inode
// numbers cannot be reused by new files.
func ReadUsers(dir string) ([]store.User, error) {
	// Lost users are reported as Open reports them, not listed as none.
	if err := checkUsersFile(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, usersFile)
	paths := []string{path, path + ".journal.old", path + ".journal"}
	for range 100 {
		before, closeAll, err := holdFiles(paths)
		if err != nil {
			return nil, err
		}
		// An error counts only if the files stayed the same: a file
		// removed under the read is the compaction, not damage.
		users, readErr := readUsersOnce(path)
		after, err := inodes(paths)
		closeAll()
		if err != nil {
			return nil, err
		}
		if slices.Equal(before, after) {
			return users, readErr
		}
	}
	return nil, fmt.Errorf("%s: the files kept changing while being read; try again", path)
}

// holdFiles opens each path that exists and returns their inode numbers (0
// for a missing file) and a function that closes them.
func holdFiles(paths []string) ([]uint64, func(), error) {
	var open []*os.File
	closeAll := func() {
		for _, f := range open {
			f.Close()
		}
	}
	ids := make([]uint64, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		open = append(open, f)
		fi, err := f.Stat()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ids[i] = inode(fi)
	}
	return ids, closeAll, nil
}

// inodes returns the inode number each path names now, 0 when missing.
func inodes(paths []string) ([]uint64, error) {
	ids := make([]uint64, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ids[i] = inode(fi)
	}
	return ids, nil
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
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
	// As openTable does, without truncating a torn tail.
	jpath := path + ".journal"
	var lastSeq uint64
	for _, p := range []string{jpath + ".old", jpath} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		var err error
		if _, lastSeq, err = t.replay(p, lastSeq, false); err != nil {
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

// HasSessions reports whether dir holds a sessions file, written by a
// server in the session_db_auth mode, so that a tool changing users can
// open it and end the sessions its changes must end.
func HasSessions(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, sessionsFile))
	return err == nil
}
