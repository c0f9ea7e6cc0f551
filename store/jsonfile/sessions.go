package jsonfile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"simpleapi/store"
	"simpleapi/store/internal/challenges"
)

// sessionsFile holds the sessions of the session_db_auth mode.
const sessionsFile = ".db_UserSession.json"

// sessionRecord is a session on disk. Only hashes are kept (of the token
// and of the family secret), so a copy of the file cannot be used to sign
// in. updated_at is the time of the last change (last use, or creation),
// for symmetry with the users file.
//
// Times are written to the millisecond (sessionTimeLayout), since grace
// periods and deadlines are decided on them; records written before that
// hold whole seconds ("2006-01-02T15:04:05", UTC), which still read.
//
// Files written before sessions had a family lack family. Such a record
// loads with Family = TokenHash: a token issued before families is its own
// family secret.
//
// Files written before sessions carried their idle deadline and token
// rotation lack idle_expires_at, rotated_at and the prev_ fields. Such a
// record loads with rotated_at = created_at, no previous token, and an
// idle deadline of last_seen_at plus Options.SessionIdleTimeout (none when
// that is zero); idle_expires_at null means no idle deadline.
//
// aal and auth_at (the assurance level and the last authentication, see
// store.Session) are written only when set, so a session without them
// keeps the shape records had before them; a record without them loads
// with AAL "" and a zero AuthAt.
//
// The old service's sessions file has records of another shape,
// {"id","created_at","updated_at","user_id","session_id"}, whose session_id
// is the raw token. They are recognised by a missing token_hash or a
// session_id key and dropped on load (see decodeSession): their users sign
// in again.
type sessionRecord struct {
	ID             string          `json:"id"`
	UserID         string          `json:"user_id"`
	Family         string          `json:"family,omitempty"` // always written; "" in a record from before families
	TokenHash      *string         `json:"token_hash"`       // always written; nil only in an old service's record
	CreatedAt      string          `json:"created_at"`
	UpdatedAt      string          `json:"updated_at"`
	ExpiresAt      *string         `json:"expires_at"` // null: no absolute expiry
	IdleExpiresAt  json.RawMessage `json:"idle_expires_at"`
	LastSeenAt     string          `json:"last_seen_at"`
	IP             string          `json:"ip"`
	UserAgent      string          `json:"user_agent"`
	RotatedAt      string          `json:"rotated_at,omitempty"`
	PrevTokenHash  string          `json:"prev_token_hash,omitempty"`
	PrevValidUntil string          `json:"prev_valid_until,omitempty"`
	AAL            string          `json:"aal,omitempty"`
	AuthAt         string          `json:"auth_at,omitempty"`
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

// sessionCodec is the codec of the sessions file. legacyIdle gives a
// record written without idle_expires_at its idle deadline (see
// sessionRecord).
func sessionCodec(legacyIdle time.Duration) codec[store.Session] {
	return codec[store.Session]{
		id:     func(s *store.Session) string { return s.ID },
		encode: encodeSession,
		decode: func(unmarshal func(any) error) (*store.Session, error) {
			return decodeSession(unmarshal, legacyIdle)
		},
		dropWarning: "dropping sessions written by the old service (they hold raw session tokens, which this service never stores); " +
			"their users must sign in again, and the file is rewritten without them",
	}
}

// errOldSession is decodeSession's error for an old service's session.
var errOldSession = fmt.Errorf("%w: a session of the old service (raw session_id, no token_hash)", errDropRecord)

var jsonNull = json.RawMessage("null")

func encodeSession(s *store.Session) ([]byte, error) {
	updated := s.CreatedAt
	if s.LastSeenAt.After(updated) {
		updated = s.LastSeenAt
	}
	hash := hex.EncodeToString(s.TokenHash[:])
	r := sessionRecord{
		ID:            s.ID,
		UserID:        s.UserID,
		Family:        hex.EncodeToString(s.Family[:]),
		TokenHash:     &hash,
		CreatedAt:     formatSessionTime(s.CreatedAt),
		UpdatedAt:     formatSessionTime(updated),
		IdleExpiresAt: jsonNull,
		LastSeenAt:    formatSessionTime(s.LastSeenAt),
		IP:            s.IP,
		UserAgent:     s.UserAgent,
		RotatedAt:     formatSessionTime(s.RotatedAt),
	}
	if !s.ExpiresAt.IsZero() {
		e := formatSessionTime(s.ExpiresAt)
		r.ExpiresAt = &e
	}
	if !s.IdleExpiresAt.IsZero() {
		r.IdleExpiresAt = json.RawMessage(`"` + formatSessionTime(s.IdleExpiresAt) + `"`)
	}
	if s.PrevTokenHash != (store.TokenHash{}) {
		r.PrevTokenHash = hex.EncodeToString(s.PrevTokenHash[:])
		r.PrevValidUntil = formatSessionTime(s.PrevValidUntil)
	}
	r.AAL = s.AAL
	if !s.AuthAt.IsZero() {
		r.AuthAt = formatSessionTime(s.AuthAt)
	}
	return json.Marshal(r)
}

func decodeSession(unmarshal func(any) error, legacyIdle time.Duration) (*store.Session, error) {
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
	if r.TokenHash == nil {
		return nil, fmt.Errorf("token_hash: want %d hex digits", hex.EncodedLen(len(s.TokenHash)))
	}
	if err := decodeHash(&s.TokenHash, *r.TokenHash); err != nil {
		return nil, fmt.Errorf("token_hash: %w", err)
	}
	s.Family = s.TokenHash // a record from before families (see sessionRecord)
	if r.Family != "" {
		if err := decodeHash(&s.Family, r.Family); err != nil {
			return nil, fmt.Errorf("family: %w", err)
		}
	}
	var err error
	if s.CreatedAt, err = parseSessionTime(r.CreatedAt); err != nil {
		return nil, err
	}
	if s.LastSeenAt, err = parseSessionTime(r.LastSeenAt); err != nil {
		return nil, err
	}
	if r.ExpiresAt != nil {
		if s.ExpiresAt, err = parseSessionTime(*r.ExpiresAt); err != nil {
			return nil, err
		}
	}
	switch {
	case r.IdleExpiresAt == nil: // written before idle deadlines were kept
		if legacyIdle > 0 {
			s.IdleExpiresAt = s.LastSeenAt.Add(legacyIdle)
		}
	default:
		var idle *string
		if err := json.Unmarshal(r.IdleExpiresAt, &idle); err != nil {
			return nil, fmt.Errorf("idle_expires_at: %w", err)
		}
		if idle != nil {
			if s.IdleExpiresAt, err = parseSessionTime(*idle); err != nil {
				return nil, err
			}
		}
	}
	s.RotatedAt = s.CreatedAt
	if r.RotatedAt != "" {
		if s.RotatedAt, err = parseSessionTime(r.RotatedAt); err != nil {
			return nil, err
		}
	}
	if r.PrevTokenHash != "" {
		if err := decodeHash(&s.PrevTokenHash, r.PrevTokenHash); err != nil {
			return nil, fmt.Errorf("prev_token_hash: %w", err)
		}
		if s.PrevValidUntil, err = parseSessionTime(r.PrevValidUntil); err != nil {
			return nil, err
		}
	}
	s.AAL = r.AAL
	if s.AuthAt, err = parseSessionTime(r.AuthAt); err != nil { // "": zero
		return nil, err
	}
	return s, nil
}

func decodeHash(h *store.TokenHash, s string) error {
	if len(s) != hex.EncodedLen(len(h)) {
		return fmt.Errorf("want %d hex digits", hex.EncodedLen(len(h)))
	}
	_, err := hex.Decode(h[:], []byte(s))
	return err
}

// touchFlushInterval is how often TouchSession writes recorded uses to the
// file: a use only moves a session's idle deadline forward, so losing the
// latest minute of them in a crash ends sessions early, never late.
const touchFlushInterval = time.Minute

// sessionStore implements store.SessionStore on a table; t.mu guards the
// indexes and the pending touches too.
//
// TouchSession changes the session in memory at once (so every read sees
// it) and only marks it pending. Pending sessions are written to the
// journal by the first TouchSession once touchFlushInterval has passed
// since they were last written, by DeleteExpired (which the session
// manager calls once a minute) and by Close: a session in steady use costs
// one journal record a minute, not one per request.
//
// Each session costs one value and one entry in each index, whatever the
// number of its rotations: a rotation replaces the value, and token hashes
// are plain fields, not indexed (a token finds its session by family).
//
// Challenges (PutChallenge) are kept in memory only, in a challenges.Store
// with a lock of its own, never in the file: they live minutes, and a data
// directory serves one instance, so the instance that began a ceremony is
// the one that finishes it. A restart loses them, which fails the
// ceremonies under way: their users begin again.
type sessionStore struct {
	t        *table[store.Session]
	now      func() time.Time
	byFamily map[store.TokenHash]string // family → session id
	byUser   map[string][]string        // user id → session ids, in creation order

	pending   map[string]struct{} // ids touched in memory, not yet journaled
	flushedAt time.Time           // when pending touches were last journaled
	touchSeq  uint64              // journal sequence number of the latest touch written

	challenges *challenges.Store // expired ones until DeleteExpired
}

func openSessions(path string, opts Options) (*sessionStore, error) {
	t, err := openTable(path, sessionCodec(opts.SessionIdleTimeout), opts)
	if err != nil {
		return nil, err
	}
	s := &sessionStore{
		t:         t,
		now:       opts.Now,
		byFamily:  make(map[store.TokenHash]string, t.len()),
		byUser:    make(map[string][]string),
		pending:   make(map[string]struct{}),
		flushedAt: opts.Now(),

		challenges: challenges.New(),
	}
	t.all(func(v *store.Session) bool {
		s.index(v)
		return true
	})
	return s, nil
}

func (s *sessionStore) CreateSession(ctx context.Context, v store.Session) error {
	if err := v.Validate(); err != nil {
		return err
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
	// An expired session's family counts too until it is removed:
	// families are random, so a clash is a bug, not a reuse.
	if _, ok := s.byFamily[v.Family]; ok {
		return 0, store.Errorf(store.ECONFLICT, "session family in use")
	}
	seq, err := s.t.put(v)
	if err != nil {
		return 0, err
	}
	s.index(v)
	return seq, nil
}

// live returns the session stored under id if it is live at now. The
// caller holds t.mu.
func (s *sessionStore) live(id string, now time.Time) *store.Session {
	if v := s.t.get(id); v != nil && v.Live(now) {
		return v
	}
	return nil
}

func (s *sessionStore) SessionByFamily(ctx context.Context, f store.TokenHash) (store.Session, error) {
	now := s.now()
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if id, ok := s.byFamily[f]; ok {
		if v := s.live(id, now); v != nil {
			return *v, nil
		}
	}
	return store.Session{}, notFound()
}

func (s *sessionStore) SessionByID(ctx context.Context, id string) (store.Session, error) {
	now := s.now()
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if v := s.live(id, now); v != nil {
		return *v, nil
	}
	return store.Session{}, notFound()
}

func (s *sessionStore) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	now := s.now()
	s.t.mu.RLock()
	ids := s.byUser[userID]
	list := make([]store.Session, 0, len(ids))
	for _, id := range ids {
		if v := s.live(id, now); v != nil {
			list = append(list, *v)
		}
	}
	s.t.mu.RUnlock()
	// Creation order already; sorting keeps "oldest first" true even for
	// sessions created with explicit past times.
	slices.SortStableFunc(list, func(a, b store.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

// TouchSession changes the session in memory and leaves writing it to the
// next flush (see sessionStore). It does not wait for that write.
func (s *sessionStore) TouchSession(ctx context.Context, id string, seen, idleExpiresAt time.Time) error {
	now := s.now()
	seen, idleExpiresAt = normalizeSessionTime(seen), normalizeSessionTime(idleExpiresAt)
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	cur := s.live(id, now)
	if cur == nil {
		return notFound()
	}
	if seen.After(cur.LastSeenAt) || idleExpiresAt.After(cur.IdleExpiresAt) {
		next := *cur
		if seen.After(next.LastSeenAt) {
			next.LastSeenAt = seen
		}
		if idleExpiresAt.After(next.IdleExpiresAt) {
			next.IdleExpiresAt = idleExpiresAt
		}
		s.t.apply(id, &next) // in memory only; see flushTouches
		s.pending[id] = struct{}{}
	}
	// Once storage has failed, uses are kept in memory only, as reads go
	// on being answered from memory (see the package comment).
	if len(s.pending) > 0 && now.Sub(s.flushedAt) >= touchFlushInterval && s.t.writable() == nil {
		return s.flushTouches(now)
	}
	return nil
}

// flushTouches journals the pending touches; touchSeq is then the
// sequence number to commit to make them durable. The caller holds t.mu
// for writing.
func (s *sessionStore) flushTouches(now time.Time) error {
	for id := range s.pending {
		if v := s.t.get(id); v != nil {
			seq, err := s.t.put(v)
			if err != nil {
				return err
			}
			s.touchSeq = seq
		}
		delete(s.pending, id)
	}
	s.flushedAt = now
	return nil
}

// RotateToken also moves the session to r.Family: the same family for a
// rotation, a new one for a renewal, which frees the old one.
func (s *sessionStore) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	if err := r.Validate(); err != nil {
		return store.Session{}, err
	}
	now := s.now()
	s.t.mu.Lock()
	cur := s.live(id, now)
	if cur == nil {
		s.t.mu.Unlock()
		return store.Session{}, notFound()
	}
	if cur.TokenHash != from {
		s.t.mu.Unlock()
		return store.Session{}, store.Errorf(store.ECONFLICT, "session token already replaced")
	}
	if other, ok := s.byFamily[r.Family]; ok && other != id {
		s.t.mu.Unlock()
		return store.Session{}, store.Errorf(store.ECONFLICT, "session family in use")
	}
	next := *cur
	next.Family = r.Family
	next.TokenHash = r.TokenHash
	next.RotatedAt = normalizeSessionTime(r.RotatedAt)
	next.PrevTokenHash = r.PrevTokenHash
	next.PrevValidUntil = time.Time{}
	if r.PrevTokenHash != (store.TokenHash{}) {
		next.PrevValidUntil = normalizeSessionTime(r.PrevValidUntil)
	}
	seq, err := s.t.put(&next)
	if err != nil {
		s.t.mu.Unlock()
		return store.Session{}, err
	}
	s.unindexFamily(cur)
	s.indexFamily(&next)
	delete(s.pending, id) // the record just written holds the touches
	s.t.mu.Unlock()
	if err := s.t.commit(seq); err != nil {
		return store.Session{}, err
	}
	return next, nil
}

// SetSessionAuth writes the session's new assurance level and
// authentication time in one record, and waits for it to be durable.
func (s *sessionStore) SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (store.Session, error) {
	now := s.now()
	s.t.mu.Lock()
	cur := s.live(id, now)
	if cur == nil {
		s.t.mu.Unlock()
		return store.Session{}, notFound()
	}
	next := *cur
	next.AAL, next.AuthAt = aal, normalizeSessionTime(at)
	seq, err := s.t.put(&next)
	if err != nil {
		s.t.mu.Unlock()
		return store.Session{}, err
	}
	delete(s.pending, id) // the record just written holds the touches
	s.t.mu.Unlock()
	if err := s.t.commit(seq); err != nil {
		return store.Session{}, err
	}
	return next, nil
}

// PutChallenge keeps the challenge in memory (see sessionStore); its
// deadline is taken on the store's clock, to the millisecond.
func (s *sessionStore) PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return s.challenges.Put(key, data, ttl, s.now())
}

// TakeChallenge removes the challenge under key, expired or not, and
// returns it if it was still live at the store's clock.
func (s *sessionStore) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	return s.challenges.Take(key, s.now())
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
	delete(s.pending, id)
	return seq, nil
}

// DeleteUserSessions removes expired sessions of the user too, but counts
// only the live ones: the others were already gone for every caller.
func (s *sessionStore) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	now := s.now()
	s.t.mu.Lock()
	// Copy: delete edits the byUser slice being walked.
	ids := slices.Clone(s.byUser[userID])
	var seq uint64
	n := 0
	for _, id := range ids {
		if id == exceptID {
			continue
		}
		live := s.live(id, now) != nil
		last, err := s.delete(id)
		if err != nil {
			s.t.mu.Unlock()
			return n, err
		}
		seq = last
		if live {
			n++
		}
	}
	s.t.mu.Unlock()
	// Records reach the disk in order, so waiting for the last one covers
	// the whole batch.
	return n, s.t.commit(seq)
}

// DeleteExpired finds expired sessions under the read lock, so that the
// scan does not hold up requests, then deletes under the write lock those
// still expired. It also writes the pending touches and returns once they,
// and every touch written before, are durable. Expired challenges go too;
// the count is of sessions only.
func (s *sessionStore) DeleteExpired(ctx context.Context) (int, error) {
	now := s.now()
	s.challenges.DeleteExpired(now)
	var ids []string
	s.t.mu.RLock()
	s.t.all(func(v *store.Session) bool {
		if !v.Live(now) {
			ids = append(ids, v.ID)
		}
		return true
	})
	s.t.mu.RUnlock()

	s.t.mu.Lock()
	var seq uint64
	n := 0
	for _, id := range ids {
		v := s.t.get(id)
		if v == nil || v.Live(now) {
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
	if err := s.flushTouches(now); err != nil {
		s.t.mu.Unlock()
		return n, err
	}
	seq = max(seq, s.touchSeq)
	s.t.mu.Unlock()
	return n, s.t.commit(seq)
}

// CountSessions counts live sessions one by one: the count is read by the
// metrics scrape, not per request.
func (s *sessionStore) CountSessions(ctx context.Context) (int, error) {
	now := s.now()
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	n := 0
	s.t.all(func(v *store.Session) bool {
		if v.Live(now) {
			n++
		}
		return true
	})
	return n, nil
}

// Close writes the pending touches and closes the sessions table; DB.Close
// also releases the data directory.
func (s *sessionStore) Close() error {
	s.t.mu.Lock()
	var err error
	if len(s.pending) > 0 && s.t.writable() == nil {
		err = s.flushTouches(s.now())
	}
	seq := s.touchSeq
	s.t.mu.Unlock()
	return errors.Join(err, s.t.commit(seq), s.t.close())
}

// index adds v to the indexes. The caller holds t.mu for writing.
func (s *sessionStore) index(v *store.Session) {
	s.indexFamily(v)
	s.byUser[v.UserID] = append(s.byUser[v.UserID], v.ID)
}

func (s *sessionStore) indexFamily(v *store.Session) {
	s.byFamily[v.Family] = v.ID
}

// unindex removes v from the indexes. The caller holds t.mu for writing.
func (s *sessionStore) unindex(v *store.Session) {
	s.unindexFamily(v)
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

// unindexFamily leaves the family's entry alone if another session holds
// it, which only a hand-edited file with a duplicate family could cause.
func (s *sessionStore) unindexFamily(v *store.Session) {
	if s.byFamily[v.Family] == v.ID {
		delete(s.byFamily, v.Family)
	}
}

// normalizeSession returns a private copy of v with times as the file
// keeps them (UTC, milliseconds), so a value reads the same before and
// after a restart.
func normalizeSession(v store.Session) *store.Session {
	for _, p := range []*time.Time{&v.CreatedAt, &v.ExpiresAt, &v.IdleExpiresAt, &v.LastSeenAt, &v.RotatedAt, &v.PrevValidUntil, &v.AuthAt} {
		*p = normalizeSessionTime(*p)
	}
	if v.PrevTokenHash == (store.TokenHash{}) {
		v.PrevValidUntil = time.Time{}
	}
	return &v
}

// sessionTimeLayout is how the sessions file writes times: RFC 3339 in UTC
// with milliseconds, a fixed width so that a record's size does not depend
// on its times.
const sessionTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// normalizeSessionTime returns t as the sessions file keeps it: UTC, to the
// millisecond. Deadlines compared with a clock then decide at the
// millisecond, the same before and after a restart.
func normalizeSessionTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func formatSessionTime(t time.Time) string { return t.UTC().Format(sessionTimeLayout) }

// parseSessionTime reads a sessions file time: milliseconds as written
// now, or whole seconds as written before.
func parseSessionTime(s string) (time.Time, error) {
	t, err := parseFileTime(s)
	if err != nil {
		return time.Time{}, err
	}
	return normalizeSessionTime(t), nil
}
