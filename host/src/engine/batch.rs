//! The engine's journal writer: group commit of its two most frequent writes, call completions
//! (with hand-off of the runs they wake) and segment ends (new calls + suspend), mixed in one
//! transaction per batch ([`Store::write_journal`]). Writes that arrive at about the same time
//! share one commit instead of one each, and on SQLite no two of them wait on each other's
//! lock. Under load the batches grow by themselves (everything that arrived while the previous
//! commit ran); alone, a write waits for nobody.
//!
//! Must not change what a write means: each gets its own outcome (settled and maybe woke or
//! took over its run, suspended, or not the lease owner), exactly as the single-write
//! functions give it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tasker_sandbox::{CallResult, DeliveredResult};
use tasker_store::queue::{
    CallOutcome, Completion, JournalWrite, JournalWritten, Lease, NewCall, Resumed, ResumedWritten,
    SegmentDid, SegmentEnd, SuspendWithCalls, Suspended,
};
use tasker_store::{NewLog, Store, TaskRun};
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

/// A call result to journal.
struct CompletionJob {
    call_id: i64,
    /// The call's place in its run, and its result (delivered as is when the run is taken over).
    seq: i64,
    value: Value,
    /// The result as JSON text, as journaled.
    result: String,
    /// Take the run over if the result wakes it (its live context is on this host).
    hand_off: bool,
}

/// A segment end to record: the settled calls it saw, its new calls.
struct SegmentEndJob {
    calls_seen: i64,
    pending: Vec<NewCall>,
    claimed: Vec<NewCall>,
}

/// One write for the journal writer, with the run it touches (the lock order).
struct JournalJob {
    run_id: i64,
    kind: JobKind,
}

enum JobKind {
    Complete(CompletionJob),
    Suspend(SegmentEndJob),
    Resumed(ResumedJob),
}

/// A result already delivered to the live context, and what the segment it started did.
struct ResumedJob {
    call_id: i64,
    result: String,
    segment_at: i64,
    then: SegmentDidJob,
    logs: Vec<NewLog>,
}

/// The owned form of [`SegmentDid`].
pub(super) enum SegmentDidJob {
    Suspended {
        pending: Vec<NewCall>,
        claimed: Vec<NewCall>,
    },
    Completed(String),
    Failed(String),
}

/// What journaling a call result did, for the engine.
pub(super) struct CompletionDone {
    pub(super) outcome: CallOutcome,
    /// The run taken over by this host, with every result of the batch it is to be resumed
    /// with (set on one completion per run taken over).
    pub(super) handed_off: Option<(Box<TaskRun>, Vec<DeliveredResult>)>,
}

enum Written {
    Suspended(Suspended),
    Completed(CompletionDone),
    Resumed(ResumedWritten),
}

/// The engine's single journal writer: segment ends and call completions share its
/// transactions ([`Store::write_journal`]).
pub(super) struct JournalWriter(Writer<JournalJob, Written>);

impl JournalWriter {
    /// Starts the committing task for `owner`'s writes; claimed calls and runs taken over are
    /// leased for `lease_ms`.
    pub(super) fn start(store: Store, owner: Arc<str>, lease_ms: i64) -> Self {
        Self(Writer::start("journal", move |jobs: Vec<JournalJob>| {
            let (store, owner) = (store.clone(), owner.clone());
            async move {
                let written = {
                    let writes = journal_writes(&jobs, &owner, lease_ms);
                    write_with_retry(&store, &owner, lease_ms, &writes).await?
                };
                let delivered: HashMap<i64, (i64, &Value)> = jobs
                    .iter()
                    .filter_map(|job| match &job.kind {
                        JobKind::Complete(c) => Some((c.call_id, (c.seq, &c.value))),
                        JobKind::Suspend(_) | JobKind::Resumed(_) => None,
                    })
                    .collect();
                // By seq, the order a replay delivers one segment's results in.
                let results = |calls: &[i64]| -> Vec<DeliveredResult> {
                    let mut results: Vec<DeliveredResult> = calls
                        .iter()
                        .filter_map(|call| delivered.get(call))
                        .map(|&(seq, value)| DeliveredResult {
                            seq: seq as u64,
                            result: CallResult::Ok(value.clone()),
                        })
                        .collect();
                    results.sort_by_key(|r| r.seq);
                    results
                };
                Ok(written
                    .into_iter()
                    .map(|w| match w {
                        JournalWritten::Suspended(s) => Written::Suspended(s),
                        JournalWritten::Resumed(r) => Written::Resumed(r),
                        JournalWritten::Completed(c) => Written::Completed(CompletionDone {
                            outcome: c.outcome,
                            handed_off: c.handed_off.map(|h| {
                                let delivered = results(&h.calls);
                                (Box::new(h.run), delivered)
                            }),
                        }),
                    })
                    .collect())
            }
        }))
    }

    /// Journals `value` (`result`, its text) for call `call_id` (`seq` of run `task_run_id`)
    /// with the next batch and returns what that did.
    pub(super) async fn complete(
        &self,
        task_run_id: i64,
        (call_id, seq): (i64, i64),
        value: Value,
        hand_off: bool,
    ) -> Result<CompletionDone, EngineError> {
        let job = JournalJob {
            run_id: task_run_id,
            kind: JobKind::Complete(CompletionJob {
                call_id,
                seq,
                result: value.to_string(),
                value,
                hand_off,
            }),
        };
        match self.0.submit(job).await? {
            Written::Completed(done) => Ok(done),
            _ => Err(mismatch()),
        }
    }

    /// Records the calls and suspends the run with the next batch.
    pub(super) async fn suspend(
        &self,
        run_id: i64,
        calls_seen: i64,
        pending: Vec<NewCall>,
        claimed: Vec<NewCall>,
    ) -> Result<Suspended, EngineError> {
        let job = JournalJob {
            run_id,
            kind: JobKind::Suspend(SegmentEndJob {
                calls_seen,
                pending,
                claimed,
            }),
        };
        match self.0.submit(job).await? {
            Written::Suspended(done) => Ok(done),
            _ => Err(mismatch()),
        }
    }

    /// Journals call `call_id`'s `result`, already delivered to run `run_id`'s live context in
    /// a segment started at `segment_at`, with what that segment did (see [`Resumed`]).
    pub(super) async fn resumed(
        &self,
        run_id: i64,
        (call_id, result): (i64, String),
        segment_at: i64,
        (then, logs): (SegmentDidJob, Vec<NewLog>),
    ) -> Result<ResumedWritten, EngineError> {
        let job = JournalJob {
            run_id,
            kind: JobKind::Resumed(ResumedJob {
                call_id,
                result,
                segment_at,
                then,
                logs,
            }),
        };
        match self.0.submit(job).await? {
            Written::Resumed(done) => Ok(done),
            _ => Err(mismatch()),
        }
    }
}

/// Commits a batch, trying again twice after a failure: a rolled-back batch (a PostgreSQL
/// deadlock with another transaction, a connection reset) would otherwise leave every call
/// and run in it to lease expiry. Safe to repeat: a batch is all or nothing, and a write that
/// did commit (an error while acknowledging the commit) is refused the second time (not the
/// owner any more), never applied twice.
async fn write_with_retry(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    writes: &[JournalWrite<'_>],
) -> Result<Vec<JournalWritten>, tasker_store::Error> {
    let mut pause = Duration::from_millis(20);
    for _ in 0..2 {
        match store.write_journal(owner, lease_ms, writes).await {
            Ok(written) => return Ok(written),
            Err(e) => {
                tracing::warn!("journal batch failed, trying again: {}", super::Causes(&e));
                tokio::time::sleep(pause).await;
                pause *= 5;
            }
        }
    }
    store.write_journal(owner, lease_ms, writes).await
}

/// The store's form of a batch, in arrival order.
fn journal_writes<'a>(
    jobs: &'a [JournalJob],
    owner: &'a str,
    lease_ms: i64,
) -> Vec<JournalWrite<'a>> {
    let lease = Lease {
        owner,
        duration_ms: lease_ms,
    };
    jobs.iter()
        .map(|job| match &job.kind {
            JobKind::Complete(c) => JournalWrite::Complete(Completion {
                call_id: c.call_id,
                result: &c.result,
                hand_off: c.hand_off,
                segment_at: None,
            }),
            JobKind::Resumed(r) => JournalWrite::Resumed(Resumed {
                call_id: r.call_id,
                result: &r.result,
                segment_at: r.segment_at,
                then: match &r.then {
                    SegmentDidJob::Suspended { pending, claimed } => SegmentDid::Suspended {
                        pending,
                        claimed,
                        lease,
                    },
                    SegmentDidJob::Completed(result) => SegmentDid::Completed { result },
                    SegmentDidJob::Failed(error) => SegmentDid::Failed { error },
                },
                logs: &r.logs,
            }),
            JobKind::Suspend(end) => JournalWrite::Suspend(SuspendWithCalls {
                run_id: job.run_id,
                end: SegmentEnd {
                    owner,
                    segment_ms: None,
                },
                calls_seen: end.calls_seen,
                pending: &end.pending,
                claimed: &end.claimed,
                lease,
            }),
        })
        .collect()
}

/// The store answers each write with its own kind; anything else is a bug, reported as a
/// failed write rather than a panic.
fn mismatch() -> EngineError {
    EngineError::Batch("the journal writer answered a write with another write's result".into())
}
