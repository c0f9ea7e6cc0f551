package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushInterval is how long a log line may wait in the buffer.
const logFlushInterval = 100 * time.Millisecond

// logBufferSize is the buffer of the log writer; a full buffer is written
// at once.
const logBufferSize = 64 << 10

// bufferedLog is the writer of the process log. The access log writes a
// line per request; collecting lines and writing them out when the buffer
// fills or every logFlushInterval costs one system call per many lines
// instead of one per line. Close writes what is left, so a clean stop
// loses nothing; after Close, lines go straight through.
type bufferedLog struct {
	mu     sync.Mutex
	w      io.Writer
	buf    *bufio.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{
		w:    w,
		buf:  bufio.NewWriterSize(w, logBufferSize),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go b.flushEvery(logFlushInterval)
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	return b.buf.Write(p)
}

func (b *bufferedLog) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.flush()
		}
	}
}

func (b *bufferedLog) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close writes the buffered lines and stops the periodic flush.
func (b *bufferedLog) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	err := b.buf.Flush() // before any later line, which goes straight through
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return err
}
