//! The host handle a plugin receives at `init`: logging into the host's tracing, calls to
//! other services through the host's registry, and the plugin's configuration.
//! The host implements [`HostApi`]; plugins use the safe [`Host`] wrapper.

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RBox, RResult, RStr, RString},
};
use serde_json::Value;

use crate::{PluginError, RPluginError};

/// Log levels forwarded to the host's `tracing`.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected but handled.
    Warn = 3,
    /// A failure.
    Error = 4,
}

/// What the host offers a plugin. Implemented by the host only.
#[sabi_trait]
pub trait HostApi: Send + Sync {
    /// Writes one log line into the host's tracing, attributed to the plugin.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Calls `method` of `service` (name or alias) through the host registry, with JSON args.
    /// Blocks the calling thread until the call finishes.
    fn call_service(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        args_json: RStr<'_>,
    ) -> RResult<RString, RPluginError>;

    /// The plugin's configuration object as JSON (`{}` when none was given).
    #[sabi(last_prefix_field)]
    fn config_json(&self) -> RString;
}

/// The ABI form of the host handle (a boxed trait object).
pub type HostHandle = HostApi_TO<'static, RBox<()>>;

/// Safe wrapper around the host handle, cloneable into background threads.
#[derive(Clone)]
pub struct Host {
    inner: std::sync::Arc<HostHandle>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Host")
    }
}

impl Host {
    /// Wraps the handle received from the host.
    pub fn new(handle: HostHandle) -> Self {
        Self {
            inner: std::sync::Arc::new(handle),
        }
    }

    /// Logs a message at `level` in the host's logs, under this plugin's name.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message.into());
    }
    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }
    /// Logs at warn level.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }
    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    /// Calls another service through the host registry and returns its result.
    pub fn call_service(
        &self,
        service: &str,
        method: &str,
        args: &Value,
    ) -> Result<Value, PluginError> {
        let args = args.to_string();
        match self
            .inner
            .call_service(service.into(), method.into(), args.as_str().into())
        {
            RResult::ROk(text) => serde_json::from_str(text.as_str()).map_err(|e| {
                PluginError::internal(format!(
                    "host returned invalid JSON from {service}.{method}: {e}"
                ))
            }),
            RResult::RErr(e) => Err(e.into()),
        }
    }

    /// The plugin's configuration object.
    pub fn config(&self) -> Value {
        serde_json::from_str(self.inner.config_json().as_str())
            .unwrap_or(Value::Object(Default::default()))
    }
}
