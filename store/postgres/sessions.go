package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"simpleapi/store"
)

// Sessions implements store.SessionStore. Every read has "live" (below)
// in its WHERE with the store's clock as a parameter, so an expired
// session is never returned, listed or counted, and DeleteExpired is one
// DELETE on the deadline index. Each operation is one SQL statement, so
// each is atomic on the server without a transaction or a retry.
//
// Session times keep their sub-second part (timestamptz keeps
// microseconds): grace periods and deadlines are decided to the
// millisecond, unlike users' times, which are cut to the second.
type Sessions struct{ db *DB }

var _ store.SessionStore = (*Sessions)(nil)

// sessionColumns are a session's columns. aal and auth_at are NULL for ""
// and the zero time, as in sessions stored before them.
const sessionColumns = `id, family, token_hash, user_id, created_at, expires_at, idle_expires_at, last_seen_at,
	ip, user_agent, rotated_at, prev_token_hash, prev_valid_until, aal, auth_at`

// live is true for a session that has not reached its deadline at the
// time in the query argument named "now" (the deadline column is NULL when the
// session has none).
const live = `(deadline IS NULL OR deadline > @now)`

func (s *Sessions) now() time.Time { return s.db.opts.Now() }

func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	ctx, done := s.db.begin(ctx, "create_session")
	defer done()
	if err := v.Validate(); err != nil {
		return err
	}
	_, err := s.db.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		v.ID, v.Family[:], v.TokenHash[:], v.UserID, sessionTime(v.CreatedAt), sessionTime(v.ExpiresAt),
		sessionTime(v.IdleExpiresAt), sessionTime(v.LastSeenAt), v.IP, v.UserAgent, sessionTime(v.RotatedAt),
		hashArg(v.PrevTokenHash), sessionTime(v.PrevValidUntil), textArg(v.AAL), sessionTime(v.AuthAt))
	switch {
	case uniqueOn(err, "sessions_pkey"):
		return store.Errorf(store.ECONFLICT, "session id in use")
	case uniqueOn(err, "sessions_family"):
		return store.Errorf(store.ECONFLICT, "session family in use")
	}
	return dbError(err)
}

// sessionByFamily is the lookup of every authenticated request: one
// probe of the unique index on family.
const sessionByFamily = `SELECT ` + sessionColumns + ` FROM sessions WHERE family = @family AND ` + live

func (s *Sessions) SessionByFamily(ctx context.Context, f store.TokenHash) (store.Session, error) {
	ctx, done := s.db.begin(ctx, "session_by_family")
	defer done()
	if f == (store.TokenHash{}) { // no session has it: no need to ask
		return store.Session{}, notFound()
	}
	return scanSession(s.db.pool.QueryRow(ctx, sessionByFamily,
		pgx.NamedArgs{"family": f[:], "now": s.now()}))
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	ctx, done := s.db.begin(ctx, "session_by_id")
	defer done()
	return scanSession(s.db.pool.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = @id AND `+live,
		pgx.NamedArgs{"id": id, "now": s.now()}))
}

func (s *Sessions) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	ctx, done := s.db.begin(ctx, "list_sessions")
	defer done()
	rows, err := s.db.pool.Query(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE user_id = @user AND `+live+` ORDER BY created_at, id`,
		pgx.NamedArgs{"user": userID, "now": s.now()})
	if err != nil {
		return nil, dbError(err)
	}
	list := []store.Session{}
	for rows.Next() {
		v, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return list, nil
}

// TouchSession moves the times forward only: GREATEST ignores a NULL (a
// zero time passed, or none kept), so neither a late call nor a zero time
// moves anything back.
func (s *Sessions) TouchSession(ctx context.Context, id string, seen, idleExpiresAt time.Time) error {
	ctx, done := s.db.begin(ctx, "touch_session")
	defer done()
	tag, err := s.db.pool.Exec(ctx, `UPDATE sessions
		SET last_seen_at = GREATEST(last_seen_at, @seen), idle_expires_at = GREATEST(idle_expires_at, @idle)
		WHERE id = @id AND `+live,
		pgx.NamedArgs{"id": id, "seen": sessionTime(seen), "idle": sessionTime(idleExpiresAt), "now": s.now()})
	if err != nil {
		return dbError(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound()
	}
	return nil
}

// RotateToken is one statement. Its UPDATE changes the row only while
// the token is still from: of parallel rotations from one token, the
// first to lock the row wins, and the others, which re-check the row once
// the winner has committed, no longer match. When it changed nothing, the
// SELECT after it tells a live session whose token was already replaced
// (a conflict) from no live session at all.
func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	ctx, done := s.db.begin(ctx, "rotate_token")
	defer done()
	if err := r.Validate(); err != nil {
		return store.Session{}, err
	}
	var rotated bool
	v, err := scanSession(s.db.pool.QueryRow(ctx, `WITH rotated AS (
			UPDATE sessions SET family = @family, token_hash = @token, rotated_at = @rotated,
				prev_token_hash = @prev, prev_valid_until = @until
			WHERE id = @id AND token_hash = @from AND `+live+`
			RETURNING `+sessionColumns+`
		)
		SELECT `+sessionColumns+`, true FROM rotated
		UNION ALL
		SELECT `+sessionColumns+`, false FROM sessions
		WHERE id = @id AND `+live+` AND NOT EXISTS (SELECT FROM rotated)`,
		pgx.NamedArgs{
			"id": id, "from": from[:], "now": s.now(),
			"family": r.Family[:], "token": r.TokenHash[:], "rotated": sessionTime(r.RotatedAt),
			"prev": hashArg(r.PrevTokenHash), "until": sessionTime(r.PrevValidUntil),
		}), &rotated)
	switch {
	case uniqueOn(err, "sessions_family"):
		return store.Session{}, store.Errorf(store.ECONFLICT, "session family in use")
	case err != nil:
		return store.Session{}, err // ENOTFOUND when no live session has that id
	case !rotated:
		return store.Session{}, store.Errorf(store.ECONFLICT, "session token already rotated")
	}
	return v, nil
}

// SetSessionAuth is one UPDATE, on a live session only, that returns the
// row as it left it.
func (s *Sessions) SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (store.Session, error) {
	ctx, done := s.db.begin(ctx, "set_session_auth")
	defer done()
	return scanSession(s.db.pool.QueryRow(ctx, `UPDATE sessions SET aal = @aal, auth_at = @at
		WHERE id = @id AND `+live+` RETURNING `+sessionColumns,
		pgx.NamedArgs{"id": id, "aal": textArg(aal), "at": sessionTime(at), "now": s.now()}))
}

// PutChallenge inserts the challenge with its deadline on the store's
// clock, to the millisecond. An expired challenge left under the key (not
// yet removed by DeleteExpired) is replaced in the same statement; a live
// one makes the insert change nothing: a conflict.
func (s *Sessions) PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	ctx, done := s.db.begin(ctx, "put_challenge")
	defer done()
	if err := store.ValidateChallenge(key, data, ttl); err != nil {
		return err
	}
	if data == nil {
		data = []byte{} // the column is NOT NULL
	}
	now := s.now()
	tag, err := s.db.pool.Exec(ctx, `INSERT INTO challenges (key, data, expires_at) VALUES (@key, @data, @expires)
		ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at
		WHERE challenges.expires_at <= @now`,
		pgx.NamedArgs{"key": key, "data": data, "expires": now.Add(ttl).Truncate(time.Millisecond), "now": now})
	if err != nil {
		return dbError(err)
	}
	if tag.RowsAffected() == 0 {
		return store.Errorf(store.ECONFLICT, "challenge key in use")
	}
	return nil
}

// TakeChallenge is one DELETE … RETURNING: of parallel takes of one key,
// one gets the row. An expired challenge is removed too, but reported as
// absent.
func (s *Sessions) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	ctx, done := s.db.begin(ctx, "take_challenge")
	defer done()
	var data []byte
	var expires time.Time
	err := s.db.pool.QueryRow(ctx, `DELETE FROM challenges WHERE key = $1 RETURNING data, expires_at`, key).
		Scan(&data, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, notFound()
	case err != nil:
		return nil, dbError(err)
	case !s.now().Before(expires):
		return nil, notFound()
	}
	return data, nil
}

func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	ctx, done := s.db.begin(ctx, "delete_session")
	defer done()
	// An expired row is removed too, but reported as absent, as it was.
	var wasLive bool
	err := s.db.pool.QueryRow(ctx, `DELETE FROM sessions WHERE id = @id RETURNING `+live,
		pgx.NamedArgs{"id": id, "now": s.now()}).Scan(&wasLive)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return notFound()
	case err != nil:
		return dbError(err)
	case !wasLive:
		return notFound()
	}
	return nil
}

func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, done := s.db.begin(ctx, "delete_user_sessions")
	defer done()
	var n int
	err := s.db.pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM sessions WHERE user_id = @user AND id <> @except RETURNING deadline
		) SELECT count(*) FROM gone WHERE `+live,
		pgx.NamedArgs{"user": userID, "except": exceptID, "now": s.now()}).Scan(&n)
	return n, dbError(err)
}

// DeleteExpired removes expired challenges too, in the same statement; it
// counts the sessions only.
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	ctx, done := s.db.begin(ctx, "delete_expired")
	defer done()
	tag, err := s.db.pool.Exec(ctx, `WITH challenges_gone AS (
			DELETE FROM challenges WHERE expires_at <= @now
		) DELETE FROM sessions WHERE deadline <= @now`,
		pgx.NamedArgs{"now": s.now()})
	if err != nil {
		return 0, dbError(err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Sessions) CountSessions(ctx context.Context) (int, error) {
	ctx, done := s.db.begin(ctx, "count_sessions")
	defer done()
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE `+live,
		pgx.NamedArgs{"now": s.now()}).Scan(&n)
	return n, dbError(err)
}

// Ping reports whether the database answers and accepts writes.
func (s *Sessions) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close releases the pool, which Users from the same DB share: call it
// when the service stops.
func (s *Sessions) Close() error {
	s.db.Close()
	return nil
}

// hashArg is a token hash as a query argument: NULL for the zero hash
// ("none"), so that it never matches a lookup.
func hashArg(h store.TokenHash) []byte {
	if h == (store.TokenHash{}) {
		return nil
	}
	return h[:]
}

// textArg is a text as a query argument: NULL for "".
func textArg(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// sessionTime is a session time as a query argument: NULL for the zero
// time ("none"), else the time to the microsecond (what timestamptz
// keeps), never cut to the second as users' times are (dbTime).
func sessionTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// scanSession scans the columns of sessionColumns, then into more, if
// the query returns more.
func scanSession(row pgx.Row, more ...any) (store.Session, error) {
	var v store.Session
	var family, token, prev []byte
	var created, expires, idle, seen, rotated, until, authAt pgtype.Timestamptz
	var aal pgtype.Text
	err := row.Scan(append([]any{&v.ID, &family, &token, &v.UserID, &created, &expires, &idle, &seen,
		&v.IP, &v.UserAgent, &rotated, &prev, &until, &aal, &authAt}, more...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, notFound()
	}
	if err != nil {
		return store.Session{}, dbError(err)
	}
	copy(v.Family[:], family)
	copy(v.TokenHash[:], token)
	copy(v.PrevTokenHash[:], prev)
	v.CreatedAt, v.ExpiresAt, v.IdleExpiresAt = goTime(created), goTime(expires), goTime(idle)
	v.LastSeenAt, v.RotatedAt, v.PrevValidUntil = goTime(seen), goTime(rotated), goTime(until)
	v.AAL, v.AuthAt = aal.String, goTime(authAt)
	return v, nil
}
