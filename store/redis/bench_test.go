package redis

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// BenchmarkSessionLookup measures SessionByFamily over Redis holding
// 100,000 live sessions, and reports the latency percentiles:
//
//	go test -run '^$' -bench SessionLookup -benchtime 20000x ./store/redis
func BenchmarkSessionLookup(b *testing.B) {
	c, prefix := testClient(b)
	ss := NewSessions(c, Options{Prefix: prefix})
	ctx := b.Context()
	const live = 100_000
	families := make([]store.TokenHash, live)
	now := time.Now()
	// A pipeline sends EVALSHA only: the script must be loaded first.
	require.NoError(b, createScript.Load(ctx, c).Err())
	for start := 0; start < live; start += 1000 {
		_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := start; i < start+1000; i++ {
				s := session(i, "user-"+string(rune('a'+i%26)))
				s.CreatedAt, s.LastSeenAt = now, now
				s.ExpiresAt = now.Add(time.Hour)
				families[i] = s.Family
				ss.create(ctx, p, s)
			}
			return nil
		})
		require.NoError(b, err)
	}
	n, err := ss.CountSessions(ctx)
	require.NoError(b, err)
	require.Equal(b, live, n)

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f := families[rand.IntN(live)]
		start := time.Now()
		if _, err := ss.SessionByFamily(ctx, f); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
