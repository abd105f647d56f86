//! The public handle [`Sandbox`] and its configuration: one API over the two backends, the
//! in-process executor threads and the pool of worker processes. Callers (the engine) see the same
//! methods either way; choosing and starting a backend is all this file does.

use std::sync::Arc;
use std::thread;

use crate::error::Result;
use crate::executor::InProcess;
use crate::limits::SandboxLimits;
use crate::model::{Delivery, RunId, SegmentOutcome, SegmentRequest};
use crate::pool::WorkerPool;
use crate::process::WorkerCommand;

/// Where task code runs.
#[derive(Debug, Clone, Default)]
pub enum Isolation {
    /// On executor threads inside this process: fastest, but memory and time inside one builtin
    /// are not bounded (a task can exhaust the host's memory).
    #[default]
    InProcess,
    /// In worker processes started with this command, each under `RLIMIT_AS` / `RLIMIT_CPU` and a
    /// wall-clock deadline; a worker that dies fails only the segment it was running.
    Workers(WorkerCommand),
}

/// Sandbox configuration.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Segments running at once: executor threads in-process, worker processes otherwise (≥ 1).
    pub threads: usize,
    /// Live runs kept in memory across all threads or workers; 0 disables the live cache.
    pub max_live: usize,
    /// Limits applied to every run.
    pub limits: SandboxLimits,
    /// In-process or worker processes.
    pub isolation: Isolation,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            max_live: 1_000,
            limits: SandboxLimits::default(),
            isolation: Isolation::default(),
        }
    }
}

#[derive(Debug)]
enum Backend {
    InProcess(InProcess),
    Workers(Box<WorkerPool>),
}

/// Handle to the sandbox. Cheap to clone; dropping the last clone stops the threads (or kills the
/// worker processes).
#[derive(Debug, Clone)]
pub struct Sandbox {
    backend: Arc<Backend>,
}

impl Sandbox {
    /// Starts the executor threads, or prepares the worker pool (workers start on first use).
    pub fn new(config: SandboxConfig) -> Result<Self> {
        let backend = match config.isolation {
            Isolation::InProcess => Backend::InProcess(InProcess::new(
                config.threads,
                config.max_live,
                config.limits,
            )?),
            Isolation::Workers(command) => Backend::Workers(Box::new(WorkerPool::new(
                command,
                config.threads,
                config.max_live,
                config.limits,
            ))),
        };
        Ok(Self {
            backend: Arc::new(backend),
        })
    }

    /// True when segments run in worker processes.
    pub fn uses_workers(&self) -> bool {
        matches!(*self.backend, Backend::Workers(_))
    }

    /// Runs a segment in a fresh context: starts the run (empty journal) or replays its journal and
    /// runs on. Keeps the context live afterwards when the run suspended (and the cache is enabled).
    /// In worker mode a segment that kills its worker (memory, time, crash) comes back as a failed
    /// outcome naming the limit, not as an error.
    pub async fn start_or_replay(&self, request: SegmentRequest) -> Result<SegmentOutcome> {
        match &*self.backend {
            Backend::InProcess(b) => b.start_or_replay(request).await,
            Backend::Workers(b) => b.start_or_replay(request).await,
        }
    }

    /// Applies a delivery to a live run. `Ok(None)` when the run is not live (evicted, never started
    /// here, its worker restarted, or the cache is disabled): the caller then replays with
    /// [`Sandbox::start_or_replay`].
    pub async fn resume_live(
        &self,
        run_id: RunId,
        delivery: Delivery,
    ) -> Result<Option<SegmentOutcome>> {
        match &*self.backend {
            Backend::InProcess(b) => b.resume_live(run_id, delivery).await,
            Backend::Workers(b) => b.resume_live(run_id, delivery).await,
        }
    }

    /// False when the run certainly has no live context here (never started here, forgotten,
    /// or its worker lost it); true means a [`Sandbox::resume_live`] is worth trying.
    pub fn may_be_live(&self, run_id: RunId) -> bool {
        match &*self.backend {
            Backend::InProcess(b) => b.may_be_live(run_id),
            Backend::Workers(b) => b.may_be_live(run_id),
        }
    }

    /// Drops a run's live context to free memory; a later resume replays it.
    pub fn evict(&self, run_id: RunId) {
        match &*self.backend {
            Backend::InProcess(b) => b.forget(run_id),
            Backend::Workers(b) => b.forget(run_id),
        }
    }

    /// Drops a run's live context because the run ended or was cancelled.
    pub fn forget(&self, run_id: RunId) {
        self.evict(run_id);
    }

    /// Number of live runs across all threads or workers.
    pub async fn live_count(&self) -> usize {
        match &*self.backend {
            Backend::InProcess(b) => b.live_count().await,
            Backend::Workers(b) => b.live_count().await,
        }
    }
}
