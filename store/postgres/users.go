package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"simpleapi/store"
	"simpleapi/store/internal/batch"
)

// Users implements store.UserStore.
type Users struct {
	db *DB
	// byID gathers the reads by id of concurrent requests (every
	// authenticated request makes one) into one query; see
	// store/internal/batch.
	byID *batch.Loader[string, store.User]
}

// byIDLanes and byIDBatch bound the batched reads by id: queries on their
// way at once, and ids per query.
const byIDLanes, byIDBatch = 1, 64

func newUsers(db *DB) *Users {
	u := &Users{db: db}
	u.byID = batch.New(u.usersByID, byIDLanes, byIDBatch)
	return u
}

var _ store.UserStore = (*Users)(nil)

// adminLock is the key of the transaction-scoped advisory lock that every
// change removing an admin (demotion, deletion) holds while it counts the
// admins that remain. Row locks alone cannot serialise two demotions of
// different admins; this lock does, and since it is taken only after the
// transaction's one row lock, no two transactions can wait on each other.
const adminLock = 0x51_4d_50_4c_45_41_44_4d // "QMPLEADM"

// userColumns are a user's columns. factors is the user's second factors
// as one JSON document (store.Factors' JSON format), NULL when none.
const userColumns = `id, email, password_hash, first_name, last_name, role, created_at, updated_at, factors`

func (s *Users) CreateUser(ctx context.Context, u store.User) error {
	ctx, done := s.db.begin(ctx, "create_user")
	defer done()
	u, err := u.Prepared()
	if err != nil {
		return err
	}
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	_, err = s.db.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`, email_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, args...)
	return userWriteError(err)
}

func (s *Users) UserByID(ctx context.Context, id string) (store.User, error) {
	// The deadline bounds a wait behind another batch; usersByID bounds
	// the batch this read goes out in.
	ctx, done := s.db.begin(ctx, "user_by_id")
	defer done()
	u, found, err := s.byID.Load(ctx, id)
	switch {
	case err != nil:
		return store.User{}, dbError(err)
	case !found:
		return store.User{}, notFound()
	}
	return u, nil
}

// usersByID is the batch.Fetch of UserByID: one query for every id.
func (s *Users) usersByID(ctx context.Context, ids []string) ([]batch.Result[store.User], error) {
	ctx, cancel := context.WithTimeout(ctx, s.db.opts.Timeout)
	defer cancel()
	results := make([]batch.Result[store.User], len(ids))
	if len(ids) == 1 { // the common case: no array to build and send
		u, err := scanUser(s.db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, ids[0]))
		switch {
		case store.ErrorCode(err) == store.ENOTFOUND:
		case err != nil:
			return nil, err
		default:
			results[0] = batch.Result[store.User]{Value: u, Found: true}
		}
		return results, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		if i := slices.Index(ids, u.ID); i >= 0 {
			results[i] = batch.Result[store.User]{Value: u, Found: true}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return results, nil
}

func (s *Users) UserByEmail(ctx context.Context, email string) (store.User, error) {
	ctx, done := s.db.begin(ctx, "user_by_email")
	defer done()
	key := store.EmailKey(email)
	if key == "" {
		return store.User{}, notFound()
	}
	return scanUser(s.db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, key))
}

func (s *Users) ListUsers(ctx context.Context) ([]store.User, error) {
	ctx, done := s.db.begin(ctx, "list_users")
	defer done()
	rows, err := s.db.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY seq`)
	if err != nil {
		return nil, dbError(err)
	}
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return users, nil
}

func (s *Users) CountUsers(ctx context.Context) (int, error) {
	ctx, done := s.db.begin(ctx, "count_users")
	defer done()
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, dbError(err)
}

// UpdateUser runs fn inside a transaction that holds the user's row lock,
// so concurrent updates of one user apply one after the other. fn must
// not call the store.
func (s *Users) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (store.User, error) {
	ctx, done := s.db.begin(ctx, "update_user")
	defer done()
	var next store.User
	var fnErr error // returned as is, not mapped
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		next = cur.Clone()
		if fnErr = fn(&next); fnErr != nil {
			return fnErr
		}
		next.ID, next.CreatedAt = cur.ID, cur.CreatedAt // not changeable
		if !next.Role.Valid() {
			return store.Errorf(store.EINVALID, "invalid role")
		}
		if next, err = normalizeUser(next); err != nil {
			return err
		}
		args, err := userArgs(next)
		if err != nil {
			return err
		}
		if cur.Role == store.RoleAdmin && next.Role != store.RoleAdmin {
			if err := keepAnAdmin(ctx, tx); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, password_hash = $3, first_name = $4,
			last_name = $5, role = $6, created_at = $7, updated_at = $8, factors = $9, email_key = $10
			WHERE id = $1`, args...)
		return userWriteError(err)
	})
	switch {
	case fnErr != nil:
		return store.User{}, fnErr
	case err != nil:
		return store.User{}, dbError(err)
	}
	return next, nil
}

func (s *Users) DeleteUser(ctx context.Context, id string) error {
	ctx, done := s.db.begin(ctx, "delete_user")
	defer done()
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var role store.Role
		err := tx.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound()
		}
		if err != nil {
			return err
		}
		if role == store.RoleAdmin {
			if err := keepAnAdmin(ctx, tx); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		return err
	})
	return dbError(err)
}

// keepAnAdmin refuses to let tx remove the admin whose row it has locked
// when that admin is the last one. It takes adminLock, so the count it
// reads (a fresh snapshot, taken after the lock is granted) already
// includes every committed removal and no other removal can commit until
// tx ends.
func keepAnAdmin(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(adminLock)); err != nil {
		return err
	}
	var admins int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&admins); err != nil {
		return err
	}
	if admins <= 1 {
		return store.Errorf(store.ECONFLICT, store.MsgLastAdmin)
	}
	return nil
}

// Ping reports whether the database answers and accepts writes.
func (s *Users) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close releases the pool, which Sessions from the same DB share: call it
// when the service stops.
func (s *Users) Close() error {
	s.db.Close()
	return nil
}

// userArgs are the query arguments of u in the order of userColumns,
// followed by its email key. EINVALID when its factors cannot be written.
func userArgs(u store.User) ([]any, error) {
	var key *string
	if k := store.EmailKey(u.Email); k != "" {
		key = &k // legacy users without an email share none
	}
	factors, err := u.Factors.Document() // NULL when none
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.Email, u.PasswordHash, u.FirstName, u.LastName, string(u.Role),
		dbTime(u.CreatedAt), dbTime(u.UpdatedAt), factors, key}, nil
}

// scanFactors reads the factors column: none when NULL.
func scanFactors(b []byte) (store.Factors, error) {
	var f store.Factors
	if b == nil {
		return f, nil
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return store.Factors{}, fmt.Errorf("postgres: users.factors: %w", err)
	}
	return f, nil
}

// userWriteError maps a unique violation of an insert or update to the
// store's conflicts.
func userWriteError(err error) error {
	switch {
	case uniqueOn(err, "users_email_key"):
		return store.Errorf(store.ECONFLICT, store.MsgEmailTaken)
	case uniqueOn(err, "users_pkey"):
		return store.Errorf(store.ECONFLICT, "user already exists")
	}
	return dbError(err)
}

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	var role string
	// pgtype's nullable values scan without the pointer-to-pointer plans
	// (and their allocations) that *string and *time.Time need.
	var first, last pgtype.Text
	var created, updated pgtype.Timestamptz
	var factors []byte
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &first, &last, &role, &created, &updated, &factors)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, notFound()
	}
	if err != nil {
		return store.User{}, dbError(err)
	}
	if u.Factors, err = scanFactors(factors); err != nil {
		return store.User{}, err
	}
	u.Role = store.Role(role)
	if first.Valid {
		u.FirstName = &first.String
	}
	if last.Valid {
		u.LastName = &last.String
	}
	u.CreatedAt, u.UpdatedAt = goTime(created), goTime(updated)
	return u, nil
}

// normalizeUser returns u as it reads back from the database: times cut
// to the second, factors through their JSON document (in UTC, empty lists
// as none). EINVALID when its factors cannot be written.
func normalizeUser(u store.User) (store.User, error) {
	u.CreatedAt = normalizeTime(u.CreatedAt)
	u.UpdatedAt = normalizeTime(u.UpdatedAt)
	var err error
	if u.Factors, err = u.Factors.Normalized(); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// Users' times are kept as every store keeps them: UTC, whole seconds.
// The zero time (a legacy record without one) is NULL. Sessions keep
// their sub-second part (see sessionTime).
func normalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
}

func dbTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = normalizeTime(t)
	return &t
}

func goTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
