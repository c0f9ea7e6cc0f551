// Package redis keeps sessions and login-attempt counters in Redis, so
// that any number of server instances share them: a session revoked on
// one instance is gone for all, and N instances allow no more login
// attempts than one. Nothing is cached in the process.
//
// The Redis may be one server, a Redis Cluster or a primary that Sentinel
// watches (Open). Every script and transaction of the package touches keys
// of one hash slot only, named in KEYS, so that all three serve the same
// code: see sessions.go and limiter.go for the key layouts.
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

// DefaultPrefix starts every key unless the configuration names another.
const DefaultPrefix = "simpleapi:"

// Config says where Redis is: exactly one of URL (one server),
// ClusterAddrs (a Redis Cluster's seed nodes) and SentinelAddrs (the
// sentinels that watch SentinelMaster).
type Config struct {
	// URL is redis://[user:password@]host:port/db[?key_prefix=P].
	URL            string
	ClusterAddrs   []string
	SentinelAddrs  []string
	SentinelMaster string
	// Password is the Cluster's nodes' or the Sentinel primary's (a URL
	// carries its own).
	Password string
	// Prefix starts every key; empty: the URL's key_prefix, else
	// DefaultPrefix.
	Prefix string
	// NodeError, when set, is called with a node's address (a Sentinel's
	// primary is "sentinel:" and its name) for each command or pipeline
	// that failed there other than by a missing key. It is called
	// concurrently.
	NodeError func(node string)
}

// Open returns a client of the Redis cfg names, with short timeouts, and
// the key prefix. It does not connect yet: the first operation does, and
// the pool reconnects by itself after an outage. The client follows a
// Cluster's MOVED and ASK redirects and a Sentinel's failover by itself;
// an operation caught in one answers EUNAVAILABLE at worst.
func Open(cfg Config) (goredis.UniversalClient, string, error) {
	prefix := cfg.Prefix
	var c goredis.UniversalClient
	switch {
	case cfg.URL != "":
		opt, urlPrefix, err := parseURL(cfg.URL)
		if err != nil {
			return nil, "", err
		}
		if prefix == "" {
			prefix = urlPrefix
		}
		timeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout)
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = 1, 1, true
		single := goredis.NewClient(opt)
		single.AddHook(nodeErrors{node: opt.Addr, report: cfg.NodeError})
		c = single
	case len(cfg.ClusterAddrs) > 0:
		opt := &goredis.ClusterOptions{Addrs: cfg.ClusterAddrs, Password: cfg.Password}
		timeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout)
		// A redirect (MOVED, ASK) or a node lost is retried on the new
		// owner within OpTimeout.
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = 3, 1, true
		cluster := goredis.NewClusterClient(opt)
		cluster.OnNewNode(func(n *goredis.Client) {
			n.AddHook(nodeErrors{node: n.Options().Addr, report: cfg.NodeError})
		})
		c = cluster
	case len(cfg.SentinelAddrs) > 0:
		opt := &goredis.FailoverOptions{MasterName: cfg.SentinelMaster, SentinelAddrs: cfg.SentinelAddrs,
			Password: cfg.Password}
		timeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout)
		// The client asks the sentinels for the new primary when the old
		// one stops answering or answers READONLY.
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = 3, 1, true
		failover := goredis.NewFailoverClient(opt)
		failover.AddHook(nodeErrors{node: "sentinel:" + cfg.SentinelMaster, report: cfg.NodeError})
		c = failover
	default:
		return nil, "", errors.New("redis: no URL, Cluster or Sentinel configured")
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return c, prefix, nil
}

// parseURL reads a redis:// URL and its key_prefix ("" for none).
func parseURL(rawURL string) (*goredis.Options, string, error) {
	// The URL may hold a password: errors name the problem, not the value.
	bad := errors.New("REDIS_URL is not a valid redis:// URL")
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", bad
	}
	q := u.Query()
	prefix := ""
	if q.Has("key_prefix") {
		prefix = q.Get("key_prefix")
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
	}
	opt, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, "", bad
	}
	return opt, prefix, nil
}

// timeouts sets the dial, read, write and pool timeouts that are not set
// (by a URL's dial_timeout= and the like) to short ones.
func timeouts(dial, read, write, pool *time.Duration) {
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{dial, 500 * time.Millisecond}, {read, time.Second}, {write, time.Second}, {pool, time.Second}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
}

// Addrs names where c connects, for messages: never a password.
func Addrs(c goredis.UniversalClient) string {
	switch c := c.(type) {
	case *goredis.Client:
		return c.Options().Addr
	case *goredis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ",")
	}
	return "sentinel"
}

// nodeErrors is the hook that reports failed commands by node.
type nodeErrors struct {
	node   string
	report func(node string)
}

func (h nodeErrors) failed(err error) {
	if err != nil && h.report != nil && !errors.Is(err, goredis.Nil) {
		h.report(h.node)
	}
}

func (h nodeErrors) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		h.failed(err)
		return conn, err
	}
}

func (h nodeErrors) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		h.failed(err)
		return err
	}
}

func (h nodeErrors) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			// A pipeline's error is its first command's: the others
			// may have failed too.
			for _, cmd := range cmds {
				if err = cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
					break
				}
			}
		}
		h.failed(err)
		return err
	}
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

// Ping reports whether Redis can serve, as store.EUNAVAILABLE when not:
// one server answers; a Sentinel's primary answers (the client asks the
// sentinels for it); every primary of a Cluster answers and the Cluster
// says its state is ok (every slot has a primary that answers).
func Ping(ctx context.Context, c goredis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	cluster, ok := c.(*goredis.ClusterClient)
	if !ok {
		return mapErr(c.Ping(ctx).Err())
	}
	info, err := cluster.ClusterInfo(ctx).Result()
	if err != nil {
		return mapErr(err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return &unavailableError{cause: errors.New("cluster_state is not ok")}
	}
	return mapErr(cluster.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		return n.Ping(ctx).Err()
	}))
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

// pipelined sends fn's commands in one pipeline (one round trip per node)
// and returns them, with the first error of any of them other than a
// missing key, mapped. (The client's own Pipelined reports the first
// failed command's error only, which may be a missing key while another
// command failed for an outage.) Scripts in a pipeline go by EVAL, not
// EVALSHA: the client's fallback from EVALSHA to EVAL for a script the
// server has not seen yet works on a command alone only.
//
// A Cluster client does not learn from a pipeline that failed on a node
// it could not reach (it does from a single command): it would send the
// slots of a lost primary to it until something else reloaded the slot
// map, long after a replica took its place. So such a failure reloads it.
func pipelined(ctx context.Context, c goredis.UniversalClient, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error) {
	cmds, err := c.Pipelined(ctx, fn)
	for _, cmd := range cmds {
		if e := cmd.Err(); e != nil && !errors.Is(e, goredis.Nil) {
			err = e
			break
		}
	}
	if err == nil || errors.Is(err, goredis.Nil) {
		return cmds, nil
	}
	if cluster, ok := c.(*goredis.ClusterClient); ok && unavailable(err) {
		cluster.ReloadState(ctx) // in the background
	}
	return cmds, mapErr(err)
}
