package jsonfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// The quiet compaction tests run in a testing/synctest bubble: its clock
// moves only when every goroutine of the store is blocked, so the timers
// fire exactly when they are due, whatever the machine's speed, and
// synctest.Wait returns once the background work (a compaction, with its
// file I/O) has finished.

// quietTestAfter is the quiet period the tests use.
const quietTestAfter = 50 * time.Millisecond

// settle lets time pass, on the bubble's clock, until every quiet period
// due has ended, and waits for the work it started.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// compactionCounts returns how many compactions tb has completed and how
// many quiet compactions it has started, and whether its quiet timer is
// armed.
func compactionCounts[T any](tb *table[T]) (total, quiet int, armed bool) {
	tb.mu.RLock()
	defer tb.mu.RUnlock()
	return tb.compactions, tb.quietCompactions, tb.quietArmed
}

// readSnapshotFile reads a snapshot file directly, as other tools would,
// and decodes it as a JSON object keyed by id.
func readSnapshotFile(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// snapshotOnDisk returns the records of the snapshot of file (usersFile,
// sessionsFile) in dir, by id.
func snapshotOnDisk(t *testing.T, dir, file string) map[string]json.RawMessage {
	t.Helper()
	recs, err := readSnapshotFile(filepath.Join(dir, file))
	require.NoError(t, err)
	return recs
}

// journalEmpty reports whether the journals of the file at path hold
// nothing: path.journal empty or absent, path.journal.old absent.
func journalEmpty(path string) error {
	st, err := os.Stat(path + ".journal")
	if err == nil && st.Size() > 0 {
		return fmt.Errorf("%s.journal holds %d bytes", path, st.Size())
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := os.Stat(path + ".journal.old"); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s.journal.old exists (%v)", path, err)
	}
	return nil
}

// requireUsersOnDisk checks that the users snapshot file in dir holds
// exactly want, in the old service's shape, and the journal is empty.
func requireUsersOnDisk(t *testing.T, dir string, want []store.User) {
	t.Helper()
	path := filepath.Join(dir, usersFile)
	snap, err := readSnapshotFile(path)
	require.NoError(t, err)
	assert.Len(t, snap, len(want))
	for _, u := range want {
		raw, ok := snap[u.ID]
		if !assert.True(t, ok, "user %s not in %s", u.ID, usersFile) {
			continue
		}
		var r userRecord
		if assert.NoError(t, json.Unmarshal(raw, &r)) {
			assert.Equal(t, u.ID, r.ID)
			if assert.NotNil(t, r.Email) {
				assert.Equal(t, u.Email, *r.Email)
			}
			assert.Equal(t, *u.FirstName, *r.FirstName)
		}
	}
	assert.NoError(t, journalEmpty(path))
}

// requireStaysIdle checks, over several quiet periods, that tb starts no
// compaction and has no quiet timer armed.
func requireStaysIdle[T any](t *testing.T, tb *table[T]) {
	t.Helper()
	total, quiet, armed := compactionCounts(tb)
	require.False(t, armed, "quiet timer armed while idle")
	settle(5 * quietTestAfter)
	total2, quiet2, armed2 := compactionCounts(tb)
	assert.Equal(t, total, total2, "compactions while idle")
	assert.Equal(t, quiet, quiet2, "quiet compactions while idle")
	assert.False(t, armed2, "quiet timer armed while idle")
}

// TestQuietCompaction: a few writes and then a pause put the data in the
// snapshot files, in the old shape, with the journals emptied, and then
// nothing more happens while the store is idle.
func TestQuietCompaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.Sessions = true
		opts.QuietCompactAfter = quietTestAfter
		db := openDB(t, dir, opts)
		us, ss := db.Users(), db.Sessions()
		ctx := t.Context()

		var want []store.User
		for i := range 5 {
			require.NoError(t, us.CreateUser(ctx, testUser(i)))
			want = append(want, testUser(i))
		}
		renamed := testUser(2)
		renamed.FirstName = strPtr("Renamed")
		_, err := us.UpdateUser(ctx, renamed.ID, func(u *store.User) error {
			u.FirstName = renamed.FirstName
			return nil
		})
		require.NoError(t, err)
		want[2] = renamed
		require.NoError(t, us.DeleteUser(ctx, testUser(4).ID))
		want = want[:4]
		var sessionIDs []string
		for i := range 3 {
			s, _ := testSession(i, testUser(0).ID)
			require.NoError(t, ss.CreateSession(ctx, s))
			sessionIDs = append(sessionIDs, s.ID)
		}

		// Not before the quiet period has passed.
		settle(quietTestAfter - time.Millisecond)
		_, quiet, armed := compactionCounts(db.users.t)
		assert.Equal(t, 0, quiet)
		assert.True(t, armed)

		settle(time.Millisecond)
		requireUsersOnDisk(t, dir, want)
		spath := filepath.Join(dir, sessionsFile)
		snap, err := readSnapshotFile(spath)
		require.NoError(t, err)
		assert.Len(t, snap, len(sessionIDs))
		for _, id := range sessionIDs {
			assert.Contains(t, snap, id)
		}
		assert.NoError(t, journalEmpty(spath))

		for _, tb := range []interface{ idle() bool }{db.users.t, db.sessions.t} {
			assert.True(t, tb.idle())
		}
		_, quiet, _ = compactionCounts(db.users.t)
		assert.Equal(t, 1, quiet)
		_, quiet, _ = compactionCounts(db.sessions.t)
		assert.Equal(t, 1, quiet)
		requireStaysIdle(t, db.users.t)
		requireStaysIdle(t, db.sessions.t)

		// What the snapshot holds loads back.
		require.NoError(t, db.Close())
		got, err := openDB(t, dir, opts).Users().ListUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}

// idle reports whether no compaction is running and no quiet one is
// pending.
func (t *table[T]) idle() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return !t.compacting && !t.quietArmed
}

// TestQuietCompactionNotDuringStream: a steady stream of writes gets no
// quiet compaction; the end of the stream gets exactly one.
func TestQuietCompactionNotDuringStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.QuietCompactAfter = quietTestAfter
		db := openDB(t, dir, opts)
		us := db.Users()
		tb := db.users.t
		ctx := t.Context()

		require.NoError(t, us.CreateUser(ctx, testUser(0)))
		settle(quietTestAfter)
		total0, quiet0, armed := compactionCounts(tb)
		require.Equal(t, 1, quiet0)
		require.False(t, armed)

		// A write every 10ms for 300ms, each gap shorter than the quiet
		// period.
		for k := 1; k <= 30; k++ {
			settle(10 * time.Millisecond)
			_, err := us.UpdateUser(ctx, testUser(0).ID, func(u *store.User) error {
				u.FirstName = strPtr(fmt.Sprintf("v%d", k))
				return nil
			})
			require.NoError(t, err)
			_, quiet, _ := compactionCounts(tb)
			require.Equal(t, quiet0, quiet, "quiet compaction during a steady stream of writes (write %d)", k)
		}

		// After the stream: exactly one quiet compaction, then nothing.
		settle(quietTestAfter)
		want, err := us.ListUsers(ctx)
		require.NoError(t, err)
		requireUsersOnDisk(t, dir, want)
		assert.True(t, tb.idle())
		total, quiet, _ := compactionCounts(tb)
		assert.Equal(t, quiet0+1, quiet)
		assert.Equal(t, total0+1, total)
		requireStaysIdle(t, tb)
	})
}

// TestQuietCompactionClose: Close with a quiet period pending neither
// waits for it nor leaves the goroutine behind, and still compacts.
func TestQuietCompactionClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.QuietCompactAfter = time.Hour
		db, err := Open(dir, opts)
		require.NoError(t, err)
		var want []store.User
		for i := range 3 {
			require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
			want = append(want, testUser(i))
		}
		tb := db.users.t
		_, _, armed := compactionCounts(tb)
		require.True(t, armed)

		start := time.Now()
		require.NoError(t, db.Close())
		// On the bubble's clock, waiting for the timer would take an hour.
		assert.Equal(t, time.Duration(0), time.Since(start))
		select {
		case <-tb.quietDone:
		default:
			t.Fatal("quiet compaction goroutine still running after Close")
		}
		_, quiet, _ := compactionCounts(tb)
		assert.Equal(t, 0, quiet)
		requireUsersOnDisk(t, dir, want)
	})
}

// TestQuietCompactionCloseRace closes the store at moments around a quiet
// compaction: before it is due, as it is due, and after it.
func TestQuietCompactionCloseRace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.Sessions = true
		opts.QuietCompactAfter = 2 * time.Millisecond
		var want []store.User
		for i := range 20 {
			db, err := Open(dir, opts)
			require.NoError(t, err)
			require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
			s, _ := testSession(i, testUser(i).ID)
			require.NoError(t, db.Sessions().CreateSession(t.Context(), s))
			want = append(want, testUser(i))
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			require.NoError(t, db.Close())
			for _, tb := range []interface{ quietStopped() bool }{db.users.t, db.sessions.t} {
				require.True(t, tb.quietStopped(), "round %d", i)
			}
			requireUsersOnDisk(t, dir, want)
		}
	})
}

// quietStopped reports whether the quiet compaction goroutine has exited.
func (t *table[T]) quietStopped() bool {
	select {
	case <-t.quietDone:
		return true
	default:
		return false
	}
}

// TestQuietCompactionDisabled: a negative QuietCompactAfter leaves the
// data in the journal until there is enough of it, or Close.
func TestQuietCompactionDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.QuietCompactAfter = -1
		db := openDB(t, dir, opts)
		require.NoError(t, db.Users().CreateUser(t.Context(), testUser(1)))
		settle(time.Hour)
		snap, err := readSnapshotFile(filepath.Join(dir, usersFile))
		require.NoError(t, err)
		assert.Empty(t, snap)
		assert.Nil(t, db.users.t.quietKick)
		require.NoError(t, db.Close())
		requireUsersOnDisk(t, dir, []store.User{testUser(1)})
	})
}

// TestQuietCompactionAfterCrash: a journal left by a crash is folded into
// the snapshot once the reopened store has been quiet, without a write.
func TestQuietCompactionAfterCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.QuietCompactAfter = -1
		db := openDB(t, dir, opts)
		var want []store.User
		for i := range 4 {
			require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
			want = append(want, testUser(i))
		}
		crashed := copyDir(t, dir)
		require.Error(t, journalEmpty(filepath.Join(crashed, usersFile)))

		opts.QuietCompactAfter = quietTestAfter
		db2 := openDB(t, crashed, opts)
		settle(quietTestAfter)
		requireUsersOnDisk(t, crashed, want)
		assert.True(t, db2.users.t.idle())
		requireStaysIdle(t, db2.users.t)
	})
}
