package redis

import (
	"math/rand/v2"
	"slices"
	"sync"
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

// BenchmarkWaitForReplica measures what waiting for a replica (WAIT 1
// 100) would add to a write that matters, on the Sentinel setup (a
// primary and one replica on this machine): a whole CreateSession as the
// store does it (no WAIT), and one write of a session hash alone and
// followed by WAIT in the same round trip, on one connection (WAIT
// covers the writes of its own connection). docs/session-store.md gives
// the figures and the decision.
func BenchmarkWaitForReplica(b *testing.B) {
	c, prefix := sentinelClient(b)
	ss := NewSessions(c, Options{Prefix: prefix})
	ctx := b.Context()
	b.Run("create-session", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := session(i, "alice")
			s.CreatedAt, s.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
			i++
			if err := ss.CreateSession(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	conn := c.(*goredis.Client).Conn()
	defer conn.Close()
	fields := encode(session(0, "alice"))
	for _, wait := range []bool{false, true} {
		name := "write"
		if wait {
			name = "write+WAIT-1-100"
		}
		b.Run(name, func(b *testing.B) {
			key := prefix + "bench:" + name
			for b.Loop() {
				cmds, err := conn.Pipelined(ctx, func(p goredis.Pipeliner) error {
					p.HSet(ctx, key, fields...)
					if wait {
						p.Do(ctx, "WAIT", 1, 100)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if wait {
					if n, _ := cmds[1].(*goredis.Cmd).Int(); n != 1 {
						b.Fatalf("WAIT: %d replicas acknowledged", n)
					}
				}
			}
		})
	}
}
