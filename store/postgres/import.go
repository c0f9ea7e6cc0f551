package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"simpleapi/store"
)

// ImportResult counts what ImportUsers did with each user it was given.
type ImportResult struct {
	Added    int      // inserted
	Existing int      // a user with that id was already there: left as it is
	Skipped  []string // ids whose email another user already has (legacy duplicates)
}

// ImportUsers copies users (as read from another store, hashes, roles and
// timestamps included) in one transaction, in order, so that listing keeps
// their order. A user whose id is already present is left untouched, so
// importing the same users twice changes nothing. It is not bounded by
// Options.Timeout: a large import takes as long as it takes.
func (s *Users) ImportUsers(ctx context.Context, users []store.User) (ImportResult, error) {
	var res ImportResult
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		res = ImportResult{}
		for _, u := range users {
			if u.ID == "" {
				return store.Errorf(store.EINVALID, "a user without an id")
			}
			if u.Role == "" {
				u.Role = store.RoleUser
			}
			if !u.Role.Valid() {
				return store.Errorf(store.EINVALID, "user %s: invalid role %q", u.ID, u.Role)
			}
			args, err := userArgs(u)
			if err != nil {
				return err
			}
			var id string
			err = tx.QueryRow(ctx, `INSERT INTO users (`+userColumns+`, email_key)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING id`,
				args...).Scan(&id)
			if err := res.count(ctx, tx, err, "users", u.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return res, dbError(err)
}

// ImportAccessTokens copies access tokens (as read from another store,
// hashes and times included) in one transaction, as ImportUsers does
// users: a token whose id is already present is left as it is (Existing),
// and one whose user is not in the database is left out (Skipped, by
// token id).
func (s *AccessTokens) ImportAccessTokens(ctx context.Context, tokens []store.AccessToken) (ImportResult, error) {
	var res ImportResult
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		res = ImportResult{}
		for _, t := range tokens {
			if err := t.Validate(); err != nil {
				return err
			}
			t = t.Normalized()
			var id string
			err := tx.QueryRow(ctx, `INSERT INTO access_tokens
				(id, user_id, name, scope, token_hash, created_at, expires_at, last_used_at, last_used_ip)
				SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)
				ON CONFLICT DO NOTHING RETURNING id`,
				t.ID, t.UserID, t.Name, t.Scope, t.Hash[:], t.CreatedAt, t.ExpiresAt, dbTime(t.LastUsedAt), t.LastUsedIP).Scan(&id)
			if err := res.count(ctx, tx, err, "access_tokens", t.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return res, dbError(err)
}

// count adds the outcome of one INSERT ... ON CONFLICT DO NOTHING
// RETURNING id of row id into table: inserted when err is nil; when
// nothing was inserted (pgx.ErrNoRows), Existing if a row with that id is
// there, else Skipped (the insert's own condition left it out). Any other
// error is returned.
func (res *ImportResult) count(ctx context.Context, tx pgx.Tx, err error, table, id string) error {
	switch {
	case err == nil:
		res.Added++
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	var exists bool
	// table is one of this file's constants, never input.
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		res.Existing++
	} else {
		res.Skipped = append(res.Skipped, id)
	}
	return nil
}
