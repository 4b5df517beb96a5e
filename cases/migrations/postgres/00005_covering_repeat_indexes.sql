-- +goose Up
-- The exact recount of the top repeat callers and places reads only the
-- index: a frequent caller's thousands of cases cost no heap fetches.
DROP INDEX cases_caller;
CREATE INDEX cases_caller ON cases (caller_number, created_us) INCLUDE (state, confidential);
DROP INDEX cases_location;
CREATE INDEX cases_location ON cases (location, created_us) INCLUDE (state, confidential);

-- +goose Down
DROP INDEX cases_location;
CREATE INDEX cases_location ON cases (location, created_us);
DROP INDEX cases_caller;
CREATE INDEX cases_caller ON cases (caller_number, created_us);
