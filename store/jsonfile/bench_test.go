package jsonfile

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchOptions logs nothing and counts fsyncs.
func benchOptions(fsyncs *atomic.Int64) Options {
	return Options{
		Logger: slog.New(slog.DiscardHandler),
		syncFile: func(f *os.File) error {
			fsyncs.Add(1)
			return f.Sync()
		},
	}
}

// BenchmarkCreateUser measures one durable create (one fsync each, as
// nothing else is writing) with 1,000 and 100,000 users already stored:
// the cost must not grow with the number of users.
func BenchmarkCreateUser(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			writeUsersSnapshot(b, dir, n)
			var fsyncs atomic.Int64
			db := openDB(b, dir, benchOptions(&fsyncs))
			us := db.Users()
			ctx := b.Context()
			i := n
			for b.Loop() {
				require.NoError(b, us.CreateUser(ctx, testUser(i)))
				i++
			}
		})
	}
}

// BenchmarkCreateParallel32 measures durable creates from 32 concurrent
// writers at 100,000 users, which group commit serves with shared fsyncs.
func BenchmarkCreateParallel32(b *testing.B) {
	const users, writers = 100000, 32
	dir := b.TempDir()
	writeUsersSnapshot(b, dir, users)
	var fsyncs atomic.Int64
	db := openDB(b, dir, benchOptions(&fsyncs))
	us := db.Users()
	ctx := b.Context()

	var next atomic.Int64
	fsyncs.Store(0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				if err := us.CreateUser(ctx, testUser(users+i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
	b.ReportMetric(float64(b.N)/float64(max(fsyncs.Load(), 1)), "creates/fsync")
}

// BenchmarkLoad100k measures opening a data directory of 100,000 users,
// and reports the heap that takes.
func BenchmarkLoad100k(b *testing.B) {
	const users = 100000
	dir := b.TempDir()
	writeUsersSnapshot(b, dir, users)
	opts := Options{Logger: slog.New(slog.DiscardHandler)}

	b.ResetTimer()
	for range b.N {
		db, err := Open(dir, opts)
		require.NoError(b, err)
		b.StopTimer()
		require.NoError(b, db.Close())
		b.StartTimer()
	}
	b.StopTimer()

	// Memory, measured once, outside the timed loads: sampling stops the
	// world.
	var before, after, ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	db, err := Open(dir, opts)
	require.NoError(b, err)
	close(stop)
	<-sampled
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	n, err := db.Users().CountUsers(b.Context())
	require.NoError(b, err)
	require.Equal(b, users, n)
	const mb = 1 << 20
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapInuse))/mb, "peak-heap-MB")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/mb, "live-heap-MB")
	b.ReportMetric(float64(allocated)/mb, "alloc-MB")
	require.NoError(b, db.Close())
}

// BenchmarkUserByIDParallel measures the per-request lookup.
func BenchmarkUserByIDParallel(b *testing.B) {
	const users = 100000
	dir := b.TempDir()
	writeUsersSnapshot(b, dir, users)
	db := openDB(b, dir, Options{Logger: slog.New(slog.DiscardHandler)})
	us := db.Users()
	ctx := b.Context()
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = testUser(i * 97).ID
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := us.UserByID(ctx, ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
