-- +goose Up
-- See the PostgreSQL migration for the why. SQLite triggers cannot change
-- NEW, so the predecessor is written by an AFTER trigger.
ALTER TABLE cases ADD COLUMN caller_prev_us BIGINT;
ALTER TABLE cases ADD COLUMN loc_prev_us BIGINT;
CREATE INDEX cases_location ON cases (location, created_us);

UPDATE cases SET caller_prev_us = x.p FROM (
    SELECT id, LAG(created_us) OVER (PARTITION BY caller_number ORDER BY created_us, id) AS p
    FROM cases WHERE caller_number <> '') x
WHERE cases.id = x.id AND x.p IS NOT NULL;
UPDATE cases SET loc_prev_us = x.p FROM (
    SELECT id, LAG(created_us) OVER (PARTITION BY location ORDER BY created_us, id) AS p
    FROM cases WHERE location <> '') x
WHERE cases.id = x.id AND x.p IS NOT NULL;

CREATE INDEX cases_caller_repeat ON cases (created_us, caller_number, caller_prev_us) WHERE caller_prev_us IS NOT NULL;
CREATE INDEX cases_loc_repeat ON cases (created_us, location, loc_prev_us) WHERE loc_prev_us IS NOT NULL;

-- +goose StatementBegin
CREATE TRIGGER cases_prev_ins AFTER INSERT ON cases BEGIN
    UPDATE cases SET
        caller_prev_us = CASE WHEN NEW.caller_number = '' THEN NULL ELSE (SELECT MAX(created_us) FROM cases
            WHERE caller_number = NEW.caller_number AND created_us <= NEW.created_us AND id <> NEW.id) END,
        loc_prev_us = CASE WHEN NEW.location = '' THEN NULL ELSE (SELECT MAX(created_us) FROM cases
            WHERE location = NEW.location AND created_us <= NEW.created_us AND id <> NEW.id) END
    WHERE id = NEW.id;
    UPDATE cases SET caller_prev_us = NEW.created_us
    WHERE NEW.caller_number <> '' AND caller_number = NEW.caller_number AND id <> NEW.id AND created_us = (
        SELECT MIN(created_us) FROM cases WHERE caller_number = NEW.caller_number AND created_us > NEW.created_us)
      AND (caller_prev_us IS NULL OR caller_prev_us < NEW.created_us);
    UPDATE cases SET loc_prev_us = NEW.created_us
    WHERE NEW.location <> '' AND location = NEW.location AND id <> NEW.id AND created_us = (
        SELECT MIN(created_us) FROM cases WHERE location = NEW.location AND created_us > NEW.created_us)
      AND (loc_prev_us IS NULL OR loc_prev_us < NEW.created_us);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cases_prev_upd AFTER UPDATE OF location ON cases WHEN OLD.location IS NOT NEW.location BEGIN
    UPDATE cases SET loc_prev_us = CASE WHEN NEW.location = '' THEN NULL ELSE (SELECT MAX(created_us) FROM cases
            WHERE location = NEW.location AND created_us <= NEW.created_us AND id <> NEW.id) END
    WHERE id = NEW.id;
    UPDATE cases SET loc_prev_us = NEW.created_us
    WHERE NEW.location <> '' AND location = NEW.location AND id <> NEW.id AND created_us = (
        SELECT MIN(created_us) FROM cases WHERE location = NEW.location AND created_us > NEW.created_us)
      AND (loc_prev_us IS NULL OR loc_prev_us < NEW.created_us);
END;
-- +goose StatementEnd

CREATE TABLE dept_counts (
    day        INTEGER NOT NULL,
    dept       TEXT NOT NULL,
    dispatched BIGINT NOT NULL DEFAULT 0,
    replied    BIGINT NOT NULL DEFAULT 0,
    on_time    BIGINT NOT NULL DEFAULT 0,
    late       BIGINT NOT NULL DEFAULT 0,
    resolved   BIGINT NOT NULL DEFAULT 0,
    evaluated  BIGINT NOT NULL DEFAULT 0,
    satisfied  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dept)
);
CREATE INDEX cases_unreplied ON cases (dispatched_us, lead_dept, deadline_us)
    WHERE replied_us IS NULL AND lead_dept <> '';

-- +goose StatementBegin
CREATE TRIGGER dept_counts_ins AFTER INSERT ON cases WHEN NEW.lead_dept <> '' AND NEW.dispatched_us IS NOT NULL BEGIN
    INSERT OR IGNORE INTO dept_counts (day, dept) VALUES ((NEW.dispatched_us + 28800000000) / 86400000000, NEW.lead_dept);
    UPDATE dept_counts SET
        dispatched = dispatched + 1,
        replied = replied + (NEW.replied_us IS NOT NULL),
        on_time = on_time + COALESCE(NEW.replied_us <= NEW.deadline_us, 0),
        late = late + COALESCE(NEW.replied_us > NEW.deadline_us, 0),
        resolved = resolved + (NEW.replied_us IS NOT NULL AND NEW.resolved),
        evaluated = evaluated + (NEW.evaluation > 0),
        satisfied = satisfied + (NEW.evaluation >= 2)
    WHERE day = (NEW.dispatched_us + 28800000000) / 86400000000 AND dept = NEW.lead_dept;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER dept_counts_del AFTER DELETE ON cases WHEN OLD.lead_dept <> '' AND OLD.dispatched_us IS NOT NULL BEGIN
    UPDATE dept_counts SET
        dispatched = dispatched - 1,
        replied = replied - (OLD.replied_us IS NOT NULL),
        on_time = on_time - COALESCE(OLD.replied_us <= OLD.deadline_us, 0),
        late = late - COALESCE(OLD.replied_us > OLD.deadline_us, 0),
        resolved = resolved - (OLD.replied_us IS NOT NULL AND OLD.resolved),
        evaluated = evaluated - (OLD.evaluation > 0),
        satisfied = satisfied - (OLD.evaluation >= 2)
    WHERE day = (OLD.dispatched_us + 28800000000) / 86400000000 AND dept = OLD.lead_dept;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER dept_counts_upd AFTER UPDATE ON cases
WHEN OLD.lead_dept IS NOT NEW.lead_dept OR OLD.dispatched_us IS NOT NEW.dispatched_us OR OLD.replied_us IS NOT NEW.replied_us
  OR OLD.deadline_us IS NOT NEW.deadline_us OR OLD.resolved IS NOT NEW.resolved OR OLD.evaluation IS NOT NEW.evaluation
BEGIN
    UPDATE dept_counts SET
        dispatched = dispatched - 1,
        replied = replied - (OLD.replied_us IS NOT NULL),
        on_time = on_time - COALESCE(OLD.replied_us <= OLD.deadline_us, 0),
        late = late - COALESCE(OLD.replied_us > OLD.deadline_us, 0),
        resolved = resolved - (OLD.replied_us IS NOT NULL AND OLD.resolved),
        evaluated = evaluated - (OLD.evaluation > 0),
        satisfied = satisfied - (OLD.evaluation >= 2)
    WHERE OLD.lead_dept <> '' AND OLD.dispatched_us IS NOT NULL
      AND day = (OLD.dispatched_us + 28800000000) / 86400000000 AND dept = OLD.lead_dept;
    INSERT OR IGNORE INTO dept_counts (day, dept)
    SELECT (NEW.dispatched_us + 28800000000) / 86400000000, NEW.lead_dept
    WHERE NEW.lead_dept <> '' AND NEW.dispatched_us IS NOT NULL;
    UPDATE dept_counts SET
        dispatched = dispatched + 1,
        replied = replied + (NEW.replied_us IS NOT NULL),
        on_time = on_time + COALESCE(NEW.replied_us <= NEW.deadline_us, 0),
        late = late + COALESCE(NEW.replied_us > NEW.deadline_us, 0),
        resolved = resolved + (NEW.replied_us IS NOT NULL AND NEW.resolved),
        evaluated = evaluated + (NEW.evaluation > 0),
        satisfied = satisfied + (NEW.evaluation >= 2)
    WHERE NEW.lead_dept <> '' AND NEW.dispatched_us IS NOT NULL
      AND day = (NEW.dispatched_us + 28800000000) / 86400000000 AND dept = NEW.lead_dept;
END;
-- +goose StatementEnd

INSERT INTO dept_counts (day, dept, dispatched, replied, on_time, late, resolved, evaluated, satisfied)
SELECT (dispatched_us + 28800000000) / 86400000000, lead_dept, COUNT(*),
       SUM(replied_us IS NOT NULL), SUM(COALESCE(replied_us <= deadline_us, 0)), SUM(COALESCE(replied_us > deadline_us, 0)),
       SUM(replied_us IS NOT NULL AND resolved), SUM(evaluation > 0), SUM(evaluation >= 2)
FROM cases WHERE lead_dept <> '' AND dispatched_us IS NOT NULL GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER dept_counts_upd;
DROP TRIGGER dept_counts_del;
DROP TRIGGER dept_counts_ins;
DROP TABLE dept_counts;
DROP INDEX cases_unreplied;
DROP TRIGGER cases_prev_upd;
DROP TRIGGER cases_prev_ins;
DROP INDEX cases_loc_repeat;
DROP INDEX cases_caller_repeat;
DROP INDEX cases_location;
ALTER TABLE cases DROP COLUMN loc_prev_us;
ALTER TABLE cases DROP COLUMN caller_prev_us;
