package testkit

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer safe for concurrent writers, such as the
// loggers of parallel requests or a child process's stderr. The zero
// value is ready to use.
type LockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	discard bool
}

// Write appends p, or only counts it once Discard was called.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard {
		return len(p), nil
	}
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *LockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Reset forgets what was written so far.
func (b *LockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Discard makes every later write keep nothing (benchmarks, where a log
// would grow without bound); writes still succeed.
func (b *LockedBuffer) Discard() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.discard = true
}
