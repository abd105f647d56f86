//! Settling a call: complete, fail (terminal) or retry. Only the lease owner of a `processing` call
//! may settle it, so the journal never holds two results; settling wakes the run in the same
//! transaction (SQLite) or statement (PostgreSQL).

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row};

use super::{CallOutcome, RetryOutcome, RunWake};
use crate::error::StepExt;
use crate::sql::Sql;
use crate::{Backend, Result, StackRunStatus, Store};

/// $1 id, $2 owner, $3 status, $4 result, $5 error, $6 now.
macro_rules! settle_call {
    () => {
        "UPDATE stack_runs SET status = $3, result = $4, error = $5, lease_expires_at = NULL, \
         ended_at = $6, updated_at = $6 \
         WHERE id = $1 AND status = 'processing' AND lease_owner = $2"
    };
}

/// Counts the settlement on the run and wakes it if it was waiting. ready_at changes only on the
/// wake-up, because it orders ready runs (FIFO). $N = now.
macro_rules! wake_run {
    ($now:literal) => {
        concat!(
            "UPDATE task_runs SET calls_completed = calls_completed + 1, \
             status = CASE WHEN status = 'suspended' THEN 'resumable' ELSE status END, \
             ready_at = CASE WHEN status = 'suspended' THEN ",
            $now,
            " ELSE ready_at END, updated_at = ",
            $now,
            " "
        )
    };
}

const SETTLE_SQLITE_CALL: &str = concat!(settle_call!(), " RETURNING task_run_id");
const WAKE_SQLITE_RUN: &str = concat!(
    wake_run!("$2"),
    "WHERE id = $1 RETURNING id, status, calls_completed"
);
const SETTLE_POSTGRES: &str = concat!(
    "WITH settled AS (",
    settle_call!(),
    " RETURNING task_run_id) ",
    wake_run!("$6"),
    "WHERE id = (SELECT task_run_id FROM settled) RETURNING id, status, calls_completed"
);

/// $1 id, $2 owner, $3 ready_at, $4 error, $5 now.
const RETRY: Sql = Sql::same(
    "UPDATE stack_runs SET status = 'pending', ready_at = $3, error = $4, lease_owner = NULL, \
     lease_expires_at = NULL, updated_at = $5 \
     WHERE id = $1 AND status = 'processing' AND lease_owner = $2 RETURNING ready_at",
);

impl Store {
    /// Journals `result` (JSON text) for call `call_id` if `owner` holds its lease; bumps the run's
    /// `calls_completed` and wakes it (suspended → resumable) atomically.
    pub async fn complete_call(
        &self,
        call_id: i64,
        owner: &str,
        result: &str,
    ) -> Result<CallOutcome> {
        self.settle(
            call_id,
            owner,
            StackRunStatus::Completed,
            Some(result),
            None,
        )
        .await
    }

    /// Fails call `call_id` for good (no more retries) with `error`, like [`Store::complete_call`].
    pub async fn fail_call(&self, call_id: i64, owner: &str, error: &str) -> Result<CallOutcome> {
        self.settle(call_id, owner, StackRunStatus::Failed, None, Some(error))
            .await
    }

    /// Puts call `call_id` back to pending after a retryable failure: claimable again from
    /// now + `backoff_ms`, `error` kept for inspection, attempts unchanged (the next claim counts).
    pub async fn retry_call(
        &self,
        call_id: i64,
        owner: &str,
        error: &str,
        backoff_ms: i64,
    ) -> Result<RetryOutcome> {
        let now = self.now();
        let row = sqlx::query(self.sql(&RETRY))
            .bind(call_id)
            .bind(owner)
            .bind(now.saturating_add(backoff_ms.max(0)))
            .bind(error)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .step("retry call")?;
        Ok(match row {
            Some(row) => RetryOutcome::Scheduled {
                ready_at: row.try_get(0).step("retry call")?,
            },
            None => RetryOutcome::NotOwner,
        })
    }

    /// Journals several results of `owner`'s calls in one transaction (one commit instead of one per
    /// call); each entry gets its own outcome, as [`Store::complete_call`] would give it.
    pub async fn complete_calls(
        &self,
        owner: &str,
        results: &[(i64, &str)],
    ) -> Result<Vec<CallOutcome>> {
        let completions: Vec<super::Completion<'_>> = results
            .iter()
            .map(|&(call_id, result)| super::Completion {
                segment_at: None,
                call_id,
                result,
                hand_off: false,
            })
            .collect();
        let done = self
            .complete_calls_handing_off(owner, 0, &completions)
            .await?;
        Ok(done.into_iter().map(|c| c.outcome).collect())
    }

    async fn settle(
        &self,
        call_id: i64,
        owner: &str,
        status: StackRunStatus,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<CallOutcome> {
        const STEP: &str = "settle call";
        let settlement = Settlement {
            call_id,
            owner,
            status,
            result,
            error,
            now: self.now(),
        };
        let row = match self.backend() {
            // One statement: atomic without an explicit transaction.
            Backend::Postgres => bind_settlement(sqlx::query(SETTLE_POSTGRES), &settlement)
                .fetch_optional(&self.pool)
                .await
                .step(STEP)?,
            Backend::Sqlite => {
                let mut tx = self.begin_write(STEP).await?;
                let row = settle_in(&mut tx, Backend::Sqlite, &settlement).await?;
                if row.is_some() {
                    tx.commit().await.step(STEP)?;
                }
                // Otherwise dropping the transaction rolls it back; nothing was written.
                row
            }
        };
        outcome(row)
    }
}

/// One call settlement.
struct Settlement<'a> {
    call_id: i64,
    owner: &'a str,
    status: StackRunStatus,
    result: Option<&'a str>,
    error: Option<&'a str>,
    now: i64,
}

fn bind_settlement<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    settlement: &Settlement<'_>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    query
        .bind(settlement.call_id)
        .bind(settlement.owner.to_owned())
        .bind(settlement.status.as_str())
        .bind(settlement.result.map(str::to_owned))
        .bind(settlement.error.map(str::to_owned))
        .bind(settlement.now)
}

/// Settles one call inside the caller's transaction; the run's (id, status, calls_completed) row, or
/// `None` when the caller does not own the call (nothing written).
async fn settle_in(
    conn: &mut AnyConnection,
    backend: Backend,
    settlement: &Settlement<'_>,
) -> Result<Option<AnyRow>> {
    const STEP: &str = "settle call";
    if backend == Backend::Postgres {
        return bind_settlement(sqlx::query(SETTLE_POSTGRES), settlement)
            .fetch_optional(&mut *conn)
            .await
            .step(STEP);
    }
    let settled = bind_settlement(sqlx::query(SETTLE_SQLITE_CALL), settlement)
        .fetch_optional(&mut *conn)
        .await
        .step(STEP)?;
    let Some(settled) = settled else {
        return Ok(None);
    };
    let task_run_id: i64 = settled.try_get(0).step(STEP)?;
    sqlx::query(WAKE_SQLITE_RUN)
        .bind(task_run_id)
        .bind(settlement.now)
        .fetch_optional(&mut *conn)
        .await
        .step(STEP)
}

fn outcome(row: Option<AnyRow>) -> Result<CallOutcome> {
    const STEP: &str = "settle call";
    let Some(row) = row else {
        return Ok(CallOutcome::NotOwner);
    };
    let run_status: String = row.try_get(1).step(STEP)?;
    Ok(CallOutcome::Settled(RunWake {
        task_run_id: row.try_get(0).step(STEP)?,
        run_status: run_status.parse()?,
        calls_completed: row.try_get(2).step(STEP)?,
    }))
}
