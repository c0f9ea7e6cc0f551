package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// A challenge is one key c:<key> with the store's deadline in its value
// and a key TTL of its time to live; taking it deletes the key.
func TestChallengeKeys(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	require.NoError(t, ss.PutChallenge(ctx, "k1", []byte("state:with:colons"), 5*time.Minute))
	assert.Equal(t, []string{ss.prefix + "c:k1"}, keysUnder(t, c, ss.prefix))
	ttl, err := c.PTTL(ctx, ss.prefix+"c:k1").Result()
	require.NoError(t, err)
	assert.InDelta(t, 5*time.Minute, ttl, float64(5*time.Second))

	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "not a session")
	got, err := ss.TakeChallenge(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, []byte("state:with:colons"), got)
	assert.Empty(t, keysUnder(t, c, ss.prefix), "taken: the key is gone")

	// Empty data is data.
	require.NoError(t, ss.PutChallenge(ctx, "empty", nil, time.Minute))
	got, err = ss.TakeChallenge(ctx, "empty")
	require.NoError(t, err)
	assert.Empty(t, got)
}

// The store's clock ends a challenge that Redis still keeps: it is not
// returned, and its key is free for a new one.
func TestChallengeExpiresByStoreClock(t *testing.T) {
	ss, clk := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	require.NoError(t, ss.PutChallenge(ctx, "k1", []byte("one"), time.Minute))
	require.NoError(t, ss.PutChallenge(ctx, "k2", []byte("two"), time.Minute))

	clk.Add(time.Minute - time.Millisecond)
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.PutChallenge(ctx, "k1", []byte("again"), time.Minute)), "still live")
	clk.Add(time.Millisecond)
	assert.Len(t, keysUnder(t, c, ss.prefix), 2, "Redis keeps them yet")
	require.NoError(t, ss.PutChallenge(ctx, "k1", []byte("again"), time.Minute), "ended at the store's clock: free")
	_, err := ss.TakeChallenge(ctx, "k2")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "ended at the store's clock")
	assert.Equal(t, []string{ss.prefix + "c:k1"}, keysUnder(t, c, ss.prefix), "the ended one was removed")
	got, err := ss.TakeChallenge(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, []byte("again"), got)
}

// Of parallel takes of one challenge, exactly one gets it, also across
// two stores sharing the Redis.
func TestChallengeTakenOnce(t *testing.T) {
	ss, _ := newSessions(t)
	other := NewSessions(ss.c, ss.opts)
	ctx := t.Context()
	require.NoError(t, ss.PutChallenge(ctx, "k", []byte("once"), time.Minute))
	results := make(chan error, 20)
	for i := range 20 {
		go func() {
			st := ss
			if i%2 == 1 {
				st = other
			}
			_, err := st.TakeChallenge(ctx, "k")
			results <- err
		}()
	}
	won := 0
	for range 20 {
		err := <-results
		if err == nil {
			won++
		} else {
			assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
		}
	}
	assert.Equal(t, 1, won)
}
