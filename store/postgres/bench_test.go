package postgres

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

// BenchmarkCreateUser32Writers: durable user creates (each one committed,
// with the server's synchronous_commit) from 32 concurrent writers, each
// with its own pooled connection. Reported as creates/s.
func BenchmarkCreateUser32Writers(b *testing.B) {
	const writers = 32
	db := openTest(b, Options{MaxConns: writers})
	users := db.Users()
	ctx := b.Context()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				u := storetest.User(i, fmt.Sprintf("user%d@example.com", i), store.RoleUser)
				if err := users.CreateUser(ctx, u); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
