package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"simpleapi/store"
)

// SQLSTATE codes this package acts on.
const (
	uniqueViolation = "23505"
)

// dbError maps an error from pgx to the store's codes: application errors
// pass through, anything that says the database could not be reached or
// did not answer in time is EUNAVAILABLE, and the rest (a bug, a broken
// schema) stays an internal error. The cause is kept for the log.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	if isUnavailable(err) {
		return unavailable(err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailable is EUNAVAILABLE wrapping its cause.
func unavailable(cause error) error {
	return fmt.Errorf("%w (postgres: %v)", store.Errorf(store.EUNAVAILABLE, "Service unavailable"), cause)
}

func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources (too many connections)
			strings.HasPrefix(pgErr.Code, "57P"), // shutting down, cannot connect now
			pgErr.Code == "57014",                // query canceled (statement_timeout)
			pgErr.Code == "25006":                // read-only transaction (a standby)
			return true
		}
		return false
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr) ||
		errors.As(err, &connectErr) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || // nothing reached the server (a closed or busy connection)
		errors.Is(err, puddle.ErrClosedPool) // the store is shutting down
}

// uniqueOn reports whether err is a unique violation of the named index.
func uniqueOn(err error, index string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == index
}

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
