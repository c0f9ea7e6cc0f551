package jsonfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// The fault suite: what the store does when its files are damaged or taken
// away, by a disk, an operator or a tool, rather than cut short by a crash
// (see durability_test.go for crashes).

// TestDataDirRemoved: once the data directory (or the journal in it) is
// deleted while the store runs, a write is not acknowledged (its record
// would not be found at the next start) and Ping fails, as after a failed
// fsync.
func TestDataDirRemoved(t *testing.T) {
	for name, remove := range map[string]func(dir string) error{
		"deleted": os.RemoveAll,
		"users journal deleted": func(dir string) error {
			return os.Remove(filepath.Join(dir, usersFile+".journal"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			opts, logs := testOptions()
			opts.Sessions = true
			db := openDB(t, dir, opts)
			us, ss := db.Users(), db.Sessions()
			ctx := t.Context()
			require.NoError(t, us.CreateUser(ctx, testUser(1)))
			s, _ := testSession(1, testUser(1).ID)
			require.NoError(t, ss.CreateSession(ctx, s))

			require.NoError(t, remove(dir))
			assert.Equal(t, store.EUNAVAILABLE, codeOf(us.CreateUser(ctx, testUser(2))))
			assert.Equal(t, store.EUNAVAILABLE, codeOf(us.Ping(ctx)))
			assert.Equal(t, store.EUNAVAILABLE, codeOf(us.DeleteUser(ctx, testUser(1).ID)))
			assert.Contains(t, logs.String(), "level=ERROR")
			assert.Contains(t, logs.String(), "no longer in the data directory")
			if name != "users journal deleted" {
				s2, _ := testSession(2, testUser(1).ID)
				assert.Equal(t, store.EUNAVAILABLE, codeOf(ss.CreateSession(ctx, s2)))
			}
			// Reads still answer from memory.
			_, err := us.UserByID(ctx, testUser(1).ID)
			assert.NoError(t, err)
		})
	}
}

// TestUsersFileLost: a users file that is missing or empty in a data
// directory that was used before stops the start, naming the files that
// show it; a new directory, or one holding only an empty users file,
// starts empty.
func TestUsersFileLost(t *testing.T) {
	// used returns a data directory after a run: users created, store
	// closed, and a session secret next to it, as the server leaves it.
	used := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "data")
		opts, _ := testOptions()
		opts.Sessions = true
		db := openDB(t, dir, opts)
		for i := range 3 {
			require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
		}
		require.NoError(t, db.Close())
		require.NoError(t, os.WriteFile(filepath.Join(dir, SecretFile), []byte("secret\n"), 0o600))
		return dir
	}
	refused := func(t *testing.T, dir, state string, evidence ...string) {
		t.Helper()
		before, err := os.ReadDir(dir)
		require.NoError(t, err)
		opts, _ := testOptions()
		opts.Sessions = true
		_, err = Open(dir, opts)
		path := filepath.Join(dir, usersFile)
		assert.EqualError(t, err, fmt.Sprintf("%s is %s, but the data directory was used before (it holds %s): "+
			"refusing to start without the users; restore %s from a backup, or move every file out of the "+
			"directory to start anew", path, state, strings.Join(evidence, ", "), usersFile))
		after, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, len(before), len(after), "files were created or removed")
	}

	t.Run("emptied", func(t *testing.T) {
		dir := used(t)
		require.NoError(t, os.Truncate(filepath.Join(dir, usersFile), 0))
		refused(t, dir, "empty", lockFile, SecretFile, usersFile+".journal", sessionsFile, sessionsFile+".journal",
			tokensFile, tokensFile+".journal")
	})
	t.Run("deleted", func(t *testing.T) {
		dir := used(t)
		require.NoError(t, os.Remove(filepath.Join(dir, usersFile)))
		refused(t, dir, "missing", lockFile, SecretFile, usersFile+".journal", sessionsFile, sessionsFile+".journal",
			tokensFile, tokensFile+".journal")
	})
	// Each file that shows a run alone is enough.
	for _, name := range []string{lockFile, SecretFile, usersFile + ".journal", usersFile + ".journal.old",
		sessionsFile, sessionsFile + ".journal", sessionsFile + ".journal.old", tokensFile, tokensFile + ".journal"} {
		t.Run("missing next to "+name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
			refused(t, dir, "missing", name)
		})
	}

	for name, setup := range map[string]func(dir string) error{
		"new directory":             func(string) error { return nil },
		"only an empty users file":  func(dir string) error { return os.WriteFile(filepath.Join(dir, usersFile), nil, 0o600) },
		"empty users object":        func(dir string) error { return os.WriteFile(filepath.Join(dir, usersFile), []byte("{}"), 0o600) },
		"empty object, used before": func(dir string) error { return os.WriteFile(filepath.Join(dir, SecretFile), []byte("s"), 0o600) },
	} {
		t.Run(name+" starts empty", func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, setup(dir))
			if name == "empty object, used before" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, usersFile), []byte("{}"), 0o600))
			}
			opts, _ := testOptions()
			n, err := openDB(t, dir, opts).Users().CountUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 0, n)
			// The users file exists from the start, so the next start
			// does not take the directory for a damaged one.
			st, err := os.Stat(filepath.Join(dir, usersFile))
			require.NoError(t, err)
			assert.Positive(t, st.Size())
		})
	}
}

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
			opts, logs := testOptions()
			crashed := crashedWithUsers(t, opts, 5)
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
				opts, logs := testOptions()
				crashed := crashedWithUsers(t, opts, 5)
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

// crashedWithUsers creates n users in a new directory and returns a copy of
// it taken while the store is still open, as a crash would leave it.
func crashedWithUsers(t *testing.T, opts Options, n int) string {
	t.Helper()
	dir := t.TempDir()
	db := openDB(t, dir, opts)
	for i := range n {
		require.NoError(t, db.Users().CreateUser(t.Context(), testUser(i)))
	}
	return copyDir(t, dir)
}
