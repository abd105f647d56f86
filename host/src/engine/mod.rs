//! The durable task engine: the one module that joins the JavaScript sandbox, the
//! database queue and the service registry. Worker loops claim ready task runs (run a
//! segment in the sandbox) and ready stack runs (execute a host call through the
//! registry); in-process notifications wake them at once, a slow poll covers the rest.
//! The HTTP layer only submits and reads through [`Engine`]; it never runs JS itself.

mod authz;
mod batch;
mod cluster;
mod dispatch;
mod early_resume;
mod journal;
mod outcome;
mod segment;
mod submit;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_sandbox::Sandbox;
use tasker_store::Store;
use tasker_store::queue::{Lease, RunClaim};
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::registry::Registry;

pub use cluster::{cluster_report, queue_report};
pub use journal::JournalView;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This host's lease owner id.
    pub owner: String,
    /// How long a claim is valid without renewal; also how long a silent host counts as live.
    pub lease: Duration,
    /// How often leases and the heartbeat are renewed (well below `lease`).
    pub renew_interval: Duration,
    /// How long a call may wait for a live host serving its service (PostgreSQL clusters).
    pub unserved_deadline: Duration,
    /// Most task segments in flight.
    pub segment_concurrency: usize,
    /// Most host calls in flight.
    pub call_concurrency: usize,
    /// Fallback poll period (anything a notification missed).
    pub poll_interval: Duration,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// Per-service timeouts overriding `call_timeout` (by canonical name or alias).
    pub service_timeouts: HashMap<String, Duration>,
    /// Attempts per host call, the first included.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base: Duration,
    /// Keep suspended runs' contexts in memory (the fast path); off = replay-only.
    pub live_cache: bool,
    /// Check each host call against the scope its run was submitted with (API tokens on).
    pub enforce_run_scopes: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            owner: format!(
                "host-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            lease: Duration::from_secs(30),
            renew_interval: Duration::from_secs(10),
            unserved_deadline: Duration::from_secs(60),
            segment_concurrency: 64,
            call_concurrency: 512,
            poll_interval: Duration::from_secs(1),
            call_timeout: Duration::from_secs(30),
            service_timeouts: HashMap::new(),
            max_attempts: 3,
            retry_base: Duration::from_millis(200),
            live_cache: true,
            enforce_run_scopes: false,
        }
    }
}

/// Errors of engine operations called from the API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] tasker_store::Error),
    /// A client-facing problem (unknown task, bad input...).
    #[error("{0}")]
    Request(PluginError),
    /// The sandbox's executor failed (not the task: the machinery).
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// A group commit of call results failed (the database error, as text).
    #[error("database (batched commit): {0}")]
    Batch(String),
}

/// The engine; cheap to clone through `Arc`.
pub struct Engine {
    store: Store,
    sandbox: Sandbox,
    registry: OnceLock<Weak<Registry>>,
    cfg: EngineConfig,
    wake_runs: Notify,
    wake_calls: Notify,
    waiters: Mutex<HashMap<i64, Vec<oneshot::Sender<()>>>>,
    segment_slots: Arc<Semaphore>,
    /// Runs this host holds (leased) that wait in memory for a segment slot.
    slot_waiters: std::sync::atomic::AtomicUsize,
    call_slots: Arc<Semaphore>,
    /// Task code by code hash: replays need the exact code a run started with.
    code_cache: Mutex<HashMap<String, Arc<str>>>,
    /// Service names (canonical and aliases) this host serves, set at start.
    served: OnceLock<Vec<String>>,
    /// The gateway address published in the `hosts` table.
    address: Mutex<String>,
    /// Set by [`Engine::drain`]: claim nothing more.
    draining: AtomicBool,
    /// Group commit of call results and segment ends, started with the loops.
    journal: OnceLock<batch::JournalWriter>,
    /// Runs and calls this host is working on right now: the only leases it renews. Work
    /// abandoned on an error path is thus never kept alive by renewal; its lease expires and
    /// any host takes it over.
    held_runs: Mutex<std::collections::HashSet<i64>>,
    held_calls: Mutex<std::collections::HashSet<i64>>,
    /// Sandbox failures per run on this host (see `segment.rs`).
    sandbox_failures: Mutex<HashMap<i64, u32>>,
    /// Ids of the hosts seen live at the last heartbeat (wake-ups for runs of dead hosts).
    live_hosts: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.cfg.owner)
            .finish()
    }
}

/// sha256 of task code, hex.
pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

impl Engine {
    /// Builds the engine; call [`Engine::start`] once the registry exists.
    pub fn new(store: Store, sandbox: Sandbox, cfg: EngineConfig) -> Arc<Self> {
        Arc::new(Self {
            segment_slots: Arc::new(Semaphore::new(cfg.segment_concurrency.max(1))),
            slot_waiters: Default::default(),
            call_slots: Arc::new(Semaphore::new(cfg.call_concurrency.max(1))),
            store,
            sandbox,
            registry: OnceLock::new(),
            cfg,
            wake_runs: Notify::new(),
            wake_calls: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            code_cache: Mutex::new(HashMap::new()),
            served: OnceLock::new(),
            address: Mutex::new(String::new()),
            draining: AtomicBool::new(false),
            journal: OnceLock::new(),
            held_runs: Mutex::new(Default::default()),
            held_calls: Mutex::new(Default::default()),
            sandbox_failures: Mutex::new(HashMap::new()),
            live_hosts: Mutex::new(Default::default()),
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    fn registry(&self) -> Option<Arc<Registry>> {
        self.registry.get().and_then(Weak::upgrade)
    }

    fn lease(&self) -> Lease<'_> {
        Lease {
            owner: &self.cfg.owner,
            duration_ms: self.cfg.lease.as_millis() as i64,
        }
    }

    /// Connects the registry, registers this host and starts the worker loops.
    pub async fn start(self: &Arc<Self>, registry: &Arc<Registry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
        let mut served: Vec<String> = registry
            .services()
            .iter()
            .flat_map(|s| std::iter::once(s.name.clone()).chain(s.aliases.iter().cloned()))
            .collect();
        served.sort();
        served.dedup();
        let _ = self.served.set(served);
        self.register().await;
        let _ = self.journal.set(batch::JournalWriter::start(
            self.store.clone(),
            self.cfg.owner.as_str().into(),
            self.cfg.lease.as_millis() as i64,
        ));
        tokio::spawn(self.clone().run_loop());
        tokio::spawn(self.clone().call_loop());
        tokio::spawn(self.clone().lease_loop());
        tokio::spawn(self.clone().listen_loop());
    }

    /// This host's id (its lease owner name).
    pub fn host_id(&self) -> &str {
        &self.cfg.owner
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Claims ready runs and executes one segment each.
    ///
    /// It queues for a segment slot like the runs taken over by completions do (the semaphore
    /// is FIFO), then claims as many runs as slots are free: queued runs get their turn under
    /// load instead of waiting for a moment when no slot is taken.
    async fn run_loop(self: Arc<Self>) {
        loop {
            if self.draining() {
                return;
            }
            let Ok(first) = self.segment_slots.clone().acquire_owned().await else {
                return;
            };
            let mut slots = vec![first];
            while let Ok(more) = self.segment_slots.clone().try_acquire_owned() {
                slots.push(more);
            }
            let claimed = self
                .store
                .claim_runs(&RunClaim {
                    lease: self.lease(),
                    limit: slots.len() as i64,
                })
                .await;
            match claimed {
                Ok(runs) if !runs.is_empty() => {
                    for (run, slot) in runs.into_iter().zip(slots) {
                        self.spawn_segment(run, segment::SegmentStart::Claimed, slot);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("claiming runs failed (will retry): {}", Causes(&e)),
            }
            drop(slots);
            let _ = tokio::time::timeout(self.cfg.poll_interval, self.wake_runs.notified()).await;
        }
    }

    /// Renews this host's heartbeat and leases, reclaims expired ones (other hosts' crashes)
    /// and fails calls that waited too long for a host serving their service.
    async fn lease_loop(self: Arc<Self>) {
        let period = self.cfg.renew_interval.max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(period).await;
            if self.draining() {
                return;
            }
            self.heartbeat().await;
            let (owner, ms) = (self.cfg.owner.as_str(), self.cfg.lease.as_millis() as i64);
            let runs = held_ids(&self.held_runs);
            let calls = held_ids(&self.held_calls);
            use tasker_store::queue::LeaseScope::Ids;
            if !runs.is_empty()
                && let Err(e) = self.store.renew_run_leases(owner, Ids(&runs), ms).await
            {
                tracing::warn!("renewing run leases failed: {}", Causes(&e));
            }
            if !calls.is_empty()
                && let Err(e) = self.store.renew_call_leases(owner, Ids(&calls), ms).await
            {
                tracing::warn!("renewing call leases failed: {}", Causes(&e));
            }
            match self.store.reclaim_expired().await {
                Ok(r) if r.calls + r.runs > 0 => {
                    tracing::info!(calls = r.calls, runs = r.runs, "reclaimed expired leases");
                    self.wake_runs.notify_one();
                    self.wake_calls.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("reclaiming expired leases failed: {}", Causes(&e)),
            }
            if let Err(e) = self.fail_unserved_calls().await {
                tracing::warn!("checking for unserved calls failed: {}", Causes(&e));
            }
        }
    }

    /// Journals a result supplied from outside for a call that is waiting (pending: not yet
    /// run, or waiting for a retry), as the seed's `deno-executor/resume` did. A call that is
    /// running or already settled is refused: the journal never holds two results.
    pub async fn resume_call(&self, call_id: i64, result: &Value) -> Result<Value, EngineError> {
        let call = self.store.get_call(call_id).await?.ok_or_else(|| {
            EngineError::Request(PluginError::not_found(format!(
                "stack run {call_id} does not exist"
            )))
        })?;
        let conflict =
            |msg: String| EngineError::Request(PluginError::new(ErrorCode::Conflict, msg));
        if call.status.is_settled() {
            return Err(conflict(format!(
                "stack run {call_id} already has a result ({})",
                call.status.as_str()
            )));
        }
        if self
            .store
            .claim_call(call_id, self.lease())
            .await?
            .is_none()
        {
            return Err(conflict(format!(
                "stack run {call_id} is being executed; its result will be journaled when it finishes"
            )));
        }
        if let tasker_store::queue::CallOutcome::Settled(wake) = self
            .store
            .complete_call(call_id, &self.cfg.owner, &result.to_string())
            .await?
            && wake.run_status == tasker_store::TaskRunStatus::Resumable
        {
            self.wake_runs.notify_one();
        }
        Ok(
            serde_json::json!({ "stackRunId": call_id, "taskRunId": call.task_run_id, "status": "completed" }),
        )
    }

    /// Wakes the worker loops (an external trigger; normally not needed).
    pub fn wake(&self) {
        self.wake_runs.notify_one();
        self.wake_calls.notify_one();
    }

    /// Counts of runs and calls by status, and the age of the oldest ready call.
    pub async fn queue_report(&self) -> Result<Value, EngineError> {
        Ok(cluster::queue_report(&self.store).await?)
    }

    /// Graceful drain: stops claiming, lets segments and calls in flight finish for up to
    /// `grace`, hands back whatever is still held and leaves the cluster.
    pub async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        self.wake();
        let deadline = tokio::time::Instant::now() + grace;
        let all_free = || {
            self.segment_slots.available_permits() == self.cfg.segment_concurrency.max(1)
                && self.call_slots.available_permits() == self.cfg.call_concurrency.max(1)
        };
        while !all_free() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match self.store.release_leases(&self.cfg.owner).await {
            Ok(r) if r.calls + r.runs > 0 => {
                tracing::info!(
                    calls = r.calls,
                    runs = r.runs,
                    "released leases at shutdown"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("releasing leases at shutdown failed: {}", Causes(&e)),
        }
        if let Err(e) = self.store.deregister_host(&self.cfg.owner).await {
            tracing::warn!("leaving the cluster failed: {}", Causes(&e));
        }
    }
}

/// Maps an engine error to the client-facing error (database detail stays in the log).
impl From<EngineError> for PluginError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Request(p) => p,
            EngineError::Sandbox(s) => {
                tracing::error!("sandbox error: {s}");
                PluginError::internal("the task sandbox failed")
            }
            EngineError::Batch(s) => {
                tracing::error!("database error (batched commit): {s}");
                PluginError::new(
                    ErrorCode::Configuration,
                    "the database is unavailable; try again",
                )
            }
            EngineError::Store(s) => {
                tracing::error!("{}", Causes(&s));
                PluginError::new(
                    ErrorCode::Configuration,
                    "the database is unavailable; try again",
                )
            }
        }
    }
}

/// Adds (`held`) or removes a run or call id from a set of work in flight.
fn hold(set: &Mutex<std::collections::HashSet<i64>>, id: i64, held: bool) {
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    if held {
        set.insert(id);
    } else {
        set.remove(&id);
    }
}

/// The ids in a set of work in flight, ascending: renewals then lock rows in the same order
/// as journal batches do (no deadlock between the two on PostgreSQL).
fn held_ids(set: &Mutex<std::collections::HashSet<i64>>) -> Vec<i64> {
    let mut ids: Vec<i64> = set
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect();
    ids.sort_unstable();
    ids
}

/// An error followed by its causes ("a: b: c"), for logs: the store's errors name the failed
/// step and keep the database's own message as their source.
pub(crate) struct Causes<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
