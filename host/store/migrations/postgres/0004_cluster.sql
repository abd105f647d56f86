-- Several hosts on one database: cross-host wake-ups without polling delay.
-- Triggers publish NOTIFYs from the same transaction that makes work ready, so they are sent
-- exactly when (and only if) that transaction commits, whichever code path changed the row
-- (enqueue, retry, reclaim, release, a settled call waking its run).
--   tasker_calls : payload = service name of a call that became pending (ready for a claim)
--   tasker_runs  : payload = the host that ran the run's last segment ('' if none): it holds the
--                  live context, so it is the one to wake (sticky routing)
--   tasker_ended : payload = id of a run that reached a terminal status (wakes waiting clients)

CREATE INDEX IF NOT EXISTS hosts_heartbeat ON hosts (heartbeat_at);

CREATE FUNCTION tasker_notify_call_ready() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tasker_calls', NEW.service);
    RETURN NULL;
END
$$;

CREATE TRIGGER stack_runs_ready_notify
    AFTER INSERT OR UPDATE OF status ON stack_runs
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION tasker_notify_call_ready();

CREATE FUNCTION tasker_notify_run_ready() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tasker_runs', COALESCE(NEW.lease_owner, ''));
    RETURN NULL;
END
$$;

CREATE TRIGGER task_runs_ready_notify
    AFTER INSERT OR UPDATE OF status ON task_runs
    FOR EACH ROW WHEN (NEW.status IN ('pending', 'resumable'))
    EXECUTE FUNCTION tasker_notify_run_ready();

CREATE FUNCTION tasker_notify_run_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tasker_ended', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER task_runs_ended_notify
    AFTER UPDATE OF status ON task_runs
    FOR EACH ROW WHEN (NEW.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION tasker_notify_run_ended();
