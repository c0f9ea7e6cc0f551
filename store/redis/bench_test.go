package redis

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

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
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < live; i += 16 {
				s := session(i, "user-"+string(rune('a'+i%26)))
				s.CreatedAt, s.LastSeenAt = now, now
				s.ExpiresAt = now.Add(time.Hour)
				families[i] = s.Family
				if err := ss.CreateSession(ctx, s); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
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
