-- +goose Up
-- Sessions are found by their family (the SHA-256 of the secret every
-- token of the session starts with), under one unique index. A session
-- stored before families existed gets its token hash as its family: its
-- token is its own family secret, so it keeps working. The token hashes
-- stay (RotateToken compares the current one), but nothing looks a
-- session up by them any more, so their indexes go: two fewer index
-- entries written per rotation.
ALTER TABLE sessions ADD COLUMN family bytea;
UPDATE sessions SET family = token_hash;
ALTER TABLE sessions ALTER COLUMN family SET NOT NULL;
CREATE UNIQUE INDEX sessions_family ON sessions (family);
DROP INDEX sessions_token_hash;
DROP INDEX sessions_prev_token_hash;

-- +goose Down
CREATE INDEX sessions_prev_token_hash ON sessions (prev_token_hash) WHERE prev_token_hash IS NOT NULL;
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
DROP INDEX sessions_family;
ALTER TABLE sessions DROP COLUMN family;
