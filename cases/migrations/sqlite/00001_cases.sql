-- +goose Up
-- Times are integer microseconds since 1970 UTC in both dialects, so that one
-- set of queries serves both stores.
CREATE TABLE cases (
    id             TEXT PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE,
    channel        TEXT NOT NULL,
    caller_number  TEXT NOT NULL DEFAULT '',
    caller_name    TEXT NOT NULL DEFAULT '',
    dialled_number TEXT NOT NULL DEFAULT '',
    confidential   BOOLEAN NOT NULL DEFAULT FALSE,
    category       TEXT NOT NULL DEFAULT '',
    location       TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    urgency        TEXT NOT NULL DEFAULT 'normal',
    state          TEXT NOT NULL,
    prev_state     TEXT NOT NULL DEFAULT '',
    lead_dept      TEXT NOT NULL DEFAULT '',
    assist_depts   TEXT NOT NULL DEFAULT '',
    dispatched_us  BIGINT,
    deadline_us    BIGINT,
    extensions     INTEGER NOT NULL DEFAULT 0,
    escalation     INTEGER NOT NULL DEFAULT 0,
    reminded       BOOLEAN NOT NULL DEFAULT FALSE,
    in_call        BOOLEAN NOT NULL DEFAULT FALSE,
    call_id        TEXT NOT NULL DEFAULT '',
    node           INTEGER NOT NULL DEFAULT 0,
    merged_into    TEXT REFERENCES cases(id),
    repeat_of      TEXT REFERENCES cases(id),
    reopened       INTEGER NOT NULL DEFAULT 0,
    call_score     INTEGER NOT NULL DEFAULT 0,
    evaluation     INTEGER NOT NULL DEFAULT 0,
    resolved       BOOLEAN NOT NULL DEFAULT FALSE,
    replied_us     BIGINT,
    closed_us      BIGINT,
    resolution     TEXT NOT NULL DEFAULT '',
    created_us     BIGINT NOT NULL,
    updated_us     BIGINT NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX cases_open_by_caller ON cases (caller_number, created_us)
    WHERE state IN ('received','answered','dispatched','returned','signed','replied','reopened');
CREATE INDEX cases_caller ON cases (caller_number, created_us);
CREATE INDEX cases_created ON cases (created_us);
CREATE INDEX cases_category ON cases (category, created_us);
CREATE INDEX cases_dialled ON cases (dialled_number, created_us);
CREATE INDEX cases_dept ON cases (lead_dept, dispatched_us);
CREATE INDEX cases_in_call ON cases (node) WHERE in_call;
CREATE INDEX cases_deadline ON cases (deadline_us)
    WHERE state IN ('dispatched','signed','returned');

CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL REFERENCES cases(id),
    type    TEXT NOT NULL,
    at_us   BIGINT NOT NULL,
    actor   TEXT NOT NULL DEFAULT '',
    reason  TEXT NOT NULL DEFAULT '',
    value   BIGINT NOT NULL DEFAULT 0,
    payload TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_case ON events (case_id, seq);
CREATE INDEX events_type_at ON events (type, at_us, value);

-- +goose Down
DROP TABLE events;
DROP TABLE cases;
