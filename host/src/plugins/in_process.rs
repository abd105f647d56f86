//! Calling a plugin loaded into the host process: every call runs on a blocking thread,
//! under the plugin's concurrency limit and a deadline that also covers waiting for a
//! slot. A call past its deadline is abandoned (its thread keeps its slot until the
//! plugin returns); past `max_stuck_calls` abandoned calls the plugin is reported unhealthy
//! and refused new calls, so one blocked plugin cannot use up the host's threads.
//! Never calls a plugin function on an async worker thread (plugins block).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use abi_stable::std_types::RResult;
use serde_json::{Value, json};
use tasker_plugin_api::{CallContext, ErrorCode, HostHandle, PluginError, PluginModuleRef};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::limits::{self, CallLimits};

/// A call is running in the plugin.
const RUNNING: u8 = 0;
/// The plugin returned before the caller gave up.
const DONE: u8 = 1;
/// The caller gave up; the thread is still inside the plugin.
const ABANDONED: u8 = 2;

/// A plugin loaded into this process.
#[derive(Clone)]
pub struct InProcessPlugin {
    name: Arc<str>,
    module: PluginModuleRef,
    limits: CallLimits,
    permits: Arc<Semaphore>,
    stuck: Arc<AtomicUsize>,
}

impl InProcessPlugin {
    /// Wraps a loaded module.
    pub fn new(name: &str, module: PluginModuleRef, limits: CallLimits) -> Self {
        Self {
            name: name.into(),
            module,
            limits,
            permits: Arc::new(Semaphore::new(limits.concurrency.max(1) as usize)),
            stuck: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs the plugin's `init` with the host handle and its configuration.
    pub async fn init(&self, host: HostHandle, config: &Value) -> Result<(), PluginError> {
        let module = self.module;
        let config = config.to_string();
        self.run("init", self.limits.timeout, move || {
            match (module.init())(host, config.as_str().into()) {
                RResult::ROk(()) => Ok(Value::Null),
                RResult::RErr(e) => Err(e.into()),
            }
        })
        .await
        .map(|_| ())
    }

    /// Calls `method` with already validated `args`.
    pub async fn call(
        &self,
        method: &str,
        args: &Value,
        ctx: &CallContext,
    ) -> Result<Value, PluginError> {
        let module = self.module;
        let name = self.name.clone();
        let owned_method = method.to_owned();
        let args = args.to_string();
        let ctx = serde_json::to_string(ctx).unwrap_or_default();
        let max_result_bytes = self.limits.max_result_bytes;
        self.run(method, self.limits.timeout, move || {
            let answer = (module.call())(
                owned_method.as_str().into(),
                args.as_str().into(),
                ctx.as_str().into(),
            );
            match answer {
                RResult::ROk(text) => {
                    limits::parse_result(&name, &owned_method, text.as_str(), max_result_bytes)
                }
                RResult::RErr(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The plugin's health report, marked unhealthy while calls are stuck inside it.
    pub async fn health(&self) -> Result<Value, PluginError> {
        let stuck = self.stuck_calls();
        if self.limits.too_many_stuck(stuck) {
            return Ok(self.stuck_report(stuck));
        }
        let module = self.module;
        let report = self
            .run(
                "health",
                self.limits.health_timeout(),
                move || match (module.health())() {
                    RResult::ROk(text) => Ok(serde_json::from_str(text.as_str())
                        .unwrap_or(Value::String(text.into_string()))),
                    RResult::RErr(e) => Err(e.into()),
                },
            )
            .await?;
        let stuck = self.stuck_calls();
        Ok(if stuck > 0 {
            self.stuck_report(stuck)
        } else {
            report
        })
    }

    /// Tells the plugin to release its resources (bounded by the call timeout).
    pub async fn shutdown(&self) {
        let module = self.module;
        let _ = self
            .run("shutdown", self.limits.timeout, move || {
                (module.shutdown())();
                Ok(Value::Null)
            })
            .await;
    }

    /// Calls abandoned past their deadline whose threads are still inside the plugin.
    pub fn stuck_calls(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    fn stuck_report(&self, stuck: usize) -> Value {
        let refused = self.limits.too_many_stuck(stuck);
        json!({
            "status": "unhealthy",
            "error": format!(
                "{stuck} call(s) are stuck inside plugin '{}' past their timeout{}",
                self.name,
                if refused { "; new calls are refused until they return" } else { "" }
            ),
            "stuckCalls": stuck,
            "maxStuckCalls": self.limits.max_stuck_calls,
            "acceptingCalls": !refused,
        })
    }

    fn refused(&self, what: &str, stuck: usize) -> PluginError {
        PluginError::new(
            ErrorCode::Configuration,
            format!(
                "plugin '{}' is unhealthy: {stuck} call(s) are stuck inside it past their \
                 timeout (limit {}), so '{what}' was refused; it recovers when they return \
                 (--isolate-plugins restarts a stuck plugin instead)",
                self.name, self.limits.max_stuck_calls
            ),
        )
    }

    async fn run(
        &self,
        what: &str,
        timeout: Duration,
        work: impl FnOnce() -> Result<Value, PluginError> + Send + 'static,
    ) -> Result<Value, PluginError> {
        let stuck = self.stuck_calls();
        if self.limits.too_many_stuck(stuck) {
            return Err(self.refused(what, stuck));
        }
        let deadline = Instant::now() + timeout;
        let permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(PluginError::new(
                        ErrorCode::Configuration,
                        format!("plugin '{}' is shut down", self.name),
                    ));
                }
                Err(_) => {
                    let limits = CallLimits {
                        timeout,
                        ..self.limits
                    };
                    return Err(limits::no_free_slot(
                        &self.name,
                        what,
                        &limits,
                        self.stuck_calls(),
                    ));
                }
            };
        let state = Arc::new(AtomicU8::new(RUNNING));
        // Dropped when this future ends for any reason (answer, deadline, caller gone):
        // a call still running then counts as stuck until its thread returns.
        let guard = AbandonGuard {
            state: state.clone(),
            stuck: self.stuck.clone(),
        };
        let stuck_counter = self.stuck.clone();
        let task = tokio::task::spawn_blocking(move || {
            // The permit stays with the thread, even past the deadline, so a plugin that is
            // not thread-safe is never entered more often than its max_concurrency allows.
            let _permit = permit;
            let result = work();
            if state
                .compare_exchange(RUNNING, DONE, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                stuck_counter.fetch_sub(1, Ordering::SeqCst);
            }
            result
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(PluginError::new(
                ErrorCode::PluginPanic,
                format!(
                    "plugin '{}' failed outside its panic guard: {join}",
                    self.name
                ),
            )),
            Err(_) => {
                drop(guard);
                Err(limits::call_timed_out(
                    &self.name,
                    what,
                    timeout,
                    self.stuck_calls(),
                ))
            }
        }
    }
}

/// Marks a call abandoned when its caller stops waiting before the plugin returned.
struct AbandonGuard {
    state: Arc<AtomicU8>,
    stuck: Arc<AtomicUsize>,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if self
            .state
            .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.stuck.fetch_add(1, Ordering::SeqCst);
        }
    }
}
