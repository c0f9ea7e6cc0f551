package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"simpleapi/store"
)

// tokenBytes is the size of a session token: 256 bits.
const tokenBytes = 32

// SessionManager creates, finds, renews and ends sessions. It keeps only
// the SHA-256 of each token; the token itself goes to the client once and
// is never stored, logged or returned again.
type SessionManager struct {
	store    store.SessionStore
	now      func() time.Time
	absolute time.Duration // 0: no absolute expiry
	idle     time.Duration // 0: no idle expiry
	log      *slog.Logger

	// The latest use of each session used since the last flush, by
	// session id: exact for the idle timeout, written to the store in the
	// background (once a minute, so at most once a minute per session) and
	// at shutdown.
	mu      sync.Mutex
	touched map[string]time.Time
}

// SessionConfig configures a SessionManager.
type SessionConfig struct {
	Store       store.SessionStore
	Absolute    time.Duration // SESSION_DURATION; 0 = none
	IdleTimeout time.Duration // SESSION_IDLE_TIMEOUT; 0 = none
	Now         func() time.Time
	Log         *slog.Logger
}

// NewSessionManager returns a manager over cfg.Store.
func NewSessionManager(cfg SessionConfig) *SessionManager {
	m := &SessionManager{
		store:    cfg.Store,
		now:      cfg.Now,
		absolute: cfg.Absolute,
		idle:     cfg.IdleTimeout,
		log:      cfg.Log,
		touched:  make(map[string]time.Time),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m
}

// HashToken returns the stored form of a token.
func HashToken(token string) store.TokenHash {
	// Copying into a stack buffer spares the allocation of []byte(token)
	// on every authenticated request; tokens are 43 bytes.
	var buf [64]byte
	if len(token) <= len(buf) {
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

// newToken returns 32 random bytes, base64url without padding.
func newToken() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// invalidSession is the answer for every session that cannot be used:
// unknown, expired, revoked. Callers cannot tell which.
var invalidSession = store.Errorf(store.EFORBIDDEN, "Forbidden")

// Create starts a session for userID and returns its token, to be sent to
// the client once.
func (m *SessionManager) Create(ctx context.Context, userID, ip, userAgent string) (string, store.Session, error) {
	now := m.now().UTC().Truncate(time.Second)
	token := newToken()
	s := store.Session{
		ID:         uuid.NewString(),
		TokenHash:  HashToken(token),
		UserID:     userID,
		CreatedAt:  now,
		LastSeenAt: now,
		IP:         ip,
		UserAgent:  truncate(userAgent, 512),
	}
	if m.absolute > 0 {
		s.ExpiresAt = now.Add(m.absolute)
	}
	if err := m.store.CreateSession(ctx, s); err != nil {
		return "", store.Session{}, err
	}
	return token, s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Lookup returns the live session of a token and records its use. Any
// token that does not name a live session is EFORBIDDEN.
func (m *SessionManager) Lookup(ctx context.Context, token string) (store.Session, error) {
	s, err := m.store.SessionByTokenHash(ctx, HashToken(token))
	if err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.Session{}, invalidSession
		}
		return store.Session{}, err
	}
	now := m.now()
	expired := !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
	if !expired {
		m.mu.Lock()
		last := s.LastSeenAt
		if t, ok := m.touched[s.ID]; ok && t.After(last) {
			last = t
		}
		expired = m.idle > 0 && now.Sub(last) >= m.idle
		if !expired && now.After(last) {
			m.touched[s.ID] = now
		}
		m.mu.Unlock()
	}
	if expired {
		// Ended now rather than waiting for the sweep.
		_ = m.Destroy(ctx, s.ID)
		return store.Session{}, invalidSession
	}
	return s, nil
}

// lastSeen is the latest use of s, including a use not yet written.
func (m *SessionManager) lastSeen(s store.Session) time.Time {
	m.mu.Lock()
	t, ok := m.touched[s.ID]
	m.mu.Unlock()
	if ok && t.After(s.LastSeenAt) {
		return t
	}
	return s.LastSeenAt
}

// expired reports whether s has passed its absolute or idle limit at now.
func (m *SessionManager) expired(s store.Session, now time.Time) bool {
	if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
		return true
	}
	return m.idle > 0 && now.Sub(m.lastSeen(s)) >= m.idle
}

// MaxAge is how many seconds the cookie of s should live: the rest of its
// absolute lifetime, or 0 (a browser-session cookie) when it has none.
func (m *SessionManager) MaxAge(s store.Session) int {
	if s.ExpiresAt.IsZero() {
		return 0
	}
	secs := int(s.ExpiresAt.Sub(m.now()) / time.Second)
	return max(secs, 1)
}

// Renew replaces s by a session with a fresh token (and public id) and
// the same lifetime: used after a password change so a token seen before
// it is worthless. The new session is stored before the old one is
// deleted, so a revocation racing with the renewal ends both.
func (m *SessionManager) Renew(ctx context.Context, s store.Session) (string, store.Session, error) {
	token := newToken()
	renewed := s
	renewed.ID = uuid.NewString()
	renewed.TokenHash = HashToken(token)
	renewed.LastSeenAt = m.now().UTC().Truncate(time.Second)
	if err := m.store.CreateSession(ctx, renewed); err != nil {
		return "", store.Session{}, err
	}
	if err := m.Destroy(ctx, s.ID); err != nil {
		_ = m.Destroy(ctx, renewed.ID)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return "", store.Session{}, invalidSession // revoked meanwhile
		}
		return "", store.Session{}, err
	}
	return token, renewed, nil
}

// Destroy ends one session.
func (m *SessionManager) Destroy(ctx context.Context, id string) error {
	m.forget(id)
	return m.store.DeleteSession(ctx, id)
}

func (m *SessionManager) forget(id string) {
	m.mu.Lock()
	delete(m.touched, id)
	m.mu.Unlock()
}

// EndUserSessions ends every session of a user (account deleted, role
// changed).
func (m *SessionManager) EndUserSessions(ctx context.Context, userID string) (int, error) {
	return m.store.DeleteUserSessions(ctx, userID, "")
}

// EndOtherSessions ends every session of a user but keepID.
func (m *SessionManager) EndOtherSessions(ctx context.Context, userID, keepID string) (int, error) {
	return m.store.DeleteUserSessions(ctx, userID, keepID)
}

// List returns the live sessions of a user, oldest first, with their
// latest known use.
func (m *SessionManager) List(ctx context.Context, userID string) ([]store.Session, error) {
	all, err := m.store.ListSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	live := all[:0]
	for _, s := range all {
		if !m.expired(s, now) {
			s.LastSeenAt = m.lastSeen(s)
			live = append(live, s)
		}
	}
	return live, nil
}

// Get returns one live session by public id.
func (m *SessionManager) Get(ctx context.Context, id string) (store.Session, error) {
	s, err := m.store.SessionByID(ctx, id)
	if err != nil {
		return store.Session{}, err
	}
	if m.expired(s, m.now()) {
		return store.Session{}, store.Errorf(store.ENOTFOUND, store.MsgNotFound)
	}
	return s, nil
}

// Flush writes the recorded uses to the store. They stay visible to
// Lookup until written, and are kept for the next try if writing fails.
func (m *SessionManager) Flush(ctx context.Context) error {
	m.mu.Lock()
	if len(m.touched) == 0 {
		m.mu.Unlock()
		return nil
	}
	batch := maps.Clone(m.touched)
	m.mu.Unlock()
	if err := m.store.TouchSessions(ctx, batch); err != nil {
		return err
	}
	m.mu.Lock()
	for id, t := range batch {
		if m.touched[id].Equal(t) { // not used again meanwhile
			delete(m.touched, id)
		}
	}
	m.mu.Unlock()
	return nil
}

// Sweep removes every expired session and returns how many.
func (m *SessionManager) Sweep(ctx context.Context) (int, error) {
	if err := m.Flush(ctx); err != nil {
		return 0, err
	}
	now := m.now()
	if m.absolute == 0 && m.idle == 0 {
		return 0, nil
	}
	return m.store.DeleteSessionsWhere(ctx, func(s store.Session) bool { return m.expired(s, now) })
}

// Run flushes uses and sweeps expired sessions every interval until ctx
// ends, then flushes once more.
func (m *SessionManager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := m.Flush(context.Background()); err != nil {
				m.log.Error("writing session last-use times", "err", err.Error())
			}
			return
		case <-t.C:
			if n, err := m.Sweep(ctx); err != nil {
				m.log.Error("sweeping expired sessions", "err", err.Error())
			} else if n > 0 {
				m.log.Debug("expired sessions removed", "count", n)
			}
		}
	}
}
