package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backend is a Fetch that records each batch and, while gate is open,
// holds every fetch until the test lets it go.
type backend struct {
	mu       sync.Mutex
	batches  [][]string
	inFlight int
	maxIn    int
	gate     chan struct{} // nil: fetches return at once
	err      error
}

func (b *backend) fetch(ctx context.Context, keys []string) ([]Result[int], error) {
	b.mu.Lock()
	b.batches = append(b.batches, slices.Clone(keys))
	b.inFlight++
	b.maxIn = max(b.maxIn, b.inFlight)
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	b.mu.Lock()
	b.inFlight--
	b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	results := make([]Result[int], len(keys))
	for i, k := range keys {
		if k != "missing" {
			results[i] = Result[int]{len(k), true}
		}
	}
	return results, nil
}

func TestLoadAloneGoesOutAtOnce(t *testing.T) {
	b := &backend{}
	l := New(b.fetch, 1, 8)
	v, found, err := l.Load(context.Background(), "abc")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, 3, v)
	_, found, err = l.Load(context.Background(), "missing")
	require.NoError(t, err)
	assert.False(t, found)
	assert.Equal(t, [][]string{{"abc"}, {"missing"}}, b.batches)
}

// result is what one Load returned.
type result struct {
	v     int
	found bool
	err   error
}

// loadAll starts a Load of each key and returns the channel of each
// answer, in order.
func loadAll(ctx context.Context, l *Loader[string, int], keys ...string) []chan result {
	out := make([]chan result, len(keys))
	for i, k := range keys {
		out[i] = make(chan result, 1)
		go func() {
			v, found, err := l.Load(ctx, k)
			out[i] <- result{v, found, err}
		}()
	}
	return out
}

func TestReadsWaitingForALaneGoTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &backend{gate: make(chan struct{})}
		l := New(b.fetch, 1, 64)
		first := loadAll(t.Context(), l, "a")
		synctest.Wait() // "a" is on its way and holds the one lane
		rest := loadAll(t.Context(), l, "bb", "ccc", "bb", "missing")
		synctest.Wait()
		assert.Len(t, b.batches, 1, "the others wait for the lane")
		close(b.gate)
		synctest.Wait()
		require.Len(t, b.batches, 2)
		assert.Equal(t, []string{"a"}, b.batches[0])
		second := slices.Sorted(slices.Values(b.batches[1]))
		assert.Equal(t, []string{"bb", "ccc", "missing"}, second, "one batch, each key once")
		assert.Equal(t, result{1, true, nil}, <-first[0])
		assert.Equal(t, result{2, true, nil}, <-rest[0])
		assert.Equal(t, result{3, true, nil}, <-rest[1])
		assert.Equal(t, result{2, true, nil}, <-rest[2])
		assert.Equal(t, result{0, false, nil}, <-rest[3])
	})
}

// A read that arrives after a batch was sent is never answered by it: it
// goes in the next batch, so it sees every write finished before it began.
func TestReadAfterSendWaitsForNextBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &backend{gate: make(chan struct{})}
		l := New(b.fetch, 1, 64)
		first := loadAll(t.Context(), l, "k")
		synctest.Wait()
		second := loadAll(t.Context(), l, "k")
		synctest.Wait()
		close(b.gate)
		<-first[0]
		<-second[0]
		assert.Equal(t, [][]string{{"k"}, {"k"}}, b.batches)
	})
}

func TestBatchesAreBoundedInSizeAndLanes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &backend{gate: make(chan struct{})}
		l := New(b.fetch, 2, 3)
		var keys []string
		for i := range 12 {
			keys = append(keys, fmt.Sprint("key", i))
		}
		answers := loadAll(t.Context(), l, keys...)
		synctest.Wait()
		assert.Equal(t, 2, b.maxIn, "two lanes")
		close(b.gate)
		for i, a := range answers {
			r := <-a
			assert.Equal(t, result{len(keys[i]), true, nil}, r)
		}
		synctest.Wait() // every lane given back
		b.mu.Lock()
		defer b.mu.Unlock()
		var n int
		for _, batch := range b.batches {
			assert.LessOrEqual(t, len(batch), 3)
			n += len(batch)
		}
		assert.Equal(t, 12, n, "every key fetched once, no empty batch")
		assert.LessOrEqual(t, b.maxIn, 2)
		assert.Zero(t, l.running)
	})
}

// A failed round trip fails its reads and the reads that waited for it,
// which would otherwise wait for a second round trip to a backend that
// just failed. The next read after that goes out again.
func TestErrorFailsTheBatchAndTheWaitingReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("backend down")
		b := &backend{gate: make(chan struct{}), err: boom}
		l := New(b.fetch, 1, 64)
		answers := loadAll(t.Context(), l, "a")
		synctest.Wait()
		answers = append(answers, loadAll(t.Context(), l, "b", "c")...)
		synctest.Wait()
		close(b.gate)
		for _, a := range answers {
			assert.ErrorIs(t, (<-a).err, boom)
		}
		synctest.Wait()
		assert.Len(t, b.batches, 1, "the waiting reads were not sent")
		assert.Zero(t, l.running)

		b.err = nil
		v, found, err := l.Load(t.Context(), "dd")
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, 2, v)
	})
}

// A waiting caller that gives up returns at once; the batch it was in
// still answers the others, and the lane is free afterwards. The caller
// sending a batch is not stopped by its own ctx, or the others would fail.
func TestCallerThatGivesUpDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &backend{gate: make(chan struct{})}
		l := New(b.fetch, 1, 64)
		ctx, cancel := context.WithCancel(t.Context())
		leader := loadAll(ctx, l, "a") // sends the batch itself
		synctest.Wait()
		waiting := loadAll(ctx, l, "b")
		other := loadAll(t.Context(), l, "cc")
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, (<-waiting[0]).err, context.Canceled)
		close(b.gate)
		assert.Equal(t, result{1, true, nil}, <-leader[0], "the sender waits for its batch")
		assert.Equal(t, result{2, true, nil}, <-other[0])
		v, found, err := l.Load(t.Context(), "ddd")
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		assert.True(t, found)
		synctest.Wait()
		assert.Zero(t, l.running, "no lane left taken")
	})
}
