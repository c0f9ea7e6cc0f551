package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGCPercentFor(t *testing.T) {
	// The next collection starts at the larger of live × (1 + GOGC/100)
	// and 4 MiB × GOGC/100.
	goal := func(live uint64, p int) uint64 {
		return max(live*uint64(100+p)/100, goHeapMinimum*uint64(p)/100)
	}
	for _, live := range []uint64{0, 1, 1 << 20, 4 << 20, 5 << 20, 10 << 20, heapFloor/2 - 1} {
		p := gcPercentFor(live)
		assert.InDelta(t, float64(heapFloor), float64(goal(live, p)), float64(live)/100+1, "live %d", live)
		assert.GreaterOrEqual(t, p, 100)
		assert.LessOrEqual(t, p, 800)
	}
	for _, live := range []uint64{heapFloor / 2, heapFloor, 1 << 30, 1 << 40} {
		p := gcPercentFor(live)
		assert.Equal(t, 100, p, "a large live heap keeps Go's default")
		assert.GreaterOrEqual(t, goal(live, p), uint64(heapFloor))
	}
}

// gogc is the runtime's GOGC now.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

func TestGCFloorFollowsCollections(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	stop := startGCFloor(func(string) string { return "" })
	// Set from the live heap at start, then after every collection.
	assert.Greater(t, gogc(), 100, "this test's heap is far below the floor")

	debug.SetGCPercent(100) // as if the live heap had been large
	var ballast []byte
	require.Eventually(t, func() bool {
		ballast = make([]byte, 1<<10) // something for the collector to do
		runtime.GC()
		return gogc() > 100
	}, 10*time.Second, time.Millisecond, "a collection sets GOGC again")
	_ = ballast

	stop()
	assert.Equal(t, 100, gogc(), "stop restores the GOGC the floor started from")
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 100, gogc(), "no adjustment after stop")
}

func TestGCFloorLeavesOperatorGOGC(t *testing.T) {
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	stop := startGCFloor(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	})
	runtime.GC()
	assert.Equal(t, 150, gogc())
	stop()
	assert.Equal(t, 150, gogc())
}
