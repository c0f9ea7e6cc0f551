package redis

import (
	"context"
	"fmt"
	"sync"
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
func testClient(t testing.TB) (goredis.UniversalClient, string) {
	t.Helper()
	c, _, err := Open(Config{URL: testkit.RedisTestURL()})
	require.NoError(t, err)
	require.NoError(t, Ping(t.Context(), c), "Redis must run at %s", testkit.RedisTestURL())
	t.Cleanup(func() { _ = c.Close() })
	return c, testkit.RedisPrefix(t, "simpleapi-test")
}

// clusterClient returns a client of the test binary's Redis Cluster and a
// key prefix of this test alone.
func clusterClient(t testing.TB) (goredis.UniversalClient, string) {
	t.Helper()
	c, prefix, err := Open(Config{ClusterAddrs: testkit.SharedCluster(t).Addrs(),
		Prefix: testkit.TopologyPrefix("simpleapi-test")})
	require.NoError(t, err)
	require.NoError(t, Ping(t.Context(), c), "the Cluster must be ready")
	t.Cleanup(func() { _ = c.Close() })
	return c, prefix
}

// sentinelClient returns a client of the test binary's Sentinel-watched
// primary and a key prefix of this test alone.
func sentinelClient(t testing.TB) (goredis.UniversalClient, string) {
	t.Helper()
	c, prefix, err := Open(Config{SentinelAddrs: testkit.SharedSentinel(t).SentinelAddrs(),
		SentinelMaster: testkit.SentinelMaster, Prefix: testkit.TopologyPrefix("simpleapi-test")})
	require.NoError(t, err)
	require.NoError(t, Ping(t.Context(), c), "the Sentinel's primary must answer")
	t.Cleanup(func() { _ = c.Close() })
	return c, prefix
}

// topologies are the three kinds of Redis the store serves, each giving a
// client and a key prefix of the test's own.
var topologies = []struct {
	name string
	open func(t testing.TB) (goredis.UniversalClient, string)
}{
	{"server", testClient},
	{"cluster", clusterClient},
	{"sentinel", sentinelClient},
}

// keysUnder lists the keys under prefix, on every primary of a Cluster.
func keysUnder(t testing.TB, c goredis.UniversalClient, prefix string) []string {
	t.Helper()
	cluster, ok := c.(*goredis.ClusterClient)
	if !ok {
		keys, err := c.Keys(t.Context(), prefix+"*").Result()
		require.NoError(t, err)
		return keys
	}
	var mu sync.Mutex
	var keys []string
	require.NoError(t, cluster.ForEachMaster(t.Context(), func(ctx context.Context, n *goredis.Client) error {
		k, err := n.Keys(ctx, prefix+"*").Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	}))
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
