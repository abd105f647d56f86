//! One running `plugin-worker` child as the host sees it: spawning it and reading its
//! hello, the writer and reader tasks on its pipes, and the table of requests in flight
//! (multiplexed by id). When the child dies every request still waiting fails with the
//! supervisor's reason. Restart policy lives in [`super::supervisor`], not here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tasker_plugin_api::{CallContext, ErrorCode, Manifest, PluginError};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot};

use super::host_handle::RegistrySlot;
use super::wire::{self, FRAME_SLACK_BYTES, ToHost, ToWorker, WireLogLevel};

/// A freshly spawned worker that loaded its plugin.
pub struct Spawned {
    /// The child process (killed when dropped).
    pub child: Child,
    /// Its stdin, for requests.
    pub stdin: ChildStdin,
    /// Its stdout, for replies.
    pub stdout: ChildStdout,
    /// The manifest it reported.
    pub manifest: Manifest,
    /// Its process id.
    pub pid: u32,
}

/// Starts `tasker-host plugin-worker --plugin FILE` and waits for its first frame.
/// `Err` carries the reason the file cannot be served (for a log line or a start error).
pub async fn spawn_worker(
    file: &Path,
    max_result_bytes: usize,
    load_timeout: Duration,
) -> Result<Spawned, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the host binary: {e}"))?;
    let mut child = Command::new(exe)
        .arg("plugin-worker")
        .arg("--plugin")
        .arg(file)
        .arg("--max-result-bytes")
        .arg(max_result_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C in the terminal reaches the host only, and the
        // host stops its workers in order instead of seeing them "crash" while draining.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start a plugin worker process: {e}"))?;
    let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("the plugin worker has no pipes".into());
    };
    let first = tokio::time::timeout(
        load_timeout,
        wire::read_frame_async::<ToHost>(&mut stdout, frame_limit(max_result_bytes)),
    )
    .await;
    match first {
        Ok(Ok(Some(ToHost::Hello { manifest, pid }))) => Ok(Spawned {
            child,
            stdin,
            stdout,
            manifest,
            pid,
        }),
        Ok(Ok(Some(ToHost::Refused { reason }))) => Err(reason),
        Ok(Ok(Some(other))) => Err(format!("the plugin worker answered {other:?} first")),
        Ok(Ok(None)) | Ok(Err(_)) => {
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let how = match status {
                Ok(Ok(status)) => describe_exit(&status),
                _ => "closed its pipe".to_owned(),
            };
            Err(format!(
                "the plugin worker died while loading the file ({how})"
            ))
        }
        Err(_) => Err(format!(
            "the plugin worker did not load the file within {} s",
            load_timeout.as_secs_f64()
        )),
    }
}

/// Largest frame accepted from a worker: a maximal result plus its envelope.
pub fn frame_limit(max_result_bytes: usize) -> usize {
    max_result_bytes.saturating_add(FRAME_SLACK_BYTES)
}

/// "signal 11: SIGSEGV" or "exit code 3".
pub fn describe_exit(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return match signal_name(signal) {
                Some(name) => format!("signal {signal}: {name}"),
                None => format!("signal {signal}"),
            };
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// What the reader task needs from the plugin's proxy.
pub struct LinkContext {
    /// The service name, for logs and host calls.
    pub name: Arc<str>,
    /// Where host calls are routed.
    pub registry: RegistrySlot,
    /// Largest result the worker may send.
    pub max_result_bytes: usize,
    /// Called when the worker answered a call (it is alive and working).
    pub on_answer: Box<dyn Fn() + Send + Sync>,
}

struct Pending {
    reply: Option<oneshot::Sender<Result<Value, PluginError>>>,
    /// Holds the call's concurrency slot until the worker answers or dies.
    _permit: Option<OwnedSemaphorePermit>,
    /// Whether an answer shows the plugin working (calls, not health checks).
    is_call: bool,
}

#[derive(Default)]
struct Table {
    closed: Option<String>,
    requests: HashMap<u64, Pending>,
}

/// The host's side of one running worker.
pub struct WorkerLink {
    /// Which start of the worker this is (1 for the first).
    pub generation: u64,
    /// The child's process id.
    pub pid: u32,
    file: PathBuf,
    /// Requests are written by the calling task itself (no writer task to wake up).
    stdin: tokio::sync::Mutex<ChildStdin>,
    table: Mutex<Table>,
    kill_reason: Mutex<Option<String>>,
    kill: Notify,
}

impl WorkerLink {
    /// Wires up a spawned worker: a writer task for requests and a reader task for
    /// replies, log lines and host calls. Returns the link, the child and the reader task.
    pub fn start(
        spawned: Spawned,
        generation: u64,
        file: &Path,
        ctx: Arc<LinkContext>,
    ) -> (Arc<Self>, Child, tokio::task::JoinHandle<()>) {
        let Spawned {
            child,
            stdin,
            stdout,
            pid,
            ..
        } = spawned;
        let link = Arc::new(Self {
            generation,
            pid,
            file: file.to_owned(),
            stdin: tokio::sync::Mutex::new(stdin),
            table: Mutex::new(Table::default()),
            kill_reason: Mutex::new(None),
            kill: Notify::new(),
        });
        let reader = tokio::spawn(read_frames(Arc::downgrade(&link), stdout, ctx));
        (link, child, reader)
    }

    /// Registers request `id`; the receiver gets its outcome. Fails at once if the worker
    /// has already gone.
    pub fn register(
        &self,
        id: u64,
        permit: Option<OwnedSemaphorePermit>,
        is_call: bool,
    ) -> Result<oneshot::Receiver<Result<Value, PluginError>>, PluginError> {
        let mut table = self.lock_table();
        if let Some(reason) = &table.closed {
            return Err(PluginError::new(ErrorCode::Internal, reason.clone()));
        }
        let (tx, rx) = oneshot::channel();
        table.requests.insert(
            id,
            Pending {
                reply: Some(tx),
                _permit: permit,
                is_call,
            },
        );
        Ok(rx)
    }

    /// Writes a request frame. A worker that is gone fails the request through `close`.
    pub async fn send(&self, message: &ToWorker) {
        let frame = match wire::encode(message) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(file = %self.file.display(), "cannot encode a request: {e}");
                return;
            }
        };
        let mut stdin = self.stdin.lock().await;
        // A failed write means the worker is gone; the supervisor notices its exit.
        let _ = stdin.write_all(&frame).await;
    }

    /// The caller stopped waiting for `id`; returns how many requests are now stuck.
    pub fn abandon(&self, id: u64) -> usize {
        let mut table = self.lock_table();
        if let Some(pending) = table.requests.get_mut(&id) {
            pending.reply = None;
        }
        stuck_in(&table)
    }

    /// Requests whose callers gave up while the worker still works on them.
    pub fn stuck(&self) -> usize {
        stuck_in(&self.lock_table())
    }

    /// Asks the supervisor to kill this worker (the first reason given wins).
    pub fn request_kill(&self, reason: String) {
        let mut slot = self.kill_reason.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.kill.notify_one();
    }

    /// Resolves when someone asked for this worker to be killed.
    pub async fn kill_requested(&self) {
        self.kill.notified().await;
    }

    /// Why the worker was killed on purpose, if it was.
    pub fn kill_reason(&self) -> Option<String> {
        self.kill_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Fails every request still waiting with `reason` and refuses new ones.
    pub fn close(&self, reason: &str) {
        let requests = {
            let mut table = self.lock_table();
            table.closed = Some(reason.to_owned());
            std::mem::take(&mut table.requests)
        };
        for (_, pending) in requests {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(PluginError::new(ErrorCode::Internal, reason)));
            }
        }
    }

    fn complete(&self, id: u64, result: Result<Value, PluginError>) -> bool {
        let pending = self.lock_table().requests.remove(&id);
        let Some(pending) = pending else {
            return false;
        };
        if let Some(reply) = pending.reply {
            let _ = reply.send(result);
        }
        pending.is_call
    }

    fn lock_table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn stuck_in(table: &Table) -> usize {
    table
        .requests
        .values()
        .filter(|p| p.reply.as_ref().is_none_or(|r| r.is_closed()))
        .count()
}

async fn read_frames(link: Weak<WorkerLink>, stdout: ChildStdout, ctx: Arc<LinkContext>) {
    let mut stdout = tokio::io::BufReader::new(stdout);
    let limit = frame_limit(ctx.max_result_bytes);
    loop {
        let message = match wire::read_frame_async::<ToHost>(&mut stdout, limit).await {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(e) => {
                if let Some(link) = link.upgrade() {
                    link.request_kill(format!("its worker broke the pipe protocol ({e})"));
                }
                return;
            }
        };
        let Some(link) = link.upgrade() else { return };
        match message {
            ToHost::Reply { id, result } => {
                if link.complete(id, wire::from_wire(result)) {
                    (ctx.on_answer)();
                }
            }
            ToHost::Log { level, message } => log_line(&ctx.name, level, &message),
            ToHost::CallService {
                id,
                service,
                method,
                args,
            } => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let result = route(&ctx, &service, &method, args).await;
                    link.send(&ToWorker::HostReply {
                        id,
                        result: wire::to_wire(result),
                    })
                    .await;
                });
            }
            ToHost::Hello { .. } | ToHost::Refused { .. } => {}
        }
    }
}

async fn route(
    ctx: &LinkContext,
    service: &str,
    method: &str,
    args: Value,
) -> Result<Value, PluginError> {
    let registry = ctx.registry.get().and_then(Weak::upgrade).ok_or_else(|| {
        PluginError::internal("the host registry is not available (starting or shutting down)")
    })?;
    let call_ctx = CallContext {
        caller: Some(ctx.name.to_string()),
        ..CallContext::default()
    };
    registry.call(service, method, args, call_ctx).await
}

fn log_line(plugin: &str, level: WireLogLevel, message: &str) {
    match level {
        WireLogLevel::Trace => {
            tracing::trace!(target: "plugin", plugin, isolated = true, "{message}")
        }
        WireLogLevel::Debug => {
            tracing::debug!(target: "plugin", plugin, isolated = true, "{message}")
        }
        WireLogLevel::Info => {
            tracing::info!(target: "plugin", plugin, isolated = true, "{message}")
        }
        WireLogLevel::Warn => {
            tracing::warn!(target: "plugin", plugin, isolated = true, "{message}")
        }
        WireLogLevel::Error => {
            tracing::error!(target: "plugin", plugin, isolated = true, "{message}")
        }
    }
}
