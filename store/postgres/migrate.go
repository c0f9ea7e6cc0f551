package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationState is one migration and whether it has been applied.
type MigrationState struct {
	Version   int64
	Name      string    // file name, e.g. 00001_users.sql
	Applied   bool      //
	AppliedAt time.Time // zero unless Applied
}

// Migrate applies every pending migration. Instances starting at once
// take turns: goose holds a PostgreSQL advisory lock for the whole run, so
// the second finds nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return withProvider(pool, func(p *goose.Provider) error {
		_, err := p.Up(ctx)
		return err
	})
}

// MigrationStatus lists the embedded migrations, oldest first, with their
// state in the database.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	var out []MigrationState
	err := withProvider(pool, func(p *goose.Provider) error {
		list, err := p.Status(ctx)
		for _, m := range list {
			out = append(out, MigrationState{
				Version:   m.Source.Version,
				Name:      m.Source.Path,
				Applied:   m.State == goose.StateApplied,
				AppliedAt: m.AppliedAt.UTC(),
			})
		}
		return err
	})
	return out, err
}

// withProvider runs fn with a goose provider on pool's database, in the
// schema of the pool's search_path.
func withProvider(pool *pgxpool.Pool, fn func(*goose.Provider) error) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(
		// Retry every second for up to two minutes while another
		// instance migrates.
		lock.WithLockTimeout(1, 120),
	)
	if err != nil {
		return err
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := fn(p); err != nil {
		return fmt.Errorf("migrations: %w", dbError(err))
	}
	return nil
}
