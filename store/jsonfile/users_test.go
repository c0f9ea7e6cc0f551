package jsonfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/cases"

	"simpleapi/store"
)

// mutate creates, updates and deletes users and returns the expected list.
func mutate(t *testing.T, us store.UserStore) []store.User {
	ctx := t.Context()
	for i := range 30 {
		require.NoError(t, us.CreateUser(ctx, testUser(i)))
	}
	for i := 0; i < 30; i += 3 {
		_, err := us.UpdateUser(ctx, testUser(i).ID, func(u *store.User) error {
			u.FirstName = strPtr("Renamed")
			u.LastName = nil
			u.UpdatedAt = testTime.Add(time.Hour)
			return nil
		})
		require.NoError(t, err)
	}
	for i := 1; i < 30; i += 4 {
		require.NoError(t, us.DeleteUser(ctx, testUser(i).ID))
	}
	list, err := us.ListUsers(ctx)
	require.NoError(t, err)
	return list
}

func TestReopenKeepsStateAndOrder(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	want := mutate(t, db.Users())
	require.Len(t, want, 30-8)
	assert.Equal(t, "Renamed", *want[0].FirstName)
	assert.Nil(t, want[0].LastName)

	// A crash now: acknowledged writes are in the journal.
	crashed := copyDir(t, dir)
	require.NoError(t, db.Close())

	for name, d := range map[string]string{"after close": dir, "after crash": crashed} {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, d, opts)
			got, err := db.Users().ListUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, want, got)
			n, err := db.Users().CountUsers(t.Context())
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
			u, err := db.Users().UserByEmail(t.Context(), "USER3@example.COM")
			require.NoError(t, err)
			assert.Equal(t, testUser(3).ID, u.ID)
		})
	}

	// Close compacted everything into the snapshot.
	j, err := os.Stat(filepath.Join(dir, usersFile+".journal"))
	require.NoError(t, err)
	assert.Zero(t, j.Size())
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	opts, _ := testOptions()
	db := openDB(t, dir, opts)
	require.NoError(t, db.Users().CreateUser(t.Context(), testUser(1)))
	require.NoError(t, db.Close())

	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	for _, name := range []string{usersFile, usersFile + ".journal", lockFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
}

// legacyFile is a users file as the old Flask service wrote it: Python
// json.dump separators, no role, unsalted SHA-256 passwords, nulls, keys
// in no particular order.
const legacyFile = `{"8b6a1e8c-5a3e-4f1e-9f6e-2d1c0a9b8c7d": {"id": "8b6a1e8c-5a3e-4f1e-9f6e-2d1c0a9b8c7d", "created_at": "2017-09-25T01:55:17", "updated_at": "2017-09-25T01:55:17", "email": "bob@hbtn.io", "_password": "6763be597d6fd0cdea48cee202a8abb3f78242688dab3cd349768c6f9dbd9259", "first_name": null, "last_name": "Dylan"}, "0d4c1f5e-1111-4a2b-8c3d-4e5f6a7b8c9d": {"last_name": null, "first_name": "Ann", "_password": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "email": "ann@hbtn.io", "updated_at": "2018-01-02T03:04:05", "created_at": "2018-01-02T03:04:05", "id": "0d4c1f5e-1111-4a2b-8c3d-4e5f6a7b8c9d"}, "ffffffff-2222-4a2b-8c3d-4e5f6a7b8c9d": {"id": "ffffffff-2222-4a2b-8c3d-4e5f6a7b8c9d", "created_at": "2018-02-02T03:04:05", "updated_at": "2018-02-02T03:04:05", "email": null, "_password": null, "first_name": "J\u00fcrgen", "last_name": null}}`

func TestLegacyUsersFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, usersFile), []byte(legacyFile), 0o600))
	opts, _ := testOptions()
	db := openDB(t, dir, opts)
	ctx := t.Context()

	list, err := db.Users().ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	// File order, not id order.
	assert.Equal(t, "8b6a1e8c-5a3e-4f1e-9f6e-2d1c0a9b8c7d", list[0].ID)
	assert.Equal(t, "0d4c1f5e-1111-4a2b-8c3d-4e5f6a7b8c9d", list[1].ID)
	assert.Equal(t, "ffffffff-2222-4a2b-8c3d-4e5f6a7b8c9d", list[2].ID)

	bob := list[0]
	assert.Equal(t, store.RoleUser, bob.Role)
	assert.Nil(t, bob.FirstName)
	assert.Equal(t, "Dylan", *bob.LastName)
	assert.Equal(t, "bob@hbtn.io", bob.Email)
	assert.Equal(t, "6763be597d6fd0cdea48cee202a8abb3f78242688dab3cd349768c6f9dbd9259", bob.PasswordHash)
	assert.Equal(t, "2017-09-25T01:55:17", bob.CreatedAt.Format(timeLayout))
	assert.Equal(t, "Jürgen", *list[2].FirstName)
	assert.Equal(t, "", list[2].Email)
	assert.Equal(t, "", list[2].PasswordHash)

	u, err := db.Users().UserByEmail(ctx, "ANN@hbtn.io")
	require.NoError(t, err)
	assert.Equal(t, list[1], u)

	// Writes work, and the rewritten file keeps the shape (nulls, role).
	require.NoError(t, db.Users().CreateUser(ctx, testUser(1)))
	require.NoError(t, db.Close())
	b, err := os.ReadFile(filepath.Join(dir, usersFile))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"email":null,"_password":null,"first_name":"Jürgen","last_name":null,"role":"user"`)

	db = openDB(t, dir, opts)
	again, err := db.Users().ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, list, again[:3])
}

func TestLegacyDuplicateEmails(t *testing.T) {
	// The old service allowed two accounts with one email.
	dir := t.TempDir()
	file := `{"a": {"id": "a", "email": "dup@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"},
	          "b": {"id": "b", "email": "DUP@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"},
	          "c": {"id": "c", "email": "dup@X.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, usersFile), []byte(file), 0o600))
	opts, logs := testOptions()
	db := openDB(t, dir, opts)
	us := db.Users()
	ctx := t.Context()
	assert.Contains(t, logs.String(), "sharing an email")

	byEmail := func() string {
		u, err := us.UserByEmail(ctx, "dup@x.io")
		if err != nil {
			return codeOf(err)
		}
		return u.ID
	}
	assert.Equal(t, "a", byEmail())
	u := testUser(1)
	u.Email = "Dup@x.io"
	assert.Equal(t, store.ECONFLICT, codeOf(us.CreateUser(ctx, u)))

	require.NoError(t, us.DeleteUser(ctx, "a"))
	assert.Equal(t, "b", byEmail())
	_, err := us.UpdateUser(ctx, "b", func(u *store.User) error { u.Email = "b@x.io"; return nil })
	require.NoError(t, err)
	assert.Equal(t, "c", byEmail())
	require.NoError(t, us.DeleteUser(ctx, "c"))
	assert.Equal(t, store.ENOTFOUND, byEmail())
	require.NoError(t, us.CreateUser(ctx, u))
	assert.Equal(t, u.ID, byEmail())
}

func TestUserErrors(t *testing.T) {
	opts, _ := testOptions()
	us := openDB(t, t.TempDir(), opts).Users()
	ctx := t.Context()
	require.NoError(t, us.CreateUser(ctx, testUser(1)))

	_, err := us.UserByID(ctx, "nope")
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = us.UserByEmail(ctx, "nope@example.com")
	assert.Equal(t, store.ENOTFOUND, codeOf(err))
	_, err = us.UserByEmail(ctx, "")
	assert.Equal(t, store.ENOTFOUND, codeOf(err))
	assert.Equal(t, store.ENOTFOUND, codeOf(us.DeleteUser(ctx, "nope")))
	_, err = us.UpdateUser(ctx, "nope", func(*store.User) error { return nil })
	assert.Equal(t, store.ENOTFOUND, codeOf(err))

	// Same email in another case.
	dup := testUser(2)
	dup.Email = strings.ToUpper(testUser(1).Email)
	assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgEmailTaken), us.CreateUser(ctx, dup))
	// Same id.
	assert.Equal(t, store.ECONFLICT, codeOf(us.CreateUser(ctx, testUser(1))))
	bad := testUser(3)
	bad.Role = "root"
	assert.Equal(t, store.EINVALID, codeOf(us.CreateUser(ctx, bad)))

	// An error from fn aborts the update and comes back as is.
	boom := fmt.Errorf("boom")
	_, err = us.UpdateUser(ctx, testUser(1).ID, func(u *store.User) error {
		u.FirstName = strPtr("changed")
		return boom
	})
	assert.Equal(t, boom, err)
	u, err := us.UserByID(ctx, testUser(1).ID)
	require.NoError(t, err)
	assert.Equal(t, testUser(1), u)

	// ID and CreatedAt stay; email uniqueness is rechecked.
	require.NoError(t, us.CreateUser(ctx, testUser(2)))
	got, err := us.UpdateUser(ctx, testUser(1).ID, func(u *store.User) error {
		u.ID = "other"
		u.CreatedAt = testTime.Add(-time.Hour)
		u.Email = "New@Example.com"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, testUser(1).ID, got.ID)
	assert.Equal(t, testUser(1).CreatedAt, got.CreatedAt)
	_, err = us.UpdateUser(ctx, testUser(2).ID, func(u *store.User) error { u.Email = "new@example.COM"; return nil })
	assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgEmailTaken), err)
	// The old email is free again.
	dup.ID = "fresh"
	require.NoError(t, us.CreateUser(ctx, dup))

	// Returned values are copies.
	u, err = us.UserByID(ctx, testUser(2).ID)
	require.NoError(t, err)
	*u.FirstName = "mutated"
	u, err = us.UserByID(ctx, testUser(2).ID)
	require.NoError(t, err)
	assert.Equal(t, "First2", *u.FirstName)
}

func TestLastAdmin(t *testing.T) {
	opts, _ := testOptions()
	us := openDB(t, t.TempDir(), opts).Users()
	ctx := t.Context()
	admin, user := testUser(1), testUser(2)
	admin.Role = store.RoleAdmin
	require.NoError(t, us.CreateUser(ctx, admin))
	require.NoError(t, us.CreateUser(ctx, user))
	lastAdmin := store.Errorf(store.ECONFLICT, store.MsgLastAdmin)

	assert.Equal(t, lastAdmin, us.DeleteUser(ctx, admin.ID))
	_, err := us.UpdateUser(ctx, admin.ID, func(u *store.User) error { u.Role = store.RoleUser; return nil })
	assert.Equal(t, lastAdmin, err)

	// With a second admin, the first can go.
	_, err = us.UpdateUser(ctx, user.ID, func(u *store.User) error { u.Role = store.RoleAdmin; return nil })
	require.NoError(t, err)
	_, err = us.UpdateUser(ctx, admin.ID, func(u *store.User) error { u.Role = store.RoleUser; return nil })
	require.NoError(t, err)
	assert.Equal(t, lastAdmin, us.DeleteUser(ctx, user.ID))
	require.NoError(t, us.DeleteUser(ctx, admin.ID))
	assert.Equal(t, lastAdmin, us.DeleteUser(ctx, user.ID))
}

func TestConcurrentLastAdmin(t *testing.T) {
	// Two admins removed at once (deleted, or one demoted and one deleted):
	// exactly one removal may win, whatever the interleaving.
	opts, _ := testOptions()
	us := openDB(t, t.TempDir(), opts).Users()
	ctx := t.Context()
	survivor := ""
	for round := range 20 {
		a, b := testUser(2*round), testUser(2*round+1)
		a.Role, b.Role = store.RoleAdmin, store.RoleAdmin
		require.NoError(t, us.CreateUser(ctx, a))
		require.NoError(t, us.CreateUser(ctx, b))
		if survivor != "" {
			require.NoError(t, us.DeleteUser(ctx, survivor))
		}

		var errA, errB error
		var wg sync.WaitGroup
		wg.Go(func() {
			if round%2 == 0 {
				errA = us.DeleteUser(ctx, a.ID)
			} else {
				_, errA = us.UpdateUser(ctx, a.ID, func(u *store.User) error { u.Role = store.RoleUser; return nil })
			}
		})
		wg.Go(func() { errB = us.DeleteUser(ctx, b.ID) })
		wg.Wait()
		require.ElementsMatch(t, []string{"", store.ECONFLICT}, []string{codeOf(errA), codeOf(errB)})

		survivor = b.ID
		if errA != nil {
			survivor = a.ID
		}
		u, err := us.UserByID(ctx, survivor)
		require.NoError(t, err)
		require.Equal(t, store.RoleAdmin, u.Role)
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions()
	opts.CompactAfter = 50 // compact while updating, too
	db := openDB(t, dir, opts)
	us := db.Users()
	ctx := t.Context()
	const users, workers, rounds = 5, 50, 20
	for i := range users {
		u := testUser(i)
		u.FirstName, u.LastName = strPtr(""), strPtr("")
		require.NoError(t, us.CreateUser(ctx, u))
	}

	// Even workers append to first_name, odd ones to last_name, of the
	// same users: a lost update would drop a mark.
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				id := testUser((w + r) % users).ID
				mark := fmt.Sprintf("<%d.%d>", w, r)
				_, err := us.UpdateUser(ctx, id, func(u *store.User) error {
					if w%2 == 0 {
						u.FirstName = strPtr(*u.FirstName + mark)
					} else {
						u.LastName = strPtr(*u.LastName + mark)
					}
					return nil
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()

	check := func(us store.UserStore) {
		t.Helper()
		for w := range workers {
			for r := range rounds {
				u, err := us.UserByID(ctx, testUser((w+r)%users).ID)
				require.NoError(t, err)
				field := *u.FirstName
				if w%2 == 1 {
					field = *u.LastName
				}
				assert.Contains(t, field, fmt.Sprintf("<%d.%d>", w, r))
			}
		}
	}
	check(us)
	// A compaction the last writes started may still be renaming files:
	// a copy taken meanwhile is no state a crash could leave.
	db.users.t.bg.Wait()
	crashed := copyDir(t, dir)
	require.NoError(t, db.Close())
	check(openDB(t, dir, opts).Users())
	check(openDB(t, crashed, opts).Users())
}

func TestConcurrentCreatesSameEmail(t *testing.T) {
	opts, _ := testOptions()
	us := openDB(t, t.TempDir(), opts).Users()
	ctx := t.Context()
	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := testUser(i)
			u.Email = "Same@Example.com"
			if i%2 == 0 {
				u.Email = "same@example.COM"
			}
			errs[i] = us.CreateUser(ctx, u)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgEmailTaken), err)
		}
	}
	assert.Equal(t, 1, won)
	count, err := us.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, count)
}

// TestEmailCaseFolding: emails that differ only by Unicode case (beyond
// ASCII) are one email, for uniqueness and for lookups.
func TestEmailCaseFolding(t *testing.T) {
	opts, _ := testOptions()
	dir := t.TempDir()
	db := openDB(t, dir, opts)
	us := db.Users()
	ctx := t.Context()

	pairs := [][2]string{
		{"sam@x", "ſam@x"}, // U+017F LATIN SMALL LETTER LONG S
		{"µ@x", "μ@x"},     // U+00B5 MICRO SIGN, U+03BC GREEK SMALL LETTER MU
		{"σ@x", "ς@x"},     // final sigma
		{"Σ@y", "ς@y"},
		{"kelvin@x", "\u212aelvin@x"}, // U+212A KELVIN SIGN
		{"ǅ@x", "ǆ@x"},                // title case
	}
	for i, p := range pairs {
		u := testUser(i)
		u.Email = p[0]
		require.NoError(t, us.CreateUser(ctx, u), p[0])
		other := testUser(100 + i)
		other.Email = p[1]
		assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgEmailTaken), us.CreateUser(ctx, other), "%s after %s", p[1], p[0])
		got, err := us.UserByEmail(ctx, p[1])
		if assert.NoError(t, err, "UserByEmail(%q)", p[1]) {
			assert.Equal(t, u.ID, got.ID)
		}
	}
	// An update to the other spelling is a conflict too.
	spare := testUser(50)
	spare.Email = "spare@x"
	require.NoError(t, us.CreateUser(ctx, spare))
	for _, p := range pairs {
		_, err := us.UpdateUser(ctx, spare.ID, func(u *store.User) error { u.Email = p[1]; return nil })
		assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgEmailTaken), err, "update to %s", p[1])
	}
	// Plain ASCII emails still compare case-insensitively, and distinct
	// ones stay distinct.
	got, err := us.UserByEmail(ctx, "SAM@X")
	require.NoError(t, err)
	assert.Equal(t, testUser(0).ID, got.ID)
	_, err = us.UserByEmail(ctx, "sam@y")
	assert.Equal(t, store.ENOTFOUND, codeOf(err))

	// The same after a restart.
	require.NoError(t, db.Close())
	us = openDB(t, dir, opts).Users()
	got, err = us.UserByEmail(ctx, "ſAM@x")
	require.NoError(t, err)
	assert.Equal(t, testUser(0).ID, got.ID)
}

// TestEmailCaseFoldingLegacyCollisions: data written before emails were
// case folded may hold users whose emails now compare equal. They load,
// with the duplicate-email warning, and lookups find the earliest.
func TestEmailCaseFoldingLegacyCollisions(t *testing.T) {
	dir := t.TempDir()
	file := `{"a": {"id": "a", "email": "sam@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"},
	          "b": {"id": "b", "email": "ſam@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"},
	          "c": {"id": "c", "email": "ς@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"},
	          "d": {"id": "d", "email": "σ@x.io", "created_at": "2017-01-01T00:00:00", "updated_at": "2017-01-01T00:00:00"}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, usersFile), []byte(file), 0o600))
	opts, logs := testOptions()
	us := openDB(t, dir, opts).Users()
	ctx := t.Context()
	assert.Contains(t, logs.String(), "sharing an email")
	assert.Contains(t, logs.String(), "users=2")
	for email, id := range map[string]string{"SAM@x.io": "a", "ſam@x.io": "a", "σ@x.io": "c", "Σ@x.io": "c"} {
		u, err := us.UserByEmail(ctx, email)
		require.NoError(t, err, email)
		assert.Equal(t, id, u.ID, email)
	}
	require.NoError(t, us.DeleteUser(ctx, "a"))
	u, err := us.UserByEmail(ctx, "sam@x.io")
	require.NoError(t, err)
	assert.Equal(t, "b", u.ID)
}

// TestEmailKeyASCII: the ASCII fast path of emailKey is the same mapping
// as Unicode case folding.
func TestEmailKeyASCII(t *testing.T) {
	var b strings.Builder
	for c := range 0x80 {
		b.WriteByte(byte(c))
	}
	ascii := b.String()
	assert.Equal(t, cases.Fold().String(ascii), emailKey(ascii))
	// Not ASCII: folded (cases.Fold is full folding, so ß is ss).
	assert.Equal(t, "strasse@x", emailKey("STRAßE@X"))
	// Invalid UTF-8 is kept as is, not merged into U+FFFD.
	assert.NotEqual(t, emailKey("\xff@x"), emailKey("\xfe@x"))
}

// TestUserByEmailConcurrent looks up non-ASCII emails from many goroutines
// at once (run with -race: the case folding must not share state).
func TestUserByEmailConcurrent(t *testing.T) {
	opts, _ := testOptions()
	us := openDB(t, t.TempDir(), opts).Users()
	ctx := t.Context()
	emails := []string{"jürgen@x", "ſam@x", "μ@x", "ς@x", "ascii@x"}
	for i, e := range emails {
		u := testUser(i)
		u.Email = e
		require.NoError(t, us.CreateUser(ctx, u))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 200 {
				i := (g + k) % len(emails)
				u, err := us.UserByEmail(ctx, strings.ToUpper(emails[i]))
				if assert.NoError(t, err) {
					assert.Equal(t, testUser(i).ID, u.ID)
				}
			}
		})
	}
	wg.Wait()
}
