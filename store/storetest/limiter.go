package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// OpenLoginLimiter returns a fresh limiter with limits whose clock is now,
// which the test cleans up.
type OpenLoginLimiter func(t *testing.T, limits store.LoginLimits, now func() time.Time) store.LoginLimiter

// LimiterLimits are the limits the LoginLimiter suite runs with.
var LimiterLimits = store.LoginLimits{
	MaxFailures:        3,
	BaseDelay:          time.Second,
	MaxDelay:           4 * time.Second,
	MaxFailuresPerHour: 100,
	IPPerMinute:        60,
	IPBurst:            100,
}

// LoginLimiter checks the policy every store.LoginLimiter keeps, whatever
// holds its counts: the in-process one and a shared one must allow and
// refuse the same attempts at the same times.
func LoginLimiter(t *testing.T, open OpenLoginLimiter) {
	setUp := func(t *testing.T, limits store.LoginLimits) (store.LoginLimiter, *Clock) {
		clk := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		return open(t, limits, clk.Now), clk
	}
	t.Run("DelaysDoubleUpToTheCap", func(t *testing.T) {
		l, clk := setUp(t, LimiterLimits)
		for range 3 {
			failAttempt(t, l, "bob@example.com")
		}
		assert.Equal(t, time.Second, waitOf(t, l, "bob@example.com", ""))
		assert.Zero(t, waitOf(t, l, "carol@example.com", ""), "other accounts are not held back")
		require.NoError(t, l.Abandon(t.Context(), "carol@example.com"))
		for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
			clk.Add(waitOf(t, l, "bob@example.com", ""))
			failAttempt(t, l, "bob@example.com")
			assert.Equal(t, want, waitOf(t, l, "bob@example.com", ""))
		}
		// A success clears the failures.
		clk.Add(4 * time.Second)
		require.Zero(t, waitOf(t, l, "bob@example.com", ""))
		require.NoError(t, l.Success(t.Context(), "bob@example.com", ""))
		failAttempt(t, l, "bob@example.com")
		assert.Zero(t, waitOf(t, l, "bob@example.com", ""))
	})
	t.Run("HourlyCap", func(t *testing.T) {
		limits := LimiterLimits
		limits.MaxFailures, limits.MaxFailuresPerHour = 1000, 3
		l, clk := setUp(t, limits)
		failAttempt(t, l, "bob@example.com")
		clk.Add(10 * time.Minute)
		failAttempt(t, l, "bob@example.com")
		failAttempt(t, l, "bob@example.com")
		assert.Equal(t, 50*time.Minute, waitOf(t, l, "bob@example.com", ""), "until the oldest failure is an hour old")
		clk.Add(50 * time.Minute)
		assert.Zero(t, waitOf(t, l, "bob@example.com", ""))
	})
	t.Run("AddressBudget", func(t *testing.T) {
		limits := LimiterLimits
		limits.IPBurst, limits.IPPerMinute = 3, 60
		l, clk := setUp(t, limits)
		ctx := t.Context()
		for _, acct := range []string{"a", "b", "c"} {
			assert.Zero(t, waitOf(t, l, acct, "198.51.100.1"))
			require.NoError(t, l.Failure(ctx, acct))
		}
		assert.Equal(t, time.Second, waitOf(t, l, "d", "198.51.100.1"))
		assert.Zero(t, waitOf(t, l, "d", "198.51.100.2"), "other addresses have their own budget")
		require.NoError(t, l.Abandon(ctx, "d"))
		clk.Add(time.Second)
		assert.Zero(t, waitOf(t, l, "d", "198.51.100.1"), "refilled")
		require.NoError(t, l.Success(ctx, "d", "198.51.100.1"))
		assert.Zero(t, waitOf(t, l, "e", "198.51.100.1"), "a success gives the attempt back")
	})
	t.Run("InFlightCountOnceFailing", func(t *testing.T) {
		l, _ := setUp(t, LimiterLimits)
		failAttempt(t, l, "bob@example.com")
		assert.Zero(t, waitOf(t, l, "bob@example.com", ""))
		assert.Zero(t, waitOf(t, l, "bob@example.com", ""))
		assert.Equal(t, time.Second, waitOf(t, l, "bob@example.com", ""), "1 failure + 2 in flight reach 3")
		require.NoError(t, l.Abandon(t.Context(), "bob@example.com"))
		assert.Zero(t, waitOf(t, l, "bob@example.com", ""), "an abandoned attempt no longer counts")
	})
	t.Run("ParallelHealthyAccount", func(t *testing.T) {
		limits := LimiterLimits
		limits.MaxFailuresPerHour = 10
		l, _ := setUp(t, limits)
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				_, ok, err := l.Allow(t.Context(), "alice@example.com", fmt.Sprintf("198.51.100.%d", i))
				assert.NoError(t, err)
				if ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(10), allowed.Load(), "attempts in flight count against the hourly cap")
	})
}

func failAttempt(t *testing.T, l store.LoginLimiter, account string) {
	t.Helper()
	_, ok, err := l.Allow(t.Context(), account, "")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Failure(t.Context(), account))
}

func waitOf(t *testing.T, l store.LoginLimiter, account, addr string) time.Duration {
	t.Helper()
	d, ok, err := l.Allow(t.Context(), account, addr)
	require.NoError(t, err)
	assert.Equal(t, d == 0, ok)
	return d
}
