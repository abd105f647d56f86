//! Group commit of call completions: results of calls that finish at about the same time are
//! journaled in one transaction ([`Store::complete_calls`]) instead of one commit each. Under
//! load the batches grow by themselves (everything that arrived while the previous commit ran);
//! alone, a completion waits for nobody.
//!
//! Must not change what a completion means: each call still gets its own outcome (settled and
//! maybe woke its run, or not the lease owner), exactly as [`Store::complete_call`] gives it.

use std::sync::Arc;

use tasker_store::Store;
use tasker_store::queue::CallOutcome;
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
