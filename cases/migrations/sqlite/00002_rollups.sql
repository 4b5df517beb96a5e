-- +goose Up
-- Daily rollups, kept exact by triggers in the same transaction as the rows
-- they count (see the PostgreSQL migration). day = days since 1970-01-01 in
-- China time.
CREATE TABLE case_counts (
    day      INTEGER NOT NULL,
    category TEXT NOT NULL,
    dialled  TEXT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (day, category, dialled)
);
CREATE TABLE call_counts (
    day       INTEGER PRIMARY KEY,
    offered   BIGINT NOT NULL DEFAULT 0,
    answered  BIGINT NOT NULL DEFAULT 0,
    in15      BIGINT NOT NULL DEFAULT 0,
    in24      BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0
);

-- +goose StatementBegin
CREATE TRIGGER case_counts_ins AFTER INSERT ON cases BEGIN
    INSERT OR IGNORE INTO case_counts (day, category, dialled, n)
    VALUES ((NEW.created_us + 28800000000) / 86400000000, NEW.category, NEW.dialled_number, 0);
    UPDATE case_counts SET n = n + 1
    WHERE day = (NEW.created_us + 28800000000) / 86400000000 AND category = NEW.category AND dialled = NEW.dialled_number;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER case_counts_del AFTER DELETE ON cases BEGIN
    UPDATE case_counts SET n = n - 1
    WHERE day = (OLD.created_us + 28800000000) / 86400000000 AND category = OLD.category AND dialled = OLD.dialled_number;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER case_counts_upd AFTER UPDATE OF category, dialled_number, created_us ON cases
WHEN OLD.category IS NOT NEW.category OR OLD.dialled_number IS NOT NEW.dialled_number OR OLD.created_us IS NOT NEW.created_us
BEGIN
    UPDATE case_counts SET n = n - 1
    WHERE day = (OLD.created_us + 28800000000) / 86400000000 AND category = OLD.category AND dialled = OLD.dialled_number;
    INSERT OR IGNORE INTO case_counts (day, category, dialled, n)
    VALUES ((NEW.created_us + 28800000000) / 86400000000, NEW.category, NEW.dialled_number, 0);
    UPDATE case_counts SET n = n + 1
    WHERE day = (NEW.created_us + 28800000000) / 86400000000 AND category = NEW.category AND dialled = NEW.dialled_number;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER call_counts_ins AFTER INSERT ON events
WHEN NEW.type IN ('call.offered', 'call.answered', 'call.abandoned')
BEGIN
    INSERT OR IGNORE INTO call_counts (day) VALUES ((NEW.at_us + 28800000000) / 86400000000);
    UPDATE call_counts SET
        offered = offered + (NEW.type = 'call.offered'),
        answered = answered + (NEW.type = 'call.answered'),
        in15 = in15 + (NEW.type = 'call.answered' AND NEW.value <= 15000),
        in24 = in24 + (NEW.type = 'call.answered' AND NEW.value <= 86400000),
        abandoned = abandoned + (NEW.type = 'call.abandoned')
    WHERE day = (NEW.at_us + 28800000000) / 86400000000;
END;
-- +goose StatementEnd

INSERT INTO case_counts (day, category, dialled, n)
SELECT (created_us + 28800000000) / 86400000000, category, dialled_number, COUNT(*) FROM cases GROUP BY 1, 2, 3;
INSERT INTO call_counts (day, offered, answered, in15, in24, abandoned)
SELECT (at_us + 28800000000) / 86400000000,
       SUM(type = 'call.offered'), SUM(type = 'call.answered'),
       SUM(type = 'call.answered' AND value <= 15000), SUM(type = 'call.answered' AND value <= 86400000),
       SUM(type = 'call.abandoned')
FROM events WHERE type IN ('call.offered', 'call.answered', 'call.abandoned') GROUP BY 1;

-- +goose Down
DROP TRIGGER call_counts_ins;
DROP TRIGGER case_counts_upd;
DROP TRIGGER case_counts_del;
DROP TRIGGER case_counts_ins;
DROP TABLE call_counts;
DROP TABLE case_counts;
