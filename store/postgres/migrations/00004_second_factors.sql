-- +goose Up
-- Second factors and session assurance. A user's factors are one JSON
-- document (store.Factors' JSON format), NULL when the user has none. A
-- session's aal and auth_at are NULL in sessions stored before them
-- (AAL "", AuthAt zero). Challenges are the one-time state of a WebAuthn
-- ceremony, kept until expires_at; every read checks it against the
-- store's clock, and DeleteExpired removes those past it.
ALTER TABLE users ADD COLUMN factors jsonb;
ALTER TABLE sessions ADD COLUMN aal text;
ALTER TABLE sessions ADD COLUMN auth_at timestamptz;
CREATE TABLE challenges (
    key        text PRIMARY KEY,
    data       bytea NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX challenges_expires_at ON challenges (expires_at);

-- +goose Down
DROP TABLE challenges;
ALTER TABLE sessions DROP COLUMN auth_at;
ALTER TABLE sessions DROP COLUMN aal;
ALTER TABLE users DROP COLUMN factors;
