-- +goose Up
-- Daily rollups, kept exact by triggers in the same transaction as the rows
-- they count, so that year-long reports read hundreds of rows, not millions.
-- day = days since 1970-01-01 in China time (UTC+8, no DST). slot spreads
-- one day's counts over 8 rows (by case ID), so that concurrent transactions
-- do not queue on one row lock; reports sum the slots.
CREATE TABLE case_counts (
    day      INTEGER NOT NULL,
    category TEXT NOT NULL,
    dialled  TEXT NOT NULL,
    slot     SMALLINT NOT NULL DEFAULT 0,
    n        BIGINT NOT NULL,
    PRIMARY KEY (day, category, dialled, slot)
);
CREATE TABLE call_counts (
    day       INTEGER NOT NULL,
    slot      SMALLINT NOT NULL DEFAULT 0,
    offered   BIGINT NOT NULL DEFAULT 0,
    answered  BIGINT NOT NULL DEFAULT 0,
    in15      BIGINT NOT NULL DEFAULT 0,
    in24      BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, slot)
);

-- +goose StatementBegin
CREATE FUNCTION case_counts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE case_counts SET n = n - 1
        WHERE day = (OLD.created_us + 28800000000) / 86400000000
          AND category = OLD.category AND dialled = OLD.dialled_number AND slot = (hashtext(OLD.id) & 7);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO case_counts AS c (day, category, dialled, slot, n)
        VALUES ((NEW.created_us + 28800000000) / 86400000000, NEW.category, NEW.dialled_number, (hashtext(NEW.id) & 7), 1)
        ON CONFLICT (day, category, dialled, slot) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER case_counts_ins AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION case_counts_trg();
CREATE TRIGGER case_counts_del AFTER DELETE ON cases FOR EACH ROW EXECUTE FUNCTION case_counts_trg();
CREATE TRIGGER case_counts_upd AFTER UPDATE OF category, dialled_number, created_us ON cases FOR EACH ROW
    WHEN (OLD.category IS DISTINCT FROM NEW.category OR OLD.dialled_number IS DISTINCT FROM NEW.dialled_number
          OR OLD.created_us IS DISTINCT FROM NEW.created_us)
    EXECUTE FUNCTION case_counts_trg();

-- +goose StatementBegin
CREATE FUNCTION call_counts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_counts AS c (day, slot, offered, answered, in15, in24, abandoned)
    VALUES ((NEW.at_us + 28800000000) / 86400000000, (hashtext(NEW.case_id) & 7),
            CASE WHEN NEW.type = 'call.offered' THEN 1 ELSE 0 END,
            CASE WHEN NEW.type = 'call.answered' THEN 1 ELSE 0 END,
            CASE WHEN NEW.type = 'call.answered' AND NEW.value <= 15000 THEN 1 ELSE 0 END,
            CASE WHEN NEW.type = 'call.answered' AND NEW.value <= 86400000 THEN 1 ELSE 0 END,
            CASE WHEN NEW.type = 'call.abandoned' THEN 1 ELSE 0 END)
    ON CONFLICT (day, slot) DO UPDATE SET offered = c.offered + EXCLUDED.offered, answered = c.answered + EXCLUDED.answered,
        in15 = c.in15 + EXCLUDED.in15, in24 = c.in24 + EXCLUDED.in24, abandoned = c.abandoned + EXCLUDED.abandoned;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER call_counts_ins AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.type IN ('call.offered', 'call.answered', 'call.abandoned'))
    EXECUTE FUNCTION call_counts_trg();

INSERT INTO case_counts (day, category, dialled, slot, n)
SELECT (created_us + 28800000000) / 86400000000, category, dialled_number, hashtext(id) & 7, COUNT(*) FROM cases GROUP BY 1, 2, 3, 4;
INSERT INTO call_counts (day, slot, offered, answered, in15, in24, abandoned)
SELECT (at_us + 28800000000) / 86400000000, hashtext(case_id) & 7,
       SUM(CASE WHEN type = 'call.offered' THEN 1 ELSE 0 END),
       SUM(CASE WHEN type = 'call.answered' THEN 1 ELSE 0 END),
       SUM(CASE WHEN type = 'call.answered' AND value <= 15000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN type = 'call.answered' AND value <= 86400000 THEN 1 ELSE 0 END),
       SUM(CASE WHEN type = 'call.abandoned' THEN 1 ELSE 0 END)
FROM events WHERE type IN ('call.offered', 'call.answered', 'call.abandoned') GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER call_counts_ins ON events;
DROP TRIGGER case_counts_upd ON cases;
DROP TRIGGER case_counts_del ON cases;
DROP TRIGGER case_counts_ins ON cases;
DROP FUNCTION call_counts_trg();
DROP FUNCTION case_counts_trg();
DROP TABLE call_counts;
DROP TABLE case_counts;
