package jsonfile

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
)

// testOptions returns options whose log output is captured.
func testOptions() (Options, *testkit.LockedBuffer) {
	logs := &testkit.LockedBuffer{}
	return Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}, logs
}

// openDB opens dir, closing it when the test ends.
func openDB(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// testTime is a whole-second UTC time, as the users file keeps times.
var testTime = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)

func strPtr(s string) *string { return &s }

// testUser returns a distinct user for each i.
func testUser(i int) store.User {
	return store.User{
		ID:           fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Email:        fmt.Sprintf("user%d@example.com", i),
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		FirstName:    strPtr(fmt.Sprintf("First%d", i)),
		LastName:     strPtr(fmt.Sprintf("Last%d", i)),
		Role:         store.RoleUser,
		CreatedAt:    testTime.Add(time.Duration(i) * time.Second),
		UpdatedAt:    testTime.Add(time.Duration(i) * time.Second),
	}
}

// copyDir copies the data files of dir (not the lock) to a new directory.
// Taken while a DB is open, after its writes were acknowledged, the copy is
// what a crash at that moment would leave on disk.
func copyDir(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() == lockFile || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
	return dst
}

// appendFile appends b to the file at path.
func appendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// writeUsersSnapshot writes a users snapshot of n generated users directly,
// the fast way to set up a large store.
func writeUsersSnapshot(t testing.TB, dir string, n int) {
	t.Helper()
	vals := make([]*store.User, n)
	for i := range vals {
		u := testUser(i)
		vals[i] = &u
	}
	tb := &table[store.User]{path: filepath.Join(dir, usersFile), codec: userCodec, sync: (*os.File).Sync}
	require.NoError(t, tb.writeSnapshot(vals))
}

// codeOf returns an error's application code, for compact assertions.
func codeOf(err error) string { return store.ErrorCode(err) }

// appendLine appends a journal line without a sequence number, as the
// service wrote them before records were numbered.
func appendLine(dst []byte, op, id string, rec []byte) []byte {
	return appendRecord(dst, 0, op, id, rec)
}

// dirWithUsers returns a new data directory holding an empty users file,
// for tests that set up its other files by hand (see checkUsersFile).
func dirWithUsers(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, usersFile), []byte("{}\n"), 0o600))
	return dir
}

// testRand returns a random source for a test, seeded from
// JSONFILE_TEST_SEED when set (to replay a failure) or else at random,
// and logs the seed.
func testRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("JSONFILE_TEST_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "JSONFILE_TEST_SEED")
	}
	t.Logf("random seed %d (replay with JSONFILE_TEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}
