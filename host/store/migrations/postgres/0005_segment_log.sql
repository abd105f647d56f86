-- Keep in step with sqlite/0005_segment_log.sql.
-- Segment start times move from a JSON array in the run row (rewritten whole at every
-- segment: a run of n calls wrote O(n^2) bytes through TOAST, and long runs slowed down) to
-- one row per segment. The run row keeps only the count and the latest time, which is all a
-- live resume needs; a replay reads the log. A trigger appends to the log whenever a
-- statement bumps `segment_count`, so no write path can forget it.

CREATE TABLE run_segments (
    task_run_id BIGINT  NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    idx         BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    PRIMARY KEY (task_run_id, idx)
);

ALTER TABLE task_runs ADD COLUMN segment_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN last_segment_at BIGINT;

INSERT INTO run_segments (task_run_id, idx, started_at)
    SELECT t.id, e.ord - 1, e.v::bigint
    FROM task_runs t,
         jsonb_array_elements_text(t.segment_times::jsonb) WITH ORDINALITY AS e(v, ord);

UPDATE task_runs SET
    segment_count = jsonb_array_length(segment_times::jsonb),
    last_segment_at = (segment_times::jsonb ->> -1)::bigint
    WHERE segment_times <> '[]';

ALTER TABLE task_runs DROP COLUMN segment_times;

CREATE FUNCTION tasker_log_segment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_segments (task_run_id, idx, started_at)
        VALUES (NEW.id, NEW.segment_count - 1, NEW.last_segment_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER run_segment_logged AFTER UPDATE OF segment_count ON task_runs
    FOR EACH ROW WHEN (NEW.segment_count > OLD.segment_count)
    EXECUTE FUNCTION tasker_log_segment();

CREATE TRIGGER run_first_segment_logged AFTER INSERT ON task_runs
    FOR EACH ROW WHEN (NEW.segment_count > 0)
    EXECUTE FUNCTION tasker_log_segment();
