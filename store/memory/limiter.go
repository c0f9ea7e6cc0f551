package memory

import (
	"context"
	"crypto/sha256"
	"math"
	"sync"
	"time"

	"simpleapi/store"
)

// maxTrackedAccounts bounds the failure records kept; past it, records
// that no longer delay anything are dropped at once.
const maxTrackedAccounts = 100_000

// Limiter is the in-process store.LoginLimiter: it limits password
// attempts per account and per client address, with the policy of
// store.LoginLimits. It is consulted before any password hash is
// computed, so a throttled attempt costs almost nothing. Its state lives
// in this process only; its methods never fail.
type Limiter struct {
	limits store.LoginLimits
	now    func() time.Time

	mu       sync.Mutex
	accounts map[accountKey]*accountFailures
	addrs    map[string]*tokenBucket // by client address
	lastGC   time.Time
}

var _ store.LoginLimiter = (*Limiter)(nil)

// accountKey is the SHA-256 of the account (store.EmailKey of the email
// tried): fixed-size, whatever length of email a client sends.
type accountKey [32]byte

func accountKeyOf(account string) accountKey {
	return sha256.Sum256([]byte(account))
}

// accountFailures is the record of one account (or of one unknown email:
// they are tracked alike, so throttling reveals nothing).
type accountFailures struct {
	consecutive int
	inFlight    int
	waitUntil   time.Time
	recent      []time.Time // failures within the last hour, oldest first
}

func (a *accountFailures) idle(now time.Time) bool {
	return a.inFlight == 0 && len(a.recent) == 0 && !a.waitUntil.After(now)
}

// tokenBucket allows IPBurst attempts at once, refilled at IPPerMinute.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter with the given limits; now is the clock
// (nil: time.Now).
func NewLimiter(limits store.LoginLimits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		limits:   limits,
		now:      now,
		accounts: make(map[accountKey]*accountFailures),
		addrs:    make(map[string]*tokenBucket),
	}
}

// Allow starts an attempt on account from addr ("" for no address
// limit) and reports whether it may go ahead; when not, retryAfter says
// how long to wait. Every attempt counts against the address until it
// succeeds.
func (t *Limiter) Allow(_ context.Context, account, addr string) (retryAfter time.Duration, ok bool, err error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.collect(now, false)
	key := accountKeyOf(account)
	a := t.accounts[key]
	if a != nil {
		if wait := t.accountWait(a, now); wait > 0 {
			return wait, false, nil
		}
	}
	if addr != "" {
		if wait := t.takeToken(addr, now); wait > 0 {
			return wait, false, nil
		}
	}
	if a == nil {
		if len(t.accounts) >= maxTrackedAccounts {
			t.collect(now, true)
		}
		a = &accountFailures{}
		t.accounts[key] = a
	}
	a.inFlight++
	return 0, true, nil
}

// accountWait is how long the account must still wait; t.mu is held.
func (t *Limiter) accountWait(a *accountFailures, now time.Time) time.Duration {
	a.dropOlderThan(now.Add(-time.Hour))
	if len(a.recent)+a.inFlight >= t.limits.MaxFailuresPerHour {
		if len(a.recent) > 0 {
			return max(a.recent[0].Add(time.Hour).Sub(now), time.Second)
		}
		return t.limits.BaseDelay
	}
	// Once an account has failures, attempts in flight may all fail too:
	// they count until they end, so only one at a time gets through when
	// delays are near. (Without failures, parallel logins are legitimate;
	// the hourly cap above still bounds them.)
	if a.consecutive > 0 && a.inFlight > 0 && a.consecutive+a.inFlight >= t.limits.MaxFailures {
		return t.limits.BaseDelay
	}
	return a.waitUntil.Sub(now)
}

// takeToken spends one attempt of addr's bucket, or says how long until
// one is available; t.mu is held.
func (t *Limiter) takeToken(addr string, now time.Time) time.Duration {
	b := t.addrs[addr]
	if b == nil {
		b = &tokenBucket{tokens: float64(t.limits.IPBurst), last: now}
		t.addrs[addr] = b
	}
	perSecond := float64(t.limits.IPPerMinute) / 60
	b.tokens = math.Min(float64(t.limits.IPBurst), b.tokens+now.Sub(b.last).Seconds()*perSecond)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
	}
	b.tokens--
	return 0
}

func (a *accountFailures) dropOlderThan(cutoff time.Time) {
	i := 0
	for i < len(a.recent) && !a.recent[i].After(cutoff) {
		i++
	}
	a.recent = a.recent[i:]
}

// Failure ends an attempt that failed. From the MaxFailures-th consecutive
// failure on, the next attempt waits BaseDelay, doubling with each further
// failure up to MaxDelay.
func (t *Limiter) Failure(_ context.Context, account string) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := accountKeyOf(account)
	a := t.accounts[key]
	if a == nil {
		a = &accountFailures{}
		t.accounts[key] = a
	}
	if a.inFlight > 0 {
		a.inFlight--
	}
	a.consecutive++
	a.recent = append(a.recent, now)
	if over := a.consecutive - t.limits.MaxFailures; over >= 0 {
		a.waitUntil = now.Add(backoff(t.limits.BaseDelay, t.limits.MaxDelay, over))
	}
	return nil
}

// backoff is base doubled n times, at most limit (no overflow).
func backoff(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Success ends an attempt that succeeded: it clears the account's
// failures and gives the attempt back to addr's bucket ("" for none), so
// correct credentials never use up an address's budget.
func (t *Limiter) Success(_ context.Context, account, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, accountKeyOf(account))
	if b := t.addrs[addr]; b != nil && addr != "" {
		b.tokens = math.Min(float64(t.limits.IPBurst), b.tokens+1)
	}
	return nil
}

// Abandon ends an attempt that neither failed nor succeeded (an internal
// error): it no longer counts as in flight.
func (t *Limiter) Abandon(_ context.Context, account string) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := accountKeyOf(account)
	if a := t.accounts[key]; a != nil {
		if a.inFlight > 0 {
			a.inFlight--
		}
		if a.consecutive == 0 && a.idle(now) {
			delete(t.accounts, key)
		}
	}
	return nil
}

// collect drops records that no longer limit anything, at most once a
// minute unless forced, so memory stays bounded by recent activity; t.mu
// is held.
func (t *Limiter) collect(now time.Time, force bool) {
	if !force && now.Sub(t.lastGC) < time.Minute {
		return
	}
	t.lastGC = now
	hourAgo := now.Add(-time.Hour)
	for k, a := range t.accounts {
		a.dropOlderThan(hourAgo)
		if a.idle(now) {
			delete(t.accounts, k)
		}
	}
	perSecond := float64(t.limits.IPPerMinute) / 60
	for k, b := range t.addrs {
		if b.tokens+now.Sub(b.last).Seconds()*perSecond >= float64(t.limits.IPBurst) {
			delete(t.addrs, k)
		}
	}
}
