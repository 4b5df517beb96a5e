-- +goose Up
-- See the PostgreSQL migration. Every firing takes out the old row's
-- contribution and adds the new one, so the chain of updates SQLite's AFTER
-- triggers make (location, then its predecessor) nets out exactly.
CREATE TABLE repeat_counts (
    bucket INTEGER NOT NULL,
    kind   SMALLINT NOT NULL,
    key    TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (kind, bucket, key)
);

-- +goose StatementBegin
CREATE TRIGGER repeat_counts_ins AFTER INSERT ON cases
WHEN NEW.caller_prev_us IS NOT NULL OR NEW.loc_prev_us IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO repeat_counts (bucket, kind, key, n)
    SELECT (NEW.created_us + 28800000000) / 86400000000 / 32, 0, NEW.caller_number, 0 WHERE NEW.caller_prev_us IS NOT NULL;
    UPDATE repeat_counts SET n = n + 1 WHERE NEW.caller_prev_us IS NOT NULL
      AND kind = 0 AND bucket = (NEW.created_us + 28800000000) / 86400000000 / 32 AND key = NEW.caller_number;
    INSERT OR IGNORE INTO repeat_counts (bucket, kind, key, n)
    SELECT (NEW.created_us + 28800000000) / 86400000000 / 32, 1, NEW.location, 0 WHERE NEW.loc_prev_us IS NOT NULL;
    UPDATE repeat_counts SET n = n + 1 WHERE NEW.loc_prev_us IS NOT NULL
      AND kind = 1 AND bucket = (NEW.created_us + 28800000000) / 86400000000 / 32 AND key = NEW.location;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER repeat_counts_del AFTER DELETE ON cases BEGIN
    UPDATE repeat_counts SET n = n - 1 WHERE OLD.caller_prev_us IS NOT NULL
      AND kind = 0 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.caller_number;
    UPDATE repeat_counts SET n = n - 1 WHERE OLD.loc_prev_us IS NOT NULL
      AND kind = 1 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.location;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER repeat_counts_upd AFTER UPDATE ON cases
WHEN (OLD.caller_prev_us IS NULL) IS NOT (NEW.caller_prev_us IS NULL) OR (OLD.loc_prev_us IS NULL) IS NOT (NEW.loc_prev_us IS NULL)
  OR OLD.location IS NOT NEW.location OR OLD.caller_number IS NOT NEW.caller_number OR OLD.created_us IS NOT NEW.created_us
BEGIN
    UPDATE repeat_counts SET n = n - 1 WHERE OLD.caller_prev_us IS NOT NULL
      AND kind = 0 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.caller_number;
    UPDATE repeat_counts SET n = n - 1 WHERE OLD.loc_prev_us IS NOT NULL
      AND kind = 1 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.location;
    INSERT OR IGNORE INTO repeat_counts (bucket, kind, key, n)
    SELECT (NEW.created_us + 28800000000) / 86400000000 / 32, 0, NEW.caller_number, 0 WHERE NEW.caller_prev_us IS NOT NULL;
    UPDATE repeat_counts SET n = n + 1 WHERE NEW.caller_prev_us IS NOT NULL
      AND kind = 0 AND bucket = (NEW.created_us + 28800000000) / 86400000000 / 32 AND key = NEW.caller_number;
    INSERT OR IGNORE INTO repeat_counts (bucket, kind, key, n)
    SELECT (NEW.created_us + 28800000000) / 86400000000 / 32, 1, NEW.location, 0 WHERE NEW.loc_prev_us IS NOT NULL;
    UPDATE repeat_counts SET n = n + 1 WHERE NEW.loc_prev_us IS NOT NULL
      AND kind = 1 AND bucket = (NEW.created_us + 28800000000) / 86400000000 / 32 AND key = NEW.location;
END;
-- +goose StatementEnd

INSERT INTO repeat_counts (bucket, kind, key, n)
SELECT (created_us + 28800000000) / 86400000000 / 32, 0, caller_number, COUNT(*)
FROM cases WHERE caller_prev_us IS NOT NULL GROUP BY 1, 3;
INSERT INTO repeat_counts (bucket, kind, key, n)
SELECT (created_us + 28800000000) / 86400000000 / 32, 1, location, COUNT(*)
FROM cases WHERE loc_prev_us IS NOT NULL GROUP BY 1, 3;

-- +goose Down
DROP TRIGGER repeat_counts_upd;
DROP TRIGGER repeat_counts_del;
DROP TRIGGER repeat_counts_ins;
DROP TABLE repeat_counts;
