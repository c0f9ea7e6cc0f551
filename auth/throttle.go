package auth

import (
	"math"
	"strings"
	"sync"
	"time"

	"simpleapi/config"
)

// Throttle limits password attempts per account and per client address
// (SPEC 4.4). It is consulted before any password hash is computed, so a
// throttled attempt costs almost nothing.
type Throttle struct {
	limits config.LoginLimits
	now    func() time.Time

	mu       sync.Mutex
	accounts map[string]*accountFailures // by lower-cased email
	addrs    map[string]*tokenBucket     // by client address
	lastGC   time.Time
}

// accountFailures is the failure record of one account (or of one unknown
// email: they are tracked alike, so throttling reveals nothing).
type accountFailures struct {
	consecutive int
	waitUntil   time.Time
	recent      []time.Time // failures within the last hour, oldest first
}

// tokenBucket allows IPBurst attempts at once, refilled at IPPerMinute.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// NewThrottle returns a throttle with the given limits.
func NewThrottle(limits config.LoginLimits, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{
		limits:   limits,
		now:      now,
		accounts: make(map[string]*accountFailures),
		addrs:    make(map[string]*tokenBucket),
	}
}

func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Allow records an attempt for email from addr and reports whether it may
// go ahead; when not, retryAfter says how long to wait. Every attempt
// counts against the address; the account only limits after failures.
func (t *Throttle) Allow(email, addr string) (retryAfter time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.collect(now)
	if wait := t.accountWait(accountKey(email), now); wait > 0 {
		return wait, false
	}
	if addr == "" {
		return 0, true
	}
	b := t.addrs[addr]
	if b == nil {
		b = &tokenBucket{tokens: float64(t.limits.IPBurst), last: now}
		t.addrs[addr] = b
	}
	perSecond := float64(t.limits.IPPerMinute) / 60
	b.tokens = math.Min(float64(t.limits.IPBurst), b.tokens+now.Sub(b.last).Seconds()*perSecond)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / perSecond * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// AllowAccount reports whether the account may try a password now,
// without counting an attempt against any address (Basic authentication,
// where every request carries the password).
func (t *Throttle) AllowAccount(email string) (retryAfter time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := t.accountWait(accountKey(email), now)
	return wait, wait <= 0
}

// accountWait is how long the account must still wait; t.mu is held.
func (t *Throttle) accountWait(key string, now time.Time) time.Duration {
	a := t.accounts[key]
	if a == nil {
		return 0
	}
	a.dropOlderThan(now.Add(-time.Hour))
	if len(a.recent) >= t.limits.MaxFailuresPerHour {
		return a.recent[0].Add(time.Hour).Sub(now)
	}
	return a.waitUntil.Sub(now)
}

func (a *accountFailures) dropOlderThan(cutoff time.Time) {
	i := 0
	for i < len(a.recent) && !a.recent[i].After(cutoff) {
		i++
	}
	a.recent = a.recent[i:]
}

// Failure records a failed attempt for email. From the MaxFailures-th
// consecutive failure on, the next attempt waits BaseDelay, doubling with
// each further failure up to MaxDelay.
func (t *Throttle) Failure(email string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := accountKey(email)
	a := t.accounts[key]
	if a == nil {
		a = &accountFailures{}
		t.accounts[key] = a
	}
	a.consecutive++
	a.recent = append(a.recent, now)
	if over := a.consecutive - t.limits.MaxFailures; over >= 0 {
		delay := t.limits.MaxDelay
		if over < 40 { // beyond that the shift overflows; MaxDelay applies anyway
			delay = min(t.limits.BaseDelay<<over, t.limits.MaxDelay)
		}
		a.waitUntil = now.Add(delay)
	}
}

// Success clears the account's failures.
func (t *Throttle) Success(email string) {
	t.mu.Lock()
	delete(t.accounts, accountKey(email))
	t.mu.Unlock()
}

// collect drops records that no longer limit anything, at most once a
// minute, so memory stays bounded by recent activity; t.mu is held.
func (t *Throttle) collect(now time.Time) {
	if now.Sub(t.lastGC) < time.Minute {
		return
	}
	t.lastGC = now
	hourAgo := now.Add(-time.Hour)
	for k, a := range t.accounts {
		a.dropOlderThan(hourAgo)
		if len(a.recent) == 0 && !a.waitUntil.After(now) {
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
