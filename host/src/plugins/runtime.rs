//! The one interface the registry uses to call a plugin, whichever way it runs: loaded into
//! the host ([`InProcessPlugin`]) or in its own supervised worker process
//! ([`IsolatedPlugin`], `--isolate-plugins`). Both bound every call by the plugin's
//! concurrency limit, a timeout, a result-size limit and a cap on stuck calls
//! ([`CallLimits`]). Nothing outside `plugins/` needs to know which runtime a plugin uses.

use std::time::Duration;

use serde_json::Value;
use tasker_plugin_api::{CallContext, HostHandle, PluginError, PluginModuleRef};

pub use super::in_process::InProcessPlugin;
pub use super::isolated::{IsolatedOptions, IsolatedPlugin};
pub use super::limits::CallLimits;

/// A live plugin the registry can call.
#[derive(Clone)]
pub struct PluginHandle {
    name: String,
    runtime: Runtime,
}

#[derive(Clone)]
enum Runtime {
    InProcess(InProcessPlugin),
    Isolated(IsolatedPlugin),
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.runtime {
            Runtime::InProcess(_) => "in-process",
            Runtime::Isolated(_) => "isolated",
        };
        f.debug_struct("PluginHandle")
            .field("name", &self.name)
            .field("mode", &mode)
            .finish()
    }
}

impl PluginHandle {
    /// An in-process plugin with default limits but the given concurrency and timeout.
    pub fn new(name: &str, module: PluginModuleRef, concurrency: u32, timeout: Duration) -> Self {
        let limits = CallLimits {
            concurrency,
            timeout,
            ..CallLimits::default()
        };
        Self::in_process(name, module, limits)
    }

    /// A plugin loaded into the host process.
    pub fn in_process(name: &str, module: PluginModuleRef, limits: CallLimits) -> Self {
        Self {
            name: name.to_owned(),
            runtime: Runtime::InProcess(InProcessPlugin::new(name, module, limits)),
        }
    }

    /// A plugin served by its own worker process.
    pub fn isolated(options: IsolatedOptions) -> Self {
        Self {
            name: options.name.clone(),
            runtime: Runtime::Isolated(IsolatedPlugin::new(options)),
        }
    }

    /// Whether the plugin runs in its own process.
    pub fn is_isolated(&self) -> bool {
        matches!(self.runtime, Runtime::Isolated(_))
    }

    /// Initialises the plugin with its configuration. An isolated plugin gets its host
    /// handle inside the worker, so `host` is only used in-process.
    pub async fn init(&self, host: HostHandle, config: &Value) -> Result<(), PluginError> {
        match &self.runtime {
            Runtime::InProcess(p) => p.init(host, config).await,
            Runtime::Isolated(p) => p.init(config).await,
        }
    }

    /// Calls `method` with already validated `args`.
    pub async fn call(
        &self,
        method: &str,
        args: &Value,
        ctx: &CallContext,
    ) -> Result<Value, PluginError> {
        match &self.runtime {
            Runtime::InProcess(p) => p.call(method, args, ctx).await,
            Runtime::Isolated(p) => p.call(method, args, ctx).await,
        }
    }

    /// The plugin's health report.
    pub async fn health(&self) -> Result<Value, PluginError> {
        match &self.runtime {
            Runtime::InProcess(p) => p.health().await,
            Runtime::Isolated(p) => p.health().await,
        }
    }

    /// Releases the plugin's resources (stops its worker when isolated).
    pub async fn shutdown(&self) {
        match &self.runtime {
            Runtime::InProcess(p) => p.shutdown().await,
            Runtime::Isolated(p) => p.shutdown().await,
        }
    }
}
