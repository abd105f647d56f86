//! Task-run transitions: create, claim (FIFO, leased), suspend without losing a wake-up, complete,
//! fail, cancel, and per-segment bookkeeping (segment times, delivered calls).

use sqlx::Row;

use super::{EndOutcome, Lease, NewRun, RunClaim, SegmentEnd, SuspendOutcome};
use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, json_int_list, json_list, new_segment_if, pg_ids, task_run_columns};
use crate::{Result, Store, TaskRun, TaskRunStatus};

/// A child run ($4 set) without its own scope ($6) inherits the scope of the run that made
/// the parent call, so a nested task never acts with more than its ancestor's submitter.
/// With $7 (an owner) the run starts `running` under $7 until $8, its first segment time
/// ($5) recorded: the submitting host runs it at once instead of queueing it.
macro_rules! create {
    ($owner:literal, $expiry:literal) => {
        concat!(
            "INSERT INTO task_runs (task_name, code_hash, input, status, parent_stack_run_id, \
             ready_at, created_at, updated_at, scope, lease_owner, lease_expires_at, started_at, \
             segment_count, last_segment_at) VALUES ($1, $2, $3, CASE WHEN ",
            $owner,
            " IS NULL THEN 'pending' ELSE 'running' END, $4, $5, $5, $5, \
             COALESCE($6, (SELECT r.scope FROM stack_runs s JOIN task_runs r ON r.id = s.task_run_id \
             WHERE s.id = $4)), ",
            $owner,
            ", ",
            $expiry,
            ", CASE WHEN ",
            $owner,
            " IS NULL THEN NULL ELSE $5 END, CASE WHEN ",
            $owner,
            " IS NULL THEN 0 ELSE 1 END, CASE WHEN ",
            $owner,
            " IS NULL THEN NULL ELSE $5 END) RETURNING ",
            task_run_columns!()
        )
    };
}
const CREATE: Sql = Sql {
    sqlite: create!("$7", "$8"),
    postgres: create!("$7::text", "$8::bigint"),
};

/// $1 owner, $2 lease expiry, $3 now. `calls_seen` records what this segment starts from.
macro_rules! claim_set {
    () => {
        "UPDATE task_runs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         calls_seen = calls_completed, started_at = COALESCE(started_at, $3), updated_at = $3 "
    };
}

/// FIFO by the moment the run became ready; $4 limit.
const CLAIM: Sql = Sql {
    sqlite: concat!(
        claim_set!(),
        "WHERE id IN (SELECT id FROM task_runs WHERE status IN ('pending', 'resumable') \
         ORDER BY ready_at, id LIMIT $4) RETURNING ",
        task_run_columns!()
    ),
    // Sticky routing between hosts: a run whose last segment ran on another live host (it
    // holds the live context) is left to that host; $5 = heartbeats since then count as live.
    // SQLite serves one host, so it needs no such clause.
    postgres: concat!(
        "WITH picked AS (SELECT id FROM task_runs WHERE status IN ('pending', 'resumable') \
         AND (lease_owner IS NULL OR lease_owner = $1 OR NOT EXISTS (SELECT 1 FROM hosts \
         WHERE hosts.id = task_runs.lease_owner AND hosts.heartbeat_at >= $5)) \
         ORDER BY ready_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
        claim_set!(),
        "WHERE id IN (SELECT id FROM picked) RETURNING ",
        task_run_columns!()
    ),
};

/// One given run ($4 id), e.g. by the host that holds its live context.
const CLAIM_ONE: Sql = Sql::same(concat!(
    claim_set!(),
    "WHERE id = $4 AND status IN ('pending', 'resumable') RETURNING ",
    task_run_columns!()
));

/// A new segment at `$N` (milliseconds) unless `$N` is NULL.
macro_rules! new_segment_unless_null {
    (sqlite, $param:literal) => {
        new_segment_if!(concat!($param, " IS NOT NULL"), $param)
    };
    (postgres, $param:literal) => {
        new_segment_if!(
            concat!($param, "::bigint IS NOT NULL"),
            concat!($param, "::bigint")
        )
    };
}

/// $1 id, $2 owner, $3 calls seen by the segment, $4 now, $5 segment ms.
macro_rules! suspend {
    ($backend:tt) => {
        concat!(
            "UPDATE task_runs SET \
             status = CASE WHEN calls_completed > $3 THEN 'resumable' ELSE 'suspended' END, \
             calls_seen = $3, suspended_at = $4, ready_at = $4, updated_at = $4, lease_expires_at = NULL, ",
            new_segment_unless_null!($backend, "$5"),
            " WHERE id = $1 AND status = 'running' AND lease_owner = $2 RETURNING status"
        )
    };
}
pub(super) const SUSPEND: Sql = Sql {
    sqlite: suspend!(sqlite),
    postgres: suspend!(postgres),
};

/// $1 id, $2 owner, $3 status, $4 result, $5 error, $6 now, $7 segment ms.
macro_rules! end_run {
    ($backend:tt) => {
        concat!(
            "UPDATE task_runs SET status = $3, result = $4, error = $5, lease_expires_at = NULL, \
             ended_at = $6, updated_at = $6, ",
            new_segment_unless_null!($backend, "$7"),
            " WHERE id = $1 AND status = 'running' AND lease_owner = $2"
        )
    };
}
const END_RUN: Sql = Sql {
    sqlite: end_run!(sqlite),
    postgres: end_run!(postgres),
};

/// $1 id, $2 now.
const CANCEL: Sql = Sql::same(
    "UPDATE task_runs SET status = 'cancelled', lease_expires_at = NULL, ended_at = $2, \
     updated_at = $2 WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
);

/// Pending calls of an ended run must not run any more. $1 run id, $2 reason, $3 now.
const ABANDON_PENDING_CALLS: Sql = Sql::same(
    "UPDATE stack_runs SET status = 'failed', error = $2, ended_at = $3, updated_at = $3 \
     WHERE task_run_id = $1 AND status = 'pending'",
);

macro_rules! append_only {
    ($backend:tt) => {
        concat!(
            "UPDATE task_runs SET ",
            new_segment_unless_null!($backend, "$2"),
            " WHERE id = $1"
        )
    };
}
pub(super) const APPEND_SEGMENT: Sql = Sql {
    sqlite: append_only!(sqlite),
    postgres: append_only!(postgres),
};

/// $1 run id, $2 JSON array of seqs, $3 segment number. The first delivery is the one recorded.
const MARK_DELIVERED: Sql = Sql {
    sqlite: concat!(
        "UPDATE stack_runs SET delivered_segment = $3 WHERE task_run_id = $1 \
         AND delivered_segment IS NULL AND seq IN ",
        json_int_list!(sqlite, "$2")
    ),
    postgres: concat!(
        "UPDATE stack_runs SET delivered_segment = $3 WHERE task_run_id = $1 \
         AND delivered_segment IS NULL AND seq = ANY(",
        pg_ids!("$2"),
        ")"
    ),
};

impl Store {
    /// Creates a run in `pending` (ready for its first segment).
    pub async fn create_run(&self, run: &NewRun) -> Result<TaskRun> {
        self.insert_run(run, None).await
    }

    /// Creates a run already claimed by `lease.owner`, its first segment starting now (its
    /// one segment time recorded, its journal empty): the caller runs that segment at once.
    pub async fn create_started_run(&self, run: &NewRun, lease: Lease<'_>) -> Result<TaskRun> {
        self.insert_run(run, Some(lease)).await
    }

    async fn insert_run(&self, run: &NewRun, lease: Option<Lease<'_>>) -> Result<TaskRun> {
        let now = self.now();
        let row = sqlx::query(self.sql(&CREATE))
            .bind(run.task_name.as_str())
            .bind(run.code_hash.as_str())
            .bind(run.input.as_str())
            .bind(run.parent_stack_run_id)
            .bind(now)
            .bind(run.scope.as_deref())
            .bind(lease.map(|l| l.owner))
            .bind(lease.map(|l| now.saturating_add(l.duration_ms)))
            .fetch_one(&self.pool)
            .await
            .step("create run")?;
        TaskRun::from_row(&row)
    }

    /// Claims up to `claim.limit` pending or resumable runs (FIFO) with a lease. Each returned run's
    /// `calls_completed` (= `calls_seen`) is the value its segment must pass to [`Store::suspend_run`].
    pub async fn claim_runs(&self, claim: &RunClaim<'_>) -> Result<Vec<TaskRun>> {
        let now = self.now();
        let mut query = sqlx::query(self.sql(&CLAIM))
            .bind(claim.lease.owner)
            .bind(now.saturating_add(claim.lease.duration_ms))
            .bind(now)
            .bind(claim.limit);
        if self.backend() == crate::Backend::Postgres {
            query = query.bind(now.saturating_sub(claim.lease.duration_ms));
        }
        let rows = query.fetch_all(&self.pool).await.step("claim runs")?;
        let mut runs = decode_all(&rows, TaskRun::from_row)?;
        runs.sort_by_key(|run| (run.ready_at, run.id));
        Ok(runs)
    }

    /// Claims one given run if it is pending or resumable (sticky routing: the host holding its live
    /// context takes it back); `None` if it is not ready or someone else got it.
    pub async fn claim_run(&self, run_id: i64, lease: super::Lease<'_>) -> Result<Option<TaskRun>> {
        let now = self.now();
        let row = sqlx::query(self.sql(&CLAIM_ONE))
            .bind(lease.owner)
            .bind(now.saturating_add(lease.duration_ms))
            .bind(now)
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .step("claim run")?;
        row.as_ref().map(TaskRun::from_row).transpose()
    }

    /// Ends a segment that waits on calls: `suspended`, or `resumable` at once if a call settled since
    /// the segment saw `calls_seen` settled calls (so a wake-up during a segment is never lost).
    pub async fn suspend_run(
        &self,
        run_id: i64,
        end: SegmentEnd<'_>,
        calls_seen: i64,
    ) -> Result<SuspendOutcome> {
        let row = sqlx::query(self.sql(&SUSPEND))
            .bind(run_id)
            .bind(end.owner)
            .bind(calls_seen)
            .bind(self.now())
            .bind(end.segment_ms)
            .fetch_optional(&self.pool)
            .await
            .step("suspend run")?;
        let Some(row) = row else {
            return Ok(SuspendOutcome::NotOwner);
        };
        let status: String = row.try_get(0).step("suspend run")?;
        Ok(match status.parse()? {
            TaskRunStatus::Resumable => SuspendOutcome::Resumable,
            _ => SuspendOutcome::Suspended,
        })
    }

    /// Completes a running run held by `end.owner` with `result` (JSON text).
    pub async fn complete_run(
        &self,
        run_id: i64,
        end: SegmentEnd<'_>,
        result: &str,
    ) -> Result<EndOutcome> {
        let completed = (TaskRunStatus::Completed, Some(result), None);
        let affected = end_run_query(self, run_id, end, completed, self.now())
            .execute(&self.pool)
            .await
            .step("complete run")?
            .rows_affected();
        Ok(ended_if(affected))
    }

    /// Fails a running run held by `end.owner` with `error`; its pending calls fail with "run failed".
    pub async fn fail_run(
        &self,
        run_id: i64,
        end: SegmentEnd<'_>,
        error: &str,
    ) -> Result<EndOutcome> {
        const STEP: &str = "fail run";
        let now = self.now();
        let mut tx = self.begin_write(STEP).await?;
        let run = (run_id, end.owner);
        let failed = TaskRunStatus::Failed;
        let ended = end_run_in(
            self,
            &mut tx,
            run,
            failed,
            (None, Some(error)),
            end.segment_ms,
            now,
        )
        .await?;
        if !ended {
            return Ok(EndOutcome::NotOwner);
        }
        tx.commit().await.step(STEP)?;
        Ok(EndOutcome::Ended)
    }

    /// Cancels a run in any non-terminal state; its pending calls fail with "run cancelled" (calls
    /// being processed finish, but their results no longer wake the run). False if already ended.
    pub async fn cancel_run(&self, run_id: i64) -> Result<bool> {
        const STEP: &str = "cancel run";
        let now = self.now();
        let mut tx = self.begin_write(STEP).await?;
        let affected = sqlx::query(self.sql(&CANCEL))
            .bind(run_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?
            .rows_affected();
        if affected == 0 {
            return Ok(false);
        }
        sqlx::query(self.sql(&ABANDON_PENDING_CALLS))
            .bind(run_id)
            .bind("run cancelled")
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?;
        tx.commit().await.step(STEP)?;
        Ok(true)
    }

    /// Logs the start of the run's next segment at `segment_ms` (ms since the epoch).
    pub async fn append_segment_time(&self, run_id: i64, segment_ms: i64) -> Result<()> {
        sqlx::query(self.sql(&APPEND_SEGMENT))
            .bind(run_id)
            .bind(segment_ms)
            .execute(&self.pool)
            .await
            .step("append segment time")?;
        Ok(())
    }

    /// Records one delivery atomically: the results of calls `seqs` go to segment `segment`
    /// (first delivery only) and a new segment is logged at `segment_ms` as that segment's
    /// time. One transaction, so a crash can never leave a delivered segment without its time.
    pub async fn record_delivery(
        &self,
        run_id: i64,
        seqs: &[i64],
        segment: i64,
        segment_ms: i64,
    ) -> Result<()> {
        const STEP: &str = "record delivery";
        let mut tx = self.begin_write(STEP).await?;
        sqlx::query(self.sql(&MARK_DELIVERED))
            .bind(run_id)
            .bind(json_list(seqs))
            .bind(segment)
            .execute(&mut *tx)
            .await
            .step(STEP)?;
        sqlx::query(self.sql(&APPEND_SEGMENT))
            .bind(run_id)
            .bind(segment_ms)
            .execute(&mut *tx)
            .await
            .step(STEP)?;
        tx.commit().await.step(STEP)?;
        Ok(())
    }

    /// Records that the results of calls `seqs` were handed to the task in segment `segment` (first
    /// delivery only); returns how many rows changed.
    pub async fn mark_delivered(&self, run_id: i64, seqs: &[i64], segment: i64) -> Result<u64> {
        Ok(sqlx::query(self.sql(&MARK_DELIVERED))
            .bind(run_id)
            .bind(json_list(seqs))
            .bind(segment)
            .execute(&self.pool)
            .await
            .step("mark calls delivered")?
            .rows_affected())
    }
}

/// Ends `run_id` (running under `owner`) inside `tx` as `status` with `result` or `error`; a
/// failed run's pending calls fail with it. False when `owner` does not hold the run.
pub(super) async fn end_run_in(
    store: &Store,
    tx: &mut sqlx::AnyConnection,
    (run_id, owner): (i64, &str),
    status: TaskRunStatus,
    (result, error): (Option<&str>, Option<&str>),
    segment_ms: Option<i64>,
    now: i64,
) -> Result<bool> {
    const STEP: &str = "end run";
    let end = SegmentEnd { owner, segment_ms };
    let affected = end_run_query(store, run_id, end, (status, result, error), now)
        .execute(&mut *tx)
        .await
        .step(STEP)?
        .rows_affected();
    if affected > 0 && status == TaskRunStatus::Failed {
        sqlx::query(store.sql(&ABANDON_PENDING_CALLS))
            .bind(run_id)
            .bind("run failed")
            .bind(now)
            .execute(&mut *tx)
            .await
            .step(STEP)?;
    }
    Ok(affected > 0)
}

/// [`END_RUN`] with its parameters bound: `run_id` held by `end.owner` ends as
/// `(status, result, error)`.
fn end_run_query<'a>(
    store: &Store,
    run_id: i64,
    end: SegmentEnd<'a>,
    (status, result, error): (TaskRunStatus, Option<&'a str>, Option<&'a str>),
    now: i64,
) -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(store.sql(&END_RUN))
        .bind(run_id)
        .bind(end.owner)
        .bind(status.as_str())
        .bind(result)
        .bind(error)
        .bind(now)
        .bind(end.segment_ms)
}

fn ended_if(affected: u64) -> EndOutcome {
    if affected == 0 {
        EndOutcome::NotOwner
    } else {
        EndOutcome::Ended
    }
}
