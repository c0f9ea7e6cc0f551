// Package storetest holds the contract every store implementation must
// meet, as test suites that each implementation's tests run against a
// fresh instance. A new store (Redis, PostgreSQL) passes these before it
// is wired in.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// Time is the base time of the sessions Session makes: whole seconds, UTC,
// as stores keep them.
var Time = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)

// Session returns session i of userID with a fresh random token hash.
func Session(i int, userID string) store.Session {
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	return store.Session{
		ID:         fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		TokenHash:  sha256.Sum256(token),
		UserID:     userID,
		CreatedAt:  Time.Add(time.Duration(i) * time.Minute),
		ExpiresAt:  Time.Add(24*time.Hour + time.Duration(i)*time.Minute),
		LastSeenAt: Time.Add(time.Duration(i) * time.Minute),
		IP:         "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
}

// SessionStore checks the store.SessionStore contract on the empty store
// that open returns.
func SessionStore(t *testing.T, open func(t *testing.T) store.SessionStore) {
	ss := open(t)
	ctx := t.Context()
	a1, a2, a3, b1 := Session(1, "alice"), Session(2, "alice"), Session(3, "alice"), Session(4, "bob")
	b1.ExpiresAt = time.Time{} // no absolute expiry

	// Created out of order: listing is still oldest first.
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, Session(1, "carol"))), "same id")
	dupHash := Session(9, "carol")
	dupHash.TokenHash = a1.TokenHash
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, dupHash)), "same token hash")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{ID: "x"})), "no user")

	got, err := ss.SessionByTokenHash(ctx, a1.TokenHash)
	require.NoError(t, err)
	assert.Equal(t, a1, got)
	got, err = ss.SessionByID(ctx, b1.ID)
	require.NoError(t, err)
	assert.Equal(t, b1, got)
	assert.True(t, got.ExpiresAt.IsZero())
	_, err = ss.SessionByTokenHash(ctx, store.TokenHash{})
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = ss.SessionByID(ctx, "nope")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1, a2, a3}, list)
	list, err = ss.ListSessions(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)

	// Touch: unknown ids skipped, times only move forward.
	later := Time.Add(time.Hour)
	require.NoError(t, ss.TouchSessions(ctx, map[string]time.Time{
		a1.ID:  later,
		a2.ID:  Time.Add(-time.Hour),
		"nope": later,
	}))
	got, err = ss.SessionByID(ctx, a1.ID)
	require.NoError(t, err)
	assert.Equal(t, later, got.LastSeenAt)
	a1.LastSeenAt = later
	got, err = ss.SessionByID(ctx, a2.ID)
	require.NoError(t, err)
	assert.Equal(t, a2, got)

	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.DeleteSession(ctx, a3.ID)))
	_, err = ss.SessionByTokenHash(ctx, a3.TokenHash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	n, err := ss.DeleteUserSessions(ctx, "alice", a1.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "all of alice's but a1")
	list, err = ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1}, list)

	// Everything idle since before a1's touch: b1 goes, a1 stays.
	n, err = ss.DeleteSessionsWhere(ctx, func(s store.Session) bool { return s.LastSeenAt.Before(later) })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = ss.SessionByID(ctx, b1.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}
