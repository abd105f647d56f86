//! The queue: every state change of task runs and stack runs, one atomic function each (a single
//! statement or one transaction), on both backends. See [`crate::status`] for the state machine.
//!
//! * [`calls`](self): enqueue (idempotent on `(task_run_id, seq)`), enqueue-and-claim, claim (FIFO,
//!   capability-aware, leased: `UPDATE ... RETURNING` on SQLite, `FOR UPDATE SKIP LOCKED` on PostgreSQL).
//! * settle: complete / fail / retry a call; only the lease owner may, and settling wakes the run.
//! * handoff: group completion that also takes over the runs it wakes (their live context is here).
//! * journal_batch: segment ends and completions mixed in one transaction (the engine's writer).
//! * runs: create, claim, suspend (never losing a wake-up), complete, fail, cancel, segment bookkeeping.
//! * leases: renew, release (graceful drain), reclaim expired.
//!
//! Must not: run task code, call plugins, or sleep; callers decide policy (backoff, deadlines).

mod call_set;
mod calls;
mod handoff;
mod journal_batch;
mod leases;
mod resumed;
mod runs;
mod segment_end;
mod settle;

pub use handoff::{Completed, Completion, HandOff};
pub use journal_batch::{JournalWrite, JournalWritten};
pub use resumed::{Resumed, ResumedWritten, SegmentDid};
pub use segment_end::{SuspendWithCalls, Suspended};

use crate::TaskRunStatus;

/// A host call to record in a run's journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCall {
    /// Call number within the run; `(task_run_id, seq)` is unique.
    pub seq: i64,
    pub service: String,
    pub method: String,
    /// Arguments, JSON text.
    pub args: String,
    pub args_hash: String,
    pub max_attempts: i64,
    pub parent_stack_run_id: Option<i64>,
}

/// A row returned by enqueueing: `inserted` is false when the seq already existed (the existing row is
/// returned unchanged, never a duplicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub call: crate::StackRun,
    pub inserted: bool,
}

/// Who takes a lease and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub duration_ms: i64,
}

/// Parameters of [`crate::Store::claim_calls`].
#[derive(Clone, Copy, Debug)]
pub struct CallClaim<'a> {
    pub lease: Lease<'a>,
    /// At most this many calls.
    pub limit: i64,
    /// Only calls to these services (the ones this host serves); `None` = any service.
    pub services: Option<&'a [String]>,
}

/// Parameters of [`crate::Store::claim_runs`].
#[derive(Clone, Copy, Debug)]
pub struct RunClaim<'a> {
    pub lease: Lease<'a>,
    pub limit: i64,
}

/// Which of an owner's leases an operation touches.
#[derive(Clone, Copy, Debug)]
pub enum LeaseScope<'a> {
    /// Every row the owner holds.
    All,
    /// Only these ids (stack run ids or task run ids, by function).
    Ids(&'a [i64]),
}

/// The run a settled call belongs to, after the settlement (after the whole batch, for a
/// batched completion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunWake {
    pub task_run_id: i64,
    /// `Resumable` when this settlement woke a suspended run (notify a worker); otherwise unchanged.
    pub run_status: TaskRunStatus,
    pub calls_completed: i64,
}

/// Outcome of completing or failing a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The result (or error) is now the journal entry.
    Settled(RunWake),
    /// Refused: the call is not `processing` under this owner (lease lost or already settled).
    NotOwner,
}

/// Outcome of [`crate::Store::retry_call`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Back to pending, claimable from `ready_at`.
    Scheduled {
        ready_at: i64,
    },
    NotOwner,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub task_name: String,
    pub code_hash: String,
    /// Input, JSON text.
    pub input: String,
    pub parent_stack_run_id: Option<i64>,
    /// The submitter's API token scope (`read` | `execute` | `admin`), checked against the
    /// run's host calls. None: authentication is off, or (for a child run) inherit the
    /// scope of the run that made the parent call.
    pub scope: Option<String>,
}

impl NewRun {
    /// A top-level run (no parent call).
    pub fn new(task_name: &str, code_hash: &str, input: &str) -> Self {
        Self {
            task_name: task_name.to_owned(),
            code_hash: code_hash.to_owned(),
            input: input.to_owned(),
            parent_stack_run_id: None,
            scope: None,
        }
    }
}

/// Who ends a segment, and the time of a new segment to log with it (when given).
#[derive(Clone, Copy, Debug)]
pub struct SegmentEnd<'a> {
    pub owner: &'a str,
    pub segment_ms: Option<i64>,
}

/// Outcome of [`crate::Store::suspend_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendOutcome {
    /// Waiting on calls.
    Suspended,
    /// A call settled during the segment: ready for the next segment at once.
    Resumable,
    /// Refused: the run is not `running` under this owner (lease lost, or cancelled).
    NotOwner,
}

/// Outcome of completing or failing a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndOutcome {
    Ended,
    /// Refused: the run is not `running` under this owner (lease lost, or cancelled).
    NotOwner,
}

/// How many rows went back to the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub calls: u64,
    pub runs: u64,
}

/// The stable idempotency key of call `seq` of run `task_run_id` (same across retries and hosts).
pub fn idempotency_key(task_run_id: i64, seq: i64) -> String {
    format!("run-{task_run_id}-call-{seq}")
}
