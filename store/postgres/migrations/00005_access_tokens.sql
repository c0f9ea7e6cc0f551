-- +goose Up
-- Personal access tokens. Only the SHA-256 of a token's secret is kept
-- (token_hash, unique: the lookup of every request a token
-- authenticates). A user's tokens go with the user (ON DELETE CASCADE),
-- in the same statement. last_used_at is NULL until the first use.
CREATE TABLE access_tokens (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    id           text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('read', 'write')),
    token_hash   bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    last_used_ip text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX access_tokens_hash ON access_tokens (token_hash);
CREATE INDEX access_tokens_user ON access_tokens (user_id, seq);

-- +goose Down
DROP TABLE access_tokens;
