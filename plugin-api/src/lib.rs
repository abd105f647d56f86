//! The contract between `tasker-host` and its service plugins (cdylibs loaded at run time).
//!
//! A plugin author implements the safe [`Plugin`] trait and writes one line,
//! [`export_plugin!`]`(MyPlugin)`; the macro emits the abi_stable root module and
//! catches every panic at the boundary, so plugin crates contain no `extern "C"` code.
//!
//! This crate must depend only on `abi_stable` and serde/serde_json: never on tokio,
//! sqlx, boa or poem, because every plugin links it and its layout is the ABI.
//! Payloads that evolve (manifest, call context, results) cross as versioned JSON;
//! new root-module fields go after `#[sabi(last_prefix_field)]` only.
#![deny(missing_docs)]

// abi_stable's derives (`StableAbi`, `sabi_trait`) expand to unsafe impls; the layout is
// checked by abi_stable at load time, so these two modules opt out of the lint.
#[allow(unsafe_code)]
mod abi;
mod error;
mod export;
#[allow(unsafe_code)]
mod host;
mod manifest;
mod scope;

pub use abi::{PluginModule, PluginModule_Prefix, PluginModuleRef, RPluginError};
pub use error::{ErrorCode, PluginError};
pub use host::{Host, HostApi, HostApi_TO, HostHandle, LogLevel};
pub use manifest::{CallContext, Manifest, MethodSpec};
pub use scope::Scope;

/// Re-exported so the [`export_plugin!`] expansion resolves inside plugin crates
/// that do not depend on abi_stable themselves.
#[doc(hidden)]
pub use abi_stable as __abi_stable;
#[doc(hidden)]
pub use export::__private;
pub use serde_json;

/// The plugin API version this crate speaks. The host refuses a plugin whose
/// manifest or root module reports another major version.
pub const API_VERSION: u32 = 1;

/// The root-module symbol name (no NUL), used by the host to probe a file cheaply.
pub const ROOT_MODULE_SYMBOL: &str = export::__private::ROOT_SYMBOL;

/// What a plugin implements. One value is constructed per loaded plugin by [`Plugin::init`],
/// and `call` is invoked concurrently from many host threads, hence `Send + Sync`.
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's self-description: name, version and the methods it serves.
    /// Read by the host before `init`, so it must not depend on configuration.
    fn manifest() -> Manifest
    where
        Self: Sized;

    /// Builds the plugin. `host` lets it log through the host and call other services;
    /// `config` is the plugin's own configuration object (`{}` when none was given).
    fn init(host: Host, config: serde_json::Value) -> Result<Self, PluginError>
    where
        Self: Sized;

    /// Runs one method. `args` has already been validated against the method's schema.
    fn call(
        &self,
        method: &str,
        args: serde_json::Value,
        ctx: &CallContext,
    ) -> Result<serde_json::Value, PluginError>;

    /// Reports liveness; the default says `{"status":"healthy"}`.
    fn health(&self) -> Result<serde_json::Value, PluginError> {
        Ok(serde_json::json!({ "status": "healthy" }))
    }

    /// Called once when the host shuts down; release resources here.
    fn shutdown(&self) {}
}
