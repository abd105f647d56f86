-- A live resume reads only a run's settled-but-undelivered calls; keep that lookup
-- independent of how long the run's journal already is.
CREATE INDEX IF NOT EXISTS stack_runs_undelivered
    ON stack_runs (task_run_id, seq) WHERE delivered_segment IS NULL;
