// Package postgres keeps users and sessions in PostgreSQL through a pgx
// connection pool, so that any number of service instances can share them.
//
// The schema comes from the versioned migrations embedded in the binary
// (migrations/*.sql), applied by Open. Every invariant is kept by the
// database, not by the process: emails are unique under a unique index on
// store.EmailKey, and every change that removes an admin takes one
// transaction-scoped advisory lock before counting the admins that remain
// (see users.go). Sessions carry deadline columns and every read filters
// on them with the store's clock.
//
// Every operation runs under Options.Timeout; a database that cannot be
// reached or does not answer in time is store.EUNAVAILABLE, never a hang.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTimeout is Options.Timeout when none is set: the same deadline
// as the Redis store's, so that a backend that stops answering costs a
// request the same time whichever backend it is.
const DefaultTimeout = 2 * time.Second

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds every store operation, waiting for a pooled
	// connection and dialing a new one included. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the sessions' clock. Nil means time.Now.
	Now func() time.Time
	// Observe, when set, receives the duration of every store operation,
	// named like "create_user" or "session_by_family", whatever its
	// outcome. It is called concurrently.
	Observe func(op string, d time.Duration)
	// MaxConns caps the pool. Zero keeps pgx's default (or the URL's
	// pool_max_conns).
	MaxConns int32
}

// DB is an open connection pool. Users and Sessions share it; Close
// releases it.
type DB struct {
	pool *pgxpool.Pool
	opts Options
}

// Open connects to the database at url (a postgres:// URL or a libpq
// keyword string), checks that it answers and applies the pending
// migrations, which is safe when several instances start at once.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	db, err := Connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db.pool); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect is Open without the migrations, for commands that inspect the
// schema.
func Connect(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("postgres: DATABASE_URL is not a valid connection string")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.Timeout {
		cfg.ConnConfig.ConnectTimeout = opts.Timeout
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, opts: opts}
	pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// Users returns the users store on db.
func (db *DB) Users() *Users { return newUsers(db) }

// Sessions returns the sessions store on db.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// Pool returns the underlying pool (for the migrate command).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// PoolStat is a snapshot of the pool's connections.
type PoolStat struct {
	InUse int32 // acquired by an operation
	Idle  int32 // open and waiting
	Max   int32
}

// Stat returns the pool's current connection counts.
func (db *DB) Stat() PoolStat {
	s := db.pool.Stat()
	return PoolStat{InUse: s.AcquiredConns(), Idle: s.IdleConns(), Max: s.MaxConns()}
}

// Ping reports whether the database answers and accepts writes (it is not
// a read-only standby).
func (db *DB) Ping(ctx context.Context) error {
	ctx, done := db.begin(ctx, "ping")
	defer done()
	var standby bool
	if err := db.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return dbError(err)
	}
	if standby {
		return unavailable(fmt.Errorf("server is a read-only standby"))
	}
	return nil
}

// Close releases the pool. Users and Sessions from db stop working. It is
// safe to call more than once.
func (db *DB) Close() { db.pool.Close() }

// begin bounds one operation by Options.Timeout and returns the function
// that ends it, reporting its duration to Options.Observe.
func (db *DB) begin(ctx context.Context, op string) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(ctx, db.opts.Timeout)
	start := time.Now()
	return ctx, func() {
		cancel()
		if db.opts.Observe != nil {
			db.opts.Observe(op, time.Since(start))
		}
	}
}
