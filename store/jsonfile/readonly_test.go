package jsonfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// dirContents maps each file of dir to its bytes.
func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

func TestReadUsersWhileOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.QuietCompactAfter = -1 // keep the changes in the journal
	db := openDB(t, dir, opts)
	users := db.Users()
	for i := range 3 {
		require.NoError(t, users.CreateUser(ctx, testUser(i)))
	}
	require.NoError(t, users.DeleteUser(ctx, testUser(1).ID))
	_, err := users.UpdateUser(ctx, testUser(2).ID, func(u *store.User) error { u.Role = store.RoleAdmin; return nil })
	require.NoError(t, err)

	before := dirContents(t, dir)
	got, err := ReadUsers(dir)
	require.NoError(t, err, "the lock held by the open DB does not stop a read")
	want, err := users.ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	require.Len(t, got, 2)
	assert.Equal(t, store.RoleAdmin, got[1].Role)
	assert.Equal(t, before, dirContents(t, dir), "reading writes nothing")

	// A torn last journal line (a write in flight) is left out, and left
	// where it is.
	appendFile(t, filepath.Join(dir, usersFile+".journal"), []byte(`{"op":"put","id":"x`))
	before = dirContents(t, dir)
	got, err = ReadUsers(dir)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, before, dirContents(t, dir))
}

func TestReadUsersEmptyDir(t *testing.T) {
	dir := t.TempDir()
	got, err := ReadUsers(dir)
	require.NoError(t, err)
	assert.Empty(t, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is created")
}

// While a writer keeps compacting, every read sees a consistent state:
// the users created so far, in order, with none missing.
func TestReadUsersDuringCompactions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.CompactAfter = 5
	db := openDB(t, dir, opts)
	const n = 200
	var wg sync.WaitGroup
	defer wg.Wait() // the writer finishes before the store closes
	wg.Go(func() {
		for i := range n {
			if err := db.Users().CreateUser(ctx, testUser(i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for {
		got, err := ReadUsers(dir)
		require.NoError(t, err)
		for i, u := range got {
			require.Equal(t, testUser(i).ID, u.ID, "read %d: user %d of %d", reads, i, len(got))
		}
		reads++
		if len(got) == n {
			break
		}
	}
	t.Logf("%d reads", reads)
}

// With churn (each new user replaces the previous one) compactions come
// every few writes; a read must still never see a state that never
// existed: no user at all, or two that were not consecutive.
func TestReadUsersDuringChurn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.CompactAfter = 3
	db := openDB(t, dir, opts)
	require.NoError(t, db.Users().CreateUser(ctx, testUser(0)))
	const n = 300
	done := make(chan struct{})
	defer func() { <-done }() // the writer finishes before the store closes
	go func() {
		defer close(done)
		for i := 1; i < n; i++ {
			if err := db.Users().CreateUser(ctx, testUser(i)); err != nil {
				t.Error(err)
				return
			}
			if err := db.Users().DeleteUser(ctx, testUser(i-1).ID); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for reads := 0; ; reads++ {
		got, err := ReadUsers(dir)
		require.NoError(t, err)
		require.NotEmpty(t, got, "read %d saw no user", reads)
		require.LessOrEqual(t, len(got), 2, "read %d", reads)
		if len(got) == 2 {
			var a, b int
			_, _ = fmt.Sscanf(got[0].ID[len(got[0].ID)-12:], "%d", &a)
			_, _ = fmt.Sscanf(got[1].ID[len(got[1].ID)-12:], "%d", &b)
			require.Equal(t, a+1, b, "read %d: %s then %s", reads, got[0].ID, got[1].ID)
		}
		select {
		case <-done:
			return
		default:
		}
	}
}

// Damage that is not a torn tail is reported, as Open reports it, rather
// than read around.
func TestReadUsersReportsDamage(t *testing.T) {
	ctx := context.Background()
	opts, _ := testOptions()
	opts.QuietCompactAfter = -1
	dir := t.TempDir()
	db := openDB(t, dir, opts)
	for i := range 3 {
		require.NoError(t, db.Users().CreateUser(ctx, testUser(i)))
	}
	copied := copyDir(t, dir)
	jpath := filepath.Join(copied, usersFile+".journal")
	b, err := os.ReadFile(jpath)
	require.NoError(t, err)
	b[10] ^= 0x20 // inside the first record, with intact records after it
	require.NoError(t, os.WriteFile(jpath, b, 0o600))
	_, err = ReadUsers(copied)
	assert.ErrorContains(t, err, usersFile+".journal")
}
