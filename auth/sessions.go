package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"simpleapi/store"
)

// A session token is "<family secret>.<secret>", each part 128 random bits
// in base64url without padding: 256 bits in all. The family secret is
// drawn when the session starts (or is renewed) and every rotation keeps
// it, so a token that the session ever had names its session, while only
// the current one (and the one it replaced, for a grace period) opens it.
// The store keeps SHA-256 hashes of both parts, never a token.
const (
	FamilyBytes = 16
	SecretBytes = 16
)

// Token is a session token as the manager reads it.
type Token struct {
	Value  string
	Hash   store.TokenHash // SHA-256 of Value: compared with the session's tokens
	Family store.TokenHash // SHA-256 of the family secret: finds the session
}

// ParseToken works out the hashes of a token. A token issued before
// families has no dot: it is its own family secret, which is what the
// stores assume of sessions stored then (Family = TokenHash).
func ParseToken(value string) Token {
	t := Token{Value: value, Hash: HashToken(value)}
	if family, _, ok := strings.Cut(value, "."); ok {
		t.Family = HashToken(family)
	} else {
		t.Family = t.Hash
	}
	return t
}

// familySecret is the part of a token that every successor keeps.
func familySecret(token string) string {
	family, _, _ := strings.Cut(token, ".")
	return family
}

// SessionManager creates, finds, renews and ends sessions. It keeps only
// the SHA-256 of each token; the token itself goes to the client once and
// is never stored, logged or returned again.
//
// Deadlines are the store's: the manager computes them (the absolute one
// at creation, the idle one at creation and on each use) and the store
// never returns a session past them. The manager keeps no state of its
// own, so any number of instances can share one store.
type SessionManager struct {
	store    store.SessionStore
	now      func() time.Time
	absolute time.Duration // 0: no absolute expiry
	idle     time.Duration // 0: no idle expiry
	rotate   time.Duration // 0: tokens are never rotated
	grace    time.Duration // how long a rotated-away token still works
	log      *slog.Logger
}

// SessionConfig configures a SessionManager.
type SessionConfig struct {
	Store       store.SessionStore
	Absolute    time.Duration // SESSION_DURATION; 0 = none
	IdleTimeout time.Duration // SESSION_IDLE_TIMEOUT; 0 = none
	// RotateInterval is the age after which a token in use is replaced
	// (SESSION_ROTATE_INTERVAL; 0 = never); RotateGrace is how long the
	// replaced token keeps working for requests already in flight
	// (SESSION_ROTATE_GRACE).
	RotateInterval time.Duration
	RotateGrace    time.Duration
	Now            func() time.Time
	Log            *slog.Logger
}

// NewSessionManager returns a manager over cfg.Store.
func NewSessionManager(cfg SessionConfig) *SessionManager {
	m := &SessionManager{
		store:    cfg.Store,
		now:      cfg.Now,
		absolute: cfg.Absolute,
		idle:     cfg.IdleTimeout,
		rotate:   cfg.RotateInterval,
		grace:    cfg.RotateGrace,
		log:      cfg.Log,
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

// randomPart returns n random bytes, base64url without padding.
func randomPart(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newFamilyToken returns the first token of a new family.
func newFamilyToken() Token {
	return ParseToken(randomPart(FamilyBytes) + "." + randomPart(SecretBytes))
}

// successor returns a new token of t's family.
func successor(t string) Token {
	return ParseToken(familySecret(t) + "." + randomPart(SecretBytes))
}

// invalidSession is the answer for every session that cannot be used:
// unknown, expired, revoked. Callers cannot tell which.
var invalidSession = store.Errorf(store.EFORBIDDEN, "Forbidden")

// PendingLifetime is how long a session waiting for its second factor
// lives: enough to open an authenticator app, too short to be worth
// stealing.
const PendingLifetime = 5 * time.Minute

// Create starts a session for userID signed in by a password (AAL1) and
// returns its token, to be sent to the client once.
func (m *SessionManager) Create(ctx context.Context, userID, ip, userAgent string) (string, store.Session, error) {
	return m.Start(ctx, userID, ip, userAgent, store.AAL1)
}

// Start starts a session for userID at assurance level aal: AAL1 or AAL2
// for a sign-in, AALPending for a password checked whose second factor is
// still due (such a session signs nobody in and ends after
// PendingLifetime). It returns the token, to be sent to the client once.
func (m *SessionManager) Start(ctx context.Context, userID, ip, userAgent, aal string) (string, store.Session, error) {
	now := m.instant()
	token := newFamilyToken()
	s := store.Session{
		AAL:           aal,
		AuthAt:        now,
		ID:            uuid.NewString(),
		Family:        token.Family,
		TokenHash:     token.Hash,
		UserID:        userID,
		CreatedAt:     now,
		IdleExpiresAt: m.idleDeadline(now),
		LastSeenAt:    now,
		IP:            ip,
		UserAgent:     truncate(userAgent, 512),
		RotatedAt:     now,
	}
	if m.absolute > 0 {
		s.ExpiresAt = now.Add(m.absolute)
	}
	if aal == store.AALPending {
		if end := now.Add(PendingLifetime); s.ExpiresAt.IsZero() || end.Before(s.ExpiresAt) {
			s.ExpiresAt = end
		}
	}
	if err := m.store.CreateSession(ctx, s); err != nil {
		return "", store.Session{}, err
	}
	return token.Value, s, nil
}

// instant is the current time as sessions keep it.
func (m *SessionManager) instant() time.Time { return toMilli(m.now()) }

// toMilli is t in UTC, to the millisecond: the precision every store
// keeps, so that what the manager decides on is what it reads back.
func toMilli(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// idleDeadline is the idle deadline of a session used at now; zero
// without an idle timeout.
func (m *SessionManager) idleDeadline(now time.Time) time.Time {
	if m.idle <= 0 {
		return time.Time{}
	}
	return now.Add(m.idle)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// TokenMatch says which of a session's tokens a token matched.
type TokenMatch int

const (
	// MatchCurrent: the session's current token.
	MatchCurrent TokenMatch = iota
	// MatchPrevious: the token the latest rotation replaced, within its
	// grace period (before PrevValidUntil).
	MatchPrevious
	// MatchReplayed: any other token of the session's family — the
	// replaced one after its grace period, or one replaced earlier. The
	// token is refused; the session is returned so that the caller can
	// treat the replay (two parties hold the session).
	MatchReplayed
)

// Find returns the live session of a token and which of its tokens
// matched, without recording a use. A token that names no live session is
// EFORBIDDEN; so is a replayed one, for which the session is returned too,
// with MatchReplayed.
func (m *SessionManager) Find(ctx context.Context, t Token) (store.Session, TokenMatch, error) {
	s, err := m.store.SessionByFamily(ctx, t.Family)
	if err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.Session{}, MatchCurrent, invalidSession
		}
		return store.Session{}, MatchCurrent, err
	}
	switch {
	case s.TokenHash == t.Hash:
		return s, MatchCurrent, nil
	case s.PrevTokenHash == t.Hash && m.now().Before(s.PrevValidUntil):
		return s, MatchPrevious, nil
	default:
		return s, MatchReplayed, invalidSession
	}
}

// Lookup returns the live session of a token (its current token, or its
// previous one within the grace period) and records its use. Any other
// token is EFORBIDDEN.
func (m *SessionManager) Lookup(ctx context.Context, t Token) (store.Session, error) {
	s, _, err := m.Find(ctx, t)
	if err != nil {
		return store.Session{}, err
	}
	if err := m.Touch(ctx, &s); err != nil {
		return store.Session{}, err
	}
	return s, nil
}

// Use authenticates a request's token: it returns the token's live
// session, records the use and, when the current token is older than the
// rotation interval, replaces it. newToken is then the successor, to be
// sent to the client at once; it is "" when nothing was replaced.
//
// Of parallel requests that all find the token due, the store lets
// exactly one rotate it; the others go on with the token they have, which
// stays valid for the grace period. Any other token of the session's
// family presented while the session lives on — the replaced one after
// its grace period, or one replaced before it — means two parties hold
// the session: the session ends (every token stops working) and the event
// session_token_reused is audited with both addresses.
func (m *SessionManager) Use(ctx context.Context, t Token) (s store.Session, newToken string, err error) {
	s, match, err := m.Find(ctx, t)
	if match == MatchReplayed {
		m.tokenReused(ctx, s)
		return store.Session{}, "", err
	}
	if err != nil {
		return store.Session{}, "", err
	}
	now := m.now()
	if err := m.touch(ctx, &s, now); err != nil {
		return store.Session{}, "", err
	}
	if match != MatchCurrent || !m.rotationDue(s, now) {
		return s, "", nil
	}
	return m.rotateToken(ctx, s, t.Value)
}

// rotationDue reports whether s's current token is older than the
// rotation interval at now.
func (m *SessionManager) rotationDue(s store.Session, now time.Time) bool {
	return m.rotate > 0 && !now.Before(s.RotatedAt.Add(m.rotate))
}

// rotateToken replaces s's current token, current, by a successor of its
// family, keeping the replaced one valid for the grace period. A parallel
// request that rotated first wins: s is returned unchanged, with no new
// token.
func (m *SessionManager) rotateToken(ctx context.Context, s store.Session, current string) (store.Session, string, error) {
	now := m.instant()
	next := successor(current)
	rotated, err := m.store.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{
		Family:         s.Family,
		TokenHash:      next.Hash,
		RotatedAt:      now,
		PrevTokenHash:  s.TokenHash,
		PrevValidUntil: now.Add(m.grace),
	})
	switch store.ErrorCode(err) {
	case "":
		return rotated, next.Value, nil
	case store.ECONFLICT:
		return s, "", nil
	case store.ENOTFOUND:
		return store.Session{}, "", invalidSession // ended meanwhile
	default:
		return store.Session{}, "", err
	}
}

// tokenReused ends a session one of whose earlier tokens came back, and
// audits it with the session's address and (from ctx) the address that
// presented the token. Of parallel replays only the one that ended the
// session audits it, so the event is logged once.
func (m *SessionManager) tokenReused(ctx context.Context, s store.Session) {
	err := m.Destroy(ctx, s.ID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return // a parallel request ended it, and audited it
	}
	attrs := []slog.Attr{slog.String("session_id", s.ID), slog.String("user_id", s.UserID),
		slog.String("session_ip", s.IP)}
	if err != nil {
		attrs = append(attrs, slog.String("end_error", err.Error()))
	}
	Audit(ctx, m.log, slog.LevelWarn, EventSessionTokenReused, attrs...)
}

// Touch records a use of *s now, moving its idle deadline, and updates *s
// to match. A session already seen in the same second is not written
// again: its idle deadline may so lag real use by up to a second, which
// spares a store write per request. A session that ended meanwhile is
// EFORBIDDEN.
func (m *SessionManager) Touch(ctx context.Context, s *store.Session) error {
	return m.touch(ctx, s, m.now())
}

// touch is Touch at the instant at (one clock read serves all of Use).
func (m *SessionManager) touch(ctx context.Context, s *store.Session, at time.Time) error {
	now := toMilli(at)
	if now.Unix() <= s.LastSeenAt.Unix() {
		return nil
	}
	idle := m.idleDeadline(now)
	if err := m.store.TouchSession(ctx, s.ID, now, idle); err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			return invalidSession
		}
		return err
	}
	s.LastSeenAt = now
	if idle.After(s.IdleExpiresAt) {
		s.IdleExpiresAt = idle
	}
	return nil
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

// renewTries bounds Renew's retries when the token changes under it (a
// rotation by a parallel request). Each retry follows a rotation that
// succeeded, which happens at most once per rotation interval, so the
// bound is never reached by a client's own parallel requests.
const renewTries = 3

// Renew gives s a fresh token of a new family, keeping its public id,
// creation time and deadlines: used after a password change so that a
// token seen before it is worthless. Every earlier token stops working at
// once (no grace period) and is then unknown, not a replay: the password
// change already cut off whoever held it. A session ended meanwhile is
// EFORBIDDEN.
func (m *SessionManager) Renew(ctx context.Context, s store.Session) (string, store.Session, error) {
	for range renewTries {
		token := newFamilyToken()
		renewed, err := m.store.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{
			Family:    token.Family,
			TokenHash: token.Hash,
			RotatedAt: m.instant(),
		})
		switch store.ErrorCode(err) {
		case "":
			return token.Value, renewed, nil
		case store.ENOTFOUND:
			return "", store.Session{}, invalidSession // revoked meanwhile
		case store.ECONFLICT: // rotated meanwhile: renew its current token
			if s, err = m.store.SessionByID(ctx, s.ID); err != nil {
				if store.ErrorCode(err) == store.ENOTFOUND {
					return "", store.Session{}, invalidSession
				}
				return "", store.Session{}, err
			}
		default:
			return "", store.Session{}, err
		}
	}
	return "", store.Session{}, store.Errorf(store.ECONFLICT, "session changed during renewal; try again")
}

// Reauthenticated records that the owner of s authenticated again just
// now, at assurance level aal, and returns the session as stored.
func (m *SessionManager) Reauthenticated(ctx context.Context, s store.Session, aal string) (store.Session, error) {
	updated, err := m.store.SetSessionAuth(ctx, s.ID, aal, m.instant())
	if store.ErrorCode(err) == store.ENOTFOUND {
		return store.Session{}, invalidSession
	}
	return updated, err
}

// Destroy ends one session.
func (m *SessionManager) Destroy(ctx context.Context, id string) error {
	return m.store.DeleteSession(ctx, id)
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

// List returns the live sessions of a user, oldest first.
func (m *SessionManager) List(ctx context.Context, userID string) ([]store.Session, error) {
	return m.store.ListSessions(ctx, userID)
}

// Get returns one live session by public id; ENOTFOUND when there is none.
func (m *SessionManager) Get(ctx context.Context, id string) (store.Session, error) {
	return m.store.SessionByID(ctx, id)
}

// Sweep asks the store to remove expired sessions and returns how many it
// removed.
func (m *SessionManager) Sweep(ctx context.Context) (int, error) {
	return m.store.DeleteExpired(ctx)
}

// Run sweeps expired sessions every interval until ctx ends.
func (m *SessionManager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
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
