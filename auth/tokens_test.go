package auth

import (
	"context"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/storetest"
)

func TestTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := range 2000 {
		s := NewTokenSecret()
		if i == 0 {
			sum := crc32.ChecksumIEEE([]byte(s[5:48]))
			require.Equal(t, tokenChecksum(s[5:48]), base62Of(sum), "the standard CRC-32")
		}
		require.Len(t, s, TokenLength)
		require.True(t, strings.HasPrefix(s, "sapi_"))
		require.True(t, WellFormedToken(s), s)
		require.False(t, seen[s])
		seen[s] = true
		for _, c := range s[len(TokenPrefix) : len(TokenPrefix)+tokenRandomChars] {
			counts[c]++
		}
		// Any one character changed breaks the checksum.
		for i := len(TokenPrefix); i < len(s); i++ {
			c := byte('a')
			if s[i] == 'a' {
				c = 'b'
			}
			require.False(t, WellFormedToken(s[:i]+string(c)+s[i+1:]), "changed at %d", i)
		}
	}
	// Each of the 62 characters is drawn alike: 86,000 draws, about
	// 1,387 each; a bias of the modulo (8 of them 5/4 as likely) would
	// show far outside these bounds.
	require.Len(t, counts, 62)
	for c, n := range counts {
		assert.InDelta(t, 86000/62, n, 200, "%c", c)
	}
	for _, bad := range []string{"", "sapi_", "ghp_" + strings.Repeat("a", 49), "sapi_" + strings.Repeat("a", 48),
		"sapi_" + strings.Repeat("a", 50), "SAPI_" + NewTokenSecret()[5:], "sapi_" + strings.Repeat("-", 49)} {
		assert.False(t, WellFormedToken(bad), bad)
	}
}

func base62Of(v uint32) (out [tokenCheckChars]byte) {
	for i := tokenCheckChars - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// countingTokens counts the lookups that reach the store.
type countingTokens struct {
	store.AccessTokenStore
	lookups atomic.Int64
	touches atomic.Int64
}

func (c *countingTokens) AccessTokenByHash(ctx context.Context, h store.TokenHash) (store.AccessToken, store.User, error) {
	c.lookups.Add(1)
	return c.AccessTokenStore.AccessTokenByHash(ctx, h)
}

func (c *countingTokens) TouchAccessToken(ctx context.Context, id string, prev, at time.Time, ip string) (bool, error) {
	c.touches.Add(1)
	return c.AccessTokenStore.TouchAccessToken(ctx, id, prev, at, ip)
}

func TestTokenAuthenticationCosts(t *testing.T) {
	ctx := t.Context()
	db, err := jsonfile.Open(t.TempDir(), jsonfile.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	u := storetest.User(1, "bob@example.com", store.RoleUser)
	require.NoError(t, db.Users().CreateUser(ctx, u))
	counting := &countingTokens{AccessTokenStore: db.AccessTokens()}
	clock := storetest.NewClock(storetest.UserTime)
	logs := &testkit.LockedBuffer{}
	tokens := &Tokens{Store: counting, Now: clock.Now, Log: slog.New(slog.NewJSONHandler(logs, nil))}
	tok, secret, err := tokens.Create(ctx, u.ID, NewToken{Name: "ci", Scope: store.ScopeRead})
	require.NoError(t, err)

	// A malformed token is refused without a lookup.
	broken := secret[:len(secret)-1] + "!"
	_, _, err = tokens.Authenticate(ctx, broken, func() string { return "192.0.2.1" })
	assert.Equal(t, ErrInvalidToken, err)
	assert.Zero(t, counting.lookups.Load())

	// A valid one costs one lookup a request, and one write a minute.
	for range 100 {
		got, user, err := tokens.Authenticate(ctx, secret, func() string { return "192.0.2.1" })
		require.NoError(t, err)
		assert.Equal(t, tok.ID, got.ID)
		assert.Equal(t, u.ID, user.ID)
		clock.Add(time.Second)
	}
	assert.Equal(t, int64(100), counting.lookups.Load())
	assert.Equal(t, int64(2), counting.touches.Load(), "at 0 s and at 60 s")
	assert.NotContains(t, logs.String(), secret)
}
