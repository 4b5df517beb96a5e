-- +goose Up
-- Candidates for the top repeat callers and places over long periods: per
-- 32-day bucket, how many cases of a caller (kind 0) or at a place (kind 1)
-- had a predecessor. Only repeats are counted, so the table stays small;
-- the report then counts its candidates exactly from the cases.
CREATE TABLE repeat_counts (
    bucket INTEGER NOT NULL, -- China day number / 32
    kind   SMALLINT NOT NULL,
    key    TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (kind, bucket, key)
);

-- +goose StatementBegin
CREATE FUNCTION repeat_counts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.caller_prev_us IS NOT NULL THEN
            UPDATE repeat_counts SET n = n - 1
            WHERE kind = 0 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.caller_number;
        END IF;
        IF OLD.loc_prev_us IS NOT NULL THEN
            UPDATE repeat_counts SET n = n - 1
            WHERE kind = 1 AND bucket = (OLD.created_us + 28800000000) / 86400000000 / 32 AND key = OLD.location;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.caller_prev_us IS NOT NULL THEN
            INSERT INTO repeat_counts AS r (bucket, kind, key, n)
            VALUES ((NEW.created_us + 28800000000) / 86400000000 / 32, 0, NEW.caller_number, 1)
            ON CONFLICT (kind, bucket, key) DO UPDATE SET n = r.n + 1;
        END IF;
        IF NEW.loc_prev_us IS NOT NULL THEN
            INSERT INTO repeat_counts AS r (bucket, kind, key, n)
            VALUES ((NEW.created_us + 28800000000) / 86400000000 / 32, 1, NEW.location, 1)
            ON CONFLICT (kind, bucket, key) DO UPDATE SET n = r.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER repeat_counts_ins AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION repeat_counts_trg();
CREATE TRIGGER repeat_counts_del AFTER DELETE ON cases FOR EACH ROW EXECUTE FUNCTION repeat_counts_trg();
CREATE TRIGGER repeat_counts_upd AFTER UPDATE ON cases FOR EACH ROW
    WHEN ((OLD.caller_prev_us IS NULL, OLD.loc_prev_us IS NULL, OLD.location, OLD.caller_number, OLD.created_us)
          IS DISTINCT FROM (NEW.caller_prev_us IS NULL, NEW.loc_prev_us IS NULL, NEW.location, NEW.caller_number, NEW.created_us))
    EXECUTE FUNCTION repeat_counts_trg();

INSERT INTO repeat_counts (bucket, kind, key, n)
SELECT (created_us + 28800000000) / 86400000000 / 32, 0, caller_number, COUNT(*)
FROM cases WHERE caller_prev_us IS NOT NULL GROUP BY 1, 3;
INSERT INTO repeat_counts (bucket, kind, key, n)
SELECT (created_us + 28800000000) / 86400000000 / 32, 1, location, COUNT(*)
FROM cases WHERE loc_prev_us IS NOT NULL GROUP BY 1, 3;

-- +goose Down
DROP TRIGGER repeat_counts_upd ON cases;
DROP TRIGGER repeat_counts_del ON cases;
DROP TRIGGER repeat_counts_ins ON cases;
DROP FUNCTION repeat_counts_trg();
DROP TABLE repeat_counts;
