//! Calling into a loaded plugin: initialisation with the host handle, calls on blocking
//! threads under a per-plugin concurrency limit and a timeout, health and shutdown.
//! Never calls a plugin function on an async worker thread (plugins block).

use std::sync::Arc;
use std::time::Duration;

use abi_stable::std_types::RResult;
use serde_json::Value;
use tasker_plugin_api::{CallContext, ErrorCode, HostHandle, PluginError, PluginModuleRef};
use tokio::sync::Semaphore;

/// A live plugin instance the registry can call.
#[derive(Clone)]
pub struct PluginHandle {
    name: Arc<str>,
    module: PluginModuleRef,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl PluginHandle {
    /// Wraps a loaded module; `concurrency` bounds simultaneous calls.
    pub fn new(name: &str, module: PluginModuleRef, concurrency: u32, timeout: Duration) -> Self {
        Self {
            name: name.into(),
            module,
            permits: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
            timeout,
        }
    }

    /// Runs the plugin's `init` with the host handle and its configuration.
    pub async fn init(&self, host: HostHandle, config: &Value) -> Result<(), PluginError> {
        let module = self.module;
        let config = config.to_string();
        self.blocking(
            move || match (module.init())(host, config.as_str().into()) {
                RResult::ROk(()) => Ok(Value::Null),
                RResult::RErr(e) => Err(e.into()),
            },
        )
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
        let method = method.to_owned();
        let args = args.to_string();
        let ctx = serde_json::to_string(ctx).unwrap_or_default();
        let name = self.name.clone();
        self.blocking(move || {
            match (module.call())(
                method.as_str().into(),
                args.as_str().into(),
                ctx.as_str().into(),
            ) {
                RResult::ROk(text) => serde_json::from_str(text.as_str()).map_err(|e| {
                    PluginError::new(
                        ErrorCode::Internal,
                        format!("plugin '{name}' returned invalid JSON from '{method}': {e}"),
                    )
                }),
                RResult::RErr(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The plugin's health report.
    pub async fn health(&self) -> Result<Value, PluginError> {
        let module = self.module;
        self.blocking(move || match (module.health())() {
            RResult::ROk(text) => Ok(
                serde_json::from_str(text.as_str()).unwrap_or(Value::String(text.into_string()))
            ),
            RResult::RErr(e) => Err(e.into()),
        })
        .await
    }

    /// Tells the plugin to release its resources (bounded by the call timeout).
    pub async fn shutdown(&self) {
        let module = self.module;
        let _ = self
            .blocking(move || {
                (module.shutdown())();
                Ok(Value::Null)
            })
            .await;
    }

    async fn blocking(
        &self,
        work: impl FnOnce() -> Result<Value, PluginError> + Send + 'static,
    ) -> Result<Value, PluginError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
            PluginError::new(
                ErrorCode::Configuration,
                format!("plugin '{}' is shut down", self.name),
            )
        })?;
        let task = tokio::task::spawn_blocking(move || {
            // The permit lives as long as the plugin code runs, even past a timeout, so a
            // stuck plugin cannot pile up unbounded threads.
            let _permit = permit;
            work()
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(PluginError::new(
                ErrorCode::PluginPanic,
                format!(
                    "plugin '{}' failed outside its panic guard: {join}",
                    self.name
                ),
            )),
            Err(_) => Err(PluginError::new(
                ErrorCode::Timeout,
                format!(
                    "plugin '{}' did not answer within {} s",
                    self.name,
                    self.timeout.as_secs_f64()
                ),
            )),
        }
    }
}
