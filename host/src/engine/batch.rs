//! Group commit of the two most frequent writes: call completions ([`Store::complete_calls`])
//! and segment ends (new calls + suspend, [`Store::suspend_many`]). Writes that arrive at about
//! the same time share one transaction instead of one commit each. Under load the batches grow
//! by themselves (everything that arrived while the previous commit ran); alone, a write waits
//! for nobody.
//!
//! Must not change what a write means: each gets its own outcome (settled and maybe woke its
//! run, or not the lease owner), exactly as the single-row functions give it.

use std::sync::Arc;

use tasker_store::Store;
use tasker_store::queue::{CallOutcome, Lease, NewCall, SegmentEnd, SuspendWithCalls, Suspended};
use tokio::sync::{mpsc, oneshot};

use super::EngineError;

/// Most completions in one transaction (keeps each commit short).
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<CallOutcome, String>>;

/// One completion waiting for its commit.
pub(super) struct Completion {
    task_run_id: i64,
    call_id: i64,
    result: String,
    reply: Reply,
}

/// The sending side, held by the engine.
pub(super) struct Completions {
    tx: mpsc::UnboundedSender<Completion>,
}

impl Completions {
    /// Starts the committing task for `owner`'s completions.
    pub(super) fn start(store: Store, owner: Arc<str>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(commit_loop(store, owner, rx));
        Self { tx }
    }

    /// Journals `result` for `call_id` with the next batch and returns its outcome.
    pub(super) async fn complete(
        &self,
        task_run_id: i64,
        call_id: i64,
        result: String,
    ) -> Result<CallOutcome, EngineError> {
        let (reply, done) = oneshot::channel();
        let completion = Completion {
            task_run_id,
            call_id,
            result,
            reply,
        };
        self.tx
            .send(completion)
            .map_err(|_| EngineError::Sandbox("the completion writer stopped".into()))?;
        match done.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(message)) => Err(EngineError::Batch(message)),
            Err(_) => Err(EngineError::Batch("the completion writer stopped".into())),
        }
    }
}

async fn commit_loop(store: Store, owner: Arc<str>, mut rx: mpsc::UnboundedReceiver<Completion>) {
    let mut batch: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Same lock order in every host's batches (runs by id), so two hosts' batches never
        // deadlock on PostgreSQL.
        batch.sort_by_key(|c| (c.task_run_id, c.call_id));
        let results: Vec<(i64, &str)> = batch
            .iter()
            .map(|c| (c.call_id, c.result.as_str()))
            .collect();
        match store.complete_calls(&owner, &results).await {
            Ok(outcomes) => {
                for (completion, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = completion.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                // The whole transaction rolled back: every call in it is still processing
                // under this host's lease; each caller reports the failure (the lease then
                // expires and the call is retried, as for any failed settlement).
                let message = e.to_string();
                for completion in batch.drain(..) {
                    let _ = completion.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// A segment end waiting for its commit.
pub(super) struct SegmentEndJob {
    pub run_id: i64,
    pub calls_seen: i64,
    pub pending: Vec<NewCall>,
    pub claimed: Vec<NewCall>,
    reply: oneshot::Sender<Result<Suspended, String>>,
}

/// The sending side of segment ends, held by the engine.
pub(super) struct SegmentEnds {
    tx: mpsc::UnboundedSender<SegmentEndJob>,
}

impl SegmentEnds {
    /// Starts the committing task for `owner`'s segment ends (claimed calls leased for
    /// `lease_ms`).
    pub(super) fn start(store: Store, owner: Arc<str>, lease_ms: i64) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(suspend_loop(store, owner, lease_ms, rx));
        Self { tx }
    }

    /// Records the calls and suspends the run with the next batch.
    pub(super) async fn suspend(
        &self,
        run_id: i64,
        calls_seen: i64,
        pending: Vec<NewCall>,
        claimed: Vec<NewCall>,
    ) -> Result<Suspended, EngineError> {
        let (reply, done) = oneshot::channel();
        let job = SegmentEndJob {
            run_id,
            calls_seen,
            pending,
            claimed,
            reply,
        };
        self.tx
            .send(job)
            .map_err(|_| EngineError::Batch("the segment-end writer stopped".into()))?;
        match done.await {
            Ok(Ok(suspended)) => Ok(suspended),
            Ok(Err(message)) => Err(EngineError::Batch(message)),
            Err(_) => Err(EngineError::Batch("the segment-end writer stopped".into())),
        }
    }
}

async fn suspend_loop(
    store: Store,
    owner: Arc<str>,
    lease_ms: i64,
    mut rx: mpsc::UnboundedReceiver<SegmentEndJob>,
) {
    let mut batch: Vec<SegmentEndJob> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let lease = Lease {
            owner: &owner,
            duration_ms: lease_ms,
        };
        let entries: Vec<SuspendWithCalls<'_>> = batch
            .iter()
            .map(|job| SuspendWithCalls {
                run_id: job.run_id,
                end: SegmentEnd {
                    owner: &owner,
                    segment_ms: None,
                },
                calls_seen: job.calls_seen,
                pending: &job.pending,
                claimed: &job.claimed,
                lease,
            })
            .collect();
        let outcome = store.suspend_many(&entries).await;
        drop(entries);
        match outcome {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) => {
                // Rolled back as a whole: every run is still running under this host's
                // lease; each segment reports the failure and is retried after it expires.
                let message = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
