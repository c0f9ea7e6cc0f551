-- +goose Up
-- Sessions. A NULL deadline means none; deadline is the nearer of the two
-- (LEAST ignores NULLs), and every read filters on it, so an expired
-- session is never returned even before DeleteExpired removes it.
CREATE TABLE sessions (
    id               text PRIMARY KEY,
    token_hash       bytea NOT NULL,
    user_id          text NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz,
    idle_expires_at  timestamptz,
    deadline         timestamptz GENERATED ALWAYS AS (LEAST(expires_at, idle_expires_at)) STORED,
    last_seen_at     timestamptz NOT NULL,
    ip               text NOT NULL,
    user_agent       text NOT NULL,
    rotated_at       timestamptz,
    prev_token_hash  bytea,
    prev_valid_until timestamptz
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_prev_token_hash ON sessions (prev_token_hash) WHERE prev_token_hash IS NOT NULL;
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_deadline ON sessions (deadline);

-- +goose Down
DROP TABLE sessions;
