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
// It is laid out to stay small with many sessions (see
// BenchmarkMemoryPerSession): times are kept as Unix seconds, user ids,
// addresses and user agents, which repeat across sessions, are interned,
// and the previous token of a rotation sits behind a pointer that most
// sessions leave nil. As in the jsonfile store, times are kept to the
// second, in UTC.
//
// A session past its deadline is invisible at once and stays in memory
// until DeleteExpired sweeps it.
type Sessions struct {
	now func() time.Time

	mu     sync.RWMutex
	byID   map[string]*entry
	byHash map[store.TokenHash]*entry         // current and previous token hashes
	byUser map[unique.Handle[string]][]*entry // in creation order
}

// entry is one session. Times are Unix seconds, or zeroTime for none.
type entry struct {
	hash     store.TokenHash
	id       string
	user     unique.Handle[string]
	ip       unique.Handle[string]
	ua       unique.Handle[string]
	created  int64
	expires  int64
	idle     int64
	lastSeen int64
	rotated  int64
	prev     *prevToken // nil: none
}

// prevToken is the token the latest rotation replaced.
type prevToken struct {
	hash       store.TokenHash
	validUntil int64
}

// NewSessions returns an empty store whose clock is now (nil: time.Now).
func NewSessions(now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{
		now:    now,
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
		idle:     toUnix(v.IdleExpiresAt),
		lastSeen: toUnix(v.LastSeenAt),
		rotated:  toUnix(v.RotatedAt),
	}
	if v.PrevTokenHash != (store.TokenHash{}) {
		e.prev = &prevToken{hash: v.PrevTokenHash, validUntil: toUnix(v.PrevValidUntil)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[e.id]; ok {
		return store.Errorf(store.ECONFLICT, "session already exists")
	}
	if _, ok := s.byHash[e.hash]; ok {
		return store.Errorf(store.ECONFLICT, "session already exists")
	}
	if e.prev != nil {
		if _, ok := s.byHash[e.prev.hash]; ok || e.prev.hash == e.hash {
			return store.Errorf(store.ECONFLICT, "session already exists")
		}
		s.byHash[e.prev.hash] = e
	}
	s.byID[e.id] = e
	s.byHash[e.hash] = e
	s.byUser[e.user] = append(s.byUser[e.user], e)
	return nil
}

func (s *Sessions) SessionByTokenHash(ctx context.Context, h store.TokenHash) (store.Session, error) {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byHash[h]; ok && e.live(now) {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byID[id]; ok && e.live(now) {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	now := s.now().Unix()
	s.mu.RLock()
	es := s.byUser[unique.Make(userID)]
	list := make([]store.Session, 0, len(es))
	for _, e := range es {
		if e.live(now) {
			list = append(list, e.session())
		}
	}
	s.mu.RUnlock()
	// Creation order already; sorting keeps "oldest first" true even for
	// sessions created with explicit past times.
	slices.SortStableFunc(list, func(a, b store.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

func (s *Sessions) TouchSession(ctx context.Context, id string, seen, idleExpiresAt time.Time) error {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok || !e.live(now) {
		return notFound()
	}
	e.lastSeen = max(e.lastSeen, toUnix(seen))
	e.idle = max(e.idle, toUnix(idleExpiresAt))
	return nil
}

func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok || !e.live(now) {
		return store.Session{}, notFound()
	}
	if e.hash != from {
		return store.Session{}, store.Errorf(store.ECONFLICT, "session token already replaced")
	}
	if other, ok := s.byHash[r.TokenHash]; ok && other != e || r.TokenHash == from || r.TokenHash == r.PrevTokenHash {
		return store.Session{}, store.Errorf(store.ECONFLICT, "token hash in use")
	}
	if r.PrevTokenHash != (store.TokenHash{}) && r.PrevTokenHash != from {
		if other, ok := s.byHash[r.PrevTokenHash]; ok && other != e {
			return store.Session{}, store.Errorf(store.ECONFLICT, "token hash in use")
		}
	}
	s.unindexHashes(e)
	e.hash = r.TokenHash
	e.rotated = toUnix(r.RotatedAt)
	e.prev = nil
	if r.PrevTokenHash != (store.TokenHash{}) {
		e.prev = &prevToken{hash: r.PrevTokenHash, validUntil: toUnix(r.PrevValidUntil)}
		s.byHash[e.prev.hash] = e
	}
	s.byHash[e.hash] = e
	return e.session(), nil
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

// DeleteUserSessions removes expired sessions of the user too, but counts
// only the live ones: the others were already gone for every caller.
func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	now := s.now().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Copy: remove edits the slice being walked.
	es := slices.Clone(s.byUser[unique.Make(userID)])
	n := 0
	for _, e := range es {
		if e.id == exceptID {
			continue
		}
		if e.live(now) {
			n++
		}
		s.remove(e)
	}
	return n, nil
}

// DeleteExpired finds expired sessions under the read lock, so that the
// scan does not hold up requests, then removes them under the write lock
// if they are still expired (a touch cannot revive one, but a clock that
// moved back can).
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	now := s.now().Unix()
	var found []*entry
	s.mu.RLock()
	for _, e := range s.byID {
		if !e.live(now) {
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
		if s.byID[e.id] == e && !e.live(now) {
			s.remove(e)
			n++
		}
	}
	return n, nil
}

// CountSessions counts live sessions one by one: the count is read by the
// metrics scrape, not per request.
func (s *Sessions) CountSessions(ctx context.Context) (int, error) {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.byID {
		if e.live(now) {
			n++
		}
	}
	return n, nil
}

// Close does nothing: there is nothing to flush.
func (s *Sessions) Close() error { return nil }

// remove takes e out of every index. The caller holds s.mu for writing.
func (s *Sessions) remove(e *entry) {
	delete(s.byID, e.id)
	s.unindexHashes(e)
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

// unindexHashes removes e's token hashes from byHash. The caller holds
// s.mu for writing.
func (s *Sessions) unindexHashes(e *entry) {
	if s.byHash[e.hash] == e {
		delete(s.byHash, e.hash)
	}
	if e.prev != nil && s.byHash[e.prev.hash] == e {
		delete(s.byHash, e.prev.hash)
	}
}

// live reports whether e has not reached its deadline at now (Unix
// seconds). Deadlines are whole seconds, so comparing whole seconds is
// exact: now < d exactly when floor(now) < d.
func (e *entry) live(now int64) bool {
	d := e.deadline()
	return d == zeroTime || now < d
}

// deadline is the nearer of e's deadlines, as Session.Deadline.
func (e *entry) deadline() int64 {
	switch {
	case e.expires == zeroTime:
		return e.idle
	case e.idle == zeroTime:
		return e.expires
	default:
		return min(e.expires, e.idle)
	}
}

func (e *entry) session() store.Session {
	s := store.Session{
		ID:            e.id,
		TokenHash:     e.hash,
		UserID:        e.user.Value(),
		CreatedAt:     fromUnix(e.created),
		ExpiresAt:     fromUnix(e.expires),
		IdleExpiresAt: fromUnix(e.idle),
		LastSeenAt:    fromUnix(e.lastSeen),
		IP:            e.ip.Value(),
		UserAgent:     e.ua.Value(),
		RotatedAt:     fromUnix(e.rotated),
	}
	if e.prev != nil {
		s.PrevTokenHash = e.prev.hash
		s.PrevValidUntil = fromUnix(e.prev.validUntil)
	}
	return s
}

// zeroTime is time.Time{} in Unix seconds: year 1, far outside any real
// session time, so it round-trips as the zero time, and it is below every
// real time, so max keeps the later of two times.
var zeroTime = time.Time{}.Unix()

func toUnix(t time.Time) int64 { return t.Unix() }

func fromUnix(sec int64) time.Time {
	if sec == zeroTime {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
