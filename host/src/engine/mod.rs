//! The durable task engine: the one module that joins the JavaScript sandbox, the
//! database queue and the service registry. Worker loops claim ready task runs (run a
//! segment in the sandbox) and ready stack runs (execute a host call through the
//! registry); in-process notifications wake them at once, a slow poll covers the rest.
//! The HTTP layer only submits and reads through [`Engine`]; it never runs JS itself.

mod authz;
mod dispatch;
mod journal;
mod segment;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tasker_plugin_api::{ErrorCode, PluginError};
use tasker_sandbox::Sandbox;
use tasker_store::queue::{Lease, NewRun, RunClaim};
use tasker_store::{Store, TaskRun};
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::registry::Registry;

pub use journal::JournalView;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This host's lease owner id.
    pub owner: String,
    /// How long a claim is valid without renewal.
    pub lease: Duration,
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
    call_slots: Arc<Semaphore>,
    /// Task code by code hash: replays need the exact code a run started with.
    code_cache: Mutex<HashMap<String, Arc<str>>>,
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
            call_slots: Arc::new(Semaphore::new(cfg.call_concurrency.max(1))),
            store,
            sandbox,
            registry: OnceLock::new(),
            cfg,
            wake_runs: Notify::new(),
            wake_calls: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            code_cache: Mutex::new(HashMap::new()),
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

    /// Connects the registry and starts the worker loops.
    pub fn start(self: &Arc<Self>, registry: &Arc<Registry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
        tokio::spawn(self.clone().run_loop());
        tokio::spawn(self.clone().call_loop());
        tokio::spawn(self.clone().lease_loop());
    }

    /// Submits a run of the registered task `task_name` (a child run inherits its
    /// parent's scope; a top-level one has none: see [`Engine::submit_as`]).
    pub async fn submit(
        &self,
        task_name: &str,
        input: &Value,
        parent_call: Option<i64>,
    ) -> Result<TaskRun, EngineError> {
        self.submit_as(task_name, input, parent_call, None).await
    }

    /// Submits a run acting with `scope`, the submitter's API token scope (None when
    /// authentication is off); its host calls are checked against it.
    pub async fn submit_as(
        &self,
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
        let run = self.store.create_run(&new).await?;
        tracing::debug!(run_id = run.id, task = task_name, "run submitted");
        self.wake_runs.notify_one();
        Ok(run)
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

    fn notify_ended(&self, run_id: i64) {
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

    /// Claims ready runs and executes one segment each.
    async fn run_loop(self: Arc<Self>) {
        loop {
            let free = self.segment_slots.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                self.store
                    .claim_runs(&RunClaim {
                        lease: self.lease(),
                        limit: free as i64,
                    })
                    .await
            };
            match claimed {
                Ok(runs) if !runs.is_empty() => {
                    for run in runs {
                        let Ok(permit) = self.segment_slots.clone().acquire_owned().await else {
                            return;
                        };
                        let engine = self.clone();
                        tokio::spawn(async move {
                            engine.run_segment(run).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("claiming runs failed (will retry): {e}"),
            }
            let _ = tokio::time::timeout(self.cfg.poll_interval, self.wake_runs.notified()).await;
        }
    }

    /// Renews this host's leases and reclaims expired ones (other hosts' crashes).
    async fn lease_loop(self: Arc<Self>) {
        let period = (self.cfg.lease / 3).max(Duration::from_millis(200));
        loop {
            tokio::time::sleep(period).await;
            let (owner, ms) = (self.cfg.owner.as_str(), self.cfg.lease.as_millis() as i64);
            let scope = tasker_store::queue::LeaseScope::All;
            if let Err(e) = self.store.renew_run_leases(owner, scope, ms).await {
                tracing::warn!("renewing run leases failed: {e}");
            }
            if let Err(e) = self.store.renew_call_leases(owner, scope, ms).await {
                tracing::warn!("renewing call leases failed: {e}");
            }
            match self.store.reclaim_expired().await {
                Ok(r) if r.calls + r.runs > 0 => {
                    tracing::info!(calls = r.calls, runs = r.runs, "reclaimed expired leases");
                    self.wake_runs.notify_one();
                    self.wake_calls.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("reclaiming expired leases failed: {e}"),
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
        let runs = self.store.run_counts().await?;
        let calls = self.store.call_counts().await?;
        let by_service = self.store.pending_calls_by_service().await?;
        let oldest = self.store.oldest_ready_age_ms().await?;
        Ok(serde_json::json!({
            "runs": runs.iter().map(|(k, v)| (k.as_str().to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
            "calls": calls.iter().map(|(k, v)| (k.as_str().to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
            "pendingByService": by_service.into_iter().map(|(k, v)| (k, Value::from(v))).collect::<serde_json::Map<_, _>>(),
            "oldestReadyAgeMs": oldest,
        }))
    }

    /// Releases this host's leases (graceful drain).
    pub async fn drain(&self) {
        if let Err(e) = self.store.release_leases(&self.cfg.owner).await {
            tracing::warn!("releasing leases at shutdown failed: {e}");
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
            EngineError::Store(s) => {
                tracing::error!("database error: {s}");
                PluginError::new(
                    ErrorCode::Configuration,
                    "the database is unavailable; try again",
                )
            }
        }
    }
}
