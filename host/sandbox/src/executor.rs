//! The executor: N dedicated threads, each owning an LRU of live runs (boa contexts are `!Send`), and
//! the `Send + Sync + Clone` async handle [`Sandbox`] that talks to them over channels. Knows nothing
//! of storage: the caller persists journals and decides when to replay.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::limits::SandboxLimits;
use crate::model::{Delivery, RunId, SegmentOutcome, SegmentRequest};
use crate::run::{LiveRun, Segment, start_or_replay};

/// Stack size of executor threads: boa recurses natively for some builtins and for deep parse trees.
const EXECUTOR_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Executor configuration.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Number of executor threads (at least 1).
    pub threads: usize,
    /// Live runs kept in memory across all threads; 0 disables the live cache (replay-only mode).
    pub max_live: usize,
    /// Limits applied to every run.
    pub limits: SandboxLimits,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            max_live: 1_000,
            limits: SandboxLimits::default(),
        }
    }
}

enum Command {
    StartOrReplay(Box<SegmentRequest>, oneshot::Sender<Result<SegmentOutcome>>),
    ResumeLive(
        RunId,
        Box<Delivery>,
        oneshot::Sender<Result<Option<SegmentOutcome>>>,
    ),
    Drop(RunId),
    CountLive(oneshot::Sender<usize>),
}

/// Handle to the executor threads. Cheap to clone; dropping the last clone stops the threads.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    senders: Vec<mpsc::Sender<Command>>,
}

impl Sandbox {
    /// Starts the executor threads.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        let threads = config.threads.max(1);
        let per_thread = config.max_live.div_ceil(threads);
        let limits = Arc::new(config.limits);
        let mut senders = Vec::with_capacity(threads);
        for index in 0..threads {
            let (sender, receiver) = mpsc::channel();
            let limits = limits.clone();
            thread::Builder::new()
                .name(format!("tasker-sandbox-{index}"))
                .stack_size(EXECUTOR_STACK_BYTES)
                .spawn(move || {
                    // Built on the thread: live contexts are `!Send`.
                    let worker = Worker {
                        limits,
                        live: LiveCache::new(per_thread),
                    };
                    worker.serve(receiver);
                })
                .map_err(|source| Error::SpawnExecutor { index, source })?;
            senders.push(sender);
        }
        Ok(Self {
            inner: Arc::new(Inner { senders }),
        })
    }

    /// Runs a segment in a fresh context: starts the run (empty journal) or replays its journal and
    /// runs on. Keeps the context live afterwards when the run suspended (and the cache is enabled).
    pub async fn start_or_replay(&self, request: SegmentRequest) -> Result<SegmentOutcome> {
        let run_id = request.run_id;
        let (reply, answer) = oneshot::channel();
        self.send(run_id, Command::StartOrReplay(Box::new(request), reply))?;
        answer.await.map_err(|_| Error::ExecutorGone { run_id })?
    }

    /// Applies a delivery to a live run. `Ok(None)` when the run is not live (evicted, never started
    /// here, or the cache is disabled): the caller then replays with [`Sandbox::start_or_replay`].
    pub async fn resume_live(
        &self,
        run_id: RunId,
        delivery: Delivery,
    ) -> Result<Option<SegmentOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.send(
            run_id,
            Command::ResumeLive(run_id, Box::new(delivery), reply),
        )?;
        answer.await.map_err(|_| Error::ExecutorGone { run_id })?
    }

    /// Drops a run's live context to free memory; a later resume replays it.
    pub fn evict(&self, run_id: RunId) {
        // A missing thread has no live context to drop.
        let _ = self.send(run_id, Command::Drop(run_id));
    }

    /// Drops a run's live context because the run ended or was cancelled.
    pub fn forget(&self, run_id: RunId) {
        self.evict(run_id);
    }

    /// Number of live runs across all threads.
    pub async fn live_count(&self) -> usize {
        let mut total = 0;
        for sender in &self.inner.senders {
            let (reply, answer) = oneshot::channel();
            if sender.send(Command::CountLive(reply)).is_ok() {
                total += answer.await.unwrap_or(0);
            }
        }
        total
    }

    fn send(&self, run_id: RunId, command: Command) -> Result<()> {
        let mut hasher = DefaultHasher::new();
        run_id.hash(&mut hasher);
        let index = (hasher.finish() % self.inner.senders.len() as u64) as usize;
        self.inner.senders[index]
            .send(command)
            .map_err(|_| Error::ExecutorGone { run_id })
    }
}

struct Worker {
    limits: Arc<SandboxLimits>,
    live: LiveCache,
}

impl Worker {
    fn serve(mut self, commands: mpsc::Receiver<Command>) {
        while let Ok(command) = commands.recv() {
            match command {
                Command::StartOrReplay(request, reply) => {
                    let run_id = request.run_id;
                    self.live.remove(run_id);
                    let limits = self.limits.clone();
                    let result = guarded(run_id, || start_or_replay(&request, limits));
                    let _ = reply.send(result.map(|segment| self.keep(run_id, segment)));
                }
                Command::ResumeLive(run_id, delivery, reply) => {
                    let Some(run) = self.live.remove(run_id) else {
                        let _ = reply.send(Ok(None));
                        continue;
                    };
                    let result = guarded(run_id, || Ok(run.resume(&delivery)));
                    let answer = match result {
                        Ok(Ok(segment)) => Ok(Some(self.keep(run_id, segment))),
                        Ok(Err(rejected)) => {
                            let (error, run) = *rejected;
                            self.live.insert(run_id, run);
                            Err(error)
                        }
                        Err(error) => Err(error),
                    };
                    let _ = reply.send(answer);
                }
                Command::Drop(run_id) => {
                    self.live.remove(run_id);
                }
                Command::CountLive(reply) => {
                    let _ = reply.send(self.live.len());
                }
            }
        }
    }

    fn keep(&mut self, run_id: RunId, segment: Segment) -> SegmentOutcome {
        if let Some(run) = segment.live {
            self.live.insert(run_id, run);
        }
        segment.outcome
    }
}

/// Runs `f`, turning an engine panic into an error (the run's context is dropped with the closure).
fn guarded<T>(run_id: RunId, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::EnginePanicked { run_id, message })
        }
    }
}

/// Least-recently-used live runs of one thread.
struct LiveCache {
    capacity: usize,
    tick: u64,
    runs: HashMap<RunId, (u64, LiveRun)>,
    by_age: BTreeMap<u64, RunId>,
}

impl LiveCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            runs: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.runs.len()
    }

    fn insert(&mut self, run_id: RunId, run: LiveRun) {
        if self.capacity == 0 {
            return;
        }
        self.remove(run_id);
        while self.runs.len() >= self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.runs.remove(&oldest);
        }
        self.tick += 1;
        self.by_age.insert(self.tick, run_id);
        self.runs.insert(run_id, (self.tick, run));
    }

    fn remove(&mut self, run_id: RunId) -> Option<LiveRun> {
        let (tick, run) = self.runs.remove(&run_id)?;
        self.by_age.remove(&tick);
        Some(run)
    }
}
