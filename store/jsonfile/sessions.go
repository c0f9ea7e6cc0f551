package jsonfile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"simpleapi/store"
)

// sessionsFile holds the sessions of the session_db_auth mode.
const sessionsFile = ".db_UserSession.json"

// sessionRecord is a session on disk. Only the token's hash is kept, so a
// copy of the file cannot be used to sign in. updated_at is the time of the
// last change (last use, or creation), for symmetry with the users file.
//
// The old service's sessions file has records of another shape,
// {"id","created_at","updated_at","user_id","session_id"}, whose session_id
// is the raw token. They are recognised by a missing token_hash or a
// session_id key and dropped on load (see decodeSession): their users sign
// in again.
type sessionRecord struct {
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	TokenHash  *string `json:"token_hash"` // always written; nil only in an old service's record
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	ExpiresAt  *string `json:"expires_at"` // null: no absolute expiry
	LastSeenAt string  `json:"last_seen_at"`
	IP         string  `json:"ip"`
	UserAgent  string  `json:"user_agent"`
	// SessionID is set when the record has a session_id key (an old
	// service's raw token); its value is never kept. Never written.
	SessionID keyPresent `json:"session_id,omitempty"`
}

// keyPresent records that a JSON key was present without keeping its
// value.
type keyPresent bool

func (p *keyPresent) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

var sessionCodec = codec[store.Session]{
	id:     func(s *store.Session) string { return s.ID },
	encode: encodeSession,
	decode: decodeSession,
	dropWarning: "dropping sessions written by the old service (they hold raw session tokens, which this service never stores); " +
		"their users must sign in again, and the file is rewritten without them",
}

// errOldSession is decodeSession's error for an old service's session.
var errOldSession = fmt.Errorf("%w: a session of the old service (raw session_id, no token_hash)", errDropRecord)

func encodeSession(s *store.Session) ([]byte, error) {
	updated := s.CreatedAt
	if s.LastSeenAt.After(updated) {
		updated = s.LastSeenAt
	}
	hash := hex.EncodeToString(s.TokenHash[:])
	r := sessionRecord{
		ID:         s.ID,
		UserID:     s.UserID,
		TokenHash:  &hash,
		CreatedAt:  formatTime(s.CreatedAt),
		UpdatedAt:  formatTime(updated),
		LastSeenAt: formatTime(s.LastSeenAt),
		IP:         s.IP,
		UserAgent:  s.UserAgent,
	}
	if !s.ExpiresAt.IsZero() {
		e := formatTime(s.ExpiresAt)
		r.ExpiresAt = &e
	}
	return json.Marshal(r)
}

func decodeSession(unmarshal func(any) error) (*store.Session, error) {
	var r sessionRecord
	if err := unmarshal(&r); err != nil {
		return nil, err
	}
	// An old service's session: an id and a raw token (session_id) where
	// this service keeps a hash. It is dropped, not converted, and nothing
	// of it is kept: a raw token must never be stored.
	if r.ID != "" && (r.TokenHash == nil || r.SessionID) {
		return nil, errOldSession
	}
	s := &store.Session{ID: r.ID, UserID: r.UserID, IP: r.IP, UserAgent: r.UserAgent}
	if r.TokenHash == nil || len(*r.TokenHash) != hex.EncodedLen(len(s.TokenHash)) {
		return nil, fmt.Errorf("token_hash: want %d hex digits", hex.EncodedLen(len(s.TokenHash)))
	}
	if _, err := hex.Decode(s.TokenHash[:], []byte(*r.TokenHash)); err != nil {
		return nil, fmt.Errorf("token_hash: %w", err)
	}
	var err error
	if s.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
		return nil, err
	}
	if s.LastSeenAt, err = parseTime(r.LastSeenAt); err != nil {
		return nil, err
	}
	if r.ExpiresAt != nil {
		if s.ExpiresAt, err = parseTime(*r.ExpiresAt); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// sessionStore implements store.SessionStore on a table; t.mu guards the
// indexes too.
type sessionStore struct {
	t      *table[store.Session]
	byHash map[store.TokenHash]string // token hash → session id
	byUser map[string][]string        // user id → session ids, in creation order
}

func openSessions(path string, opts Options) (*sessionStore, error) {
	t, err := openTable(path, sessionCodec, opts)
	if err != nil {
		return nil, err
	}
	s := &sessionStore{
		t:      t,
		byHash: make(map[store.TokenHash]string, t.len()),
		byUser: make(map[string][]string),
	}
	t.all(func(v *store.Session) bool {
		s.index(v)
		return true
	})
	return s, nil
}

func (s *sessionStore) CreateSession(ctx context.Context, v store.Session) error {
	if v.ID == "" || v.UserID == "" {
		return store.Errorf(store.EINVALID, "session needs an id and a user id")
	}
	n := normalizeSession(v)

	s.t.mu.Lock()
	seq, err := s.create(n)
	s.t.mu.Unlock()
	if err != nil {
		return err
	}
	return s.t.commit(seq)
}

func (s *sessionStore) create(v *store.Session) (uint64, error) {
	if s.t.get(v.ID) != nil {
		return 0, store.Errorf(store.ECONFLICT, "session already exists")
	}
	if _, ok := s.byHash[v.TokenHash]; ok {
		return 0, store.Errorf(store.ECONFLICT, "session already exists")
	}
	seq, err := s.t.put(v)
	if err != nil {
		return 0, err
	}
	s.index(v)
	return seq, nil
}

func (s *sessionStore) SessionByTokenHash(ctx context.Context, h store.TokenHash) (store.Session, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if id, ok := s.byHash[h]; ok {
		return *s.t.get(id), nil
	}
	return store.Session{}, notFound()
}

func (s *sessionStore) SessionByID(ctx context.Context, id string) (store.Session, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if v := s.t.get(id); v != nil {
		return *v, nil
	}
	return store.Session{}, notFound()
}

func (s *sessionStore) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	s.t.mu.RLock()
	ids := s.byUser[userID]
	list := make([]store.Session, 0, len(ids))
	for _, id := range ids {
		list = append(list, *s.t.get(id))
	}
	s.t.mu.RUnlock()
	// Creation order already; sorting keeps "oldest first" true even for
	// sessions created with explicit past times.
	slices.SortStableFunc(list, func(a, b store.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

func (s *sessionStore) DeleteSession(ctx context.Context, id string) error {
	s.t.mu.Lock()
	seq, err := s.delete(id)
	s.t.mu.Unlock()
	if err != nil {
		return err
	}
	return s.t.commit(seq)
}

func (s *sessionStore) delete(id string) (uint64, error) {
	v := s.t.get(id)
	if v == nil {
		return 0, notFound()
	}
	seq, err := s.t.remove(id)
	if err != nil {
		return 0, err
	}
	s.unindex(v)
	return seq, nil
}

func (s *sessionStore) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	s.t.mu.Lock()
	// Copy: delete edits the byUser slice being walked.
	ids := slices.Clone(s.byUser[userID])
	var seq uint64
	n := 0
	for _, id := range ids {
		if id == exceptID {
			continue
		}
		last, err := s.delete(id)
		if err != nil {
			s.t.mu.Unlock()
			return n, err
		}
		seq = last
		n++
	}
	s.t.mu.Unlock()
	// Records reach the disk in order, so waiting for the last one covers
	// the whole batch.
	return n, s.t.commit(seq)
}

// TouchSessions only moves last-use times forward, so a late batch cannot
// undo a newer one.
func (s *sessionStore) TouchSessions(ctx context.Context, lastSeen map[string]time.Time) error {
	s.t.mu.Lock()
	var seq uint64
	for id, at := range lastSeen {
		cur := s.t.get(id)
		if cur == nil {
			continue
		}
		at = normalizeTime(at)
		if !at.After(cur.LastSeenAt) {
			continue
		}
		next := *cur
		next.LastSeenAt = at
		last, err := s.t.put(&next)
		if err != nil {
			s.t.mu.Unlock()
			return err
		}
		seq = last
	}
	s.t.mu.Unlock()
	return s.t.commit(seq)
}

// DeleteSessionsWhere finds candidates under the read lock, so that the
// scan does not hold up requests, then deletes under the write lock those
// for which expired still holds. expired must not call the store.
func (s *sessionStore) DeleteSessionsWhere(ctx context.Context, expired func(store.Session) bool) (int, error) {
	var ids []string
	s.t.mu.RLock()
	s.t.all(func(v *store.Session) bool {
		if expired(*v) {
			ids = append(ids, v.ID)
		}
		return true
	})
	s.t.mu.RUnlock()
	if len(ids) == 0 {
		return 0, nil
	}

	s.t.mu.Lock()
	var seq uint64
	n := 0
	for _, id := range ids {
		v := s.t.get(id)
		if v == nil || !expired(*v) {
			continue
		}
		last, err := s.delete(id)
		if err != nil {
			s.t.mu.Unlock()
			return n, err
		}
		seq = last
		n++
	}
	s.t.mu.Unlock()
	return n, s.t.commit(seq)
}

func (s *sessionStore) CountSessions(ctx context.Context) (int, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	return s.t.len(), nil
}

// Close closes the sessions table only; DB.Close also releases the data
// directory.
func (s *sessionStore) Close() error { return s.t.close() }

// index adds v to the indexes. The caller holds t.mu for writing.
func (s *sessionStore) index(v *store.Session) {
	s.byHash[v.TokenHash] = v.ID
	s.byUser[v.UserID] = append(s.byUser[v.UserID], v.ID)
}

// unindex removes v from the indexes. The caller holds t.mu for writing.
func (s *sessionStore) unindex(v *store.Session) {
	delete(s.byHash, v.TokenHash)
	ids := s.byUser[v.UserID]
	if i := slices.Index(ids, v.ID); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(s.byUser, v.UserID)
	} else {
		s.byUser[v.UserID] = ids
	}
}

// normalizeSession returns a private copy of v with times as the file
// keeps them (UTC, whole seconds).
func normalizeSession(v store.Session) *store.Session {
	v.CreatedAt = normalizeTime(v.CreatedAt)
	v.ExpiresAt = normalizeTime(v.ExpiresAt)
	v.LastSeenAt = normalizeTime(v.LastSeenAt)
	return &v
}
