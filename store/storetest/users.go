package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// UserTime is the base time of the users User makes: whole seconds, UTC,
// as stores keep them.
var UserTime = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)

// User returns user i with the given email and role, an argon2id-shaped
// hash and times from UserTime.
func User(i int, email string, role store.Role) store.User {
	first, last := fmt.Sprintf("First%d", i), fmt.Sprintf("Last%d", i)
	return store.User{
		ID:           fmt.Sprintf("05e40000-0000-4000-8000-%012d", i),
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
		FirstName:    &first,
		LastName:     &last,
		Role:         role,
		CreatedAt:    UserTime.Add(time.Duration(i) * time.Second),
		UpdatedAt:    UserTime.Add(time.Duration(i) * time.Second),
	}
}

// UserStore checks the store.UserStore contract on the empty store that
// open returns: lookups, the email key, legacy records, updates, and the
// two invariants (unique emails, a last admin) under concurrency.
func UserStore(t *testing.T, open func(t *testing.T) store.UserStore) {
	t.Run("CreateAndRead", func(t *testing.T) { usersCreateAndRead(t, open(t)) })
	t.Run("Legacy", func(t *testing.T) { usersLegacy(t, open(t)) })
	t.Run("Update", func(t *testing.T) { usersUpdate(t, open(t)) })
	t.Run("Factors", func(t *testing.T) { usersFactors(t, open(t)) })
	t.Run("LastAdmin", func(t *testing.T) { usersLastAdmin(t, open(t)) })
	t.Run("ParallelCreatesOfOneEmail", func(t *testing.T) { usersParallelCreates(t, open(t)) })
	t.Run("ParallelRemovalOfLastTwoAdmins", func(t *testing.T) {
		for round := range 10 {
			usersParallelAdminRemoval(t, open(t), round)
		}
	})
}

var (
	errEmailTaken = store.Errorf(store.ECONFLICT, store.MsgEmailTaken)
	errLastAdmin  = store.Errorf(store.ECONFLICT, store.MsgLastAdmin)
)

func usersCreateAndRead(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	require.NoError(t, us.Ping(ctx))
	bob, ann := User(1, "Bob.Smith@Example.com", store.RoleUser), User(2, "ann@example.com", store.RoleAdmin)
	// Times are kept in UTC, whole seconds, whatever zone they come in.
	bob.CreatedAt = UserTime.In(time.FixedZone("X", 5*3600)).Add(700 * time.Millisecond)
	require.NoError(t, us.CreateUser(ctx, bob))
	bob.CreatedAt = UserTime
	require.NoError(t, us.CreateUser(ctx, ann))

	got, err := us.UserByID(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, bob, got)
	// A returned user is a copy.
	*got.FirstName = "changed"
	got, err = us.UserByID(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, "First1", *got.FirstName)

	// One email key: case, Unicode case folding (long s), and NFKC.
	for _, spelling := range []string{"bob.smith@example.com", "BOB.SMITH@EXAMPLE.COM", "bob.\u017fmith@example.com",
		"bob.smith@example.\uff43om"} {
		got, err := us.UserByEmail(ctx, spelling)
		require.NoError(t, err, spelling)
		assert.Equal(t, bob.ID, got.ID, spelling)
		assert.Equal(t, "Bob.Smith@Example.com", got.Email, "the email keeps the user's spelling")
	}
	for _, u := range []store.User{User(3, "BOB.\u017fMITH@example.com", store.RoleUser), User(4, "ANN@example.com", store.RoleUser)} {
		assert.Equal(t, errEmailTaken, us.CreateUser(ctx, u), u.Email)
	}
	_, err = us.UserByEmail(ctx, "nobody@example.com")
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = us.UserByEmail(ctx, "")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, err = us.UserByID(ctx, "nope")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	sameID := User(5, "carol@example.com", store.RoleUser)
	sameID.ID = bob.ID
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(us.CreateUser(ctx, sameID)), "same id")
	assert.Equal(t, store.EINVALID, store.ErrorCode(us.CreateUser(ctx, store.User{Email: "x@example.com"})), "no id")
	assert.Equal(t, store.EINVALID, store.ErrorCode(us.CreateUser(ctx, User(6, "x@example.com", "root"))), "bad role")
	noRole := User(7, "dan@example.com", "")
	require.NoError(t, us.CreateUser(ctx, noRole))
	got, err = us.UserByID(ctx, noRole.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RoleUser, got.Role, "no role is a user")

	list, err := us.ListUsers(ctx)
	require.NoError(t, err)
	noRole.Role = store.RoleUser
	assert.Equal(t, []store.User{bob, ann, noRole}, list, "creation order")
	n, err := us.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	require.NoError(t, us.DeleteUser(ctx, bob.ID))
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), us.DeleteUser(ctx, bob.ID))
	_, err = us.UserByEmail(ctx, bob.Email)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	require.NoError(t, us.CreateUser(ctx, User(8, "BOB.smith@example.com", store.RoleUser)), "a deleted user's email is free")
}

// usersLegacy: records of the old service (SHA-256 hex hashes, no names,
// no email, no times) round-trip unchanged.
func usersLegacy(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	sum := sha256.Sum256([]byte("H0lberton School 98!"))
	old := store.User{
		ID:           "9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21",
		Email:        "bob@hbtn.io",
		PasswordHash: hex.EncodeToString(sum[:]),
		Role:         store.RoleUser,
		CreatedAt:    time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC),
		UpdatedAt:    time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC),
	}
	bare1 := store.User{ID: "legacy-1", Role: store.RoleUser}
	bare2 := store.User{ID: "legacy-2", Role: store.RoleUser}
	for _, u := range []store.User{old, bare1, bare2} {
		require.NoError(t, us.CreateUser(ctx, u), "users without an email do not share one")
	}
	for _, u := range []store.User{old, bare1, bare2} {
		got, err := us.UserByID(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, got)
		assert.Nil(t, got.FirstName)
	}
	got, err := us.UserByEmail(ctx, "BOB@hbtn.io")
	require.NoError(t, err)
	assert.Equal(t, old, got)
}

func usersUpdate(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	bob, ann := User(1, "bob@example.com", store.RoleUser), User(2, "ann@example.com", store.RoleUser)
	require.NoError(t, us.CreateUser(ctx, bob))
	require.NoError(t, us.CreateUser(ctx, ann))

	later := UserTime.Add(time.Hour)
	got, err := us.UpdateUser(ctx, bob.ID, func(u *store.User) error {
		u.FirstName = nil
		*u.LastName = "Dylan"
		u.Email = "Bob@Example.com" // same key, new spelling
		u.UpdatedAt = later
		u.ID, u.CreatedAt = "other", later // ignored
		return nil
	})
	require.NoError(t, err)
	want := bob
	want.FirstName, want.LastName, want.Email, want.UpdatedAt = nil, ptr("Dylan"), "Bob@Example.com", later
	assert.Equal(t, want, got)
	stored, err := us.UserByID(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, want, stored)

	// An error from fn is returned as is, and nothing changes.
	stop := errors.New("stop")
	_, err = us.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Email = "x@example.com"; return stop })
	assert.Same(t, stop, err)
	_, err = us.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Email = "ANN@example.com"; return nil })
	assert.Equal(t, errEmailTaken, err)
	_, err = us.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Role = "root"; return nil })
	assert.Equal(t, store.EINVALID, store.ErrorCode(err))
	stored, err = us.UserByID(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, want, stored, "failed updates changed nothing")
	_, err = us.UserByEmail(ctx, "x@example.com")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	// A new email moves the key: the old one is free, the new one taken.
	_, err = us.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Email = "robert@example.com"; return nil })
	require.NoError(t, err)
	_, err = us.UserByEmail(ctx, "bob@example.com")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	got, err = us.UserByEmail(ctx, "ROBERT@example.com")
	require.NoError(t, err)
	assert.Equal(t, bob.ID, got.ID)
	assert.Equal(t, errEmailTaken, us.CreateUser(ctx, User(3, "robert@example.com", store.RoleUser)))
	require.NoError(t, us.CreateUser(ctx, User(4, "bob@example.com", store.RoleUser)))

	_, err = us.UpdateUser(ctx, "nope", func(u *store.User) error { return nil })
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
}

func usersLastAdmin(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	root, boss := User(1, "root@example.com", store.RoleAdmin), User(2, "boss@example.com", store.RoleUser)
	require.NoError(t, us.CreateUser(ctx, root))
	require.NoError(t, us.CreateUser(ctx, boss))
	demote := func(u *store.User) error { u.Role = store.RoleUser; return nil }
	promote := func(u *store.User) error { u.Role = store.RoleAdmin; return nil }

	_, err := us.UpdateUser(ctx, root.ID, demote)
	assert.Equal(t, errLastAdmin, err)
	assert.Equal(t, errLastAdmin, us.DeleteUser(ctx, root.ID))
	// Other changes of the last admin are fine.
	_, err = us.UpdateUser(ctx, root.ID, func(u *store.User) error { u.FirstName = nil; return nil })
	require.NoError(t, err)

	_, err = us.UpdateUser(ctx, boss.ID, promote)
	require.NoError(t, err)
	_, err = us.UpdateUser(ctx, root.ID, demote)
	require.NoError(t, err, "two admins: one may go")
	assert.Equal(t, errLastAdmin, us.DeleteUser(ctx, boss.ID))
	_, err = us.UpdateUser(ctx, root.ID, promote)
	require.NoError(t, err)
	require.NoError(t, us.DeleteUser(ctx, boss.ID))
	got, err := us.UserByID(ctx, root.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RoleAdmin, got.Role)
}

// usersParallelCreates: 50 parallel creates of one email, spelt
// differently, exactly one succeeds.
func usersParallelCreates(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	spellings := []string{"race@example.com", "RACE@example.com", "Race@Example.COM", "race@EXAMPLE.com"}
	errs := make([]error, 50)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			errs[i] = us.CreateUser(ctx, User(100+i, spellings[i%len(spellings)], store.RoleUser))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.Equal(t, errEmailTaken, err)
		}
	}
	assert.Equal(t, 1, ok)
	n, err := us.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// usersParallelAdminRemoval: the last two admins are demoted and deleted
// in parallel, each twice; exactly one admin remains.
func usersParallelAdminRemoval(t *testing.T, us store.UserStore, round int) {
	ctx := t.Context()
	a, b := User(1, "a@example.com", store.RoleAdmin), User(2, "b@example.com", store.RoleAdmin)
	require.NoError(t, us.CreateUser(ctx, a))
	require.NoError(t, us.CreateUser(ctx, b))
	demote := func(u *store.User) error { u.Role = store.RoleUser; return nil }
	var wg sync.WaitGroup
	start := make(chan struct{}) // all at once, for the most overlap
	errs := make([]error, 8)
	for i := range errs {
		id := []string{a.ID, b.ID}[(i+round)%2]
		wg.Go(func() {
			<-start
			if i%4 < 2 {
				_, errs[i] = us.UpdateUser(ctx, id, demote)
			} else {
				errs[i] = us.DeleteUser(ctx, id)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			assert.Contains(t, []string{store.ECONFLICT, store.ENOTFOUND}, store.ErrorCode(err), err)
		}
	}
	list, err := us.ListUsers(ctx)
	require.NoError(t, err)
	admins := 0
	for _, u := range list {
		if u.Role == store.RoleAdmin {
			admins++
		}
	}
	assert.Equal(t, 1, admins, "round %d: %v", round, errs)
}

func ptr(s string) *string { return &s }
