package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"simpleapi/store"
)

// Personal access tokens (docs/tokens.md). A token is
//
//	sapi_ <43 base62 characters: 256 random bits> <6 base62 characters: CRC-32 of the 43>
//
// The prefix makes a leaked token easy to recognise (secret scanners
// match it); the checksum lets the service, and a scanner, tell a token
// it could have issued from a typo or a guess without asking the store.
// Only the SHA-256 of the whole token is stored (HashToken, as for
// session tokens): a token is already 256 random bits, so a fast hash is
// enough (no argon2id per request), and the lookup by hash is the only
// work a request by token costs.
const (
	TokenPrefix      = "sapi_"
	tokenRandomChars = 43 // 43 × log2(62) ≈ 256.03 bits
	tokenCheckChars  = 6  // 62^6 > 2^32
	// TokenLength is the length of every token.
	TokenLength = len(TokenPrefix) + tokenRandomChars + tokenCheckChars
)

// Limits of the tokens API.
const (
	MaxTokensPerUser = 50
	DefaultTokenDays = 90
	MaxTokenDays     = 365
	// tokenTouchEvery is how often a token's last use is written: at most
	// one store write per token and minute, whatever the request rate.
	tokenTouchEvery = time.Minute
)

// Messages of the token rules.
const (
	MsgInvalidToken    = "invalid or expired access token"
	MsgTokenNotAllowed = "not allowed with an access token"
	MsgReadOnlyToken   = "this access token is read-only"
	MsgTokenAndCookie  = "send an access token or a session cookie, not both"
	MsgTokenName       = "name is required, at most 100 characters"
	MsgTokenScope      = "scope must be read or write"
	MsgTokenDays       = "expires_in_days must be a whole number from 1 to 365"
)

// Audit events of access tokens. They name the token by its id, never
// its secret.
const (
	EventTokenCreated             = "token_created"
	EventTokenRevoked             = "token_revoked"
	EventTokenRefused             = "token_refused"
	EventTokenFirstUseFromAddress = "token_first_use_from_address"
)

// Reasons of a token_refused event.
const (
	tokenMalformed = "malformed" // bad shape or checksum: the store was not asked
	tokenUnknown   = "unknown"   // well formed, but not stored: never issued, or revoked
	tokenExpired   = "expired"
)

// ErrInvalidToken is the error of a token that authenticates nobody.
var ErrInvalidToken = store.Errorf(store.EUNAUTHORIZED, MsgInvalidToken)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// isBase62 marks the bytes of base62: a table, since a search of the
// alphabet for each of a token's 49 characters cost more than the rest of
// its checks together.
var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = true
	}
	return t
}()

// NewTokenSecret returns a new token: 43 characters drawn uniformly from
// base62 (bytes of 248 and above are redrawn, so each of the 62 is as
// likely) and their checksum.
func NewTokenSecret() string {
	var b strings.Builder
	b.Grow(TokenLength)
	b.WriteString(TokenPrefix)
	buf := make([]byte, 64)
	for n := 0; n < tokenRandomChars; {
		_, _ = rand.Read(buf) // crypto/rand never fails
		for _, c := range buf {
			if c < 248 && n < tokenRandomChars {
				b.WriteByte(base62[c%62])
				n++
			}
		}
	}
	s := b.String()
	sum := tokenChecksum(s[len(TokenPrefix):])
	return s + string(sum[:])
}

// crcTable is CRC-32's IEEE polynomial, as hash/crc32.ChecksumIEEE uses.
var crcTable = crc32.MakeTable(crc32.IEEE)

// tokenChecksum is the CRC-32 (IEEE) of the random part in 6 base62
// characters, most significant first. It runs on every request a token
// authenticates, so it reads the string in place: hash/crc32's own
// functions would take a copy of it on the heap.
func tokenChecksum(random string) (out [tokenCheckChars]byte) {
	v := ^uint32(0)
	for i := 0; i < len(random); i++ {
		v = crcTable[byte(v)^random[i]] ^ v>>8
	}
	v = ^v
	for i := tokenCheckChars - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// WellFormedToken reports whether s has a token's shape and checksum.
func WellFormedToken(s string) bool {
	if len(s) != TokenLength || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	body := s[len(TokenPrefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62[body[i]] {
			return false
		}
	}
	sum := tokenChecksum(body[:tokenRandomChars])
	return string(sum[:]) == body[tokenRandomChars:]
}

// TokenRevoker revokes every token of a user: what an account's reset
// does (see docs/tokens.md). Tokens implements it.
type TokenRevoker interface {
	RevokeUserTokens(ctx context.Context, userID, reason string) (int, error)
}

// Tokens is the access token service: creation, listing and revocation
// for the API, and the authentication of a request by token.
type Tokens struct {
	Store store.AccessTokenStore
	// Login counts refused tokens against their client's address, as
	// failed logins are; nil counts nothing (the user commands).
	Login *Login
	Now   func() time.Time
	Log   *slog.Logger
}

// NewToken is the input of Create; ExpiresInDays 0 means DefaultTokenDays.
type NewToken struct {
	Name          string
	Scope         string
	ExpiresInDays int
}

// Create issues a token for userID and returns it with its secret, which
// is never available again. ECONFLICT MsgTooManyTokens when the user has
// MaxTokensPerUser live tokens.
func (t *Tokens) Create(ctx context.Context, userID string, in NewToken) (store.AccessToken, string, error) {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "" || utf8.RuneCountInString(name) > store.MaxAccessTokenName || !cleanName(name):
		return store.AccessToken{}, "", store.Errorf(store.EINVALID, MsgTokenName)
	case in.Scope != store.ScopeRead && in.Scope != store.ScopeWrite:
		return store.AccessToken{}, "", store.Errorf(store.EINVALID, MsgTokenScope)
	case in.ExpiresInDays < 0 || in.ExpiresInDays > MaxTokenDays:
		return store.AccessToken{}, "", store.Errorf(store.EINVALID, MsgTokenDays)
	}
	days := in.ExpiresInDays
	if days == 0 {
		days = DefaultTokenDays
	}
	now := t.now().UTC().Truncate(time.Second)
	secret := NewTokenSecret()
	tok := store.AccessToken{
		ID:        uuid.NewString(),
		UserID:    userID,
		Name:      name,
		Scope:     in.Scope,
		Hash:      HashToken(secret),
		CreatedAt: now,
		ExpiresAt: now.AddDate(0, 0, days),
	}
	if err := t.Store.CreateAccessToken(ctx, tok, MaxTokensPerUser, now); err != nil {
		return store.AccessToken{}, "", err
	}
	Audit(ctx, t.Log, slog.LevelInfo, EventTokenCreated, slog.String("user_id", userID),
		slog.String("token_id", tok.ID), slog.String("scope", tok.Scope), slog.Time("expires_at", tok.ExpiresAt))
	return tok, secret, nil
}

// List returns the tokens of userID, oldest first, expired ones included
// (until the user's next creation removes them).
func (t *Tokens) List(ctx context.Context, userID string) ([]store.AccessToken, error) {
	return t.Store.ListAccessTokens(ctx, userID)
}

// Live reports whether tok has not expired, by the service's clock.
func (t *Tokens) Live(tok store.AccessToken) bool { return tok.Live(t.now()) }

// Revoke deletes token id of userID: the next request with it, on any
// instance, is refused. ENOTFOUND when userID has no such token.
func (t *Tokens) Revoke(ctx context.Context, userID, id string) error {
	if err := t.Store.DeleteAccessToken(ctx, userID, id); err != nil {
		return err
	}
	Audit(ctx, t.Log, slog.LevelInfo, EventTokenRevoked, slog.String("user_id", userID), slog.String("token_id", id))
	return nil
}

// RevokeUserTokens deletes every token of userID, for reason (an
// account's reset), and audits it when there were any.
func (t *Tokens) RevokeUserTokens(ctx context.Context, userID, reason string) (int, error) {
	n, err := t.Store.DeleteUserAccessTokens(ctx, userID)
	if err != nil || n == 0 {
		return n, err
	}
	Audit(ctx, t.Log, slog.LevelInfo, EventTokenRevoked, slog.String("user_id", userID),
		slog.Int("tokens", n), slog.String("reason", reason))
	return n, nil
}

// Authenticate finds the live token secret of a request from addr and
// its user, as the user is now (role included). A token refused is
// audited and, unless malformed (which costs nothing to refuse and can
// never become valid), counted as a failed attempt of addr: ErrInvalidToken,
// or a *ThrottledError once addr is throttled. A use is written at most
// once a minute per token; the first written from an address other than
// the last one is audited.
//
// addr gives the client's address, asked only when it is needed (a
// refusal, a use written).
func (t *Tokens) Authenticate(ctx context.Context, secret string, addr func() string) (store.AccessToken, store.User, error) {
	if !WellFormedToken(secret) {
		return t.refuse(ctx, addr, tokenMalformed, store.AccessToken{})
	}
	tok, u, err := t.Store.AccessTokenByHash(ctx, HashToken(secret))
	if store.ErrorCode(err) == store.ENOTFOUND {
		return t.refuse(ctx, addr, tokenUnknown, store.AccessToken{})
	}
	if err != nil {
		return store.AccessToken{}, store.User{}, err
	}
	now := t.now()
	if !tok.Live(now) {
		return t.refuse(ctx, addr, tokenExpired, tok)
	}
	if now.Sub(tok.LastUsedAt) >= tokenTouchEvery {
		t.touch(ctx, tok, now, addr())
	}
	return tok, u, nil
}

// touch writes a use of tok. A failure is logged, not returned: the
// token was valid, and its last use is a record, not a rule.
func (t *Tokens) touch(ctx context.Context, tok store.AccessToken, now time.Time, addr string) {
	wrote, err := t.Store.TouchAccessToken(ctx, tok.ID, tok.LastUsedAt, now, addr)
	if err != nil {
		t.log().WarnContext(ctx, "cannot record an access token's use", "token_id", tok.ID, "err", err.Error())
		return
	}
	if wrote && addr != tok.LastUsedIP {
		Audit(ctx, t.Log, slog.LevelInfo, EventTokenFirstUseFromAddress, slog.String("user_id", tok.UserID),
			slog.String("token_id", tok.ID), slog.String("previous_ip", tok.LastUsedIP))
	}
}

func (t *Tokens) refuse(ctx context.Context, addr func() string, reason string, tok store.AccessToken) (store.AccessToken, store.User, error) {
	attrs := []slog.Attr{slog.String("reason", reason)}
	if tok.ID != "" {
		attrs = append(attrs, slog.String("token_id", tok.ID), slog.String("user_id", tok.UserID))
	}
	Audit(ctx, t.Log, slog.LevelWarn, EventTokenRefused, attrs...)
	if reason == tokenMalformed || t.Login == nil {
		return store.AccessToken{}, store.User{}, ErrInvalidToken
	}
	err := t.Login.RefuseToken(ctx, addr())
	if _, throttled := RetryAfter(err); throttled {
		return store.AccessToken{}, store.User{}, err
	}
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		// The refusal stands whatever the limiter says.
		t.log().WarnContext(ctx, "login limiter unavailable", "err", err.Error())
	}
	return store.AccessToken{}, store.User{}, ErrInvalidToken
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) log() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.Default()
}

// TokenAllows applies a token's limits to a route with access a that the
// kind of a already allows: a token is never a recent authentication, so
// it cannot use routes marked Reauth, nor those marked NoTokens (what
// manages tokens, sessions, passwords or factors, or signs in); a read
// token may use GET and HEAD only.
func TokenAllows(a Access, scope, method string) error {
	if !a.AllowsTokens() {
		return store.Errorf(store.EFORBIDDEN, MsgTokenNotAllowed)
	}
	if scope != store.ScopeWrite && method != "GET" && method != "HEAD" {
		return store.Errorf(store.EFORBIDDEN, MsgReadOnlyToken)
	}
	return nil
}
