package postgres

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestUserStoreContract(t *testing.T) {
	storetest.UserStore(t, func(t *testing.T) store.UserStore { return openTest(t, Options{}).Users() })
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
