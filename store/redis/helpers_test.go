package redis

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

// testClient returns a client of the shared Redis and a key prefix of this
// test alone; every key under it is deleted when the test ends.
func testClient(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	c, _, err := Open(testkit.RedisTestURL())
	require.NoError(t, err)
	require.NoError(t, Ping(t.Context(), c), "Redis must run at %s", testkit.RedisTestURL())
	t.Cleanup(func() { _ = c.Close() })
	return c, testkit.RedisPrefix(t, "simpleapi-test")
}

// keysUnder lists the keys under prefix.
func keysUnder(t testing.TB, c *goredis.Client, prefix string) []string {
	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	require.NoError(t, err)
	return keys
}

// baseTime is the clock of the session tests: whole seconds, UTC.
var baseTime = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)

// session returns session i of userID with a random family and token
// hash.
func session(i int, userID string) store.Session {
	return store.Session{
		ID:         fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		Family:     storetest.NewTokenHash(),
		TokenHash:  storetest.NewTokenHash(),
		UserID:     userID,
		CreatedAt:  baseTime.Add(time.Duration(i) * time.Minute),
		ExpiresAt:  baseTime.Add(24*time.Hour + time.Duration(i)*time.Minute),
		LastSeenAt: baseTime.Add(time.Duration(i) * time.Minute),
		RotatedAt:  baseTime.Add(time.Duration(i) * time.Minute),
		IP:         "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
}
