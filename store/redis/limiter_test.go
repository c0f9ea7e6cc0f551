package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/config"
)

var testLimits = config.LoginLimits{
	MaxFailures:        3,
	BaseDelay:          time.Second,
	MaxDelay:           4 * time.Second,
	MaxFailuresPerHour: 100,
	IPPerMinute:        60,
	IPBurst:            100,
}

func newLimiter(t *testing.T, limits config.LoginLimits) (*Limiter, *clock) {
	c, prefix := testClient(t)
	clk := newClock(baseTime)
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

func TestLimiterDelaysDoubleAndCap(t *testing.T) {
	l, clk := newLimiter(t, testLimits)
	ctx := t.Context()
	for range 3 {
		fail(t, l, "bob@example.com")
	}
	assert.Equal(t, time.Second, wait(t, l, "bob@example.com", ""))
	assert.Zero(t, wait(t, l, "carol@example.com", ""), "other accounts are not held back")
	require.NoError(t, l.Abandon(ctx, "carol@example.com"))

	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clk.Add(wait(t, l, "bob@example.com", ""))
		fail(t, l, "bob@example.com")
		assert.Equal(t, want, wait(t, l, "bob@example.com", ""))
	}

	// A success clears the failures.
	clk.Add(4 * time.Second)
	_, ok, err := l.Allow(ctx, "bob@example.com", "")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Success(ctx, "bob@example.com", ""))
	fail(t, l, "bob@example.com")
	assert.Zero(t, wait(t, l, "bob@example.com", ""))

	// Every key the limiter keeps expires by itself.
	c := l.c.(*goredis.Client)
	for _, k := range keysUnder(t, c, l.prefix) {
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, k)
	}
}

func TestLimiterHourlyCap(t *testing.T) {
	limits := testLimits
	limits.MaxFailures, limits.MaxFailuresPerHour = 1000, 3
	l, clk := newLimiter(t, limits)
	fail(t, l, "bob@example.com")
	clk.Add(10 * time.Minute)
	fail(t, l, "bob@example.com")
	fail(t, l, "bob@example.com")
	assert.Equal(t, 50*time.Minute, wait(t, l, "bob@example.com", ""), "until the oldest failure is an hour old")
	clk.Add(50 * time.Minute)
	assert.Zero(t, wait(t, l, "bob@example.com", ""))
}

func TestLimiterAddressBudget(t *testing.T) {
	limits := testLimits
	limits.IPBurst, limits.IPPerMinute = 3, 60
	l, clk := newLimiter(t, limits)
	ctx := t.Context()
	for _, acct := range []string{"a", "b", "c"} {
		assert.Zero(t, wait(t, l, acct, "198.51.100.1"))
		require.NoError(t, l.Failure(ctx, acct))
	}
	assert.Equal(t, time.Second, wait(t, l, "d", "198.51.100.1"))
	assert.Zero(t, wait(t, l, "d", "198.51.100.2"), "other addresses have their own budget")
	require.NoError(t, l.Abandon(ctx, "d"))
	clk.Add(time.Second)
	assert.Zero(t, wait(t, l, "d", "198.51.100.1"), "refilled")
	// A success gives the attempt back.
	require.NoError(t, l.Success(ctx, "d", "198.51.100.1"))
	assert.Zero(t, wait(t, l, "e", "198.51.100.1"))
}

// Attempts in flight count once an account has failures, across
// instances: of parallel guesses only one gets through near the limit.
func TestLimiterInFlightAcrossInstances(t *testing.T) {
	a, clk := newLimiter(t, testLimits)
	c2, _, err := Open(testURL())
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

// Without failures, parallel logins are allowed up to the hourly cap,
// counted once for all instances.
func TestLimiterParallelHealthyAccount(t *testing.T) {
	limits := testLimits
	limits.MaxFailuresPerHour = 10
	a, _ := newLimiter(t, limits)
	b := NewLimiter(a.c, limits, a.opts)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			l := a
			if i%2 == 1 {
				l = b
			}
			_, ok, err := l.Allow(t.Context(), "alice@example.com", "")
			assert.NoError(t, err)
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(10), allowed.Load())
}
