package memory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

var testLimits = store.LoginLimits{
	MaxFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute,
	MaxFailuresPerHour: 100, IPPerMinute: 30, IPBurst: 10,
}

var limiterCtx = context.Background()

// allow is Limiter.Allow for tests: the in-process limiter never fails.
func allowAttempt(th *Limiter, account, addr string) (time.Duration, bool) {
	wait, ok, err := th.Allow(limiterCtx, account, addr)
	if err != nil {
		panic(err)
	}
	return wait, ok
}

func TestParallelGuessesCannotPassTheLimits(t *testing.T) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := NewLimiter(testLimits, clk.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each guess from its own address, all in flight at once.
			if _, ok := allowAttempt(th, "victim@example.com", fmt.Sprintf("198.51.100.%d", i%250)); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	assert.Equal(t, testLimits.MaxFailuresPerHour, allowed, "attempts in flight count against the hourly cap")
	for i := 0; i < allowed; i++ {
		th.Failure(limiterCtx, "victim@example.com")
	}
	_, ok := allowAttempt(th, "victim@example.com", "")
	assert.False(t, ok, "delayed after the failures")

	// With failures on record, guesses in flight count as failures too.
	other := NewLimiter(testLimits, clk.Now)
	for i := 0; i < 3; i++ {
		allowAttempt(other, "v2@example.com", "")
		other.Failure(limiterCtx, "v2@example.com")
	}
	for i := 0; i < 2; i++ {
		_, ok := allowAttempt(other, "v2@example.com", "")
		assert.True(t, ok)
	}
	_, ok = allowAttempt(other, "v2@example.com", "")
	assert.False(t, ok, "3 failures + 2 in flight reach the limit of 5")
}

func TestAbandonReleasesTheAttempt(t *testing.T) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := NewLimiter(testLimits, clk.Now)
	for i := 0; i < 20; i++ {
		_, ok := allowAttempt(th, "bob@example.com", "")
		assert.True(t, ok, "attempt %d", i)
		th.Abandon(limiterCtx, "bob@example.com")
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
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := NewLimiter(testLimits, clk.Now)
	for i := 0; i < 60; i++ {
		th.Failure(limiterCtx, "bob@example.com")
		wait, ok := allowAttempt(th, "bob@example.com", "")
		if i >= 4 {
			assert.False(t, ok, "failure %d", i+1)
			assert.Positive(t, wait)
		}
		if ok {
			th.Abandon(limiterCtx, "bob@example.com")
		}
	}
}

func TestLimiterMemoryStaysBounded(t *testing.T) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := NewLimiter(testLimits, clk.Now)
	long := strings.Repeat("x", 60_000)
	for i := 0; i < 2000; i++ {
		email := fmt.Sprintf("%s-%d@example.com", long, i)
		if _, ok := allowAttempt(th, email, ""); ok {
			th.Failure(limiterCtx, email)
		}
	}
	assert.Len(t, th.accounts, 2000)
	for k := range th.accounts {
		assert.Len(t, k, 32, "keys are hashes, not the emails sent")
	}
	clk.Add(2 * time.Hour)
	allowAttempt(th, "someone@example.com", "203.0.113.1")
	assert.Len(t, th.accounts, 1, "old records are dropped")
}

func TestSuccessGivesTheAddressBudgetBack(t *testing.T) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	th := NewLimiter(testLimits, clk.Now)
	const addr = "198.51.100.1"
	for i := 0; i < 3*testLimits.IPBurst; i++ {
		_, ok := allowAttempt(th, "bob@example.com", addr)
		assert.True(t, ok, "success %d", i)
		assert.NoError(t, th.Success(limiterCtx, "bob@example.com", addr))
	}
	for i := 0; i < testLimits.IPBurst; i++ {
		_, ok := allowAttempt(th, fmt.Sprintf("guess%d@example.com", i), addr)
		assert.True(t, ok, "failure %d", i)
		assert.NoError(t, th.Failure(limiterCtx, fmt.Sprintf("guess%d@example.com", i)))
	}
	_, ok := allowAttempt(th, "another@example.com", addr)
	assert.False(t, ok, "the burst is spent by failures")
	// A success that took no attempt (addr "") gives nothing back.
	assert.NoError(t, th.Success(limiterCtx, "bob@example.com", ""))
	_, ok = allowAttempt(th, "another@example.com", addr)
	assert.False(t, ok)
}
