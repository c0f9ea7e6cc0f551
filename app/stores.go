package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"simpleapi/config"
	"simpleapi/metrics"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/memory"
	"simpleapi/store/postgres"
	storeredis "simpleapi/store/redis"
)

// backendTimeout bounds every operation on PostgreSQL and on Redis, and
// /readyz as a whole: a backend that has not answered by then is an outage
// (503), never a hang. It is the Redis store's own bound, which that
// package applies to each of its operations; PostgreSQL is given the same.
const backendTimeout = storeredis.OpTimeout

// stores are the open stores of one configuration.
type stores struct {
	users    store.UserStore
	tokens   store.AccessTokenStore // kept with the users
	sessions store.SessionStore     // nil in basic_auth
	limiter  store.LoginLimiter
	// ready reports whether every backend answers (/readyz), within
	// backendTimeout.
	ready func(context.Context) error
	// closers release every store opened, the JSON files last.
	closers []func() error
}

// close releases every store opened.
func (s *stores) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// openStores opens the stores the configuration asks for, and only those:
// an instance with users in PostgreSQL and sessions in Redis keeps nothing
// in DATA_DIR. A new backend is one more case here; nothing else in the
// service names a store.
func openStores(ctx context.Context, cfg config.Config, log *slog.Logger, m *metrics.Metrics,
	now func() time.Time) (_ *stores, err error) {
	s := &stores{}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	pings := []func(context.Context) error{}

	var db *jsonfile.DB
	if keepsFiles(cfg) {
		db, err = jsonfile.Open(cfg.DataDir, jsonfile.Options{Logger: log,
			Sessions: cfg.SessionStore == config.StoreJSONFile, ObserveWrite: m.ObserveStoreWrite,
			Now: now, SessionIdleTimeout: cfg.SessionIdleTimeout})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, db.Close)
	}
	var pg *postgres.DB
	if cfg.UserStore == config.StorePostgres || cfg.SessionStore == config.StorePostgres {
		pg, err = postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Timeout: backendTimeout, Now: now,
			Observe: m.StoreObserver("postgres")})
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() error { pg.Close(); return nil })
		pings = append(pings, pg.Ping)
		if err := m.RegisterPool("postgres", func() (int, int) {
			st := pg.Stat()
			return int(st.InUse), int(st.Idle)
		}); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	redisOpts := storeredis.Options{Now: now, Observe: m.StoreObserver("redis")}
	var rc goredis.UniversalClient
	if cfg.RedisSet() {
		storeredis.SetLogger(log)
		c, prefix, err := storeredis.Open(storeredis.Config{URL: cfg.RedisURL,
			ClusterAddrs: cfg.RedisClusterAddrs, SentinelAddrs: cfg.RedisSentinelAddrs,
			SentinelMaster: cfg.RedisSentinelMaster, Password: cfg.RedisPassword, Prefix: cfg.RedisKeyPrefix,
			NodeError: m.StoreNodeError("redis")})
		if err != nil {
			return nil, err
		}
		rc, redisOpts.Prefix = c, prefix
		s.closers = append(s.closers, c.Close)
		if err := storeredis.Ping(ctx, c); err != nil {
			// Not the URL: it may hold a password.
			return nil, fmt.Errorf("redis at %s: %w", storeredis.Addrs(c), errors.Unwrap(err))
		}
		pings = append(pings, func(ctx context.Context) error { return storeredis.Ping(ctx, c) })
		if err := m.RegisterPool("redis", func() (int, int) {
			st := c.PoolStats() // a Cluster's: the sum over its nodes
			return int(st.TotalConns - st.IdleConns), int(st.IdleConns)
		}); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		if err := m.RegisterPoolTimeouts("redis", func() uint64 { return uint64(c.PoolStats().Timeouts) }); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}

	switch cfg.UserStore {
	case config.StorePostgres:
		s.users, s.tokens = pg.Users(), pg.AccessTokens()
	default:
		s.users, s.tokens = db.Users(), db.AccessTokens()
	}
	switch cfg.SessionStore {
	case "": // basic_auth: no sessions
	case config.StoreJSONFile:
		s.sessions = db.Sessions()
	case config.StorePostgres:
		s.sessions = pg.Sessions()
	case config.StoreRedis:
		s.sessions = storeredis.NewSessions(rc, redisOpts)
	default: // memory: sessions end with the process
		s.sessions = memory.NewSessions(now)
	}
	// Login attempts are counted where every instance sees them when
	// there is such a place.
	if rc != nil {
		s.limiter = storeredis.NewLimiter(rc, loginLimits(cfg.Login), redisOpts)
	} else {
		s.limiter = memory.NewLimiter(loginLimits(cfg.Login), now)
	}
	if cfg.UserStore != config.StorePostgres {
		pings = append(pings, s.users.Ping) // PostgreSQL's users are pinged as PostgreSQL
	}
	s.ready = readiness(pings)
	return s, nil
}

// keepsFiles reports whether cfg keeps users or sessions in DATA_DIR.
func keepsFiles(cfg config.Config) bool {
	return cfg.UserStore == config.StoreJSONFile || cfg.SessionStore == config.StoreJSONFile
}

// readUsers lists the users of the user store without holding anything a
// server holds: the JSON files are read without their lock, so that it
// works next to a running server.
func readUsers(ctx context.Context, cfg config.Config, log *slog.Logger) ([]store.User, error) {
	if cfg.UserStore == config.StoreJSONFile {
		return jsonfile.ReadUsers(cfg.DataDir)
	}
	cfg.SessionStore = "" // only the users
	s, err := openStores(ctx, cfg, log, metrics.New(), time.Now)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.users.ListUsers(ctx)
}

// readiness asks every backend at once and answers within backendTimeout,
// however many are frozen: the first that fails answers for all, and the
// others are called off.
func readiness(pings []func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, backendTimeout)
		defer cancel()
		g, ctx := errgroup.WithContext(ctx)
		for _, ping := range pings {
			g.Go(func() error { return ping(ctx) })
		}
		return g.Wait()
	}
}
