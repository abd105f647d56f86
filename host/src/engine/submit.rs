//! Submitting runs and waiting for them: a submitted run starts on this host (created already
//! claimed) when a segment slot is free or few runs wait for one here, otherwise it waits in
//! the ready queue for any host; clients long-poll for a run's end. Must not run task code
//! itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tasker_plugin_api::PluginError;
use tasker_store::TaskRun;
use tasker_store::queue::NewRun;
use tokio::sync::oneshot;

use super::{Engine, EngineError, hold, segment};

/// Runs this host takes on beyond its segment slots, per slot, before new submissions go to
/// the ready queue (where another host may take them): a short local line is served in
/// order and costs no claim; a long one would keep work from idle hosts.
const LOCAL_BACKLOG_PER_SLOT: usize = 4;

impl Engine {
    /// Submits a run of the registered task `task_name` (a child run inherits its
    /// parent's scope; a top-level one has none: see [`Engine::submit_as`]).
    pub async fn submit(
        self: &Arc<Self>,
        task_name: &str,
        input: &Value,
        parent_call: Option<i64>,
    ) -> Result<TaskRun, EngineError> {
        self.submit_as(task_name, input, parent_call, None).await
    }

    /// Submits a run acting with `scope`, the submitter's API token scope (None when
    /// authentication is off); its host calls are checked against it.
    pub async fn submit_as(
        self: &Arc<Self>,
        task_name: &str,
        input: &Value,
        parent_call: Option<i64>,
        scope: Option<tasker_plugin_api::Scope>,
    ) -> Result<TaskRun, EngineError> {
        let function = self.store.get_function(task_name).await?.ok_or_else(|| {
            EngineError::Request(PluginError::not_found(format!(
                "task '{task_name}' is not registered"
            )))
        })?;
        let mut new = NewRun::new(task_name, &function.code_hash, &input.to_string());
        new.parent_stack_run_id = parent_call;
        new.scope = scope.map(|s| s.as_str().to_owned());
        // This host starts the run itself (created claimed: no trip through the ready queue)
        // when a segment slot is free or only a short line waits for one here. The ready
        // queue is for overflow, to be taken by whichever host is free first: its claims
        // compete with the journal writer for the database (on SQLite a claim that finds the
        // write lock taken backs off for milliseconds), so a run that went through it under
        // load waited far longer than one started here (throughput p90 2 s against p50 0.2 s).
        let backlog = self.slot_waiters.load(Ordering::Relaxed);
        let start_here = !self.draining()
            && (self.segment_slots.available_permits() > 0
                || backlog < LOCAL_BACKLOG_PER_SLOT * self.cfg.segment_concurrency.max(1));
        if !start_here {
            let run = self.store.create_run(&new).await?;
            tracing::debug!(run_id = run.id, task = task_name, "run submitted (queued)");
            self.wake_runs.notify_one();
            return Ok(run);
        }
        let run = self.store.create_started_run(&new, self.lease()).await?;
        tracing::debug!(run_id = run.id, task = task_name, "run submitted (started)");
        self.remember_code(function.code_hash, function.code);
        self.spawn_held(run.clone(), segment::SegmentStart::Fresh);
        Ok(run)
    }

    /// Runs one segment of `run` (held by this host) in its own task, in the segment slot
    /// `permit`; its lease is renewed while it runs.
    pub(super) fn spawn_segment(
        self: &Arc<Self>,
        run: TaskRun,
        start: segment::SegmentStart,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        hold(&self.held_runs, run.id, true);
        let engine = self.clone();
        tokio::spawn(async move {
            let run_id = run.id;
            engine.run_segment(run, start).await;
            hold(&engine.held_runs, run_id, false);
            drop(permit);
        });
    }

    /// Waits until run `run_id` has ended or `timeout` passed; returns its latest state.
    pub async fn wait_for_end(
        &self,
        run_id: i64,
        timeout: Duration,
    ) -> Result<Option<TaskRun>, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (tx, rx) = oneshot::channel();
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(run_id)
                .or_default()
                .push(tx);
            let run = self.store.get_run(run_id).await?;
            match &run {
                None => return Ok(None),
                Some(r) if r.status.is_terminal() => return Ok(run),
                Some(_) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(run);
            }
            // Woken when this host ends the run; the poll covers runs ended by other hosts.
            let wait = (deadline - now).min(self.cfg.poll_interval);
            let _ = tokio::time::timeout(wait, rx).await;
        }
    }

    pub(super) fn notify_ended(&self, run_id: i64) {
        if let Some(list) = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run_id)
        {
            for tx in list {
                let _ = tx.send(());
            }
        }
    }

    /// Cancels a run; false when it had already ended or does not exist.
    pub async fn cancel(&self, run_id: i64) -> Result<bool, EngineError> {
        let cancelled = self.store.cancel_run(run_id).await?;
        if cancelled {
            self.sandbox.forget(run_id);
            self.notify_ended(run_id);
        }
        Ok(cancelled)
    }
}
