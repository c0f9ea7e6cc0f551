package main

import (
	"bytes"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flusher goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBufferedLogFlushesPeriodicallyAndAtClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		w := newBufferedLog(&out)
		w.Write([]byte("one\n"))
		if got := out.String(); got != "" {
			t.Fatalf("written before the flush interval: %q", got)
		}
		time.Sleep(logFlushInterval)
		synctest.Wait()
		if got := out.String(); got != "one\n" {
			t.Fatalf("after the flush interval: %q", got)
		}
		w.Write([]byte("two\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != "one\ntwo\n" {
			t.Fatalf("after Close: %q", got)
		}
		w.Write([]byte("three\n")) // after Close: straight through
		if got := out.String(); got != "one\ntwo\nthree\n" {
			t.Fatalf("after Close, a later line: %q", got)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBufferedLogWritesAFullBufferAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		w := newBufferedLog(&out)
		defer w.Close()
		line := bytes.Repeat([]byte("x"), logBufferSize/4)
		for range 5 {
			w.Write(line)
		}
		if got := len(out.String()); got < logBufferSize {
			t.Fatalf("%d bytes written with the buffer full, want at least %d", got, logBufferSize)
		}
	})
}
