// Package store holds the service's domain types (User, Session), the
// interfaces their storage implements, and the application error codes.
// Implementations live in sub-packages (jsonfile today; Redis and
// PostgreSQL can sit beside it) so nothing above this package depends on
// how data is kept.
package store

import (
	"context"
	"time"
)

// Role is a user's access level.
type Role string

const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleUser || r == RoleAdmin }

// User is one account. Values returned by a store are copies: changing
// them changes nothing until they are written back.
type User struct {
	ID           string
	Email        string // "" only for legacy records that had none
	PasswordHash string // argon2id PHC string, legacy SHA-256 hex, or "" (cannot log in)
	FirstName    *string
	LastName     *string
	Role         Role
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Factors      Factors // second factors; zero: none
}

// Clone returns a copy of u that shares nothing mutable with it (the
// name pointers), so stores can hand out and take in values safely.
func (u User) Clone() User {
	u.FirstName = clonePtr(u.FirstName)
	u.LastName = clonePtr(u.LastName)
	u.Factors = u.Factors.Clone()
	return u
}

// Prepared is what every store's CreateUser does first: EINVALID without
// an ID or with an unknown role; no role means RoleUser.
func (u User) Prepared() (User, error) {
	if u.ID == "" {
		return u, Errorf(EINVALID, "missing id")
	}
	if u.Role == "" {
		u.Role = RoleUser
	}
	if !u.Role.Valid() {
		return u, Errorf(EINVALID, "invalid role")
	}
	return u, nil
}

func clonePtr(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

// UserStore keeps users. Implementations enforce two invariants atomically
// with the write that could break them: emails are unique
// (case-insensitively, ECONFLICT "email already registered") and the last
// admin is never deleted or demoted (ECONFLICT "last admin").
type UserStore interface {
	// CreateUser stores a new user. It returns once the write is durable.
	CreateUser(ctx context.Context, u User) error
	// UserByID returns ENOTFOUND when no user has that id.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail matches case-insensitively; ENOTFOUND when none does.
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user in creation order.
	ListUsers(ctx context.Context) ([]User, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser applies fn to a copy of the user under the store's lock
	// and stores the result durably. An error from fn aborts the update
	// and is returned as is. The ID and CreatedAt of the user cannot change.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (User, error)
	// DeleteUser removes a user durably; ENOTFOUND when absent.
	DeleteUser(ctx context.Context, id string) error
	// Ping reports whether the store can still accept writes.
	Ping(ctx context.Context) error
	// Close flushes and releases the store.
	Close() error
}

// TokenHash is the SHA-256 of a session token: the only form in which a
// token is ever stored.
type TokenHash [32]byte

// Session is one signed-in browser or client. Every session carries its
// own deadlines, and expiry belongs to the store: a store never returns a
// session whose deadline has passed, and removes such sessions itself (a
// Redis key TTL, a SQL WHERE on the deadline, a sweep in memory).
//
// Times are kept to the millisecond at least: grace periods, rotation and
// expiry are decided on them (docs/session-store.md).
type Session struct {
	ID string // public UUIDv4, used by the sessions API
	// Family is the SHA-256 of the family secret that every token of the
	// session starts with, from its creation (or last renewal) on: the one
	// index a token finds its session by, so that any token the session
	// ever had is recognised without being kept (see auth.ParseToken).
	// Sessions stored before families existed load with Family =
	// TokenHash: their token is its own family secret.
	Family        TokenHash
	TokenHash     TokenHash // SHA-256 of the current token
	UserID        string
	CreatedAt     time.Time
	ExpiresAt     time.Time // absolute deadline; zero: none
	IdleExpiresAt time.Time // idle deadline, moved by TouchSession; zero: none
	LastSeenAt    time.Time
	IP            string
	UserAgent     string

	// Token rotation. RotatedAt is when the current token was issued
	// (CreatedAt until the first rotation). PrevTokenHash is the token the
	// latest rotation replaced (zero: none); the session manager accepts
	// it until PrevValidUntil, for requests that were already in flight.
	RotatedAt      time.Time
	PrevTokenHash  TokenHash
	PrevValidUntil time.Time

	// How and when the session was last authenticated. AAL is AAL1, AAL2
	// or AALPending (a password checked, a second factor still due: the
	// session signs nobody in); "" in a session stored before assurance
	// levels, which counts as AAL1. AuthAt is the last (re-)authentication;
	// zero means CreatedAt.
	AAL    string
	AuthAt time.Time
}

// Assurance levels of a session.
const (
	AAL1       = "aal1"    // a password
	AAL2       = "aal2"    // a password and a second factor, or a passkey
	AALPending = "pending" // a password, a second factor still due
)

// Deadline is when s ends: the nearer of its absolute and idle deadlines,
// zero when it has neither.
func (s Session) Deadline() time.Time {
	switch {
	case s.ExpiresAt.IsZero():
		return s.IdleExpiresAt
	case s.IdleExpiresAt.IsZero():
		return s.ExpiresAt
	case s.IdleExpiresAt.Before(s.ExpiresAt):
		return s.IdleExpiresAt
	default:
		return s.ExpiresAt
	}
}

// Live reports whether s has not reached its deadline at now.
func (s Session) Live(now time.Time) bool {
	d := s.Deadline()
	return d.IsZero() || now.Before(d)
}

// Validate is what every store's CreateSession checks first: EINVALID
// without an ID, a UserID or a Family.
func (s Session) Validate() error {
	if s.ID == "" || s.UserID == "" || s.Family == (TokenHash{}) {
		return Errorf(EINVALID, "session needs an id, a user id and a family")
	}
	return nil
}

// MaxChallenge is the largest challenge a session store keeps.
const MaxChallenge = 8 << 10

// ValidateChallenge is what every store's PutChallenge checks first:
// EINVALID for an empty key, a ttl that is not positive, or data over
// MaxChallenge.
func ValidateChallenge(key string, data []byte, ttl time.Duration) error {
	switch {
	case key == "":
		return Errorf(EINVALID, "challenge needs a key")
	case ttl <= 0:
		return Errorf(EINVALID, "challenge needs a positive time to live")
	case len(data) > MaxChallenge:
		return Errorf(EINVALID, "challenge too large")
	}
	return nil
}

// Rotation is the token state RotateToken writes.
type Rotation struct {
	Family         TokenHash // the family after it: unchanged by a rotation, new for a renewal
	TokenHash      TokenHash // the new current token
	RotatedAt      time.Time
	PrevTokenHash  TokenHash // the replaced token; zero: it stops working at once
	PrevValidUntil time.Time // end of the replaced token's grace period
}

// Validate is what every store's RotateToken checks first: EINVALID
// without a Family, which would leave the session unfindable.
func (r Rotation) Validate() error {
	if r.Family == (TokenHash{}) {
		return Errorf(EINVALID, "rotation needs a family")
	}
	return nil
}

// SessionStore keeps sessions. Stores are built with a clock (Now) and
// never return, list or count a session that is not Live at that clock.
// No operation scans every session through Go code: lookups by token hash,
// id and user are indexed.
type SessionStore interface {
	// CreateSession stores s durably (as durable as the implementation
	// is). ECONFLICT when its id or family is in use; EINVALID without an
	// ID, a UserID or a Family (Session.Validate).
	CreateSession(ctx context.Context, s Session) error
	// SessionByFamily returns the live session whose Family is f;
	// ENOTFOUND when there is none. It is the lookup of every
	// authenticated request, in one round trip.
	SessionByFamily(ctx context.Context, f TokenHash) (Session, error)
	// SessionByID returns the live session with that public id; ENOTFOUND
	// when there is none.
	SessionByID(ctx context.Context, id string) (Session, error)
	// ListSessions returns a user's live sessions, oldest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)
	// TouchSession records a use: LastSeenAt becomes seen and
	// IdleExpiresAt becomes idleExpiresAt, each only if later than what is
	// kept (a late call never moves them back). ENOTFOUND when the session
	// is not live. Reads see the change at once; a store may delay making
	// it durable (the JSON file writes uses at most once a minute).
	TouchSession(ctx context.Context, id string, seen, idleExpiresAt time.Time) error
	// RotateToken replaces the session's token and family (r.Family,
	// which a rotation leaves as it was), atomically and only if its
	// current TokenHash is still from: of parallel rotations of one token
	// exactly one succeeds, in one server-side step (a script, a
	// statement, a lock), never an optimistic retry that parallel
	// requests could exhaust. It returns the updated session; ECONFLICT
	// when the token was already replaced or r.Family belongs to another
	// session, ENOTFOUND when the session is not live, EINVALID without
	// r.Family (Rotation.Validate).
	RotateToken(ctx context.Context, id string, from TokenHash, r Rotation) (Session, error)
	// SetSessionAuth records a (re-)authentication of a live session: its
	// AAL and AuthAt become aal and at, in one write. It returns the
	// updated session; ENOTFOUND when the session is not live.
	SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (Session, error)
	// PutChallenge keeps data (at most MaxChallenge bytes: the state of a
	// WebAuthn ceremony) under key until ttl has passed, so that a
	// ceremony begun on one instance can finish on another. ECONFLICT when
	// key is in use; EINVALID for an empty key, a ttl that is not
	// positive, or data over MaxChallenge (ValidateChallenge).
	PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error
	// TakeChallenge returns the data kept under key and removes it: a
	// challenge is answered once. ENOTFOUND when there is none, or it
	// expired.
	TakeChallenge(ctx context.Context, key string) ([]byte, error)
	// DeleteSession removes one session; ENOTFOUND when absent.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of userID except the one
	// whose id is exceptID ("" for none) and returns how many live ones
	// it removed (expired ones may go too, uncounted).
	DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error)
	// DeleteExpired removes sessions past their deadline and returns how
	// many; a store whose keys expire by themselves returns 0.
	DeleteExpired(ctx context.Context) (int, error)
	// CountSessions returns how many live sessions are kept.
	CountSessions(ctx context.Context) (int, error)
	// Close flushes and releases the store.
	Close() error
}

// LoginLimits are the policy every LoginLimiter keeps: from the
// MaxFailures-th consecutive failure on, an account waits BaseDelay,
// doubled per further failure up to MaxDelay; at most MaxFailuresPerHour
// failures (and attempts in flight) per account and hour; a client address
// has IPBurst attempts, refilled at IPPerMinute.
type LoginLimits struct {
	MaxFailures        int
	BaseDelay          time.Duration
	MaxDelay           time.Duration
	MaxFailuresPerHour int
	IPPerMinute        int
	IPBurst            int
}

// LoginLimiter keeps the login-attempt bookkeeping: failures per account
// and attempts per client address. account is EmailKey of the email tried
// (known or not: unknown emails are limited alike, so limiting reveals
// nothing); addr is the client address, "" for none.
//
// Every attempt that Allow lets through ends in exactly one of Failure,
// Success or Abandon. Attempts in flight count against the account, so
// parallel guesses cannot slip past its limits. A shared implementation
// (Redis) makes N instances allow no more attempts than one.
type LoginLimiter interface {
	// Allow starts an attempt. When it is refused, ok is false and
	// retryAfter says how long to wait.
	Allow(ctx context.Context, account, addr string) (retryAfter time.Duration, ok bool, err error)
	// Failure ends an attempt whose password was wrong (or whose account
	// does not exist).
	Failure(ctx context.Context, account string) error
	// Success ends an attempt that verified: it clears the account's
	// failures and gives the attempt back to addr's budget.
	Success(ctx context.Context, account, addr string) error
	// Abandon ends an attempt that neither failed nor succeeded (an
	// internal error or an outage): it no longer counts as in flight.
	Abandon(ctx context.Context, account string) error
}
