-- The API token scope of whoever submitted a run (read, execute, admin); the run's host
-- calls are checked against it. NULL: submitted while authentication was off.
ALTER TABLE task_runs ADD COLUMN scope TEXT;
