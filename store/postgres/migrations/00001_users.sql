-- +goose Up
-- Users. seq keeps creation order for listing. email keeps the user's
-- spelling; email_key is store.EmailKey(email), NULL for legacy users
-- without an email, and is what makes emails unique.
CREATE TABLE users (
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    id            text PRIMARY KEY,
    email         text NOT NULL DEFAULT '',
    email_key     text,
    password_hash text NOT NULL DEFAULT '',
    first_name    text,
    last_name     text,
    role          text NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    timestamptz,
    updated_at    timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE UNIQUE INDEX users_seq ON users (seq);

-- +goose Down
DROP TABLE users;
