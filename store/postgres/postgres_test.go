package postgres

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	"simpleapi/store/storetest"
)

// Instances starting at once on an empty database all open it; the
// migrations run once.
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	url := pgtest.Schema(t)
	const instances = 4
	dbs := make([]*DB, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), url, Options{}) })
	}
	wg.Wait()
	for i := range instances {
		require.NoError(t, errs[i])
		defer dbs[i].Close()
	}
	list, err := MigrationStatus(t.Context(), dbs[0].pool)
	require.NoError(t, err)
	require.Len(t, list, 5)
	for _, m := range list {
		assert.True(t, m.Applied, m.Name)
	}
	var applied int
	require.NoError(t, dbs[0].pool.QueryRow(t.Context(),
		`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied))
	assert.Equal(t, 5, applied)
	// Every instance sees the others' writes.
	require.NoError(t, dbs[1].Users().CreateUser(t.Context(), storetest.User(1, "a@example.com", store.RoleAdmin)))
	got, err := dbs[2].Users().UserByEmail(t.Context(), "A@example.com")
	require.NoError(t, err)
	assert.Equal(t, storetest.User(1, "", "").ID, got.ID)
}

// Observe receives every operation by name; Stat counts the pool.
func TestObserveAndStat(t *testing.T) {
	var mu sync.Mutex
	ops := map[string]int{}
	db := openTest(t, Options{MaxConns: 3, Observe: func(op string, d time.Duration) {
		mu.Lock()
		ops[op]++
		mu.Unlock()
		assert.Positive(t, d)
	}})
	ctx := t.Context()
	users := db.Users()
	require.NoError(t, users.CreateUser(ctx, storetest.User(1, "a@example.com", store.RoleUser)))
	require.Equal(t, store.ECONFLICT, store.ErrorCode(users.CreateUser(ctx, storetest.User(1, "a@example.com", store.RoleUser))))
	_, err := users.UserByEmail(ctx, "a@example.com")
	require.NoError(t, err)
	_, err = db.Sessions().CountSessions(ctx)
	require.NoError(t, err)
	require.NoError(t, users.Ping(ctx))
	mu.Lock()
	assert.Equal(t, map[string]int{"create_user": 2, "user_by_email": 1, "count_sessions": 1, "ping": 1}, ops)
	mu.Unlock()

	st := db.Stat()
	assert.Equal(t, int32(3), st.Max)
	assert.Zero(t, st.InUse)
	assert.Positive(t, st.Idle)
	conn, err := db.pool.Acquire(ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(1), db.Stat().InUse)
	conn.Release()
}

// A closed store answers unavailable, not an internal error.
func TestClosedIsUnavailable(t *testing.T) {
	db := openTest(t, Options{})
	db.Close()
	_, err := db.Users().UserByID(t.Context(), "x")
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), err)
}
