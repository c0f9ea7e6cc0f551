package jsonfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// TestTornTail: a last line without its newline is what a crash during a
// write leaves; it was never acknowledged, and is dropped with a warning.
func TestTornTail(t *testing.T) {
	whole := appendRecord(nil, 6, "del", testUser(0).ID, nil)
	tails := map[string][]byte{
		"half a line":                    []byte(`3f2a9c1b {"seq":6,"op":"put","id":"00000000-0000-4000-8000-0000000`),
		"a whole record but its newline": whole[:len(whole)-1],
		"garbage":                        []byte("\xff\xfe{{{"),
		"zeros":                          make([]byte, 300),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts, logs := testOptions()
			db := openDB(t, dir, opts)
			for i := range 5 {
				require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
			}
			crashed := copyDir(t, dir)
			journal := filepath.Join(crashed, usersFile+".journal")
			appendFile(t, journal, tail)

			db2 := openDB(t, crashed, opts)
			assert.Contains(t, logs.String(), "level=WARN")
			assert.Contains(t, logs.String(), "torn tail")
			n, err := db2.Users().CountUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 5, n)

			// New records go after the last good one, not after the
			// garbage, so they load again.
			require.NoError(t, db2.Users().CreateUser(t.Context(), testUser(5)))
			crashed2 := copyDir(t, crashed)
			b, err := os.ReadFile(filepath.Join(crashed2, usersFile+".journal"))
			require.NoError(t, err)
			assert.NotContains(t, string(b), string(tail))
			opts3, logs3 := testOptions()
			db3 := openDB(t, crashed2, opts3)
			n, err = db3.Users().CountUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 6, n)
			assert.NotContains(t, logs3.String(), "torn tail")
		})
	}
}

// TestDamagedJournal: a complete line that fails its checksum, wherever it
// is, and a missing record are damage, not a torn tail (a crash only ever
// cuts the last line short). Open refuses, naming the file, the offset and
// the fault, and leaves the file as it is: truncating it would delete
// acknowledged writes.
func TestDamagedJournal(t *testing.T) {
	const badSum = "a complete record fails its checksum"
	// Each damage gets the journal's lines (5 creates, numbered 1 to 5)
	// and returns the damaged journal, the offset of the first bad line
	// and what is wrong there.
	damages := map[string]func(lines [][]byte) ([]byte, int, string){
		"bad checksum": func(lines [][]byte) ([]byte, int, string) {
			lines[1] = badChecksum(lines[1])
			return bytes.Join(lines, nil), len(lines[0]), badSum
		},
		"flipped bit in a record": func(lines [][]byte) ([]byte, int, string) {
			lines[2][30] ^= 0x04
			return bytes.Join(lines, nil), len(lines[0]) + len(lines[1]), badSum
		},
		"flipped byte in the last record": func(lines [][]byte) ([]byte, int, string) {
			lines[4][40] ^= 0xff
			return bytes.Join(lines, nil), len(bytes.Join(lines[:4], nil)), badSum
		},
		"bad checksum of the last record": func(lines [][]byte) ([]byte, int, string) {
			lines[4] = badChecksum(lines[4])
			return bytes.Join(lines, nil), len(bytes.Join(lines[:4], nil)), badSum
		},
		"a garbage last line": func(lines [][]byte) ([]byte, int, string) {
			return append(bytes.Join(lines, nil), "\x00\x00garbage\n"...), len(bytes.Join(lines, nil)), badSum
		},
		"zeroed block across lines": func(lines [][]byte) ([]byte, int, string) {
			b := bytes.Join(lines, nil)
			start := len(lines[0]) + 20
			for i := start; i < len(lines[0])+len(lines[1])+len(lines[2])+10; i++ {
				b[i] = 0
			}
			return b, len(lines[0]), badSum
		},
		"lost bytes": func(lines [][]byte) ([]byte, int, string) {
			lines[1] = lines[1][:40] // runs into the next line
			return bytes.Join(lines, nil), len(lines[0]), badSum
		},
		"garbage before the last record": func(lines [][]byte) ([]byte, int, string) {
			n := len(bytes.Join(lines[:4], nil))
			return bytes.Join([][]byte{lines[0], lines[1], lines[2], lines[3], []byte("\x00\x00garbage\n"), lines[4]}, nil), n, badSum
		},
		"a middle record removed": func(lines [][]byte) ([]byte, int, string) {
			n := len(bytes.Join(lines[:2], nil))
			return bytes.Join([][]byte{lines[0], lines[1], lines[3], lines[4]}, nil), n,
				"record 4 follows record 2: records are missing"
		},
		"a record without a number after numbered ones": func(lines [][]byte) ([]byte, int, string) {
			n := len(bytes.Join(lines, nil))
			return appendLine(bytes.Join(lines, nil), "del", testUser(0).ID, nil), n,
				"a record without a sequence number after record 5"
		},
	}
	for name, damage := range damages {
		for _, file := range []string{".journal", ".journal.old"} {
			t.Run(name+" in "+file, func(t *testing.T) {
				dir := t.TempDir()
				opts, logs := testOptions()
				db := openDB(t, dir, opts)
				for i := range 5 {
					require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
				}
				crashed := copyDir(t, dir)
				path := filepath.Join(crashed, usersFile+".journal")
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				lines := bytes.SplitAfter(b, []byte("\n"))
				lines = lines[:len(lines)-1] // after the last newline
				require.Len(t, lines, 5)
				damaged, offset, what := damage(lines)
				if file == ".journal.old" {
					// As left by a compaction cut short.
					require.NoError(t, os.Remove(path))
					path += ".old"
				}
				require.NoError(t, os.WriteFile(path, damaged, 0o600))

				_, err = Open(crashed, opts)
				require.Error(t, err)
				assert.Equal(t, fmt.Sprintf("%s is damaged at byte %d (%s); not truncating — "+
					"restore from backup or move the file aside", path, offset, what), err.Error())
				assert.NotContains(t, logs.String(), "torn tail")
				after, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, damaged, after, "the file was changed")
				// Refused again on the next try: nothing was dropped.
				_, err = Open(crashed, opts)
				require.ErrorContains(t, err, "is damaged at byte")
			})
		}
	}
}

// TestJournalGapAcrossRotation: the records of path.journal go on from
// those of path.journal.old, so a record missing at the start of the new
// file is found too.
func TestJournalGapAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, usersFile)
	tb := &table[store.User]{path: path, codec: userCodec, sync: (*os.File).Sync}
	require.NoError(t, tb.writeSnapshot(nil))
	var old, cur []byte
	for i := range 3 {
		rec, err := encodeUser(ptr(testUser(i)))
		require.NoError(t, err)
		old = appendRecord(old, uint64(i+1), "put", testUser(i).ID, rec)
	}
	cur = appendRecord(cur, 5, "del", testUser(0).ID, nil) // 4 is missing
	require.NoError(t, os.WriteFile(path+".journal.old", old, 0o600))
	require.NoError(t, os.WriteFile(path+".journal", cur, 0o600))

	opts, _ := testOptions()
	_, err := Open(dir, opts)
	assert.EqualError(t, err, path+".journal is damaged at byte 0 (record 5 follows record 3: records are missing); "+
		"not truncating — restore from backup or move the file aside")
}

// TestJournalWithoutSequenceNumbers: a journal written before records were
// numbered loads, and the records written after it are numbered from 1.
func TestJournalWithoutSequenceNumbers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, usersFile)
	tb := &table[store.User]{path: path, codec: userCodec, sync: (*os.File).Sync}
	require.NoError(t, tb.writeSnapshot([]*store.User{ptr(testUser(0))}))
	writeJournal(t, path+".journal", putUser(testUser(1)), putUser(testUser(2)), delUser(testUser(0).ID))

	opts, _ := testOptions()
	opts.QuietCompactAfter = -1
	db := openDB(t, dir, opts)
	require.NoError(t, db.Users().CreateUser(t.Context(), testUser(3)))
	b, err := os.ReadFile(path + ".journal")
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"seq":1,"op":"put","id":"`+testUser(3).ID+`"`)

	crashed := copyDir(t, dir)
	got, err := openDB(t, crashed, opts).Users().ListUsers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []store.User{testUser(1), testUser(2), testUser(3)}, got)
}

// badChecksum corrupts the checksum of a journal line.
func badChecksum(line []byte) []byte {
	if line[0] == '0' {
		line[0] = '1'
	} else {
		line[0] = '0'
	}
	return line
}

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

func TestCompactionInBackground(t *testing.T) {
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

	// Compaction ran: the journal holds far fewer than the 267 records
	// written.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		n := 0
		for _, name := range []string{".journal", ".journal.old"} {
			b, _ := os.ReadFile(filepath.Join(dir, usersFile+name))
			n += strings.Count(string(b), "\n")
		}
		assert.Less(c, n, 200)
	}, 5*time.Second, 10*time.Millisecond)

	got, err := openDB(t, crashed, opts).Users().ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	require.NoError(t, db.Close())
	got, err = openDB(t, dir, opts).Users().ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
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

// TestLockedByOtherProcess runs TestLockChild in a child process that
// holds the directory until its stdin closes.
func TestLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
	cmd.Env = append(os.Environ(), "JSONFILE_LOCK_CHILD="+dir)
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

func TestLockChild(t *testing.T) {
	dir := os.Getenv("JSONFILE_LOCK_CHILD")
	if dir == "" {
		t.Skip("runs as a child process of TestLockedByOtherProcess")
	}
	db, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	db.Close()
}

// crashEnv names the data directory of a TestCrashChild process.
const crashEnv = "JSONFILE_CRASH_CHILD"

// TestCrash kills a writing child process at random moments and checks
// that every write it saw acknowledged survives, on one directory over many
// rounds, with compaction thresholds low enough that compactions get
// interrupted too.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	// Last acknowledged operation per user id: 'c' created, 'u' updated,
	// 'd' deleted.
	last := map[string]byte{}
	acks, compactions := 0, 0
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("JSONFILE_CRASH_ROUND=%d", round))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())

		lines := make(chan []string)
		go func() {
			var got []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			lines <- got
		}()
		time.Sleep(time.Duration(20+rand.IntN(281)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		got := <-lines
		err = cmd.Wait()
		require.Error(t, err, "child ended by itself: %s", stderr.String())

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

// TestCrashChild writes users from 16 goroutines until killed, printing
// each acknowledged operation: "c <id>" after a create, "u <id>" after an
// update, "d <id>" after a delete. Each goroutine waits for one operation's
// acknowledgement (and prints it) before starting the next on that user.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs as a child process of TestCrash")
	}
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
				if err := us.CreateUser(t.Context(), u); err != nil {
					fatal(err)
				}
				ack('c', u.ID)
				_, err := us.UpdateUser(t.Context(), u.ID, func(u *store.User) error {
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
					if err := us.DeleteUser(t.Context(), u.ID); err != nil {
						fatal(err)
					}
					ack('d', u.ID)
				}
			}
		}()
	}
	select {}
}
