//! Per-run host state kept in the boa context's host data: call numbering, parked promises, the
//! journal being replayed, the PRNG, captured console lines and the poison flag set by limits.
//! Only plain data and engine handles; no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use boa_engine::JsObject;
use boa_engine::builtins::promise::ResolvingFunctions;
use boa_engine::object::builtins::JsFunction;
use boa_engine::{Context, JsNativeError, JsResult};

use crate::limits::{LimitKind, SandboxLimits};
use crate::model::{FailureKind, IssuedCall, LogLine, ParkedCall, TaskFailure};
use crate::rng::SeededRng;

/// Host data of one run's context.
pub(crate) struct HostState {
    pub(crate) limits: Arc<SandboxLimits>,
    /// The next call's seq.
    pub(crate) next_seq: u64,
    /// Promises of calls still waiting for a result, by seq.
    pub(crate) parked: BTreeMap<u64, ResolvingFunctions>,
    /// Calls issued in the current segment that the caller has not seen yet.
    pub(crate) new_calls: Vec<ParkedCall>,
    /// Journal being replayed: calls with seq below its length must match it.
    pub(crate) journal: Vec<IssuedCall>,
    /// True while replaying journaled deliveries: an unjournaled call then means divergence.
    pub(crate) replaying: bool,
    /// JSON bytes of arguments and results so far.
    pub(crate) journal_bytes: u64,
    pub(crate) rng: SeededRng,
    /// The original `JSON.stringify`, captured before task code runs (tasks may overwrite the global).
    pub(crate) json_stringify: JsFunction,
    /// Console lines of the current segment.
    pub(crate) logs: Vec<LogLine>,
    /// Console lines of the whole run, counted even while replaying (so the limit is deterministic).
    pub(crate) log_count: u64,
    /// Console bytes of the whole run (after per-line truncation), counted like `log_count`.
    pub(crate) log_bytes: u64,
    /// Replayed segments do not report their console lines again.
    pub(crate) suppress_logs: bool,
    /// Set when the run must fail whatever the task does next (limits, divergence).
    pub(crate) fatal: Option<TaskFailure>,
    /// The `tools` proxy, once the task first used it (see `globals.rs`).
    pub(crate) tools: Option<JsObject>,
}

impl HostState {
    pub(crate) fn get(ctx: &mut Context) -> JsResult<&mut HostState> {
        ctx.host_defined_mut()
            .get_mut::<HostState>()
            .ok_or_else(|| {
                JsNativeError::error()
                    .with_message("sandbox host state is missing")
                    .into()
            })
    }

    /// Marks the run as failed for `kind` and returns the error to throw at the call site (the
    /// task may catch it, but the run fails anyway).
    pub(crate) fn poison_limit(&mut self, kind: LimitKind, detail: String) -> boa_engine::JsError {
        let message = format!(
            "sandbox limit {} ({}) exceeded: {detail}",
            kind.name(),
            kind.value_in(&self.limits)
        );
        self.poison(FailureKind::Limit(kind), message.clone());
        JsNativeError::range().with_message(message).into()
    }

    pub(crate) fn poison(&mut self, kind: FailureKind, message: String) {
        if self.fatal.is_none() {
            self.fatal = Some(TaskFailure {
                kind,
                message,
                stack: None,
            });
        }
    }

    pub(crate) fn add_journal_bytes(
        &mut self,
        bytes: usize,
        what: &str,
    ) -> Result<(), boa_engine::JsError> {
        self.journal_bytes = self.journal_bytes.saturating_add(bytes as u64);
        if self.journal_bytes > self.limits.max_journal_bytes {
            let total = self.journal_bytes;
            return Err(self.poison_limit(
                LimitKind::JournalBytes,
                format!("the run's journal reached {total} bytes with {what}"),
            ));
        }
        Ok(())
    }
}
