package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"simpleapi/store"
)

// CredentialCache remembers Basic credentials that verified recently, so
// a client that sends its password with every request pays for argon2id
// once per TTL instead of on every request (about 20 ms and 19 MiB each).
//
// Entries are keyed by an HMAC of the email's key (store.EmailKey) and the
// password under a key that exists only in this process's memory, and hold the user's id and the
// password hash the credentials matched: a changed password (or a
// deleted user) no longer matches, whatever the TTL.
type CredentialCache struct {
	key [32]byte
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]credential
}

type credential struct {
	userID, passwordHash string
	verifiedAt           time.Time
}

// NewCredentialCache keeps at most max entries for ttl each.
func NewCredentialCache(ttl time.Duration, max int, now func() time.Time) *CredentialCache {
	if now == nil {
		now = time.Now
	}
	c := &CredentialCache{ttl: ttl, max: max, now: now, entries: make(map[[32]byte]credential)}
	_, _ = rand.Read(c.key[:])
	return c
}

func (c *CredentialCache) sum(email, password string) [32]byte {
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write([]byte(store.EmailKey(email)))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// Lookup returns the user id and password hash that these credentials
// verified against within the TTL.
func (c *CredentialCache) Lookup(email, password string) (userID, passwordHash string, ok bool) {
	k := c.sum(email, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return "", "", false
	}
	if c.now().Sub(e.verifiedAt) >= c.ttl {
		delete(c.entries, k)
		return "", "", false
	}
	return e.userID, e.passwordHash, true
}

// Remember records credentials that just verified against passwordHash.
func (c *CredentialCache) Remember(email, password, userID, passwordHash string) {
	k := c.sum(email, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		clear(c.entries) // rare; costs one verification per client
	}
	c.entries[k] = credential{userID: userID, passwordHash: passwordHash, verifiedAt: c.now()}
}
