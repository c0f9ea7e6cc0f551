// Package memory keeps sessions in process memory, for the session_auth
// and session_exp_auth modes: they end with the process, by design.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"
	"unique"

	"simpleapi/store"
)

// Sessions is an in-memory store.SessionStore, safe for concurrent use.
//
// It is laid out to stay small with many sessions (about 300 bytes each
// with indexes; see BenchmarkMemoryPerSession): times are kept as Unix
// seconds, and user ids, addresses and user agents, which repeat across
// sessions, are interned. As in the jsonfile store, times are kept to the
// second, in UTC.
type Sessions struct {
	mu     sync.RWMutex
	byID   map[string]*entry
	byHash map[store.TokenHash]*entry
	byUser map[unique.Handle[string]][]*entry // in creation order
}

// entry is one session.
type entry struct {
	hash     store.TokenHash
	id       string
	user     unique.Handle[string]
	ip       unique.Handle[string]
	ua       unique.Handle[string]
	created  int64 // Unix seconds, or zeroTime
	expires  int64
	lastSeen int64
}

// NewSessions returns an empty store.
func NewSessions() *Sessions {
	return &Sessions{
		byID:   make(map[string]*entry),
		byHash: make(map[store.TokenHash]*entry),
		byUser: make(map[unique.Handle[string]][]*entry),
	}
}

var _ store.SessionStore = (*Sessions)(nil)

func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	if v.ID == "" || v.UserID == "" {
		return store.Errorf(store.EINVALID, "session needs an id and a user id")
	}
	e := &entry{
		hash:     v.TokenHash,
		id:       v.ID,
		user:     unique.Make(v.UserID),
		ip:       unique.Make(v.IP),
		ua:       unique.Make(v.UserAgent),
		created:  toUnix(v.CreatedAt),
		expires:  toUnix(v.ExpiresAt),
		lastSeen: toUnix(v.LastSeenAt),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[e.id]; ok {
		return store.Errorf(store.ECONFLICT, "session already exists")
	}
	if _, ok := s.byHash[e.hash]; ok {
		return store.Errorf(store.ECONFLICT, "session already exists")
	}
	s.byID[e.id] = e
	s.byHash[e.hash] = e
	s.byUser[e.user] = append(s.byUser[e.user], e)
	return nil
}

func (s *Sessions) SessionByTokenHash(ctx context.Context, h store.TokenHash) (store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byHash[h]; ok {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byID[id]; ok {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	s.mu.RLock()
	es := s.byUser[unique.Make(userID)]
	list := make([]store.Session, 0, len(es))
	for _, e := range es {
		list = append(list, e.session())
	}
	s.mu.RUnlock()
	// Creation order already; sorting keeps "oldest first" true even for
	// sessions created with explicit past times.
	slices.SortStableFunc(list, func(a, b store.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return notFound()
	}
	s.remove(e)
	return nil
}

func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Copy: remove edits the slice being walked.
	es := slices.Clone(s.byUser[unique.Make(userID)])
	n := 0
	for _, e := range es {
		if e.id != exceptID {
			s.remove(e)
			n++
		}
	}
	return n, nil
}

// TouchSessions only moves last-use times forward, so a late batch cannot
// undo a newer one.
func (s *Sessions) TouchSessions(ctx context.Context, lastSeen map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range lastSeen {
		if e, ok := s.byID[id]; ok {
			e.lastSeen = max(e.lastSeen, toUnix(at))
		}
	}
	return nil
}

// DeleteSessionsWhere finds candidates under the read lock, so that the
// scan does not hold up requests, then deletes under the write lock those
// for which expired still holds. expired must not call the store.
func (s *Sessions) DeleteSessionsWhere(ctx context.Context, expired func(store.Session) bool) (int, error) {
	var found []*entry
	s.mu.RLock()
	for _, e := range s.byID {
		if expired(e.session()) {
			found = append(found, e)
		}
	}
	s.mu.RUnlock()
	if len(found) == 0 {
		return 0, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range found {
		// Skip sessions deleted meanwhile, or touched back to life.
		if s.byID[e.id] == e && expired(e.session()) {
			s.remove(e)
			n++
		}
	}
	return n, nil
}

func (s *Sessions) CountSessions(ctx context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID), nil
}

// Close does nothing: there is nothing to flush.
func (s *Sessions) Close() error { return nil }

// remove takes e out of every index. The caller holds s.mu for writing.
func (s *Sessions) remove(e *entry) {
	delete(s.byID, e.id)
	delete(s.byHash, e.hash)
	es := s.byUser[e.user]
	if i := slices.Index(es, e); i >= 0 {
		es = slices.Delete(es, i, i+1)
	}
	if len(es) == 0 {
		delete(s.byUser, e.user)
	} else {
		s.byUser[e.user] = es
	}
}

func (e *entry) session() store.Session {
	return store.Session{
		ID:         e.id,
		TokenHash:  e.hash,
		UserID:     e.user.Value(),
		CreatedAt:  fromUnix(e.created),
		ExpiresAt:  fromUnix(e.expires),
		LastSeenAt: fromUnix(e.lastSeen),
		IP:         e.ip.Value(),
		UserAgent:  e.ua.Value(),
	}
}

// zeroTime is time.Time{} in Unix seconds: year 1, far outside any real
// session time, so it round-trips as the zero time.
var zeroTime = time.Time{}.Unix()

func toUnix(t time.Time) int64 { return t.Unix() }

func fromUnix(sec int64) time.Time {
	if sec == zeroTime {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
