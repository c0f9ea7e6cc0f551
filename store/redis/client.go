// Package redis keeps sessions and login-attempt counters in Redis, so
// that any number of server instances share them: a session revoked on
// one instance is gone for all, and N instances allow no more login
// attempts than one. Nothing is cached in the process.
//
// Every key starts with a prefix (one per deployment, or per test), and
// the store needs a single Redis server (not a cluster): its scripts
// touch keys they derive from the prefix.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"simpleapi/store"
)

// OpTimeout bounds every operation of this package, retries included, so
// that an unreachable Redis makes a request fail fast instead of hanging.
const OpTimeout = 2 * time.Second

// DefaultPrefix starts every key unless the URL names another.
const DefaultPrefix = "simpleapi:"

// Open returns a client for rawURL
// (redis://[user:password@]host:port/db[?key_prefix=P]) with short
// timeouts, and the key prefix the URL names (DefaultPrefix when none).
// It does not connect yet: the first operation does, and the pool
// reconnects by itself after an outage.
func Open(rawURL string) (*goredis.Client, string, error) {
	// The URL may hold a password: errors name the problem, not the value.
	bad := errors.New("REDIS_URL is not a valid redis:// URL")
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", bad
	}
	q := u.Query()
	prefix := DefaultPrefix
	if q.Has("key_prefix") {
		prefix = q.Get("key_prefix")
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
	}
	opt, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, "", bad
	}
	// Short unless the URL says otherwise (dial_timeout=, read_timeout=...).
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&opt.DialTimeout, 500 * time.Millisecond}, {&opt.ReadTimeout, time.Second},
		{&opt.WriteTimeout, time.Second}, {&opt.PoolTimeout, time.Second}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	opt.MaxRetries = 1
	opt.DialerRetries = 1 // a refused connection is an outage: report it at once
	opt.ContextTimeoutEnabled = true
	return goredis.NewClient(opt), prefix, nil
}

// Options are what the stores of this package share. The zero value
// works: no prefix, time.Now, nothing observed.
type Options struct {
	// Prefix starts every key: one per deployment (or per test), so that
	// several can share a Redis.
	Prefix string
	// Now is the stores' clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, receives the duration of every operation, named
	// like "session_by_family" or "login_allow", whatever its outcome.
	// It is called concurrently.
	Observe func(op string, d time.Duration)
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// begin bounds one operation by OpTimeout and returns the function that
// ends it, reporting its duration to Observe.
func (o Options) begin(ctx context.Context, op string) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	observed := o.observe(op)
	return ctx, func() {
		cancel()
		observed()
	}
}

// observe returns the function that ends an operation bounded otherwise
// (a batched read, whose round trip has its own deadline), reporting its
// duration to Observe.
func (o Options) observe(op string) func() {
	start := time.Now()
	return func() {
		if o.Observe != nil {
			o.Observe(op, time.Since(start))
		}
	}
}

// Ping reports whether Redis answers, as store.EUNAVAILABLE when not.
func Ping(ctx context.Context, c goredis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	return mapErr(c.Ping(ctx).Err())
}

// mapErr turns a client error into an application error: anything that
// means Redis cannot be reached or cannot serve now is EUNAVAILABLE (503),
// so an outage never shows as an internal error. Errors the server sends
// about the request itself stay internal.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var e *store.Error
	if errors.As(err, &e) {
		return err
	}
	if unavailable(err) {
		return &unavailableError{cause: err}
	}
	return fmt.Errorf("redis: %w", err)
}

func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout),
		errors.As(err, &ne):
		return true
	}
	var re goredis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN", "OOM"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	// A reply that was not an error reply but could not be read: the
	// connection broke.
	return true
}

// unavailableError is store.EUNAVAILABLE that keeps its cause for logs.
type unavailableError struct{ cause error }

func (u *unavailableError) Error() string { return "redis unavailable: " + u.cause.Error() }

// As lets store.ErrorCode and store.ErrorMessage see the application
// error.
func (u *unavailableError) As(target any) bool {
	if t, ok := target.(**store.Error); ok {
		*t = store.Errorf(store.EUNAVAILABLE, "Service unavailable")
		return true
	}
	return false
}

func (u *unavailableError) Unwrap() error { return u.cause }

// SetLogger sends the client library's own messages (a pool that cannot
// dial while Redis is away) to log as warnings instead of stderr. The
// library keeps one logger per process.
func SetLogger(log *slog.Logger) { goredis.SetLogger(slogAdapter{log}) }

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
