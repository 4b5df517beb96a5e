-- +goose Up
-- Repeat callers and places: each case points at the previous case of the
-- same caller (and of the same location). In a period, a caller with k cases
-- has k-1 cases whose predecessor is inside the period, so the top repeat
-- callers come from a small partial index instead of grouping every case.
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

CREATE INDEX cases_caller_repeat ON cases (created_us) INCLUDE (caller_number, caller_prev_us) WHERE caller_prev_us IS NOT NULL;
CREATE INDEX cases_loc_repeat ON cases (created_us) INCLUDE (location, loc_prev_us) WHERE loc_prev_us IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION cases_prev_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.caller_number <> '' THEN
        NEW.caller_prev_us := (SELECT MAX(created_us) FROM cases
            WHERE caller_number = NEW.caller_number AND created_us <= NEW.created_us AND id <> NEW.id);
    END IF;
    IF NEW.location <> '' THEN
        NEW.loc_prev_us := (SELECT MAX(created_us) FROM cases
            WHERE location = NEW.location AND created_us <= NEW.created_us AND id <> NEW.id);
    ELSE
        NEW.loc_prev_us := NULL;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- A case inserted or placed before an existing one becomes that one's predecessor.
-- +goose StatementBegin
CREATE FUNCTION cases_prev_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.caller_number <> '' THEN
        UPDATE cases SET caller_prev_us = NEW.created_us
        WHERE caller_number = NEW.caller_number AND id <> NEW.id AND created_us = (
            SELECT MIN(created_us) FROM cases WHERE caller_number = NEW.caller_number AND created_us > NEW.created_us)
          AND (caller_prev_us IS NULL OR caller_prev_us < NEW.created_us);
    END IF;
    IF NEW.location <> '' THEN
        UPDATE cases SET loc_prev_us = NEW.created_us
        WHERE location = NEW.location AND id <> NEW.id AND created_us = (
            SELECT MIN(created_us) FROM cases WHERE location = NEW.location AND created_us > NEW.created_us)
          AND (loc_prev_us IS NULL OR loc_prev_us < NEW.created_us);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER cases_prev_ins BEFORE INSERT ON cases FOR EACH ROW EXECUTE FUNCTION cases_prev_before();
CREATE TRIGGER cases_prev_upd BEFORE UPDATE OF location ON cases FOR EACH ROW
    WHEN (OLD.location IS DISTINCT FROM NEW.location) EXECUTE FUNCTION cases_prev_before();
CREATE TRIGGER cases_next_ins AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION cases_prev_after();
CREATE TRIGGER cases_next_upd AFTER UPDATE OF location ON cases FOR EACH ROW
    WHEN (OLD.location IS DISTINCT FROM NEW.location) EXECUTE FUNCTION cases_prev_after();

-- Department KPIs by day of dispatch, kept by a trigger that takes out a
-- case's old contribution and adds its new one whenever a counted column changes.
CREATE TABLE dept_counts (
    day        INTEGER NOT NULL,
    dept       TEXT NOT NULL,
    slot       SMALLINT NOT NULL DEFAULT 0, -- as in case_counts
    dispatched BIGINT NOT NULL DEFAULT 0,
    replied    BIGINT NOT NULL DEFAULT 0,
    on_time    BIGINT NOT NULL DEFAULT 0,
    late       BIGINT NOT NULL DEFAULT 0,
    resolved   BIGINT NOT NULL DEFAULT 0,
    evaluated  BIGINT NOT NULL DEFAULT 0,
    satisfied  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dept, slot)
);
-- Unreplied cases past their deadline depend on "now": counted live, from this.
CREATE INDEX cases_unreplied ON cases (dispatched_us) INCLUDE (lead_dept, deadline_us)
    WHERE replied_us IS NULL AND lead_dept <> '';

-- +goose StatementBegin
CREATE FUNCTION dept_counts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.lead_dept <> '' AND OLD.dispatched_us IS NOT NULL THEN
        UPDATE dept_counts SET
            dispatched = dispatched - 1,
            replied = replied - (OLD.replied_us IS NOT NULL)::int,
            on_time = on_time - COALESCE(OLD.replied_us <= OLD.deadline_us, false)::int,
            late = late - COALESCE(OLD.replied_us > OLD.deadline_us, false)::int,
            resolved = resolved - (OLD.replied_us IS NOT NULL AND OLD.resolved)::int,
            evaluated = evaluated - (OLD.evaluation > 0)::int,
            satisfied = satisfied - (OLD.evaluation >= 2)::int
        WHERE day = (OLD.dispatched_us + 28800000000) / 86400000000 AND dept = OLD.lead_dept AND slot = (hashtext(OLD.id) & 7);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.lead_dept <> '' AND NEW.dispatched_us IS NOT NULL THEN
        INSERT INTO dept_counts AS d (day, dept, slot, dispatched, replied, on_time, late, resolved, evaluated, satisfied)
        VALUES ((NEW.dispatched_us + 28800000000) / 86400000000, NEW.lead_dept, (hashtext(NEW.id) & 7), 1,
                (NEW.replied_us IS NOT NULL)::int,
                COALESCE(NEW.replied_us <= NEW.deadline_us, false)::int,
                COALESCE(NEW.replied_us > NEW.deadline_us, false)::int,
                (NEW.replied_us IS NOT NULL AND NEW.resolved)::int,
                (NEW.evaluation > 0)::int,
                (NEW.evaluation >= 2)::int)
        ON CONFLICT (day, dept, slot) DO UPDATE SET
            dispatched = d.dispatched + 1, replied = d.replied + EXCLUDED.replied, on_time = d.on_time + EXCLUDED.on_time,
            late = d.late + EXCLUDED.late, resolved = d.resolved + EXCLUDED.resolved,
            evaluated = d.evaluated + EXCLUDED.evaluated, satisfied = d.satisfied + EXCLUDED.satisfied;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER dept_counts_ins AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION dept_counts_trg();
CREATE TRIGGER dept_counts_del AFTER DELETE ON cases FOR EACH ROW EXECUTE FUNCTION dept_counts_trg();
CREATE TRIGGER dept_counts_upd AFTER UPDATE ON cases FOR EACH ROW
    WHEN ((OLD.lead_dept, OLD.dispatched_us, OLD.replied_us, OLD.deadline_us, OLD.resolved, OLD.evaluation)
          IS DISTINCT FROM (NEW.lead_dept, NEW.dispatched_us, NEW.replied_us, NEW.deadline_us, NEW.resolved, NEW.evaluation))
    EXECUTE FUNCTION dept_counts_trg();

INSERT INTO dept_counts (day, dept, slot, dispatched, replied, on_time, late, resolved, evaluated, satisfied)
SELECT (dispatched_us + 28800000000) / 86400000000, lead_dept, hashtext(id) & 7, COUNT(*),
       SUM((replied_us IS NOT NULL)::int), SUM(COALESCE(replied_us <= deadline_us, false)::int),
       SUM(COALESCE(replied_us > deadline_us, false)::int), SUM((replied_us IS NOT NULL AND resolved)::int),
       SUM((evaluation > 0)::int), SUM((evaluation >= 2)::int)
FROM cases WHERE lead_dept <> '' AND dispatched_us IS NOT NULL GROUP BY 1, 2, 3;

-- +goose Down
DROP TRIGGER dept_counts_upd ON cases;
DROP TRIGGER dept_counts_del ON cases;
DROP TRIGGER dept_counts_ins ON cases;
DROP FUNCTION dept_counts_trg();
DROP TABLE dept_counts;
DROP INDEX cases_unreplied;
DROP TRIGGER cases_next_upd ON cases;
DROP TRIGGER cases_next_ins ON cases;
DROP TRIGGER cases_prev_upd ON cases;
DROP TRIGGER cases_prev_ins ON cases;
DROP FUNCTION cases_prev_after();
DROP FUNCTION cases_prev_before();
DROP INDEX cases_loc_repeat;
DROP INDEX cases_caller_repeat;
DROP INDEX cases_location;
ALTER TABLE cases DROP COLUMN loc_prev_us;
ALTER TABLE cases DROP COLUMN caller_prev_us;
