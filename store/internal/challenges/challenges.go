// Package challenges keeps the one-time challenges of a session store
// (store.SessionStore's PutChallenge and TakeChallenge) in process memory,
// for the stores that keep them there: memory, and the JSON files, which
// never write them to disk.
package challenges

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"simpleapi/store"
)

// Store is a set of challenges, safe for concurrent use. Each is kept
// until its deadline, to the millisecond, on the clock its callers pass
// in: an expired one is invisible at once, and stays in memory until
// DeleteExpired or until its key is put again.
//
// It has a lock of its own: challenges are not sessions, and a ceremony's
// put and take hold up no session lookup.
type Store struct {
	mu sync.Mutex
	m  map[string]challenge
}

// challenge is the data of one challenge and its deadline (Unix ms).
type challenge struct {
	data     []byte
	deadline int64
}

// New returns an empty store.
func New() *Store { return &Store{m: make(map[string]challenge)} }

// Put keeps a copy of data under key until ttl has passed after now.
// ECONFLICT when a live challenge holds key (an expired one frees it);
// EINVALID as store.ValidateChallenge says.
func (s *Store) Put(key string, data []byte, ttl time.Duration, now time.Time) error {
	if err := store.ValidateChallenge(key, data, ttl); err != nil {
		return err
	}
	c := challenge{data: slices.Clone(data), deadline: now.Add(ttl).UnixMilli()}
	if c.data == nil {
		c.data = []byte{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok && old.live(now) {
		return store.Errorf(store.ECONFLICT, "challenge key in use")
	}
	s.m[strings.Clone(key)] = c // not a slice of a larger request string
	return nil
}

// Take removes the challenge under key, expired or not, and returns its
// data if it was live at now: the store's own copy, which nothing else
// holds any more. ENOTFOUND when there is none, or it expired.
func (s *Store) Take(key string, now time.Time) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.m[key]
	delete(s.m, key)
	s.mu.Unlock()
	if !ok || !c.live(now) {
		return nil, store.Errorf(store.ENOTFOUND, store.MsgNotFound)
	}
	return c.data, nil
}

// DeleteExpired drops the challenges past their deadline at now.
func (s *Store) DeleteExpired(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.m, func(_ string, c challenge) bool { return !c.live(now) })
}

// Len returns how many challenges are kept, expired ones not yet dropped
// included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// live reports whether c has not reached its deadline at now. The
// deadline is a whole millisecond, so comparing now's millisecond
// (UnixMilli rounds down) is exact.
func (c challenge) live(now time.Time) bool { return now.UnixMilli() < c.deadline }
