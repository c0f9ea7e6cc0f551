package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is the heap size below which the garbage collector does not
// start a cycle.
//
// Go starts a collection when the heap has grown by GOGC percent (default
// 100) over what the last one left live, and at 4 MiB at the least. This
// service keeps little live data (about 1 MiB with a few users and sessions),
// so under load it collected 30 to 40 times a second, and those cycles cost
// more CPU per request than its own middleware does. Letting a small heap
// grow to heapFloor first makes them about eight times rarer. A live heap
// of half the floor or more gets Go's default, so large data sets and login
// storms (each argon2id hash holds 19 MiB) grow the heap no further than
// they would without the floor.
const heapFloor = 32 << 20

// goHeapMinimum is the heap at which Go starts its first collection with
// GOGC=100; the runtime scales it by GOGC/100.
const goHeapMinimum = 4 << 20

// gcPercentFor is the GOGC that lets a heap with live bytes live grow to
// heapFloor before the next collection, and never less than Go's default.
// The next collection starts at the larger of live × (1 + GOGC/100) and
// goHeapMinimum × GOGC/100, so a live heap under goHeapMinimum (or none
// measured yet) gets the GOGC that puts the latter at heapFloor.
func gcPercentFor(live uint64) int {
	const most = heapFloor * 100 / goHeapMinimum
	if live < goHeapMinimum {
		return most
	}
	return min(most, max(100, int(heapFloor*100/live)-100))
}

// gcFloor sets GOGC after every collection from the heap it left live
// (runtime/debug.SetGCPercent does not stop the world). It learns of each
// collection through a finalizer on an object nothing else refers to, which
// re-arms itself: the runtime runs it once per cycle in which the object
// was found unreachable.
type gcFloor struct {
	mu       sync.Mutex
	stopped  bool
	previous int // GOGC before the floor, restored by stop
	sample   []metrics.Sample
}

type gcSentinel struct{ f *gcFloor }

// startGCFloor starts keeping the heap at heapFloor or above, unless the
// operator chose GOGC. The returned function stops it and restores GOGC.
func startGCFloor(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	f := &gcFloor{
		previous: debug.SetGCPercent(100),
		sample:   []metrics.Sample{{Name: "/gc/heap/live:bytes"}},
	}
	f.adjust()
	runtime.SetFinalizer(&gcSentinel{f}, afterCollection)
	return f.stop
}

func afterCollection(s *gcSentinel) {
	if s.f.adjust() {
		runtime.SetFinalizer(s, afterCollection)
	}
}

// adjust sets GOGC for the live heap now; false once stopped.
func (f *gcFloor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample)
	var live uint64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	debug.SetGCPercent(gcPercentFor(live))
	return true
}

func (f *gcFloor) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.previous)
	}
}
