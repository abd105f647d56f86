//! The sandbox's public data types: segment requests, deliveries, host-call records and outcomes.
//! Plain serialisable data only; nothing here touches the engine, a database or the network.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits::LimitKind;

/// Identifies one task run; the executor pins a run to one thread by this id.
pub type RunId = i64;

/// A host call the task issued, as the journal remembers it (enough to detect divergence on replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCall {
    /// Position of the call within the run, counting from 0.
    pub seq: u64,
    /// Service name, e.g. `"keystore"`.
    pub service: String,
    /// Method path joined with `.`, e.g. `"admin.users.list"`.
    pub method: String,
    /// [`crate::args_hash`] of the call's JSON arguments.
    pub args_hash: String,
}

/// A host call parked by the task in this segment: the caller must execute it and deliver its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedCall {
    /// Position of the call within the run, counting from 0.
    pub seq: u64,
    /// Service name.
    pub service: String,
    /// Method path joined with `.`.
    pub method: String,
    /// The call's arguments as JSON (an array for positional arguments, or an object).
    pub args: Value,
    /// [`crate::args_hash`] of `args`, to store in the journal.
    pub args_hash: String,
}

impl ParkedCall {
    /// The journal form of this call.
    pub fn to_issued(&self) -> IssuedCall {
        IssuedCall {
            seq: self.seq,
            service: self.service.clone(),
            method: self.method.clone(),
            args_hash: self.args_hash.clone(),
        }
    }
}

/// A host call that failed (after the caller's retry policy): rejects the task's promise with an `Error`
/// whose `message`, `code`, `service` and `method` are these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCallError {
    /// Machine-readable code, e.g. `"TIMEOUT"` or `"NOT_FOUND"`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Service that was called.
    pub service: String,
    /// Method path that was called.
    pub method: String,
}

/// The result of one host call, as delivered to the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// The call succeeded; the promise resolves with this value.
    Ok(Value),
    /// The call failed; the promise rejects with an `Error` built from this.
    Err(HostCallError),
}

/// One result inside a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredResult {
    /// Which call this answers.
    pub seq: u64,
    /// Its result.
    pub result: CallResult,
}

/// A batch of results handed to the task at once; the task's clock reads `segment_time_ms` while it runs
/// on. Replay applies the same deliveries in the same order, so the task sees identical values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Milliseconds since the Unix epoch that `Date.now()` returns during the segment this starts.
    pub segment_time_ms: i64,
    /// Results, applied in this order before the job queue runs.
    pub results: Vec<DeliveredResult>,
}

/// Everything needed to start a run, or to rebuild it by replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentRequest {
    /// The run.
    pub run_id: RunId,
    /// Task name (used in messages and log context).
    pub task_name: String,
    /// Task source code (CommonJS, ES module or plain script).
    #[serde(with = "shared_str")]
    pub code: Arc<str>,
    /// The single argument passed to the handler.
    pub input: Value,
    /// Seed for `Math.random()` and `crypto.randomUUID()`; keep it per run.
    pub seed: u64,
    /// `Date.now()` during the first segment.
    pub start_time_ms: i64,
    /// Journal: calls issued so far, in seq order (empty for a fresh start).
    pub issued: Vec<IssuedCall>,
    /// Journal: deliveries applied so far, in order (empty for a fresh start).
    pub deliveries: Vec<Delivery>,
}

/// How a run stands after a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The handler's promise fulfilled with `result` (`undefined` becomes `null`).
    Completed {
        /// The task's return value as JSON.
        result: Value,
    },
    /// The run failed; it will not make progress again.
    Failed(TaskFailure),
    /// The task waits on host calls. `new_calls` were issued in this segment and must be executed;
    /// `outstanding` lists every call still unanswered (including earlier ones).
    Suspended {
        /// Calls issued in this segment, in seq order.
        new_calls: Vec<ParkedCall>,
        /// Seqs of all calls still awaiting a result.
        outstanding: Vec<u64>,
    },
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The category of failure.
    pub kind: FailureKind,
    /// A message for people, e.g. `"Error: no such user"`.
    pub message: String,
    /// The JavaScript stack when known.
    pub stack: Option<String>,
}

/// Categories of run failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The task threw (or its promise rejected) and did not catch it.
    Threw,
    /// The code could not be compiled or has no handler.
    InvalidTask,
    /// The handler's promise is pending and nothing can ever settle it.
    NeverSettles,
    /// Replay made a different call than the journal holds.
    Divergence,
    /// A sandbox limit was exceeded.
    Limit(LimitKind),
    /// The handler's result could not be converted to JSON.
    ResultNotJson,
    /// The engine reported an internal error.
    Engine,
}

/// Console level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// `console.debug` / `console.trace`.
    Debug,
    /// `console.log` / `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
}

/// One console line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Level.
    pub level: LogLevel,
    /// Formatted message (arguments joined by spaces, objects as JSON).
    pub message: String,
    /// Wall-clock time the line was written, ms since the Unix epoch.
    pub time_ms: i64,
}

/// The result of running a segment: the run's state plus the console lines of this segment
/// (lines written during the replayed part of a replay are not repeated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOutcome {
    /// The run's state.
    pub outcome: RunOutcome,
    /// Console lines written in this segment.
    pub logs: Vec<LogLine>,
}

/// Serde for `Arc<str>` without serde's `rc` feature (the worker pipe carries task code).
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Arc<str>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }
}
