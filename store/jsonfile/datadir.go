package jsonfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"simpleapi/store/jsonfile/atomicfile"
)

// The data directory holds, besides the users and sessions files and their
// journals, these files.
const (
	// lockFile is the data directory's lock, holding the owner's pid.
	lockFile = ".lock"
	// SecretFile keeps the generated session secret, for the server that
	// generates one.
	SecretFile = ".session_secret"
)

// ErrLocked is returned (wrapped) by Open when another process, or another
// Open in this one, holds the data directory.
var ErrLocked = errors.New("data directory is in use by another simpleapi process")

// checkUsersFile refuses a data directory whose users file is missing or
// empty although other files show that the service ran there before: the
// users were lost (a deleted or truncated file), and starting would
// silently begin again with no users. A new directory starts empty. (A
// crash during the very first start, between making the lock file and the
// users file, is refused too; the message says how to start anew.)
func checkUsersFile(dir string) error {
	path := filepath.Join(dir, usersFile)
	st, err := os.Stat(path)
	state := "missing"
	switch {
	case err == nil && st.Size() > 0:
		return nil
	case err == nil:
		state = "empty"
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	var found []string
	for _, name := range []string{lockFile, SecretFile, usersFile + ".journal", usersFile + ".journal.old",
		sessionsFile, sessionsFile + ".journal", sessionsFile + ".journal.old", tokensFile, tokensFile + ".journal"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%s is %s, but the data directory was used before (it holds %s): refusing to start "+
		"without the users; restore %s from a backup, or move every file out of the directory to start anew",
		path, state, strings.Join(found, ", "), usersFile)
}

// checkSessionsFile refuses a sessions file that is empty (0 bytes), as
// checkUsersFile does an empty users file: the service never writes one
// (a snapshot is replaced whole, and an empty store is "{}"), so the file
// was truncated and its sessions lost, and starting would silently end
// them all. A missing sessions file is a first start in the sessions
// mode.
func checkSessionsFile(dir string) error {
	path := filepath.Join(dir, sessionsFile)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.Size() > 0:
		return nil
	}
	// The journals alone would bring back only the latest changes, so
	// they go aside with it.
	return fmt.Errorf("%s: the file is empty (0 bytes): refusing to start without the sessions; restore %s from a backup, "+
		"or move it and its journals (%s.journal*) aside to start without sessions (their users sign in again)",
		path, sessionsFile, sessionsFile)
}

// makeDir creates dir 0700 if it does not exist and makes its entry
// durable in the parent directory.
func makeDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(filepath.Clean(dir)))
}

// lockedError is ErrLocked with the directory and the holder's pid.
type lockedError struct {
	dir string
	pid int // 0: unknown
}

func (e *lockedError) Error() string {
	msg := fmt.Sprintf("data directory %q is in use by another simpleapi process", e.dir)
	if e.pid > 0 {
		msg += fmt.Sprintf(" (pid %d)", e.pid)
	}
	return msg
}

func (e *lockedError) Unwrap() error { return ErrLocked }

// lockDir takes an exclusive flock on dir/.lock and writes our pid into
// it. The kernel drops the lock when the process dies, so a crash never
// leaves the directory locked.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &lockedError{dir: dir, pid: readPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return f, nil
}

// readPID returns the pid written in a lock file, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
