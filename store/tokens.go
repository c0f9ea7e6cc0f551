package store

import (
	"context"
	"time"
)

// AccessToken is a personal access token: a secret a user gives a script
// so that it can call the API as them without their password. Only the
// SHA-256 of the secret is kept; the secret is shown once, when the token
// is created (see docs/tokens.md). Revoking a token deletes it.
type AccessToken struct {
	ID        string // public UUIDv4, used by the tokens API
	UserID    string
	Name      string
	Scope     string    // ScopeRead or ScopeWrite
	Hash      TokenHash // SHA-256 of the secret
	CreatedAt time.Time
	ExpiresAt time.Time
	// LastUsedAt and LastUsedIP record the latest use that was written
	// (at most one a minute, see TouchAccessToken); zero and "" until the
	// first.
	LastUsedAt time.Time
	LastUsedIP string
}

// Scopes of an access token: a read token may only use GET and HEAD.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// MaxAccessTokenName is the longest token name, in characters.
const MaxAccessTokenName = 100

// Live reports whether t has not expired at now.
func (t AccessToken) Live(now time.Time) bool { return now.Before(t.ExpiresAt) }

// Normalized is t as every store keeps it: times in UTC, to the second.
func (t AccessToken) Normalized() AccessToken {
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Second)
	t.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Second)
	t.LastUsedAt = t.LastUsedAt.UTC().Truncate(time.Second)
	return t
}

// Validate is what every store's CreateAccessToken checks first: EINVALID
// without an ID, a UserID, a hash or an expiry, or with an unknown scope.
func (t AccessToken) Validate() error {
	switch {
	case t.ID == "" || t.UserID == "" || t.Hash == (TokenHash{}) || t.ExpiresAt.IsZero():
		return Errorf(EINVALID, "access token needs an id, a user id, a hash and an expiry")
	case t.Scope != ScopeRead && t.Scope != ScopeWrite:
		return Errorf(EINVALID, "access token scope must be read or write")
	}
	return nil
}

// MsgTooManyTokens is the conflict of a user who already has the most
// live tokens allowed.
const MsgTooManyTokens = "too many access tokens: revoke one first"

// AccessTokenStore keeps personal access tokens. Tokens live with their
// users: a user store that keeps them implements this too, and deleting a
// user deletes its tokens in the same step (a foreign key with ON DELETE
// CASCADE; one locked change of both tables in the JSON file). Times are
// kept to the second (AccessToken.Normalized).
type AccessTokenStore interface {
	// CreateAccessToken stores t if its user exists (ENOTFOUND otherwise)
	// and has fewer than max tokens live at now (ECONFLICT
	// MsgTooManyTokens), in one step, so parallel creations cannot pass
	// the limit together. The user's expired tokens are removed in the
	// same step. ECONFLICT when t's id or hash is in use; EINVALID (see
	// AccessToken.Validate).
	CreateAccessToken(ctx context.Context, t AccessToken, max int, now time.Time) error
	// AccessTokenByHash returns the token whose Hash is h, expired or
	// not, with its user, in one lookup: it is the lookup of every
	// request a token authenticates. ENOTFOUND when there is none.
	AccessTokenByHash(ctx context.Context, h TokenHash) (AccessToken, User, error)
	// ListAccessTokens returns a user's tokens, expired ones included,
	// oldest first; none for an unknown user.
	ListAccessTokens(ctx context.Context, userID string) ([]AccessToken, error)
	// DeleteAccessToken removes the token id of userID; ENOTFOUND when
	// userID has no such token.
	DeleteAccessToken(ctx context.Context, userID, id string) error
	// DeleteUserAccessTokens removes every token of userID and returns
	// how many it removed.
	DeleteUserAccessTokens(ctx context.Context, userID string) (int, error)
	// TouchAccessToken records a use of token id at at from ip, only if
	// the token's LastUsedAt is still prev: of parallel uses that read the
	// same token, exactly one writes. It reports whether it wrote;
	// ENOTFOUND when the token is gone.
	TouchAccessToken(ctx context.Context, id string, prev, at time.Time, ip string) (bool, error)
}
