-- +goose Up
-- See the PostgreSQL migration: covering indexes for the exact recount.
DROP INDEX cases_caller;
CREATE INDEX cases_caller ON cases (caller_number, created_us, state, confidential);
DROP INDEX cases_location;
CREATE INDEX cases_location ON cases (location, created_us, state, confidential);

-- +goose Down
DROP INDEX cases_location;
CREATE INDEX cases_location ON cases (location, created_us);
DROP INDEX cases_caller;
CREATE INDEX cases_caller ON cases (caller_number, created_us);
