package jsonfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// quietTestAfter is the quiet period the tests use.
const quietTestAfter = 50 * time.Millisecond

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

// requireUsersOnDisk waits until the users snapshot file in dir holds
// exactly want, in the old service's shape, and the journal is empty.
func requireUsersOnDisk(t *testing.T, dir string, want []store.User) {
	t.Helper()
	path := filepath.Join(dir, usersFile)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		snap, err := readSnapshotFile(path)
		if !assert.NoError(c, err) {
			return
		}
		assert.Len(c, snap, len(want))
		for _, u := range want {
			raw, ok := snap[u.ID]
			if !assert.True(c, ok, "user %s not in %s", u.ID, usersFile) {
				continue
			}
			var r userRecord
			if assert.NoError(c, json.Unmarshal(raw, &r)) {
				assert.Equal(c, u.ID, r.ID)
				if assert.NotNil(c, r.Email) {
					assert.Equal(c, u.Email, *r.Email)
				}
				assert.Equal(c, *u.FirstName, *r.FirstName)
			}
		}
		assert.NoError(c, journalEmpty(path))
	}, 10*time.Second, 10*time.Millisecond)
}

// requireStaysIdle checks, over several quiet periods, that tb starts no
// compaction and has no quiet timer armed.
func requireStaysIdle[T any](t *testing.T, tb *table[T]) {
	t.Helper()
	total, quiet, armed := compactionCounts(tb)
	require.False(t, armed, "quiet timer armed while idle")
	time.Sleep(5 * quietTestAfter)
	total2, quiet2, armed2 := compactionCounts(tb)
	assert.Equal(t, total, total2, "compactions while idle")
	assert.Equal(t, quiet, quiet2, "quiet compactions while idle")
	assert.False(t, armed2, "quiet timer armed while idle")
}

// TestQuietCompaction: a few writes and then a pause put the data in the
// snapshot files, in the old shape, with the journals emptied, and then
// nothing more happens while the store is idle.
func TestQuietCompaction(t *testing.T) {
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

	requireUsersOnDisk(t, dir, want)
	spath := filepath.Join(dir, sessionsFile)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		snap, err := readSnapshotFile(spath)
		if !assert.NoError(c, err) {
			return
		}
		assert.Len(c, snap, len(sessionIDs))
		for _, id := range sessionIDs {
			assert.Contains(c, snap, id)
		}
		assert.NoError(c, journalEmpty(spath))
	}, 10*time.Second, 10*time.Millisecond)

	// Wait until the quiet compactions have finished, not just renamed
	// the snapshot into place.
	for _, tb := range []interface{ idle() bool }{db.users.t, db.sessions.t} {
		require.Eventually(t, tb.idle, 10*time.Second, 5*time.Millisecond)
	}
	_, quiet, _ := compactionCounts(db.users.t)
	assert.GreaterOrEqual(t, quiet, 1)
	_, quiet, _ = compactionCounts(db.sessions.t)
	assert.GreaterOrEqual(t, quiet, 1)
	requireStaysIdle(t, db.users.t)
	requireStaysIdle(t, db.sessions.t)

	// What the snapshot holds loads back.
	require.NoError(t, db.Close())
	got, err := openDB(t, dir, opts).Users().ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
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
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.QuietCompactAfter = quietTestAfter
	db := openDB(t, dir, opts)
	us := db.Users()
	tb := db.users.t
	ctx := t.Context()

	require.NoError(t, us.CreateUser(ctx, testUser(0)))
	require.Eventually(t, func() bool {
		_, quiet, armed := compactionCounts(tb)
		return quiet == 1 && !armed && tb.idle()
	}, 10*time.Second, 5*time.Millisecond)
	total0, quiet0, _ := compactionCounts(tb)

	// A write every 10ms for 300ms. Each runs in its own goroutine so
	// that a slow fsync does not stretch the gap between writes; the
	// counts are sampled at every tick, while the stream is under way.
	var wg sync.WaitGroup
	ticker := time.NewTicker(10 * time.Millisecond)
	start := time.Now()
	prev := start
	var maxGap time.Duration
	maxQuiet := quiet0
	for k := 1; time.Since(start) < 300*time.Millisecond; k++ {
		now := <-ticker.C
		maxGap = max(maxGap, now.Sub(prev))
		prev = now
		_, quiet, _ := compactionCounts(tb)
		maxQuiet = max(maxQuiet, quiet)
		wg.Go(func() {
			_, err := us.UpdateUser(ctx, testUser(0).ID, func(u *store.User) error {
				u.FirstName = strPtr(fmt.Sprintf("v%d", k))
				return nil
			})
			assert.NoError(t, err)
		})
	}
	ticker.Stop()
	wg.Wait()
	if maxGap >= quietTestAfter*3/4 {
		t.Skipf("the test's writer stalled for %v, so the stream was not steady", maxGap)
	}
	assert.Equal(t, quiet0, maxQuiet, "quiet compaction during a steady stream of writes")

	// After the stream: exactly one quiet compaction, then nothing.
	want, err := us.ListUsers(ctx)
	require.NoError(t, err)
	requireUsersOnDisk(t, dir, want)
	require.Eventually(t, tb.idle, 10*time.Second, 5*time.Millisecond)
	total, quiet, _ := compactionCounts(tb)
	assert.Equal(t, quiet0+1, quiet)
	assert.Equal(t, total0+1, total)
	requireStaysIdle(t, tb)
}

// TestQuietCompactionClose: Close with a quiet period pending neither
// waits for it nor leaves the goroutine behind, and still compacts.
func TestQuietCompactionClose(t *testing.T) {
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
	assert.Less(t, time.Since(start), 10*time.Second)
	select {
	case <-tb.quietDone:
	default:
		t.Fatal("quiet compaction goroutine still running after Close")
	}
	_, quiet, _ := compactionCounts(tb)
	assert.Equal(t, 0, quiet)
	requireUsersOnDisk(t, dir, want)
}

// TestQuietCompactionCloseRace closes the store at random moments around a
// quiet compaction: before it, while it runs, after it.
func TestQuietCompactionCloseRace(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.Sessions = true
	opts.QuietCompactAfter = time.Millisecond
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
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.QuietCompactAfter = -1
	db := openDB(t, dir, opts)
	require.NoError(t, db.Users().CreateUser(t.Context(), testUser(1)))
	time.Sleep(3 * quietTestAfter)
	snap, err := readSnapshotFile(filepath.Join(dir, usersFile))
	require.NoError(t, err)
	assert.Empty(t, snap)
	assert.Nil(t, db.users.t.quietKick)
	require.NoError(t, db.Close())
	requireUsersOnDisk(t, dir, []store.User{testUser(1)})
}

// TestQuietCompactionAfterCrash: a journal left by a crash is folded into
// the snapshot once the reopened store has been quiet, without a write.
func TestQuietCompactionAfterCrash(t *testing.T) {
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
	requireUsersOnDisk(t, crashed, want)
	require.Eventually(t, db2.users.t.idle, 10*time.Second, 5*time.Millisecond)
	requireStaysIdle(t, db2.users.t)
}
