//! Keeps one isolated plugin's worker process running: starts it (spawn, hello, `init`
//! with the plugin's configuration), waits for it to exit or to be killed, fails its
//! in-flight calls with a message naming the crash, and restarts it after a growing
//! delay. Repeated crashes make the plugin report unhealthy. Also discovers plugin files
//! through short-lived workers, so that no plugin code is ever loaded into the host.
//! It never calls plugin functions itself.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};
use tokio::process::Child;
use tokio::sync::{oneshot, watch};

use super::host_handle::RegistrySlot;
use super::limits::CallLimits;
use super::loader::{self, Discovery, DiscoveryError, LoadedPlugin, SkippedFile};
use super::wire::ToWorker;
use super::worker_link::{self, LinkContext, WorkerLink, describe_exit};

/// How long a worker may take to load its plugin file and say hello.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// First restart delay; doubles with each crash in a row.
const FIRST_RESTART_DELAY: Duration = Duration::from_millis(100);
/// Longest restart delay.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);
/// Crashes in a row (without a call answered in between) that make the plugin unhealthy.
pub const CRASH_LOOP_THRESHOLD: u32 = 3;
/// How long a worker may take to shut down cleanly before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long replies already written by a dead worker are still read.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What the supervisor knows about its worker, for health reports.
#[derive(Debug, Default, Clone)]
pub struct Status {
    /// The running worker's process id.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
    /// Crashes since the last answered call.
    pub consecutive_crashes: u32,
    /// How the last crash went.
    pub last_crash: Option<String>,
}

/// State shared between an isolated plugin's proxy and its supervisor.
pub struct Shared {
    /// The service name.
    pub name: Arc<str>,
    /// The plugin file.
    pub file: std::path::PathBuf,
    /// Call limits.
    pub limits: CallLimits,
    /// Where host calls from the plugin are routed.
    pub registry: RegistrySlot,
    /// The running worker, None while it is (re)starting.
    pub current: watch::Sender<Option<Arc<WorkerLink>>>,
    /// Crash bookkeeping.
    pub status: Mutex<Status>,
    /// Set to true to stop the worker for good.
    pub stop: watch::Sender<bool>,
}

impl Shared {
    /// A copy of the crash bookkeeping.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The `isolation` block of the health report.
    pub fn report(&self, stuck: usize) -> Value {
        let status = self.status();
        json!({
            "mode": "process",
            "pid": status.pid,
            "restarts": status.restarts,
            "consecutiveCrashes": status.consecutive_crashes,
            "lastCrash": status.last_crash,
            "stuckCalls": stuck,
        })
    }
}

/// Runs until `stop` is set. Reports the first start's outcome on `first` (a plugin whose
/// first `init` fails stops the host at start-up, as in-process).
pub async fn supervise(
    shared: Arc<Shared>,
    config: Value,
    first: oneshot::Sender<Result<(), PluginError>>,
) {
    let mut first = Some(first);
    let mut stop = shared.stop.subscribe();
    let mut generation = 0;
    loop {
        generation += 1;
        match start(&shared, generation, &config).await {
            Ok((link, child, reader)) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
                let stopping = run_until_exit(&shared, &link, child, reader, &mut stop).await;
                if stopping {
                    return;
                }
            }
            Err(e) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Err(e));
                    return;
                }
                let reason = format!("restart failed: {}", e.message);
                tracing::error!(plugin = %shared.name, "plugin worker {reason}");
                shared.update(|s| {
                    s.consecutive_crashes += 1;
                    s.last_crash = Some(reason);
                });
            }
        }
        let crashes = shared.status().consecutive_crashes.max(1);
        let delay = FIRST_RESTART_DELAY
            .saturating_mul(1 << (crashes - 1).min(16))
            .min(MAX_RESTART_DELAY);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => return,
        }
        shared.update(|s| s.restarts += 1);
    }
}

type Started = (Arc<WorkerLink>, Child, tokio::task::JoinHandle<()>);

/// Spawns a worker and initialises the plugin in it.
async fn start(
    shared: &Arc<Shared>,
    generation: u64,
    config: &Value,
) -> Result<Started, PluginError> {
    let spawned =
        worker_link::spawn_worker(&shared.file, shared.limits.max_result_bytes, LOAD_TIMEOUT)
            .await
            .map_err(|reason| {
                PluginError::new(
                    ErrorCode::Configuration,
                    format!("plugin '{}' worker: {reason}", shared.name),
                )
            })?;
    let pid = spawned.pid;
    let answered = Arc::downgrade(shared);
    let ctx = Arc::new(LinkContext {
        name: shared.name.clone(),
        registry: shared.registry.clone(),
        max_result_bytes: shared.limits.max_result_bytes,
        on_answer: Box::new(move || {
            if let Some(shared) = answered.upgrade() {
                shared.update(|s| s.consecutive_crashes = 0);
            }
        }),
    });
    let (link, mut child, reader) = WorkerLink::start(spawned, generation, &shared.file, ctx);
    let id = 0; // init is the only request before any call: id 0 is never reused
    let reply = link.register(id, None, false)?;
    let init = ToWorker::Init {
        id,
        config: config.clone(),
    };
    let exchange = async {
        link.send(&init).await;
        reply.await
    };
    let outcome = tokio::time::timeout(shared.limits.timeout, exchange).await;
    let failure = match outcome {
        Ok(Ok(Ok(_))) => None,
        Ok(Ok(Err(e))) => Some(e.message),
        Ok(Err(_)) => Some("the worker went away during init".to_owned()),
        Err(_) => Some(format!(
            "init did not finish within {} s",
            shared.limits.timeout.as_secs_f64()
        )),
    };
    if let Some(reason) = failure {
        let _ = child.start_kill();
        let how = match tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await {
            Ok(Ok(status)) => format!(" (worker {})", describe_exit(&status)),
            _ => String::new(),
        };
        link.close(&reason);
        return Err(PluginError::new(
            ErrorCode::Configuration,
            format!("{reason}{how}"),
        ));
    }
    shared.update(|s| s.pid = Some(pid));
    tracing::info!(plugin = %shared.name, pid, generation, "plugin worker started");
    Ok((link, child, reader))
}

/// Serves through `link` until the worker exits, is killed or the plugin is stopped.
/// Returns true when stopped on purpose.
async fn run_until_exit(
    shared: &Arc<Shared>,
    link: &Arc<WorkerLink>,
    mut child: Child,
    reader: tokio::task::JoinHandle<()>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    shared.current.send_replace(Some(link.clone()));
    let mut stopping = false;
    let exit = tokio::select! {
        status = child.wait() => status,
        () = link.kill_requested() => {
            let _ = child.start_kill();
            child.wait().await
        }
        () = stopped(stop) => {
            stopping = true;
            shut_down(link, &mut child).await
        }
    };
    shared.current.send_replace(None);
    // Replies the worker wrote before it died are still in the pipe: deliver them first.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, reader).await;
    let how = match &exit {
        Ok(status) => describe_exit(status),
        Err(e) => format!("lost track of the process: {e}"),
    };
    let reason = match (link.kill_reason(), stopping) {
        (_, true) => format!("plugin '{}' is shut down", shared.name),
        (Some(why), false) => format!(
            "plugin '{}' worker was killed because {why}; restarting",
            shared.name
        ),
        (None, false) if how.starts_with("signal") => {
            format!("plugin '{}' crashed ({how}); restarting", shared.name)
        }
        (None, false) => format!(
            "plugin '{}' worker exited unexpectedly ({how}); restarting",
            shared.name
        ),
    };
    link.close(&reason);
    if stopping {
        tracing::info!(plugin = %shared.name, "plugin worker stopped ({how})");
        return true;
    }
    tracing::error!(plugin = %shared.name, pid = link.pid, "{reason}");
    shared.update(|s| {
        s.pid = None;
        s.consecutive_crashes += 1;
        s.last_crash = Some(reason);
    });
    false
}

/// Resolves once the plugin is being stopped for good.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send: drop it here, before any other await.
    let _ = stop.wait_for(|s| *s).await;
}

async fn shut_down(
    link: &Arc<WorkerLink>,
    child: &mut Child,
) -> std::io::Result<std::process::ExitStatus> {
    let exit = async {
        link.send(&ToWorker::Shutdown { id: u64::MAX }).await;
        child.wait().await
    };
    match tokio::time::timeout(SHUTDOWN_GRACE, exit).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Whether the worker is in a crash loop (unhealthy).
pub fn crash_looping(status: &Status) -> bool {
    status.consecutive_crashes >= CRASH_LOOP_THRESHOLD
}

/// `--isolate-plugins` discovery: each library file is loaded by a short-lived worker that
/// reports its manifest (or why it is not a usable plugin), so a plugin that crashes while
/// loading is skipped like any other bad file and never touches the host process.
pub async fn discover(dir: &Path, max_result_bytes: usize) -> Result<Discovery, DiscoveryError> {
    let mut found = Discovery::default();
    for path in loader::library_files(dir)? {
        match worker_link::spawn_worker(&path, max_result_bytes, LOAD_TIMEOUT).await {
            Ok(spawned) => {
                // Dropping the worker's stdin makes it exit; kill_on_drop covers the rest.
                found.plugins.push(LoadedPlugin {
                    path,
                    module: None,
                    manifest: spawned.manifest,
                });
            }
            Err(reason) => found.skipped.push(SkippedFile { path, reason }),
        }
    }
    Ok(found)
}
