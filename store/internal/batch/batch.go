// Package batch gathers reads that arrive while another read of the same
// kind is on its way to a backend, and sends them together in one round
// trip when it returns. Under load this turns N round trips (each a pair
// of system calls on both ends, and a wake-up of the backend) into one;
// alone, a read goes out at once, as it would without the package.
//
// A read is never answered with data from an earlier round trip: a batch
// is sent only after every read in it arrived, so each read sees every
// write that finished before it began. (It may share an earlier round
// trip's failure: see send.) Reads of the same key in one batch share its
// answer.
package batch

import (
	"context"
	"fmt"
	"sync"
)

// Fetch reads keys (distinct, at least one) in one round trip and returns
// one Result per key, in the order of keys. An error fails every read of
// the batch.
type Fetch[K comparable, V any] func(ctx context.Context, keys []K) ([]Result[V], error)

// Result is what a Fetch found for one key. (A slice rather than a map:
// a map of even one entry allocates room for eight, on every batch.)
type Result[V any] struct {
	Value V
	Found bool
}

// Loader runs batched reads through one Fetch. The zero value is not
// usable; make one with New.
type Loader[K comparable, V any] struct {
	fetch Fetch[K, V]
	lanes int // batches on their way at once, at most
	max   int // keys per batch, at most

	mu      sync.Mutex
	pending []*call[K, V]
	running int // batches on their way
}

type call[K comparable, V any] struct {
	key   K
	val   V
	found bool
	err   error
	done  chan struct{}
}

// New returns a Loader that keeps at most lanes batches of at most max
// keys on their way at once.
func New[K comparable, V any](fetch Fetch[K, V], lanes, max int) *Loader[K, V] {
	return &Loader[K, V]{fetch: fetch, lanes: lanes, max: max}
}

// Load reads key, in a batch with the reads that are waiting for a lane.
// The caller whose read finds a lane free sends the batch itself, so a
// read on an idle Loader costs no hand-over. That caller waits for its
// batch whatever its ctx says (a caller that gives up must not fail the
// reads of the others), so a Fetch must bound itself with a deadline of
// its own; the other callers stop waiting when their ctx ends.
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, bool, error) {
	c := &call[K, V]{key: key, done: make(chan struct{})}
	l.mu.Lock()
	l.pending = append(l.pending, c)
	lead := l.running < l.lanes
	if lead {
		l.running++
	}
	l.mu.Unlock()
	if lead {
		l.send(context.WithoutCancel(ctx))
		<-c.done // in the batch just sent, or in one a parallel lane took
		return c.val, c.found, c.err
	}
	select {
	case <-c.done:
		return c.val, c.found, c.err
	case <-ctx.Done():
		var zero V
		return zero, false, ctx.Err()
	}
}

// send sends one batch of what is pending, answers its reads, and leaves
// its lane to a new goroutine when more reads came meanwhile (so no
// caller is kept sending batches for others). When the batch failed, the
// reads that came meanwhile fail with it rather than wait for another
// round trip to a backend that just failed: a read then waits for one
// round trip's deadline at most, not two.
func (l *Loader[K, V]) send(ctx context.Context) {
	l.mu.Lock()
	n := min(len(l.pending), l.max)
	if n == 0 { // another lane took them
		l.running--
		l.mu.Unlock()
		return
	}
	calls := l.pending[:n:n]
	l.pending = l.pending[n:]
	if len(l.pending) == 0 {
		l.pending = nil // let the sent calls' backing array go
	}
	l.mu.Unlock()

	err := l.answer(ctx, calls)

	l.mu.Lock()
	if err != nil {
		fail(l.pending, err)
		l.pending = nil
	}
	more := len(l.pending) > 0
	if !more {
		l.running--
	}
	l.mu.Unlock()
	if more {
		go l.send(context.Background())
	}
}

// fail answers calls with err.
func fail[K comparable, V any](calls []*call[K, V], err error) {
	for _, c := range calls {
		c.err = err
		close(c.done)
	}
}

// answer fetches the distinct keys of calls, closes each call's done, and
// returns the fetch's error.
func (l *Loader[K, V]) answer(ctx context.Context, calls []*call[K, V]) error {
	keys := make([]K, 0, len(calls))
	at := make([]int, len(calls)) // calls[i] reads keys[at[i]]
	for i, c := range calls {
		at[i] = len(keys)
		// A batch holds at most max keys: finding duplicates by looking
		// back costs less than a map for the usual handful.
		for j, k := range keys {
			if k == c.key {
				at[i] = j
				break
			}
		}
		if at[i] == len(keys) {
			keys = append(keys, c.key)
		}
	}
	results, err := l.fetch(ctx, keys)
	if err == nil && len(results) != len(keys) {
		err = fmt.Errorf("batch: %d results for %d keys", len(results), len(keys))
	}
	if err != nil {
		fail(calls, err)
		return err
	}
	for i, c := range calls {
		c.val, c.found = results[at[i]].Value, results[at[i]].Found
		close(c.done)
	}
	return nil
}
