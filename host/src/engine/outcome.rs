//! Applying a segment's outcome: persist its console lines, then complete or fail the run, or
//! record its new host calls (those this host serves already claimed) and suspend it, and
//! dispatch the claimed calls at once. Must not run task code or decide retries.

use std::sync::Arc;

use serde_json::json;
use tasker_sandbox::{LogLevel, ParkedCall, RunOutcome, SegmentOutcome, TaskFailure};
use tasker_store::queue::{NewCall, SuspendOutcome, SuspendWithCalls, Suspended};
use tasker_store::{NewLog, TaskRun};

use super::{Engine, EngineError};

impl Engine {
    pub(super) async fn apply(
        self: &Arc<Self>,
        run: &TaskRun,
        out: SegmentOutcome,
    ) -> Result<(), EngineError> {
        self.store_logs(run.id, &out).await?;
        match out.outcome {
            RunOutcome::Completed { result } => {
                self.store
                    .complete_run(run.id, self.segment_end(), &result.to_string())
                    .await?;
                tracing::debug!(run_id = run.id, "run completed");
                self.sandbox.forget(run.id);
                self.notify_ended(run.id);
            }
            RunOutcome::Failed(failure) => {
                tracing::debug!(run_id = run.id, "run failed: {}", failure.message);
                self.store
                    .fail_run(run.id, self.segment_end(), &failure_text(&failure))
                    .await?;
                self.sandbox.forget(run.id);
                self.notify_ended(run.id);
            }
            RunOutcome::Suspended {
                new_calls,
                outstanding,
            } => {
                let (local, remote) = self.split_new_calls(&new_calls);
                let sole = sole_wait(&local, &remote, &outstanding);
                let suspended = match self.journal.get() {
                    Some(batch) => {
                        batch
                            .suspend(run.id, run.calls_completed, remote, local)
                            .await?
                    }
                    None => {
                        self.store
                            .suspend_with_calls(&SuspendWithCalls {
                                run_id: run.id,
                                end: self.segment_end(),
                                calls_seen: run.calls_completed,
                                pending: &remote,
                                claimed: &local,
                                lease: self.lease(),
                            })
                            .await?
                    }
                };
                self.dispatch_inserted(run.id, suspended, sole);
            }
        }
        Ok(())
    }

    pub(super) async fn suspend(&self, run: &TaskRun) -> Result<(), EngineError> {
        let outcome = self
            .store
            .suspend_run(run.id, self.segment_end(), run.calls_completed)
            .await?;
        self.after_suspend(run.id, outcome);
        Ok(())
    }

    /// Runs the calls a segment end inserted claimed, then acts on how the run was suspended.
    /// `sole`: the segment waits on exactly one call, that one call (see [`sole_wait`]).
    pub(super) fn dispatch_inserted(self: &Arc<Self>, run_id: i64, s: Suspended, sole: bool) {
        let sole = sole && s.outcome == SuspendOutcome::Suspended && s.inserted_claimed.len() == 1;
        for call in s.inserted_claimed {
            self.spawn_dispatch(call, sole);
        }
        self.after_suspend(run_id, s.outcome);
    }

    /// A segment's new calls as journal rows: those this host serves (claimed as they are
    /// recorded, run at once), and the others, left in the queue for a host that serves them
    /// (NOTIFY wakes it).
    pub(super) fn split_new_calls(&self, new_calls: &[ParkedCall]) -> (Vec<NewCall>, Vec<NewCall>) {
        new_calls
            .iter()
            .map(|c| NewCall {
                seq: c.seq as i64,
                service: c.service.clone(),
                method: c.method.clone(),
                args: c.args.to_string(),
                args_hash: c.args_hash.clone(),
                max_attempts: i64::from(self.cfg.max_attempts),
                parent_stack_run_id: None,
            })
            .partition(|c| !self.capability_filter() || self.serves(&c.service))
    }

    pub(super) fn after_suspend(&self, run_id: i64, outcome: SuspendOutcome) {
        match outcome {
            SuspendOutcome::Resumable => self.wake_runs.notify_one(),
            SuspendOutcome::Suspended => {}
            SuspendOutcome::NotOwner => {
                tracing::warn!(run_id, "lost the run's lease before suspending it")
            }
        }
    }

    async fn store_logs(&self, run_id: i64, out: &SegmentOutcome) -> Result<(), EngineError> {
        if out.logs.is_empty() {
            return Ok(());
        }
        self.store
            .append_logs(run_id, &log_lines(run_id, out))
            .await?;
        Ok(())
    }
}

/// A segment's console lines as stored (each also traced at debug level).
pub(super) fn log_lines(run_id: i64, out: &SegmentOutcome) -> Vec<NewLog> {
    out.logs
        .iter()
        .map(|l| {
            tracing::debug!(target: "task", run_id, level = ?l.level, "{}", l.message);
            NewLog {
                level: level_name(l.level).to_owned(),
                message: l.message.clone(),
                at_ms: l.time_ms,
            }
        })
        .collect()
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// Whether a suspended segment waits on nothing but its one new call, which this host runs:
/// that call's result can then resume the live context before it is journaled
/// (`early_resume.rs`).
pub(super) fn sole_wait(local: &[NewCall], remote: &[NewCall], outstanding: &[u64]) -> bool {
    remote.is_empty()
        && local.len() == 1
        && outstanding.len() == 1
        && outstanding[0] == local[0].seq as u64
}

/// The stored form of a run failure.
pub(super) fn failure_text(f: &TaskFailure) -> String {
    json!({ "kind": f.kind, "message": f.message, "stack": f.stack }).to_string()
}
