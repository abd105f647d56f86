//! Row types of `task_runs` and `stack_runs` and their decoding from Any rows.
//!
//! Plain data: no queries here. JSON payloads (input, args, result) stay opaque JSON text.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StepExt;
use crate::{Result, StackRunStatus, TaskRunStatus};

/// One task run (`task_runs` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRun {
    pub id: i64,
    pub task_name: String,
    /// Hash of the code the run started with (replay must use the same code).
    pub code_hash: String,
    /// Input, JSON text.
    pub input: String,
    pub status: TaskRunStatus,
    /// Result, JSON text, once completed.
    pub result: Option<String>,
    pub error: Option<String>,
    /// The `tasks.execute` stack run that started this run, for nested tasks.
    pub parent_stack_run_id: Option<i64>,
    /// Holder of the lease while running; afterwards the host that ran the last segment.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// Calls of this run that settled (completed or failed terminally); bumped with each settlement.
    pub calls_completed: i64,
    /// `calls_completed` as seen by the current (or last) segment when it was claimed or suspended.
    pub calls_seen: i64,
    /// Segments started so far (their start times are in `run_segments`, see
    /// [`crate::Store::segment_times`]).
    pub segment_count: i64,
    /// Start time of the latest segment (ms since the epoch): its `Date.now()`.
    pub last_segment_at: Option<i64>,
    /// When it last became ready (created, or woken up); orders ready runs FIFO.
    pub ready_at: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub suspended_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub updated_at: i64,
}

impl TaskRun {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        let status: String = row.try_get(4).step("decode task run")?;
        Ok(Self {
            id: row.try_get(0).step("decode task run")?,
            task_name: row.try_get(1).step("decode task run")?,
            code_hash: row.try_get(2).step("decode task run")?,
            input: row.try_get(3).step("decode task run")?,
            status: status.parse()?,
            result: row.try_get(5).step("decode task run")?,
            error: row.try_get(6).step("decode task run")?,
            parent_stack_run_id: row.try_get(7).step("decode task run")?,
            lease_owner: row.try_get(8).step("decode task run")?,
            lease_expires_at: row.try_get(9).step("decode task run")?,
            calls_completed: row.try_get(10).step("decode task run")?,
            calls_seen: row.try_get(11).step("decode task run")?,
            segment_count: row.try_get(12).step("decode task run")?,
            last_segment_at: row.try_get(13).step("decode task run")?,
            ready_at: row.try_get(14).step("decode task run")?,
            created_at: row.try_get(15).step("decode task run")?,
            started_at: row.try_get(16).step("decode task run")?,
            suspended_at: row.try_get(17).step("decode task run")?,
            ended_at: row.try_get(18).step("decode task run")?,
            updated_at: row.try_get(19).step("decode task run")?,
        })
    }
}

/// One host call of a run (`stack_runs` row): its journal entry, number `seq` within the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackRun {
    pub id: i64,
    pub task_run_id: i64,
    pub parent_stack_run_id: Option<i64>,
    /// Call sequence number within the run (0-based or 1-based: the caller's choice, unique per run).
    pub seq: i64,
    pub service: String,
    pub method: String,
    /// Arguments, JSON text.
    pub args: String,
    pub args_hash: String,
    /// Stable across retries and hosts: `run-<task_run_id>-call-<seq>`.
    pub idempotency_key: String,
    pub status: StackRunStatus,
    /// Result, JSON text, once completed.
    pub result: Option<String>,
    /// Last error (kept on retry, final on failure).
    pub error: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub ready_at: i64,
    /// Holder of the lease while processing; afterwards the host that executed the last attempt.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// Segment number in which the result was handed to the task, once delivered.
    pub delivered_segment: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub updated_at: i64,
}

impl StackRun {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        let status: String = row.try_get(9).step("decode stack run")?;
        Ok(Self {
            id: row.try_get(0).step("decode stack run")?,
            task_run_id: row.try_get(1).step("decode stack run")?,
            parent_stack_run_id: row.try_get(2).step("decode stack run")?,
            seq: row.try_get(3).step("decode stack run")?,
            service: row.try_get(4).step("decode stack run")?,
            method: row.try_get(5).step("decode stack run")?,
            args: row.try_get(6).step("decode stack run")?,
            args_hash: row.try_get(7).step("decode stack run")?,
            idempotency_key: row.try_get(8).step("decode stack run")?,
            status: status.parse()?,
            result: row.try_get(10).step("decode stack run")?,
            error: row.try_get(11).step("decode stack run")?,
            attempts: row.try_get(12).step("decode stack run")?,
            max_attempts: row.try_get(13).step("decode stack run")?,
            ready_at: row.try_get(14).step("decode stack run")?,
            lease_owner: row.try_get(15).step("decode stack run")?,
            lease_expires_at: row.try_get(16).step("decode stack run")?,
            delivered_segment: row.try_get(17).step("decode stack run")?,
            created_at: row.try_get(18).step("decode stack run")?,
            started_at: row.try_get(19).step("decode stack run")?,
            ended_at: row.try_get(20).step("decode stack run")?,
            updated_at: row.try_get(21).step("decode stack run")?,
        })
    }
}

/// Decodes every row with `decode`.
pub(crate) fn decode_all<T>(rows: &[AnyRow], decode: fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}
