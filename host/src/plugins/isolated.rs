//! `--isolate-plugins`: the host-side proxy for a plugin that runs in its own
//! `tasker-host plugin-worker` process. It offers the same calls as the in-process runtime
//! (init, call, health, shutdown) so the registry cannot tell the difference; calls are
//! multiplexed by id over the worker's pipes. A crash fails only the calls in flight, and
//! a worker with too many calls stuck past their timeout is killed and restarted.
//! Plugin code never runs in the host process in this mode.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, ErrorCode, PluginError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::Instant;

use super::host_handle::RegistrySlot;
use super::limits::{self, CallLimits};
use super::supervisor::{self, Shared, Status};
use super::wire::ToWorker;
use super::worker_link::WorkerLink;

/// What an isolated plugin is built from.
#[derive(Debug, Clone)]
pub struct IsolatedOptions {
    /// The service name.
    pub name: String,
    /// The plugin file the worker loads.
    pub file: PathBuf,
    /// Call limits.
    pub limits: CallLimits,
    /// Where the plugin's host calls are routed.
    pub registry: RegistrySlot,
}

/// A plugin served by a supervised worker process.
#[derive(Clone)]
pub struct IsolatedPlugin {
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    next_id: Arc<AtomicU64>,
    supervisor: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl IsolatedPlugin {
    /// Prepares the proxy; nothing runs until [`IsolatedPlugin::init`].
    pub fn new(options: IsolatedOptions) -> Self {
        let (current, _) = watch::channel(None);
        let (stop, _) = watch::channel(false);
        let concurrency = options.limits.concurrency.max(1) as usize;
        Self {
            shared: Arc::new(Shared {
                name: options.name.into(),
                file: options.file,
                limits: options.limits,
                registry: options.registry,
                current,
                status: Mutex::new(Status::default()),
                stop,
            }),
            permits: Arc::new(Semaphore::new(concurrency)),
            next_id: Arc::new(AtomicU64::new(1)),
            supervisor: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts the worker and initialises the plugin in it with `config` (kept for restarts).
    pub async fn init(&self, config: &Value) -> Result<(), PluginError> {
        let (first_tx, first_rx) = oneshot::channel();
        let task = tokio::spawn(supervisor::supervise(
            self.shared.clone(),
            config.clone(),
            first_tx,
        ));
        *self.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        first_rx.await.unwrap_or_else(|_| {
            Err(PluginError::internal(format!(
                "plugin '{}' supervisor stopped before the first start",
                self.shared.name
            )))
        })
    }

    /// Calls `method` in the worker.
    pub async fn call(
        &self,
        method: &str,
        args: &Value,
        ctx: &CallContext,
    ) -> Result<Value, PluginError> {
        let limits = self.shared.limits;
        let deadline = Instant::now() + limits.timeout;
        let permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(self.shut_down_error()),
                Err(_) => {
                    let stuck = self.current().map_or(0, |l| l.stuck());
                    return Err(limits::no_free_slot(
                        &self.shared.name,
                        method,
                        &limits,
                        stuck,
                    ));
                }
            };
        let request = |id| ToWorker::Call {
            id,
            method: method.to_owned(),
            args: args.clone(),
            ctx: ctx.clone(),
        };
        self.request(method, limits.timeout, deadline, Some(permit), request)
            .await
    }

    /// Health: the plugin's own report plus the `isolation` block; unhealthy while the
    /// worker is down, crash-looping or has calls stuck in it.
    pub async fn health(&self) -> Result<Value, PluginError> {
        let link = self.current();
        let stuck = link.as_ref().map_or(0, |l| l.stuck());
        let isolation = self.shared.report(stuck);
        let status = self.shared.status();
        let crash_loop = supervisor::crash_looping(&status).then(|| {
            format!(
                "plugin crashed {} times in a row; last: {}",
                status.consecutive_crashes,
                status.last_crash.as_deref().unwrap_or("-")
            )
        });
        if link.is_none() {
            let why = status.last_crash.as_deref().unwrap_or("it is starting");
            let error =
                crash_loop.unwrap_or_else(|| format!("plugin worker is not running: {why}"));
            return Ok(json!({
                "status": "unhealthy",
                "error": error,
                "isolation": isolation,
            }));
        }
        let timeout = self.shared.limits.health_timeout();
        let deadline = Instant::now() + timeout;
        let mut report = match self
            .request("health", timeout, deadline, None, |id| ToWorker::Health {
                id,
            })
            .await
        {
            Ok(Value::Object(report)) => report,
            Ok(other) => [("details".to_owned(), other)].into_iter().collect(),
            Err(e) => [
                ("status".to_owned(), json!("unhealthy")),
                ("error".to_owned(), json!(e.message)),
            ]
            .into_iter()
            .collect(),
        };
        if let Some(error) = crash_loop {
            report.insert("status".into(), json!("unhealthy"));
            report.insert("error".into(), json!(error));
        } else if stuck > 0 {
            report.insert("status".into(), json!("unhealthy"));
            report.insert(
                "error".into(),
                json!(format!(
                    "{stuck} call(s) are stuck in the worker past their timeout"
                )),
            );
        }
        report.insert("isolation".into(), isolation);
        Ok(Value::Object(report))
    }

    /// Stops the worker (graceful `shutdown`, then kill) and waits for the supervisor.
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        self.permits.close();
        let task = self
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(self.shared.limits.timeout, task).await;
        }
    }

    fn current(&self) -> Option<Arc<WorkerLink>> {
        self.shared.current.borrow().clone()
    }

    /// Waits (until `deadline`) for a running worker, sends the request and waits for
    /// its answer; a request past its deadline is abandoned and may get the worker killed.
    async fn request(
        &self,
        what: &str,
        timeout: Duration,
        deadline: Instant,
        permit: Option<OwnedSemaphorePermit>,
        build: impl FnOnce(u64) -> ToWorker,
    ) -> Result<Value, PluginError> {
        let is_call = permit.is_some();
        let mut current = self.shared.current.subscribe();
        let link = match tokio::time::timeout_at(deadline, current.wait_for(Option::is_some)).await
        {
            Ok(Ok(link)) => link.clone(),
            Ok(Err(_)) => None,
            Err(_) => return Err(self.not_running_error(what)),
        };
        let Some(link) = link else {
            return Err(self.shut_down_error());
        };
        // Callers that gave up on their own (an engine deadline, a closed HTTP connection)
        // leave stuck requests behind too: check before adding one.
        let stuck = link.stuck();
        if self.shared.limits.too_many_stuck(stuck) {
            link.request_kill(format!("{stuck} call(s) were stuck past their timeout"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = link.register(id, permit, is_call)?;
        let request = build(id);
        // The write is under the deadline too: a worker that stopped reading fills the pipe.
        let exchange = async {
            link.send(&request).await;
            reply.await
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PluginError::new(
                ErrorCode::Internal,
                format!(
                    "plugin '{}' worker went away during '{what}'",
                    self.shared.name
                ),
            )),
            Err(_) => {
                let stuck = link.abandon(id);
                if self.shared.limits.too_many_stuck(stuck) {
                    link.request_kill(format!("{stuck} call(s) were stuck past their timeout"));
                }
                Err(limits::call_timed_out(
                    &self.shared.name,
                    what,
                    timeout,
                    stuck,
                ))
            }
        }
    }

    fn not_running_error(&self, what: &str) -> PluginError {
        let status = self.shared.status();
        PluginError::new(
            ErrorCode::Configuration,
            format!(
                "plugin '{}' has no running worker for '{what}': it is restarting after {} \
                 crash(es) in a row (last: {})",
                self.shared.name,
                status.consecutive_crashes,
                status.last_crash.as_deref().unwrap_or("none")
            ),
        )
    }

    fn shut_down_error(&self) -> PluginError {
        PluginError::new(
            ErrorCode::Configuration,
            format!("plugin '{}' is shut down", self.shared.name),
        )
    }
}
