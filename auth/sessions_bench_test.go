package auth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"simpleapi/store/memory"
)

// BenchmarkSessionLookup looks sessions up by token among 1,000,000 live
// ones (100,000 users, ten sessions each) and reports the memory each
// session costs, store and indexes included. Run with
//
//	go test -run '^$' -bench SessionLookup -benchmem ./auth
func BenchmarkSessionLookup(b *testing.B) {
	const sessions, users = 1_000_000, 100_000
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewSessionManager(SessionConfig{
		Store:       memory.NewSessions(nil),
		Absolute:    24 * time.Hour,
		IdleTimeout: 30 * time.Minute,
	})
	tokens := make([]string, 0, 1000)
	for i := range sessions {
		token, _, err := m.Create(ctx, fmt.Sprintf("user-%08d", i%users), "203.0.113.7",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
		if err != nil {
			b.Fatal(err)
		}
		if i%(sessions/cap(tokens)) == 0 {
			tokens = append(tokens, token)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := make([]string, len(tokens)) // the sample is not part of the store
	copy(kept, tokens)
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / sessions

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Lookup(ctx, ParseToken(kept[rand.IntN(len(kept))])); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perSession, "bytes/session")
}
