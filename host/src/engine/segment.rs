//! One task segment: records the segment's time and which settled results it delivers
//! (before running anything, so a crash mid-segment replays the same deliveries), resumes
//! the live context or replays the journal in the sandbox, then applies the outcome:
//! persist console lines, complete or fail the run, or enqueue (already claimed) the new
//! host calls, dispatch them at once and suspend the run.

use std::sync::Arc;

use serde_json::{Value, json};
use tasker_sandbox::{Delivery, LogLevel, RunOutcome, SegmentOutcome, SegmentRequest, TaskFailure};
use tasker_store::queue::{NewCall, SegmentEnd, SuspendOutcome};
use tasker_store::{NewLog, TaskRun};

use super::journal::JournalView;
use super::{Engine, EngineError};

/// What the segment must do, decided from the journal.
enum Plan {
    /// Nothing new was settled and calls are still in flight: go back to sleep.
    StillWaiting,
    /// Run code: first segment, a live resume or a replay.
    Execute,
}

impl Engine {
    /// Runs one segment of a claimed run; failures are logged and the lease left to expire
    /// (another attempt then replays the run from its journal).
    pub(super) async fn run_segment(self: &Arc<Self>, run: TaskRun) {
        let run_id = run.id;
        if let Err(e) = self.try_run_segment(run).await {
            tracing::error!(run_id, "segment failed, will be retried after the lease expires: {e}");
        }
    }

    async fn try_run_segment(self: &Arc<Self>, run: TaskRun) -> Result<(), EngineError> {
        let now = self.store.clock().now_ms();
        let Some(code) = self.task_code(&run).await? else { return Ok(()) };
        let journal = self.store.journal(run.id).await?;
        let view = JournalView::build(&journal, &run.segment_times);
        let outstanding = view.issued.len()
            > view.delivered.iter().map(|d| d.results.len()).sum::<usize>() + view.undelivered.len();
        let plan = if !run.segment_times.is_empty() && view.undelivered.is_empty() && outstanding {
            Plan::StillWaiting
        } else {
            Plan::Execute
        };
        if let Plan::StillWaiting = plan {
            return self.suspend(&run).await;
        }

        // Bookkeeping first: the start time, then this segment's delivery.
        let start_time = match run.segment_times.first() {
            Some(t) => *t,
            None => {
                self.store.append_segment_time(run.id, now).await?;
                now
            }
        };
        let segment_index = run.segment_times.len().max(1) as i64;
        let new_delivery = if view.undelivered.is_empty() {
            None
        } else {
            let seqs: Vec<i64> = view.undelivered.iter().map(|r| r.seq as i64).collect();
            self.store.mark_delivered(run.id, &seqs, segment_index).await?;
            self.store.append_segment_time(run.id, now).await?;
            Some(Delivery { segment_time_ms: now, results: view.undelivered.clone() })
        };

        let live = match (&new_delivery, self.cfg.live_cache) {
            (Some(delivery), true) => self.sandbox.resume_live(run.id, delivery.clone()).await.map_err(sandbox_err)?,
            _ => None,
        };
        let outcome = match live {
            Some(outcome) => outcome,
            None => {
                let mut deliveries = view.delivered;
                deliveries.extend(new_delivery);
                let request = SegmentRequest {
                    run_id: run.id,
                    task_name: run.task_name.clone(),
                    code,
                    input: serde_json::from_str(&run.input).unwrap_or(Value::Null),
                    seed: seed_for(&run),
                    start_time_ms: start_time,
                    issued: view.issued,
                    deliveries,
                };
                self.sandbox.start_or_replay(request).await.map_err(sandbox_err)?
            }
        };
        if !self.cfg.live_cache {
            self.sandbox.forget(run.id);
        }
        self.apply(&run, outcome).await
    }

    /// The run's code, or None after failing the run when the code is gone or changed.
    async fn task_code(&self, run: &TaskRun) -> Result<Option<Arc<str>>, EngineError> {
        if let Some(code) = self.code_cache.lock().unwrap_or_else(|p| p.into_inner()).get(&run.code_hash) {
            return Ok(Some(code.clone()));
        }
        let problem = match self.store.get_function(&run.task_name).await? {
            Some(f) if f.code_hash == run.code_hash => {
                let code: Arc<str> = f.code.into();
                self.code_cache.lock().unwrap_or_else(|p| p.into_inner()).insert(run.code_hash.clone(), code.clone());
                return Ok(Some(code));
            }
            Some(_) => format!("the code of task '{}' changed after this run started; it cannot be resumed", run.task_name),
            None => format!("task '{}' was deleted after this run started", run.task_name),
        };
        let error = json!({ "kind": "code_changed", "message": problem }).to_string();
        self.store.fail_run(run.id, self.segment_end(), &error).await?;
        self.notify_ended(run.id);
        Ok(None)
    }

    fn segment_end(&self) -> SegmentEnd<'_> {
        SegmentEnd { owner: &self.cfg.owner, segment_ms: None }
    }

    async fn apply(self: &Arc<Self>, run: &TaskRun, out: SegmentOutcome) -> Result<(), EngineError> {
        self.store_logs(run.id, &out).await?;
        match out.outcome {
            RunOutcome::Completed { result } => {
                self.store.complete_run(run.id, self.segment_end(), &result.to_string()).await?;
                tracing::debug!(run_id = run.id, "run completed");
                self.sandbox.forget(run.id);
                self.notify_ended(run.id);
            }
            RunOutcome::Failed(failure) => {
                tracing::debug!(run_id = run.id, "run failed: {}", failure.message);
                self.store.fail_run(run.id, self.segment_end(), &failure_text(&failure)).await?;
                self.sandbox.forget(run.id);
                self.notify_ended(run.id);
            }
            RunOutcome::Suspended { new_calls, .. } => {
                let calls: Vec<NewCall> = new_calls
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
                    .collect();
                if !calls.is_empty() {
                    let enqueued = self.store.enqueue_claimed(run.id, &calls, self.lease()).await?;
                    for e in enqueued.into_iter().filter(|e| e.inserted) {
                        self.spawn_dispatch(e.call);
                    }
                }
                self.suspend(run).await?;
            }
        }
        Ok(())
    }

    async fn suspend(&self, run: &TaskRun) -> Result<(), EngineError> {
        match self.store.suspend_run(run.id, self.segment_end(), run.calls_completed).await? {
            SuspendOutcome::Resumable => self.wake_runs.notify_one(),
            SuspendOutcome::Suspended => {}
            SuspendOutcome::NotOwner => tracing::warn!(run_id = run.id, "lost the run's lease before suspending it"),
        }
        Ok(())
    }

    async fn store_logs(&self, run_id: i64, out: &SegmentOutcome) -> Result<(), EngineError> {
        if out.logs.is_empty() {
            return Ok(());
        }
        let lines: Vec<NewLog> = out
            .logs
            .iter()
            .map(|l| {
                tracing::debug!(target: "task", run_id, level = ?l.level, "{}", l.message);
                NewLog { level: level_name(l.level).to_owned(), message: l.message.clone(), at_ms: l.time_ms }
            })
            .collect();
        self.store.append_logs(run_id, &lines).await?;
        Ok(())
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// The stored form of a run failure.
fn failure_text(f: &TaskFailure) -> String {
    json!({ "kind": f.kind, "message": f.message, "stack": f.stack }).to_string()
}

/// A per-run seed for Math.random / crypto.randomUUID, stable across replays and hosts.
fn seed_for(run: &TaskRun) -> u64 {
    let mut x = (run.id as u64) ^ ((run.created_at as u64).rotate_left(32)) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn sandbox_err(e: tasker_sandbox::Error) -> EngineError {
    EngineError::Sandbox(e.to_string())
}
