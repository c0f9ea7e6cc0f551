// Package memory keeps sessions in process memory, for the session_auth
// and session_exp_auth modes: they end with the process, by design.
package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"simpleapi/store"
	"simpleapi/store/internal/challenges"
)

// Sessions is an in-memory store.SessionStore, safe for concurrent use.
//
// Sessions are found by their family (the one index a token needs), by id
// and by user; token hashes are plain fields, not indexed, so a session
// takes one entry in each index however often its token is rotated.
//
// It is laid out to stay small with many sessions (see
// BenchmarkMemoryPerSession and TestMemoryPerSession):
//   - times are Unix milliseconds (8 bytes, not a time.Time's 24), which
//     is the precision the contract asks for;
//   - user ids, user agents and assurance levels, which repeat across
//     sessions, are interned: a handle is one word. An interned string
//     costs about 230 bytes a distinct value, so this pays from 3 or 4
//     sessions a value: user agents are long and few, the benchmark's
//     users have 10 sessions each, and there are three levels;
//     Addresses are not interned: few sessions share one, and even at the
//     benchmark's 15 sessions an address interning only broke even;
//   - the previous token of a rotation sits behind a pointer, which
//     sessions never rotated leave nil: 32 bytes less for them, 16 more
//     for the others (the entry's size classes, 176 or 176+48 against
//     208), so it pays while fewer than 2 sessions in 3 have rotated.
//
// Times are kept to the millisecond, in UTC.
//
// A session past its deadline is invisible at once and stays in memory
// until DeleteExpired sweeps it.
//
// Challenges are kept apart, in a challenges.Store with a lock of its own:
// an expired one is invisible at once and swept by DeleteExpired.
type Sessions struct {
	now func() time.Time

	mu       sync.RWMutex
	byID     map[string]*entry
	byFamily map[store.TokenHash]*entry
	byUser   map[unique.Handle[string]][]*entry // in creation order

	challenges *challenges.Store
}

// entry is one session. Times are Unix milliseconds, or zeroTime for none.
type entry struct {
	family   store.TokenHash
	hash     store.TokenHash
	id       string
	user     unique.Handle[string]
	ip       string
	ua       unique.Handle[string]
	created  int64
	expires  int64
	idle     int64
	lastSeen int64
	rotated  int64
	authAt   int64
	aal      unique.Handle[string]
	prev     *prevToken // nil: none
}

// prevToken is the token the latest rotation replaced. A rotation
// overwrites it in place: a session has at most one.
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
		now:      now,
		byID:     make(map[string]*entry),
		byFamily: make(map[store.TokenHash]*entry),
		byUser:   make(map[unique.Handle[string]][]*entry),

		challenges: challenges.New(),
	}
}

var _ store.SessionStore = (*Sessions)(nil)

// CreateSession refuses an id or a family held by any kept session, live
// or expired but not yet swept.
func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	if err := v.Validate(); err != nil {
		return err
	}
	e := &entry{
		family:   v.Family,
		hash:     v.TokenHash,
		id:       v.ID,
		user:     unique.Make(v.UserID),
		ip:       strings.Clone(v.IP), // not a slice of a larger request string
		ua:       unique.Make(v.UserAgent),
		created:  toMilli(v.CreatedAt),
		expires:  toMilli(v.ExpiresAt),
		idle:     toMilli(v.IdleExpiresAt),
		lastSeen: toMilli(v.LastSeenAt),
		rotated:  toMilli(v.RotatedAt),
		authAt:   toMilli(v.AuthAt),
		aal:      unique.Make(v.AAL),
	}
	if v.PrevTokenHash != (store.TokenHash{}) {
		e.prev = &prevToken{hash: v.PrevTokenHash, validUntil: toMilli(v.PrevValidUntil)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[e.id]; ok {
		return store.Errorf(store.ECONFLICT, "session already exists")
	}
	if _, ok := s.byFamily[e.family]; ok {
		return store.Errorf(store.ECONFLICT, "session family in use")
	}
	s.byID[e.id] = e
	s.byFamily[e.family] = e
	s.byUser[e.user] = append(s.byUser[e.user], e)
	return nil
}

func (s *Sessions) SessionByFamily(ctx context.Context, f store.TokenHash) (store.Session, error) {
	now := toMilli(s.now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byFamily[f]; ok && e.live(now) {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	now := toMilli(s.now())
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.byID[id]; ok && e.live(now) {
		return e.session(), nil
	}
	return store.Session{}, notFound()
}

func (s *Sessions) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	now := toMilli(s.now())
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
	now := toMilli(s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok || !e.live(now) {
		return notFound()
	}
	e.lastSeen = max(e.lastSeen, toMilli(seen))
	e.idle = max(e.idle, toMilli(idleExpiresAt))
	return nil
}

func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	if err := r.Validate(); err != nil {
		return store.Session{}, err
	}
	now := toMilli(s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok || !e.live(now) {
		return store.Session{}, notFound()
	}
	if e.hash != from {
		return store.Session{}, store.Errorf(store.ECONFLICT, "session token already replaced")
	}
	if r.Family != e.family {
		// A renewal: the new family must be free, the old one is let go.
		if _, ok := s.byFamily[r.Family]; ok {
			return store.Session{}, store.Errorf(store.ECONFLICT, "session family in use")
		}
		delete(s.byFamily, e.family)
		e.family = r.Family
		s.byFamily[e.family] = e
	}
	e.hash = r.TokenHash
	e.rotated = toMilli(r.RotatedAt)
	switch {
	case r.PrevTokenHash == (store.TokenHash{}):
		e.prev = nil
	case e.prev == nil:
		e.prev = &prevToken{hash: r.PrevTokenHash, validUntil: toMilli(r.PrevValidUntil)}
	default:
		*e.prev = prevToken{hash: r.PrevTokenHash, validUntil: toMilli(r.PrevValidUntil)}
	}
	return e.session(), nil
}

// SetSessionAuth records a (re-)authentication under the write lock.
func (s *Sessions) SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (store.Session, error) {
	h := unique.Make(aal) // before taking the lock: interning has its own
	now := toMilli(s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok || !e.live(now) {
		return store.Session{}, notFound()
	}
	e.aal = h
	e.authAt = toMilli(at)
	return e.session(), nil
}

// PutChallenge keeps a copy of data (see challenges.Store.Put).
func (s *Sessions) PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return s.challenges.Put(key, data, ttl, s.now())
}

// TakeChallenge removes the challenge, expired or not (see
// challenges.Store.Take).
func (s *Sessions) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	return s.challenges.Take(key, s.now())
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
	now := toMilli(s.now())
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
// moved back can). It removes expired challenges too, uncounted.
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	t := s.now()
	s.challenges.DeleteExpired(t)
	now := toMilli(t)

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
	now := toMilli(s.now())
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
	delete(s.byFamily, e.family)
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

// live reports whether e has not reached its deadline at now (Unix
// milliseconds, rounded down). Deadlines are whole milliseconds, so this
// is exact: an instant is before d exactly when its millisecond is.
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
		Family:        e.family,
		TokenHash:     e.hash,
		UserID:        e.user.Value(),
		CreatedAt:     fromMilli(e.created),
		ExpiresAt:     fromMilli(e.expires),
		IdleExpiresAt: fromMilli(e.idle),
		LastSeenAt:    fromMilli(e.lastSeen),
		IP:            e.ip,
		UserAgent:     e.ua.Value(),
		RotatedAt:     fromMilli(e.rotated),
		AAL:           e.aal.Value(),
		AuthAt:        fromMilli(e.authAt),
	}
	if e.prev != nil {
		s.PrevTokenHash = e.prev.hash
		s.PrevValidUntil = fromMilli(e.prev.validUntil)
	}
	return s
}

// zeroTime is time.Time{} in Unix milliseconds: year 1, far outside any
// real session time, so it round-trips as the zero time, and it is below
// every real time, so max keeps the later of two times.
var zeroTime = time.Time{}.UnixMilli()

// toMilli rounds t down to its millisecond (UnixMilli floors: the
// nanoseconds it drops are never negative).
func toMilli(t time.Time) int64 { return t.UnixMilli() }

func fromMilli(ms int64) time.Time {
	if ms == zeroTime {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
