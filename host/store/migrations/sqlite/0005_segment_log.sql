-- Keep in step with postgres/0005_segment_log.sql.
-- Segment start times move from a JSON array in the run row (rewritten whole at every
-- segment: a run of n calls wrote O(n^2) bytes, and long runs slowed down on both backends)
-- to one row per segment. The run row keeps only the count and the latest time, which is all
-- a live resume needs; a replay reads the log. A trigger appends to the log whenever a
-- statement bumps `segment_count`, so no write path can forget it.

CREATE TABLE run_segments (
    task_run_id BIGINT  NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    idx         BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    PRIMARY KEY (task_run_id, idx)
) WITHOUT ROWID;

ALTER TABLE task_runs ADD COLUMN segment_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN last_segment_at BIGINT;

INSERT INTO run_segments (task_run_id, idx, started_at)
    SELECT task_runs.id, CAST(j.key AS INTEGER), CAST(j.value AS INTEGER)
    FROM task_runs, json_each(task_runs.segment_times) AS j;

UPDATE task_runs SET
    segment_count = json_array_length(segment_times),
    last_segment_at = CAST(json_extract(segment_times, '$[#-1]') AS INTEGER)
    WHERE segment_times <> '[]';

ALTER TABLE task_runs DROP COLUMN segment_times;

CREATE TRIGGER run_segment_logged AFTER UPDATE OF segment_count ON task_runs
    WHEN NEW.segment_count > OLD.segment_count
BEGIN
    INSERT INTO run_segments (task_run_id, idx, started_at)
        VALUES (NEW.id, NEW.segment_count - 1, NEW.last_segment_at);
END;

CREATE TRIGGER run_first_segment_logged AFTER INSERT ON task_runs
    WHEN NEW.segment_count > 0
BEGIN
    INSERT INTO run_segments (task_run_id, idx, started_at)
        VALUES (NEW.id, NEW.segment_count - 1, NEW.last_segment_at);
END;
