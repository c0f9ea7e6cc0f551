package jsonfile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// writeJournal writes a journal made of the given records.
func writeJournal(t *testing.T, path string, ops ...func([]byte) []byte) {
	t.Helper()
	var b []byte
	for _, op := range ops {
		b = op(b)
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

func putUser(u store.User) func([]byte) []byte {
	return func(b []byte) []byte {
		rec, err := encodeUser(&u)
		if err != nil {
			panic(err)
		}
		return appendLine(b, "put", u.ID, rec)
	}
}

func delUser(id string) func([]byte) []byte {
	return func(b []byte) []byte { return appendLine(b, "del", id, nil) }
}

func TestCrashDuringCompaction(t *testing.T) {
	renamed := testUser(1)
	renamed.FirstName = strPtr("Renamed")
	// History: 1 and 2 in the old snapshot; then (journal.old) 3 created,
	// 1 renamed, 2 deleted; then (journal) 4 created, 3 deleted.
	want := []store.User{renamed, testUser(4)}
	oldSnap := []*store.User{ptr(testUser(1)), ptr(testUser(2))}
	// What compaction writes: the state at the rotation.
	newSnap := []*store.User{&renamed, ptr(testUser(3))}

	cases := map[string]struct {
		snap    []*store.User
		journal bool // whether journal.old is still there
	}{
		"before the new snapshot":        {oldSnap, true},
		"after the new snapshot":         {newSnap, true},
		"after removing the old journal": {newSnap, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, usersFile)
			tb := &table[store.User]{path: path, codec: userCodec, sync: (*os.File).Sync}
			require.NoError(t, tb.writeSnapshot(c.snap))
			if c.journal {
				writeJournal(t, path+".journal.old", putUser(testUser(3)), putUser(renamed), delUser(testUser(2).ID))
			}
			writeJournal(t, path+".journal", putUser(testUser(4)), delUser(testUser(3).ID))
			// A temporary snapshot cut short.
			require.NoError(t, os.WriteFile(path+".tmp", []byte(`{"x": {"id"`), 0o600))

			opts, _ := testOptions()
			db := openDB(t, dir, opts)
			got, err := db.Users().ListUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, want, got)
			// Open finished the compaction.
			assert.NoFileExists(t, path+".journal.old")
			assert.NoFileExists(t, path+".tmp")
			require.NoError(t, db.Users().CreateUser(t.Context(), testUser(5)))
			require.NoError(t, db.Close())

			db = openDB(t, dir, opts)
			got, err = db.Users().ListUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, append(want, testUser(5)), got)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestCompactionInBackground: a journal that outgrows the data is
// compacted while writes go on, and what is on disk at any moment loads.
// It runs in a synctest bubble so that synctest.Wait tells when the
// background compaction has finished, and the quiet compaction never
// comes due.
func TestCompactionInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		opts, _ := testOptions()
		opts.CompactAfter = 20
		db := openDB(t, dir, opts)
		us := db.Users()
		ctx := t.Context()
		for i := range 200 {
			require.NoError(t, us.CreateUser(ctx, testUser(i)))
			if i%3 == 0 {
				require.NoError(t, us.DeleteUser(ctx, testUser(i).ID))
			}
		}
		want, err := us.ListUsers(ctx)
		require.NoError(t, err)
		crashed := copyDir(t, dir)

		// Compaction ran: the journal holds far fewer than the 267
		// records written.
		synctest.Wait()
		n := 0
		for _, name := range []string{".journal", ".journal.old"} {
			b, _ := os.ReadFile(filepath.Join(dir, usersFile+name))
			n += strings.Count(string(b), "\n")
		}
		assert.Less(t, n, 200)
		total, quiet, _ := compactionCounts(db.users.t)
		assert.Positive(t, total)
		assert.Equal(t, 0, quiet)

		got, err := openDB(t, crashed, opts).Users().ListUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		require.NoError(t, db.Close())
		got, err = openDB(t, dir, opts).Users().ListUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}

func TestWriteFailure(t *testing.T) {
	var fail atomic.Bool
	opts, logs := testOptions()
	opts.syncFile = func(f *os.File) error {
		if fail.Load() {
			return syscall.EIO
		}
		return f.Sync()
	}
	db := openDB(t, t.TempDir(), opts)
	us := db.Users()
	ctx := t.Context()
	require.NoError(t, us.CreateUser(ctx, testUser(1)))
	require.NoError(t, us.Ping(ctx))

	fail.Store(true)
	unavailable := store.Errorf(store.EUNAVAILABLE, "storage unavailable")
	assert.Equal(t, unavailable, us.CreateUser(ctx, testUser(2)))
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "input/output error")

	// Failed for good, even once the disk seems fine again: after a failed
	// fsync the file's contents are unknown.
	fail.Store(false)
	assert.Equal(t, unavailable, us.Ping(ctx))
	assert.Equal(t, unavailable, us.CreateUser(ctx, testUser(3)))
	assert.Equal(t, unavailable, us.DeleteUser(ctx, testUser(1).ID))
	_, err := us.UpdateUser(ctx, testUser(1).ID, func(*store.User) error { return nil })
	assert.Equal(t, unavailable, err)
	// Reads still work.
	_, err = us.UserByID(ctx, testUser(1).ID)
	assert.NoError(t, err)
	assert.Error(t, db.Close())
}

func TestWritesAfterClose(t *testing.T) {
	opts, _ := testOptions()
	db := openDB(t, t.TempDir(), opts)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close())
	err := db.Users().CreateUser(t.Context(), testUser(1))
	assert.Equal(t, store.EUNAVAILABLE, codeOf(err))
	assert.Equal(t, store.EUNAVAILABLE, codeOf(db.Users().Ping(t.Context())))
}

func TestLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	opts, _ := testOptions()
	db := openDB(t, dir, opts)

	_, err := Open(dir, opts)
	require.ErrorIs(t, err, ErrLocked)
	assert.Equal(t, fmt.Sprintf("data directory %q is in use by another simpleapi process (pid %d)", dir, os.Getpid()), err.Error())

	require.NoError(t, db.Close())
	db2, err := Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, db2.Close())
}

// TestLockedByOtherProcess runs lockChild in a child process that
// holds the directory until its stdin closes.
func TestLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	opts, _ := testOptions()
	_, err = Open(dir, opts)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), fmt.Sprintf("(pid %d)", cmd.Process.Pid))

	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	db, err := Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// lockChildEnv names the data directory of lockChild.
const lockChildEnv = "JSONFILE_LOCK_CHILD"

// lockChild holds the data directory dir until its stdin closes.
func lockChild(dir string) {
	db, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	db.Close()
}

// crashEnv names the data directory of crashChild.
const crashEnv = "JSONFILE_CRASH_CHILD"

// TestCrash kills a writing child process at random moments and checks
// that every write it saw acknowledged survives, on one directory over many
// rounds, with compaction thresholds low enough that compactions get
// interrupted too. The moment is a random number of acknowledged writes,
// not of milliseconds, so a slow machine tests as much as a fast one; the
// seed is logged and replayed by JSONFILE_TEST_SEED.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	rng := testRand(t)
	dir := t.TempDir()
	// Last acknowledged operation per user id: 'c' created, 'u' updated,
	// 'd' deleted.
	last := map[string]byte{}
	acks, compactions := 0, 0
	for round := range 20 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("JSONFILE_CRASH_ROUND=%d", round))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())

		killAt := 5 + rng.IntN(400)
		var got []string
		sc := bufio.NewScanner(stdout)
		for len(got) < killAt && sc.Scan() {
			got = append(got, sc.Text())
		}
		_ = cmd.Process.Signal(syscall.SIGKILL) // fails only if it has exited already
		for sc.Scan() {                         // acknowledged before the kill
			got = append(got, sc.Text())
		}
		err = cmd.Wait()
		require.Error(t, err, "child ended by itself: %s", stderr.String())
		require.GreaterOrEqual(t, len(got), killAt, "child failed: %s", stderr.String())

		for _, l := range got {
			op, id, ok := strings.Cut(l, " ")
			require.True(t, ok && len(op) == 1, "bad line %q", l)
			last[id] = op[0]
			acks++
		}
		if _, err := os.Stat(filepath.Join(dir, usersFile+".journal.old")); err == nil {
			compactions++ // killed in the middle of one
		}

		opts, _ := testOptions()
		opts.CompactAfter = 1 << 30 // leave the files as the crash left them
		opts.QuietCompactAfter = -1
		db, err := Open(dir, opts)
		require.NoError(t, err, "round %d", round)
		us := db.Users()
		for id, op := range last {
			u, err := us.UserByID(t.Context(), id)
			switch op {
			case 'c': // maybe updated too (in flight when killed)
				require.NoError(t, err, "round %d: created user %s lost", round, id)
			case 'u': // maybe deleted too (in flight when killed)
				if err == nil {
					require.Equal(t, "v2", *u.FirstName, "round %d: update of %s lost", round, id)
				}
			case 'd':
				require.Equal(t, store.ENOTFOUND, codeOf(err), "round %d: deleted user %s is back", round, id)
			}
		}
		list, err := us.ListUsers(t.Context())
		require.NoError(t, err)
		n, err := us.CountUsers(t.Context())
		require.NoError(t, err)
		require.Len(t, list, n)
		// Close without compacting sometimes, so that the next child
		// starts on a long journal or a leftover journal.old.
		if round%2 == 0 {
			db.users.t.mu.Lock()
			db.users.t.jrecs = 0
			db.users.t.mu.Unlock()
		}
		require.NoError(t, db.Close())
	}
	t.Logf("%d acknowledged writes over 20 crashes, %d crashes during a compaction", acks, compactions)
	require.Greater(t, acks, 100)
}

// crashChild writes users from 16 goroutines until killed, printing
// each acknowledged operation: "c <id>" after a create, "u <id>" after an
// update, "d <id>" after a delete. Each goroutine waits for one operation's
// acknowledgement (and prints it) before starting the next on that user.
func crashChild(dir string) {
	ctx := context.Background()
	// Outlive a parent that failed to kill us by seconds, not forever.
	time.AfterFunc(20*time.Second, func() { os.Exit(3) })
	db, err := Open(dir, Options{CompactAfter: 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	us := db.Users()
	round := os.Getenv("JSONFILE_CRASH_ROUND")

	var mu sync.Mutex
	ack := func(op byte, id string) {
		mu.Lock()
		defer mu.Unlock()
		// One write per line: a line reaches the pipe whole or not at all.
		os.Stdout.Write([]byte(string(op) + " " + id + "\n"))
	}
	fatal := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for g := range 16 {
		go func() {
			for k := 0; ; k++ {
				u := testUser(k)
				u.ID = fmt.Sprintf("r%s-g%d-k%d", round, g, k)
				u.Email = u.ID + "@example.com"
				u.FirstName = strPtr("v1")
				if err := us.CreateUser(ctx, u); err != nil {
					fatal(err)
				}
				ack('c', u.ID)
				_, err := us.UpdateUser(ctx, u.ID, func(u *store.User) error {
					u.FirstName = strPtr("v2")
					return nil
				})
				if err != nil {
					fatal(err)
				}
				ack('u', u.ID)
				// Keep most users short-lived so the journal keeps
				// outgrowing the live set and compactions keep running.
				if k%4 != 0 {
					if err := us.DeleteUser(ctx, u.ID); err != nil {
						fatal(err)
					}
					ack('d', u.ID)
				}
			}
		}()
	}
	select {}
}
