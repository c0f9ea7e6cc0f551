package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

var testLimits = store.LoginLimits{
	MaxFailures:        3,
	BaseDelay:          time.Second,
	MaxDelay:           4 * time.Second,
	MaxFailuresPerHour: 100,
	IPPerMinute:        60,
	IPBurst:            100,
}

func newLimiter(t *testing.T, limits store.LoginLimits) (*Limiter, *storetest.Clock) {
	c, prefix := testClient(t)
	clk := storetest.NewClock(baseTime)
	return NewLimiter(c, limits, Options{Prefix: prefix, Now: clk.Now}), clk
}

// fail runs one attempt of account that fails.
func fail(t *testing.T, l *Limiter, account string) {
	t.Helper()
	_, ok, err := l.Allow(t.Context(), account, "")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Failure(t.Context(), account))
}

func wait(t *testing.T, l *Limiter, account, addr string) time.Duration {
	t.Helper()
	d, ok, err := l.Allow(t.Context(), account, addr)
	require.NoError(t, err)
	assert.Equal(t, d == 0, ok)
	return d
}

// Every key the limiter keeps expires by itself.
func TestLimiterKeysExpire(t *testing.T) {
	l, _ := newLimiter(t, testLimits)
	ctx := t.Context()
	for range 3 {
		fail(t, l, "bob@example.com")
	}
	assert.Positive(t, wait(t, l, "bob@example.com", ""))
	_, ok, err := l.Allow(ctx, "carol@example.com", "198.51.100.1")
	require.NoError(t, err)
	require.True(t, ok)
	c := l.c.(*goredis.Client)
	keys := keysUnder(t, c, l.prefix)
	assert.Len(t, keys, 5, "bob's record and failures, carol's record and attempt in flight, the address")
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, k)
	}
}

// Attempts in flight count once an account has failures, across
// instances: of parallel guesses only one gets through near the limit.
func TestLimiterInFlightAcrossInstances(t *testing.T) {
	a, clk := newLimiter(t, testLimits)
	c2, _, err := Open(Config{URL: testkit.RedisTestURL()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c2.Close() })
	b := NewLimiter(c2, testLimits, a.opts)
	fail(t, a, "bob@example.com")
	fail(t, b, "bob@example.com")

	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			l := a
			if i%2 == 1 {
				l = b
			}
			_, ok, err := l.Allow(t.Context(), "bob@example.com", "")
			assert.NoError(t, err)
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), allowed.Load())

	// An attempt whose instance died stops counting after InFlightLimit.
	assert.Equal(t, time.Second, wait(t, a, "bob@example.com", ""))
	clk.Add(InFlightLimit + time.Millisecond)
	assert.Zero(t, wait(t, a, "bob@example.com", ""))
}
