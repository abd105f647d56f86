//! Read-only helpers over runs and calls: one run, recent runs (keyset pages), a run's journal and
//! segment times, counts by status, queue depth and age. Nothing here changes a row.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::error::StepExt;
use crate::model::decode_all;
use crate::sql::{Sql, stack_run_columns, task_run_columns};
use crate::{Result, StackRun, StackRunStatus, Store, TaskRun, TaskRunStatus};

const GET_RUN: Sql = Sql::same(concat!(
    "SELECT ",
    task_run_columns!(),
    " FROM task_runs WHERE id = $1"
));
const RUN_SCOPE: Sql = Sql::same("SELECT scope FROM task_runs WHERE id = $1");
const LIST_RUNS: Sql = Sql::same(concat!(
    "SELECT ",
    task_run_columns!(),
    " FROM task_runs WHERE id < $1 ORDER BY id DESC LIMIT $2"
));
const CHILD_RUN: Sql = Sql::same(concat!(
    "SELECT ",
    task_run_columns!(),
    " FROM task_runs WHERE parent_stack_run_id = $1 ORDER BY id LIMIT 1"
));
const JOURNAL: Sql = Sql::same(concat!(
    "SELECT ",
    stack_run_columns!(),
    " FROM stack_runs WHERE task_run_id = $1 ORDER BY seq"
));
const SEGMENT_TIMES: Sql =
    Sql::same("SELECT started_at FROM run_segments WHERE task_run_id = $1 ORDER BY idx");
const UNDELIVERED: Sql = Sql::same(concat!(
    "SELECT ",
    stack_run_columns!(),
    " FROM stack_runs WHERE task_run_id = $1 AND delivered_segment IS NULL \
     AND status IN ('completed', 'failed') ORDER BY seq"
));
const GET_CALL: Sql = Sql::same(concat!(
    "SELECT ",
    stack_run_columns!(),
    " FROM stack_runs WHERE id = $1"
));
const RUN_COUNTS: Sql = Sql::same("SELECT status, COUNT(*) FROM task_runs GROUP BY status");
const CALL_COUNTS: Sql = Sql::same("SELECT status, COUNT(*) FROM stack_runs GROUP BY status");
const PENDING_BY_SERVICE: Sql = Sql::same(
    "SELECT service, COUNT(*) FROM stack_runs WHERE status = 'pending' GROUP BY service ORDER BY service",
);
const OLDEST_READY: Sql = Sql::same(
    "SELECT ready_at FROM stack_runs WHERE status = 'pending' AND ready_at <= $1 \
     ORDER BY ready_at, id LIMIT 1",
);

/// A page of [`Store::list_runs`]: newest first, ids below `before_id` (the last id of the previous page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPage {
    pub limit: i64,
    pub before_id: Option<i64>,
}

impl Store {
    /// One run by id.
    pub async fn get_run(&self, run_id: i64) -> Result<Option<TaskRun>> {
        let row = sqlx::query(self.sql(&GET_RUN))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .step("get run")?;
        row.as_ref().map(TaskRun::from_row).transpose()
    }

    /// The API token scope a run was submitted with (None: unknown run, or submitted while
    /// authentication was off).
    pub async fn run_scope(&self, run_id: i64) -> Result<Option<String>> {
        let row = sqlx::query(self.sql(&RUN_SCOPE))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .step("read run scope")?;
        match row {
            Some(row) => row.try_get::<Option<String>, _>(0).step("read run scope"),
            None => Ok(None),
        }
    }

    /// Runs newest first, one page at a time.
    pub async fn list_runs(&self, page: RunPage) -> Result<Vec<TaskRun>> {
        let rows = sqlx::query(self.sql(&LIST_RUNS))
            .bind(page.before_id.unwrap_or(i64::MAX))
            .bind(page.limit)
            .fetch_all(&self.pool)
            .await
            .step("list runs")?;
        decode_all(&rows, TaskRun::from_row)
    }

    /// The child run started by call `parent_stack_run_id` (a `tasks.execute` call), if any.
    pub async fn child_run(&self, parent_stack_run_id: i64) -> Result<Option<TaskRun>> {
        let row = sqlx::query(self.sql(&CHILD_RUN))
            .bind(parent_stack_run_id)
            .fetch_optional(&self.pool)
            .await
            .step("get child run")?;
        row.as_ref().map(TaskRun::from_row).transpose()
    }

    /// A run's journal: all its calls ordered by seq.
    pub async fn journal(&self, run_id: i64) -> Result<Vec<StackRun>> {
        let rows = sqlx::query(self.sql(&JOURNAL))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .step("read journal")?;
        decode_all(&rows, StackRun::from_row)
    }

    /// Start time of each of a run's segments (ms since the epoch), in order: segment k's
    /// `Date.now()`, which a replay must reproduce.
    pub async fn segment_times(&self, run_id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(self.sql(&SEGMENT_TIMES))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .step("read segment times")?;
        rows.iter()
            .map(|row| row.try_get(0).step("read segment times"))
            .collect()
    }

    /// A run's settled calls not yet delivered to a segment, ordered by seq: what a live
    /// resume needs, without reading the whole journal.
    pub async fn undelivered_calls(&self, run_id: i64) -> Result<Vec<StackRun>> {
        let rows = sqlx::query(self.sql(&UNDELIVERED))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .step("read undelivered calls")?;
        decode_all(&rows, StackRun::from_row)
    }

    /// One call by id.
    pub async fn get_call(&self, call_id: i64) -> Result<Option<StackRun>> {
        let row = sqlx::query(self.sql(&GET_CALL))
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await
            .step("get call")?;
        row.as_ref().map(StackRun::from_row).transpose()
    }

    /// Number of runs in each status (every status present, zero included).
    pub async fn run_counts(&self) -> Result<BTreeMap<TaskRunStatus, i64>> {
        let mut counts: BTreeMap<TaskRunStatus, i64> =
            TaskRunStatus::ALL.into_iter().map(|s| (s, 0)).collect();
        for (status, count) in self.grouped_counts(&RUN_COUNTS, "count runs").await? {
            counts.insert(status.parse()?, count);
        }
        Ok(counts)
    }

    /// Number of calls in each status (every status present, zero included). Scans `stack_runs`.
    pub async fn call_counts(&self) -> Result<BTreeMap<StackRunStatus, i64>> {
        let mut counts: BTreeMap<StackRunStatus, i64> =
            StackRunStatus::ALL.into_iter().map(|s| (s, 0)).collect();
        for (status, count) in self.grouped_counts(&CALL_COUNTS, "count calls").await? {
            counts.insert(status.parse()?, count);
        }
        Ok(counts)
    }

    /// Pending calls per service (queue depth), by service name.
    pub async fn pending_calls_by_service(&self) -> Result<Vec<(String, i64)>> {
        self.grouped_counts(&PENDING_BY_SERVICE, "count pending calls")
            .await
    }

    /// How long the oldest ready call has been waiting (ms), if any is ready.
    pub async fn oldest_ready_age_ms(&self) -> Result<Option<i64>> {
        let now = self.now();
        let row = sqlx::query(self.sql(&OLDEST_READY))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .step("oldest ready call")?;
        let Some(row) = row else { return Ok(None) };
        let ready_at: i64 = row.try_get(0).step("oldest ready call")?;
        Ok(Some(now - ready_at))
    }

    async fn grouped_counts(&self, sql: &Sql, step: &'static str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(self.sql(sql))
            .fetch_all(&self.pool)
            .await
            .step(step)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0).step(step)?, row.try_get(1).step(step)?)))
            .collect()
    }
}
