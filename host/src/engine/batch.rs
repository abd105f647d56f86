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

/// Most writes in one transaction (keeps each commit short).
const MAX_BATCH: usize = 256;

/// One write waiting for its commit, and where its outcome goes.
struct Queued<J, R> {
    job: J,
    reply: oneshot::Sender<Result<R, String>>,
}

/// The sending side of one writer: jobs in, one outcome per job back.
struct Writer<J, R> {
    tx: mpsc::UnboundedSender<Queued<J, R>>,
    name: &'static str,
}

impl<J: Send + 'static, R: Send + 'static> Writer<J, R> {
    /// Starts the committing task: `commit` gets each batch (in arrival order) and returns one
    /// outcome per job, or one error for the whole rolled-back transaction.
    fn start<F, Fut>(name: &'static str, commit: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, tasker_store::Error>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued<J, R>>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (jobs, replies): (Vec<J>, Vec<_>) =
                    batch.into_iter().map(|q| (q.job, q.reply)).unzip();
                match commit(jobs).await {
                    Ok(results) => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        // Rolled back as a whole: every call or run in it is still held under
                        // this host's lease; each caller reports the failure and the work is
                        // retried once the lease expires, as for any failed write.
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(message.clone()));
                        }
                    }
                }
            }
        });
        Self { tx, name }
    }

    /// Queues `job` for the next batch and waits for its outcome.
    async fn submit(&self, job: J) -> Result<R, EngineError> {
        let stopped = || EngineError::Batch(format!("the {} writer stopped", self.name));
        let (reply, done) = oneshot::channel();
        self.tx.send(Queued { job, reply }).map_err(|_| stopped())?;
        match done.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(message)) => Err(EngineError::Batch(message)),
            Err(_) => Err(stopped()),
        }
    }
}

/// A call result to journal: (task run, call, result JSON).
type CompletionJob = (i64, i64, String);

/// Group commit of call completions, held by the engine.
pub(super) struct Completions(Writer<CompletionJob, CallOutcome>);

impl Completions {
    /// Starts the committing task for `owner`'s completions.
    pub(super) fn start(store: Store, owner: Arc<str>) -> Self {
        Self(Writer::start(
            "completion",
            move |jobs: Vec<CompletionJob>| {
                let (store, owner) = (store.clone(), owner.clone());
                async move {
                    // Same lock order in every host's batches (runs by id), so two hosts' batches
                    // never deadlock on PostgreSQL; outcomes are put back in arrival order.
                    let mut order: Vec<usize> = (0..jobs.len()).collect();
                    order.sort_by_key(|&i| (jobs[i].0, jobs[i].1));
                    let results: Vec<(i64, &str)> = order
                        .iter()
                        .map(|&i| (jobs[i].1, jobs[i].2.as_str()))
                        .collect();
                    let sorted = store.complete_calls(&owner, &results).await?;
                    let mut by_arrival: Vec<Option<CallOutcome>> = vec![None; jobs.len()];
                    for (&i, outcome) in order.iter().zip(sorted) {
                        by_arrival[i] = Some(outcome);
                    }
                    Ok(by_arrival.into_iter().flatten().collect())
                }
            },
        ))
    }

    /// Journals `result` for `call_id` with the next batch and returns its outcome.
    pub(super) async fn complete(
        &self,
        task_run_id: i64,
        call_id: i64,
        result: String,
    ) -> Result<CallOutcome, EngineError> {
        self.0.submit((task_run_id, call_id, result)).await
    }
}

/// A segment end to record: the run, the settled calls it saw, its new calls.
struct SegmentEndJob {
    run_id: i64,
    calls_seen: i64,
    pending: Vec<NewCall>,
    claimed: Vec<NewCall>,
}

/// Group commit of segment ends, held by the engine.
pub(super) struct SegmentEnds(Writer<SegmentEndJob, Suspended>);

impl SegmentEnds {
    /// Starts the committing task for `owner`'s segment ends (claimed calls leased for
    /// `lease_ms`). [`Store::suspend_many`] locks runs in id order itself.
    pub(super) fn start(store: Store, owner: Arc<str>, lease_ms: i64) -> Self {
        Self(Writer::start(
            "segment-end",
            move |jobs: Vec<SegmentEndJob>| {
                let (store, owner) = (store.clone(), owner.clone());
                async move {
                    let lease = Lease {
                        owner: &owner,
                        duration_ms: lease_ms,
                    };
                    let entries: Vec<SuspendWithCalls<'_>> = jobs
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
                    store.suspend_many(&entries).await
                }
            },
        ))
    }

    /// Records the calls and suspends the run with the next batch.
    pub(super) async fn suspend(
        &self,
        run_id: i64,
        calls_seen: i64,
        pending: Vec<NewCall>,
        claimed: Vec<NewCall>,
    ) -> Result<Suspended, EngineError> {
        let job = SegmentEndJob {
            run_id,
            calls_seen,
            pending,
            claimed,
        };
        self.0.submit(job).await
    }
}
