package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"simpleapi/config"
)

var testLimits = config.LoginLimits{
	MaxFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute,
	MaxFailuresPerHour: 100, IPPerMinute: 30, IPBurst: 10,
}

var ctx = context.Background()

// allow is Throttle.Allow for tests: the in-process throttle never fails.
func allow(th *Throttle, account, addr string) (time.Duration, bool) {
	wait, ok, err := th.Allow(ctx, account, addr)
	if err != nil {
		panic(err)
	}
	return wait, ok
}

func TestParallelGuessesCannotPassTheLimits(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(testLimits, clk.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each guess from its own address, all in flight at once.
			if _, ok := allow(th, "victim@example.com", fmt.Sprintf("198.51.100.%d", i%250)); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	assert.Equal(t, testLimits.MaxFailuresPerHour, allowed, "attempts in flight count against the hourly cap")
	for i := 0; i < allowed; i++ {
		th.Failure(ctx, "victim@example.com")
	}
	_, ok := allow(th, "victim@example.com", "")
	assert.False(t, ok, "delayed after the failures")

	// With failures on record, guesses in flight count as failures too.
	other := NewThrottle(testLimits, clk.Now)
	for i := 0; i < 3; i++ {
		allow(other, "v2@example.com", "")
		other.Failure(ctx, "v2@example.com")
	}
	for i := 0; i < 2; i++ {
		_, ok := allow(other, "v2@example.com", "")
		assert.True(t, ok)
	}
	_, ok = allow(other, "v2@example.com", "")
	assert.False(t, ok, "3 failures + 2 in flight reach the limit of 5")
}

func TestAbandonReleasesTheAttempt(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(testLimits, clk.Now)
	for i := 0; i < 20; i++ {
		_, ok := allow(th, "bob@example.com", "")
		assert.True(t, ok, "attempt %d", i)
		th.Abandon(ctx, "bob@example.com")
	}
	assert.Empty(t, th.accounts, "nothing left behind")
}

func TestBackoffNeverOverflows(t *testing.T) {
	for n := 0; n < 200; n++ {
		d := backoff(time.Second, 15*time.Minute, n)
		assert.Positive(t, d)
		assert.LessOrEqual(t, d, 15*time.Minute)
	}
	assert.Equal(t, 4*time.Second, backoff(time.Second, time.Hour, 2))
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(testLimits, clk.Now)
	for i := 0; i < 60; i++ {
		th.Failure(ctx, "bob@example.com")
		wait, ok := allow(th, "bob@example.com", "")
		if i >= 4 {
			assert.False(t, ok, "failure %d", i+1)
			assert.Positive(t, wait)
		}
		if ok {
			th.Abandon(ctx, "bob@example.com")
		}
	}
}

func TestThrottleMemoryStaysBounded(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(testLimits, clk.Now)
	long := strings.Repeat("x", 60_000)
	for i := 0; i < 2000; i++ {
		email := fmt.Sprintf("%s-%d@example.com", long, i)
		if _, ok := allow(th, email, ""); ok {
			th.Failure(ctx, email)
		}
	}
	assert.Len(t, th.accounts, 2000)
	for k := range th.accounts {
		assert.Len(t, k, 32, "keys are hashes, not the emails sent")
	}
	clk.Advance(2 * time.Hour)
	allow(th, "someone@example.com", "203.0.113.1")
	assert.Len(t, th.accounts, 1, "old records are dropped")
}

func TestSuccessGivesTheAddressBudgetBack(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(testLimits, clk.Now)
	const addr = "198.51.100.1"
	for i := 0; i < 3*testLimits.IPBurst; i++ {
		_, ok := allow(th, "bob@example.com", addr)
		assert.True(t, ok, "success %d", i)
		assert.NoError(t, th.Success(ctx, "bob@example.com", addr))
	}
	for i := 0; i < testLimits.IPBurst; i++ {
		_, ok := allow(th, fmt.Sprintf("guess%d@example.com", i), addr)
		assert.True(t, ok, "failure %d", i)
		assert.NoError(t, th.Failure(ctx, fmt.Sprintf("guess%d@example.com", i)))
	}
	_, ok := allow(th, "another@example.com", addr)
	assert.False(t, ok, "the burst is spent by failures")
	// A success that took no attempt (addr "") gives nothing back.
	assert.NoError(t, th.Success(ctx, "bob@example.com", ""))
	_, ok = allow(th, "another@example.com", addr)
	assert.False(t, ok)
}
