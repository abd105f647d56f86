//! The host side of the plugin ABI's `HostApi`: forwards plugin log lines into the host's
//! tracing under the plugin's name and routes `call_service` through the registry.
//! It must never panic (a panic here would unwind into plugin code).

use std::sync::{Arc, OnceLock, Weak};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use serde_json::Value;
use tasker_plugin_api::{
    CallContext, HostApi, HostApi_TO, HostHandle, LogLevel, PluginError, RPluginError,
};

use crate::registry::Registry;

/// Where a host handle finds the registry; filled in once the registry exists.
pub type RegistrySlot = Arc<OnceLock<Weak<Registry>>>;

/// The `HostApi` implementation handed to one plugin.
pub struct PluginHost {
    plugin: String,
    config: String,
    registry: RegistrySlot,
    runtime: tokio::runtime::Handle,
}

impl PluginHost {
    /// Builds the ABI handle for plugin `plugin` with its configuration.
    pub fn handle(
        plugin: &str,
        config: &Value,
        registry: RegistrySlot,
        runtime: tokio::runtime::Handle,
    ) -> HostHandle {
        let host = PluginHost {
            plugin: plugin.to_owned(),
            config: config.to_string(),
            registry,
            runtime,
        };
        HostApi_TO::from_value(host, TD_Opaque)
    }

    fn route(&self, service: &str, method: &str, args_json: &str) -> Result<Value, PluginError> {
        let args: Value = serde_json::from_str(args_json).map_err(|e| {
            PluginError::validation(format!(
                "arguments from plugin '{}' are not JSON: {e}",
                self.plugin
            ))
        })?;
        let registry = self.registry.get().and_then(Weak::upgrade).ok_or_else(|| {
            PluginError::internal("the host registry is not available (starting or shutting down)")
        })?;
        let ctx = CallContext {
            caller: Some(self.plugin.clone()),
            ..CallContext::default()
        };
        let call = registry.call(service, method, args, ctx);
        match tokio::runtime::Handle::try_current() {
            // On a host async worker (should not happen: plugins run on blocking threads),
            // hand the worker back to the scheduler while waiting.
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(call)),
            Err(_) => self.runtime.block_on(call),
        }
    }
}

impl HostApi for PluginHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let plugin = self.plugin.as_str();
        let message = message.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }

    fn call_service(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        args_json: RStr<'_>,
    ) -> RResult<RString, RPluginError> {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.route(service.as_str(), method.as_str(), args_json.as_str())
        }));
        match outcome {
            Ok(Ok(value)) => RResult::ROk(value.to_string().into()),
            Ok(Err(e)) => RResult::RErr(e.into()),
            Err(_) => RResult::RErr(
                PluginError::internal("the host failed while routing the call").into(),
            ),
        }
    }

    fn config_json(&self) -> RString {
        self.config.as_str().into()
    }
}
