package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"simpleapi/store"
)

// AccessTokens implements store.AccessTokenStore in the access_tokens
// table, whose rows go with their user's (ON DELETE CASCADE).
type AccessTokens struct {
	db *DB
}

var _ store.AccessTokenStore = (*AccessTokens)(nil)

// AccessTokens returns the access token store on db.
func (db *DB) AccessTokens() *AccessTokens { return &AccessTokens{db: db} }

const tokenColumns = `t.id, t.user_id, t.name, t.scope, t.token_hash, t.created_at, t.expires_at, t.last_used_at, t.last_used_ip`

// tokenUserColumns are userColumns of the users row joined as u.
var tokenUserColumns = "u." + strings.ReplaceAll(userColumns, ", ", ", u.")

func (s *AccessTokens) CreateAccessToken(ctx context.Context, t store.AccessToken, max int, now time.Time) error {
	ctx, done := s.db.begin(ctx, "create_access_token")
	defer done()
	if err := t.Validate(); err != nil {
		return err
	}
	t = t.Normalized()
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		// The user's row lock makes the count and the insert one step
		// against parallel creations, and against the user's deletion.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, t.UserID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound()
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE user_id = $1 AND expires_at <= $2`,
			t.UserID, now); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM access_tokens WHERE user_id = $1`, t.UserID).Scan(&live); err != nil {
			return err
		}
		if live >= max {
			return store.Errorf(store.ECONFLICT, store.MsgTooManyTokens)
		}
		_, err = tx.Exec(ctx, `INSERT INTO access_tokens
			(id, user_id, name, scope, token_hash, created_at, expires_at, last_used_at, last_used_ip)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.ID, t.UserID, t.Name, t.Scope, t.Hash[:], t.CreatedAt, t.ExpiresAt, dbTime(t.LastUsedAt), t.LastUsedIP)
		if uniqueOn(err, "access_tokens_pkey") || uniqueOn(err, "access_tokens_hash") {
			return store.Errorf(store.ECONFLICT, "access token already exists")
		}
		return err
	})
	return dbError(err)
}

func (s *AccessTokens) AccessTokenByHash(ctx context.Context, h store.TokenHash) (store.AccessToken, store.User, error) {
	ctx, done := s.db.begin(ctx, "access_token_by_hash")
	defer done()
	var t store.AccessToken
	fields := tokenFields{t: &t}
	u, err := scanUser(prefixRow{
		row: s.db.pool.QueryRow(ctx, `SELECT `+tokenColumns+`, `+tokenUserColumns+`
			FROM access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`, h[:]),
		prefix: fields.dest(),
	})
	if err != nil {
		return store.AccessToken{}, store.User{}, err
	}
	if err := fields.finish(); err != nil {
		return store.AccessToken{}, store.User{}, err
	}
	return t, u, nil
}

func (s *AccessTokens) ListAccessTokens(ctx context.Context, userID string) ([]store.AccessToken, error) {
	ctx, done := s.db.begin(ctx, "list_access_tokens")
	defer done()
	rows, err := s.db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM access_tokens t WHERE t.user_id = $1 ORDER BY t.seq`, userID)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := []store.AccessToken{}
	for rows.Next() {
		var t store.AccessToken
		fields := tokenFields{t: &t}
		if err := rows.Scan(fields.dest()...); err != nil {
			return nil, dbError(err)
		}
		if err := fields.finish(); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

func (s *AccessTokens) DeleteAccessToken(ctx context.Context, userID, id string) error {
	ctx, done := s.db.begin(ctx, "delete_access_token")
	defer done()
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM access_tokens WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return dbError(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound()
	}
	return nil
}

func (s *AccessTokens) DeleteUserAccessTokens(ctx context.Context, userID string) (int, error) {
	ctx, done := s.db.begin(ctx, "delete_user_access_tokens")
	defer done()
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM access_tokens WHERE user_id = $1`, userID)
	if err != nil {
		return 0, dbError(err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *AccessTokens) TouchAccessToken(ctx context.Context, id string, prev, at time.Time, ip string) (bool, error) {
	ctx, done := s.db.begin(ctx, "touch_access_token")
	defer done()
	tag, err := s.db.pool.Exec(ctx, `UPDATE access_tokens SET last_used_at = $3, last_used_ip = $4
		WHERE id = $1 AND last_used_at IS NOT DISTINCT FROM $2`, id, dbTime(prev), dbTime(at), ip)
	if err != nil {
		return false, dbError(err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var one int
	err = s.db.pool.QueryRow(ctx, `SELECT 1 FROM access_tokens WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, notFound()
	}
	return false, dbError(err)
}

// tokenFields scans the columns of tokenColumns into t.
type tokenFields struct {
	t                *store.AccessToken
	hash             []byte
	created, expires time.Time
	lastUsed         pgtype.Timestamptz
}

func (f *tokenFields) dest() []any {
	return []any{&f.t.ID, &f.t.UserID, &f.t.Name, &f.t.Scope, &f.hash, &f.created, &f.expires, &f.lastUsed, &f.t.LastUsedIP}
}

// finish completes t from the fields that need converting.
func (f *tokenFields) finish() error {
	if len(f.hash) != len(f.t.Hash) {
		return errors.New("postgres: access_tokens.token_hash is not 32 bytes")
	}
	copy(f.t.Hash[:], f.hash)
	f.t.CreatedAt, f.t.ExpiresAt, f.t.LastUsedAt = f.created.UTC(), f.expires.UTC(), goTime(f.lastUsed)
	return nil
}

// prefixRow scans the columns before a row's user columns into prefix, so
// that scanUser reads a user joined to another table.
type prefixRow struct {
	row    pgx.Row
	prefix []any
}

func (r prefixRow) Scan(dest ...any) error { return r.row.Scan(append(r.prefix, dest...)...) }
