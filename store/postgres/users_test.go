package postgres

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestUserStoreContract(t *testing.T) {
	storetest.UserStore(t, func(t *testing.T) store.UserStore { return openTest(t, Options{}).Users() })
}

func TestAccessTokenStoreContract(t *testing.T) {
	storetest.AccessTokenStore(t, func(t *testing.T) (store.UserStore, store.AccessTokenStore) {
		db := openTest(t, Options{})
		return db.Users(), db.AccessTokens()
	})
}

// The email's key is its own column under a unique index; the email keeps
// the user's spelling.
func TestUsersEmailKeyColumn(t *testing.T) {
	db := openTest(t, Options{})
	ctx := t.Context()
	require.NoError(t, db.Users().CreateUser(ctx, storetest.User(1, "Bob.\u017FMITH@Example.com", store.RoleUser)))
	require.NoError(t, db.Users().CreateUser(ctx, store.User{ID: "legacy", Role: store.RoleUser}))
	var email, key string
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT email, email_key FROM users WHERE id = $1`,
		storetest.User(1, "", "").ID).Scan(&email, &key))
	assert.Equal(t, "Bob.\u017FMITH@Example.com", email)
	assert.Equal(t, "bob.smith@example.com", key)
	var nullKey bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT email_key IS NULL FROM users WHERE id = 'legacy'`).Scan(&nullKey))
	assert.True(t, nullKey, "no email, no key")
	var unique bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT indisunique FROM pg_index
		WHERE indexrelid = 'users_email_key'::regclass`).Scan(&unique))
	assert.True(t, unique)
}

// One query reads several users by id; an unknown id finds none.
func TestUsersByIDInOneQuery(t *testing.T) {
	users := openTest(t, Options{}).Users()
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		u := storetest.User(i+1, fmt.Sprintf("u%d@example.com", i), store.RoleUser)
		require.NoError(t, users.CreateUser(ctx, u))
		ids = append(ids, u.ID)
	}
	slices.Reverse(ids) // the answer follows the order asked, not the table's
	found, err := users.usersByID(ctx, append(ids, "no-such-id"))
	require.NoError(t, err)
	require.Len(t, found, 6)
	for i, id := range ids {
		require.True(t, found[i].Found, id)
		assert.Equal(t, id, found[i].Value.ID)
		want, err := users.UserByEmail(ctx, found[i].Value.Email)
		require.NoError(t, err)
		assert.Equal(t, want, found[i].Value)
	}
	assert.False(t, found[5].Found)
	found, err = users.usersByID(ctx, []string{"no-such-id"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.False(t, found[0].Found)
}

// Parallel reads by id, gathered into shared queries, each get their own
// user, and see a change that finished before they began.
func TestParallelReadsByIDEachGetTheirUser(t *testing.T) {
	users := openTest(t, Options{}).Users()
	ctx := t.Context()
	var all []store.User
	for i := range 8 {
		u := storetest.User(i+1, fmt.Sprintf("p%d@example.com", i), store.RoleUser)
		require.NoError(t, users.CreateUser(ctx, u))
		all = append(all, u)
	}
	for round := range 3 {
		name := fmt.Sprint("round", round)
		for _, u := range all {
			_, err := users.UpdateUser(ctx, u.ID, func(u *store.User) error {
				u.FirstName = &name
				return nil
			})
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Go(func() {
				want := all[g%len(all)]
				got, err := users.UserByID(ctx, want.ID)
				if assert.NoError(t, err) {
					assert.Equal(t, want.Email, got.Email)
					assert.Equal(t, name, *got.FirstName)
				}
			})
		}
		wg.Wait()
	}
	_, err := users.UserByID(ctx, "no-such-id")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
}
