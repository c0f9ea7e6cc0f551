// Package jsonfile keeps users, their access tokens and sessions in JSON files in a data
// directory, in the shape the old Flask service used (.db_User.json, a
// JSON object keyed by id), so that an existing data directory works as is.
//
// Each file is a snapshot plus an append-only journal of checksummed
// records (<file>.journal). A write is applied in memory, appended to the
// journal and acknowledged once fsync'd; concurrent writers share one
// fsync (group commit). Compaction folds the journal into a new snapshot in
// the background once the journal outgrows the data, so the cost of a
// write does not depend on how many records there are, and also once
// writes have paused for a moment (Options.QuietCompactAfter), so that
// the snapshot file holds current data for tools that read it, such as
// the old service's, or a backup, while the server runs.
//
// A crash at any moment loses no acknowledged write: the load replays the
// journal over the snapshot and drops a torn tail (a last line without its
// newline, which was never acknowledged) with a warning. Anything else
// wrong with a journal is damage that no crash leaves and that may have
// cost acknowledged writes: a complete line whose checksum fails (the last
// one too), or a missing record, found by the records' sequence numbers.
// Open then fails, naming the file, the byte offset and the fault, and
// changes nothing. Open also refuses a users file that is missing or empty
// in a directory that shows the service ran there before (see
// checkUsersFile), rather than start again with no users, and an empty
// sessions file (see checkSessionsFile).
//
// A failed write (a failed fsync, a journal no longer in the data
// directory, or a compaction that cannot write) fails the store for good,
// until a restart. A write is applied in memory before its journal record
// is fsync'd, so after a failed fsync the in-memory state may include that
// write, which was never acknowledged and may not be on disk; and after a
// failed fsync what the file holds is unknown. So the store then refuses every write and Ping fails (the
// server reports not ready), while reads keep answering from memory;
// restarting reloads what is really on disk.
//
// Sessions written by the old service (a raw session_id, no token_hash)
// are dropped on load with one warning, and the file is rewritten without
// them; their users sign in again.
//
// All data is held in memory; reads are map lookups under a read lock.
// A data directory is used by one process at a time (see ErrLocked).
package jsonfile

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"simpleapi/store"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Logger receives warnings (a torn journal tail dropped on start) and
	// errors (a failed write). Nil means slog.Default().
	Logger *slog.Logger
	// Sessions also opens the sessions file (.db_UserSession.json), for
	// the session_db_auth mode.
	Sessions bool
	// CompactAfter is the least number of journal records that triggers a
	// compaction; it runs once the journal holds more than
	// max(CompactAfter, live records). Zero means 10000.
	CompactAfter int
	// QuietCompactAfter is how long a file must go without a write
	// before a journal holding records is compacted in the background, so
	// that the snapshot file (.db_User.json) holds current data while the
	// server runs, not only after CompactAfter records or at Close. A
	// burst of writes is followed by one such compaction; a steady stream
	// of writes gets none (CompactAfter covers it), nor does an idle
	// store. A journal found non-empty on Open (after a crash) is
	// compacted once the store has been quiet for this long too. Zero
	// means 2s; negative disables it.
	QuietCompactAfter time.Duration
	// ObserveWrite, when set, receives the duration of each durable
	// journal write: one group-commit batch written and fsync'd, after
	// which every write in it is acknowledged. It is called from the
	// journals' flusher goroutines, possibly concurrently.
	ObserveWrite func(time.Duration)
	// Now is the sessions' clock: sessions past their deadline at Now are
	// never returned. Nil means time.Now.
	Now func() time.Time
	// SessionIdleTimeout gives a session written before sessions kept
	// their idle deadline (a record without idle_expires_at) the deadline
	// LastSeenAt + SessionIdleTimeout; zero leaves it none.
	SessionIdleTimeout time.Duration

	// syncFile fsyncs a journal or snapshot file; tests replace it to
	// simulate a failing disk.
	syncFile func(*os.File) error
}

// DB is an open data directory.
type DB struct {
	lock     *os.File
	users    *userStore
	tokens   *tokenStore
	sessions *sessionStore

	closeOnce sync.Once
	closeErr  error
}

// Open locks the data directory dir (creating it 0700 if missing) and
// loads its users and, with opts.Sessions, its sessions. If another process
// holds dir, the error wraps ErrLocked and names that process's pid.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CompactAfter <= 0 {
		opts.CompactAfter = 10000
	}
	if opts.QuietCompactAfter == 0 {
		opts.QuietCompactAfter = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.syncFile == nil {
		opts.syncFile = (*os.File).Sync
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	if err := checkUsersFile(dir); err != nil {
		return nil, err
	}
	if opts.Sessions {
		if err := checkSessionsFile(dir); err != nil {
			return nil, err
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := &DB{lock: lock}
	if db.users, err = openUsers(filepath.Join(dir, usersFile), opts); err != nil {
		db.Close()
		return nil, err
	}
	if db.tokens, err = openTokens(filepath.Join(dir, tokensFile), db.users, opts); err != nil {
		db.Close()
		return nil, err
	}
	db.users.tokens = db.tokens
	if opts.Sessions {
		if db.sessions, err = openSessions(filepath.Join(dir, sessionsFile), opts); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// Users returns the users store.
func (db *DB) Users() store.UserStore { return db.users }

// AccessTokens returns the users' access tokens.
func (db *DB) AccessTokens() store.AccessTokenStore { return db.tokens }

// Sessions returns the sessions store, or nil unless Open was given
// Options.Sessions.
func (db *DB) Sessions() store.SessionStore {
	if db.sessions == nil {
		return nil // not a typed nil, so callers can compare with nil
	}
	return db.sessions
}

// Close flushes and compacts both stores, closes their files and releases
// the data directory. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.users != nil {
			errs = append(errs, db.users.Close())
		}
		if db.tokens != nil {
			errs = append(errs, db.tokens.close())
		}
		if db.sessions != nil {
			errs = append(errs, db.sessions.Close())
		}
		// Closing the file releases the flock. The file itself stays:
		// removing it would race with a process that has just opened it.
		errs = append(errs, db.lock.Close())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}
